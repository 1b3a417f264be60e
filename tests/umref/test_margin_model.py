"""The margin model of DESIGN.md, exactly: the test vector, tier boundaries, states, IM."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from targets.umref import margin_model as mm
from targets.umref.margin_model import PositionIn


def test_design_test_vector() -> None:
    assert mm.unrealized_pnl(D("-0.05"), D(52000), D(40000)) == D(600)
    assert mm.unrealized_pnl(D("0.04"), D(52350), D(42000)) == D(-414)


@pytest.mark.parametrize("tier, max_notional, mmr, cum", [
    (0, 50_000, "0.004", 0), (1, 250_000, "0.005", 50), (2, 1_000_000, "0.01", 1_300),
    (3, 10_000_000, "0.025", 16_300), (4, 20_000_000, "0.05", 266_300),
])
def test_btc_tier_table_matches_design(tier: int, max_notional: int, mmr: str, cum: int) -> None:
    t = mm.TIERS["BTCUSDT"][tier]
    assert (t.max_notional, t.mmr, t.cum) == (D(max_notional), D(mmr), D(cum))


@pytest.mark.parametrize("symbol", ["BTCUSDT", "BTCUSDC", "ETHUSDT", "ETHUSDC"])
def test_maintenance_margin_is_continuous_at_every_tier_boundary(symbol: str) -> None:
    for tier in mm.TIERS[symbol][:-1]:
        floor = tier.max_notional
        at = mm.maintenance_margin(symbol, D(1), floor)
        below = mm.maintenance_margin(symbol, D(1), floor - D("0.01"))
        above = mm.maintenance_margin(symbol, D(1), floor + D("0.01"))
        assert at == floor * tier.mmr - tier.cum  # "notional ≤ bound" is still this tier
        assert below < at < above
        assert above - at < D("0.01")  # no jump across the boundary, thanks to cum


def test_maintenance_margin_examples() -> None:
    assert mm.maintenance_margin("BTCUSDT", D(1), D(50000)) == D(200)  # 50k · 0.4 %
    assert mm.maintenance_margin("BTCUSDT", D(2), D(50000)) == D(450)  # 100k · 0.5 % − 50
    assert mm.maintenance_margin("BTCUSDT", D(-20), D(50000)) == D(8700)  # 1M · 1 % − 1,300


@given(st.decimals(min_value=D(1), max_value=D(25_000_000), places=2),
       st.decimals(min_value=D("0.01"), max_value=D(100_000), places=2))
def test_maintenance_margin_is_non_decreasing_in_notional(notional: D, step: D) -> None:
    lower = mm.maintenance_margin("BTCUSDT", D(1), notional)
    higher = mm.maintenance_margin("BTCUSDT", D(1), notional + step)
    assert D(0) < lower <= higher


def test_adjusted_equity_haircuts_collateral_not_debts() -> None:
    index = {"BTC": D(50000)}
    assert mm.adjusted_equity({"BTC": D(1)}, [], index) == D(47500)  # 0.95 collateral rate
    assert mm.adjusted_equity({"BTC": D(-1)}, [], index) == D(-50000)  # a debt counts in full
    assert mm.adjusted_equity({"USDT": D(100)}, [], index) == D(100)


def test_unimmr_and_the_venues_risk_levels_at_each_boundary() -> None:
    """MM = 200 at 50,000: a wallet of 300 is uniMMR 1.5 exactly, 240 is 1.2, 210 is 1.05; a cent
    more is just above each. Ordered up and then down: both directions of every move."""
    pos = [PositionIn("BTCUSDT", D(1), D(50000), 20)]
    index = {"BTC": D(50000)}
    ladder = [(D("300.01"), "NORMAL"), (D(300), "MARGIN_CALL"), (D("240.01"), "MARGIN_CALL"), (D(240), "REDUCE_ONLY"),
              (D("210.01"), "REDUCE_ONLY"), (D(210), "FORCE_LIQUIDATION"), (D(1), "FORCE_LIQUIDATION")]
    for wallet, level in ladder + ladder[::-1]:
        ratio = mm.unimmr({"USDT": wallet}, pos, index)
        assert ratio == wallet / 200 and mm.risk_level(ratio) == level, (wallet, ratio)
    assert mm.unimmr({"USDT": D(100)}, [], index) is None and mm.risk_level(None) == "NORMAL"


def test_the_old_state_table_knows_no_reduce_only_and_calls_late() -> None:
    """The ``old_state_table`` defect's table: what umref did before the venue's levels."""
    assert mm.risk_level(D("1.4"), mm.OLD_THRESHOLDS) == "NORMAL"
    assert mm.risk_level(D("1.1"), mm.OLD_THRESHOLDS) == "MARGIN_CALL"
    assert mm.risk_level(D("1.05"), mm.OLD_THRESHOLDS) == "FORCE_LIQUIDATION"


def test_seed_scenario_leveraged_account_falls_to_reduce_only_on_a_7pct_drop() -> None:
    pos = [PositionIn("BTCUSDT", D(1), D(50000), 20)]
    assert mm.risk_level(mm.unimmr({"USDT": D(3700)}, pos, {"BTC": D(50000)})) == "NORMAL"
    assert mm.risk_level(mm.unimmr({"USDT": D(3700)}, pos, {"BTC": D(46500)})) == "REDUCE_ONLY"


def test_usdc_contracts_have_brackets_of_their_own() -> None:
    """100,000 of BTC notional is in BTCUSDT's second bracket but still in BTCUSDC's first."""
    assert mm.maintenance_margin("BTCUSDT", D(2), D(50000)) == D(100000) * D("0.005") - D(50)
    assert mm.maintenance_margin("BTCUSDC", D(2), D(50000)) == D(100000) * D("0.004")


def test_initial_margin() -> None:
    assert mm.initial_margin(D("0.5"), D(50000), 20) == D(1250)
    assert mm.initial_margin(D("-0.5"), D(50000), 10) == D(2500)
