"""The workload's vocabulary, said once: what clients ask of the target, how a scenario weighs it,
and which kinds of customer ask it. The load, the history, the scenario schema, the checks and
the reports all read these names from here.
"""

from __future__ import annotations

__all__ = ["WRITE_KINDS", "MIX_KINDS", "USER_CLASSES"]

# Client request kinds the workload produces (an op's ``f``); other kinds: fault, phase, probe, heal.
WRITE_KINDS = ("um_order", "cancel", "transfer", "leverage", "spot_order")
# What a scenario's load mix weighs: the request kinds, and requests with a forged API key.
MIX_KINDS = (*WRITE_KINDS, "bad_key")
# A scenario's name of a user class -> its class in the locustfile.
USER_CLASSES = {"market_maker": "MarketMaker", "taker": "Taker", "margin_transfer": "MarginTransferUser",
                "position_changer": "PositionChanger", "spot_trader": "SpotTrader", "risk_taker": "RiskTaker"}
