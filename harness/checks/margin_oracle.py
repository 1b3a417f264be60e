"""An independent recomputation of uniMMR (exact fractions) from DESIGN.md's margin model.

Written apart from the target's own code on purpose: a shared bug would hide itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

__all__ = ["unimmr", "maintenance"]

RATES = {"USDT": Fraction(1), "USDC": Fraction(1), "BTC": Fraction(95, 100), "ETH": Fraction(95, 100)}
MARGIN_ASSET = {"BTCUSDT": "USDT", "ETHUSDT": "USDT", "BTCUSDC": "USDC", "ETHUSDC": "USDC"}
# (upper notional bound, maintenance margin rate); cum follows from continuity.
TABLES = {
    "BTC": [(50_000, "0.004"), (250_000, "0.005"), (1_000_000, "0.01"), (10_000_000, "0.025"), (20_000_000, "0.05")],
    "ETH": [(10_000, "0.005"), (100_000, "0.0065"), (500_000, "0.01"), (1_000_000, "0.02"), (2_000_000, "0.05")],
}


def maintenance(symbol: str, qty: Fraction, mark: Fraction) -> Fraction:
    notional = abs(qty * mark)
    floor, prev_rate, cum = Fraction(0), Fraction(0), Fraction(0)
    for bound, rate_text in TABLES[symbol[:3]]:
        rate = Fraction(rate_text)
        cum += floor * (rate - prev_rate)
        if notional <= bound:
            break
        floor, prev_rate = Fraction(bound), rate
    return notional * rate - cum


def unimmr(wallet: Mapping[str, Any], positions: Sequence[Mapping[str, Any]], index: Mapping[str, Fraction]) -> Fraction | None:
    amounts = {asset: Fraction(str(v)) for asset, v in wallet.items()}
    mm = Fraction(0)
    for p in positions:
        qty, entry = Fraction(str(p["qty"])), Fraction(str(p["entry_price"]))
        mark = index[p["symbol"][:3]]
        margin_asset = MARGIN_ASSET[p["symbol"]]
        amounts[margin_asset] = amounts.get(margin_asset, Fraction(0)) + qty * (mark - entry)
        if qty:
            mm += maintenance(p["symbol"], qty, mark)
    if mm <= 0:
        return None
    equity = Fraction(0)
    for asset, q in amounts.items():
        value = q * index.get(asset, Fraction(1))
        equity += value * RATES[asset] if q > 0 else value
    return equity / mm
