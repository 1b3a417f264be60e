"""An independent recomputation of uniMMR from DESIGN.md's margin model: exact (fractions) to
decide, and a float twin to screen thousands of ticks quickly.

Written apart from the target's own code on purpose: a shared bug would hide itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

__all__ = ["RATES", "MARGIN_ASSET", "SCALE", "TABLES", "MAX_RATE", "unimmr", "maintenance",
           "unrealized_pnl", "maintenance_float", "FloatRatio", "unimmr_float", "crossing_price", "STABLE_RATE"]

RATES = {"USDT": Fraction(1), "USDC": Fraction(1), "BTC": Fraction(95, 100), "ETH": Fraction(95, 100)}
MARGIN_ASSET = {"BTCUSDT": "USDT", "ETHUSDT": "USDT", "BTCUSDC": "USDC", "ETHUSDC": "USDC"}
SCALE = {"USDT": 10**6, "USDC": 10**6, "BTC": 10**8, "ETH": 10**8}  # ledger minor units per 1
# (upper notional bound, maintenance margin rate); cum follows from continuity.
# Per symbol: a USDC-margined contract has brackets of its own.
TABLES = {
    "BTCUSDT": [(50_000, "0.004"), (250_000, "0.005"), (1_000_000, "0.01"), (10_000_000, "0.025"), (20_000_000, "0.05")],
    "ETHUSDT": [(10_000, "0.005"), (100_000, "0.0065"), (500_000, "0.01"), (1_000_000, "0.02"), (2_000_000, "0.05")],
    "BTCUSDC": [(100_000, "0.004"), (500_000, "0.005"), (2_000_000, "0.01"), (10_000_000, "0.025"), (20_000_000, "0.05")],
    "ETHUSDC": [(50_000, "0.005"), (250_000, "0.0065"), (1_000_000, "0.01"), (2_000_000, "0.02"), (5_000_000, "0.05")],
}
# The steepest maintenance rate: how fast maintenance margin can grow with notional (screening).
MAX_RATE = max(Fraction(rate) for table in TABLES.values() for _, rate in table)


def _float_tiers(table: list[tuple[int, str]]) -> tuple[tuple[float, float, float], ...]:
    """(bound, rate, cum) per tier, cum from the continuity rule, as floats."""
    out, floor, prev_rate, cum = [], Fraction(0), Fraction(0), Fraction(0)
    for bound, rate_text in table:
        rate = Fraction(rate_text)
        cum += floor * (rate - prev_rate)
        out.append((float(bound), float(rate), float(cum)))
        floor, prev_rate = Fraction(bound), rate
    return tuple(out)


_FLOAT_TIERS = {symbol: _float_tiers(table) for symbol, table in TABLES.items()}
_FLOAT_RATES = {asset: float(rate) for asset, rate in RATES.items()}
STABLE_RATE = frozenset(asset for asset, rate in RATES.items() if rate == 1)  # counted at face value, either sign


def maintenance(symbol: str, qty: Fraction, mark: Fraction) -> Fraction:
    notional = abs(qty * mark)
    floor, prev_rate, cum = Fraction(0), Fraction(0), Fraction(0)
    for bound, rate_text in TABLES[symbol]:
        rate = Fraction(rate_text)
        cum += floor * (rate - prev_rate)
        if notional <= bound:
            break
        floor, prev_rate = Fraction(bound), rate
    return notional * rate - cum


def maintenance_float(symbol: str, notional: float) -> float:
    """``maintenance`` in floats, from a notional (screening only; decisions use fractions)."""
    tiers = _FLOAT_TIERS[symbol]
    for bound, rate, cum in tiers:
        if notional <= bound:
            return notional * rate - cum
    _, rate, cum = tiers[-1]
    return notional * rate - cum


def unrealized_pnl(qty: Fraction, entry: Fraction, mark: Fraction) -> Fraction:
    return qty * (mark - entry)


def unimmr(wallet: Mapping[str, Any], positions: Sequence[Mapping[str, Any]], index: Mapping[str, Fraction]) -> Fraction | None:
    amounts = {asset: Fraction(str(v)) for asset, v in wallet.items()}
    mm = Fraction(0)
    for p in positions:
        qty, entry = Fraction(str(p["qty"])), Fraction(str(p["entry_price"]))
        mark = index[p["symbol"][:3]]
        margin_asset = MARGIN_ASSET[p["symbol"]]
        amounts[margin_asset] = amounts.get(margin_asset, Fraction(0)) + unrealized_pnl(qty, entry, mark)
        if qty:
            mm += maintenance(p["symbol"], qty, mark)
    if mm <= 0:
        return None
    equity = Fraction(0)
    for asset, q in amounts.items():
        value = q * index.get(asset, Fraction(1))
        equity += value * RATES[asset] if q > 0 else value
    return equity / mm


class FloatRatio:
    """uniMMR's parts in floats at one set of prices: equity, maintenance, the positions' notional
    (``gross``) and the value of non-stable wallet assets (``crypto``): what ``safe_band`` needs."""

    __slots__ = ("equity", "mm", "gross", "crypto")

    def __init__(self, equity: float, mm: float, gross: float, crypto: float) -> None:
        self.equity, self.mm, self.gross, self.crypto = equity, mm, gross, crypto

    @property
    def ratio(self) -> float | None:
        return self.equity / self.mm if self.mm > 0 else None

    def safe_band(self, threshold: float) -> float:
        """A relative price move every price may make without uniMMR reaching ``threshold`` (0 if
        none is sure). Equity moves by at most move·(gross + crypto); maintenance grows by at most
        MAX_RATE·move·gross (its slope in notional); so uniMMR stays above the threshold while
        move < (equity − threshold·mm) / (gross + crypto + threshold·MAX_RATE·gross)."""
        room = self.equity - threshold * self.mm
        if self.mm <= 0 or room <= 0:
            return 0.0
        return room / (self.gross + self.crypto + threshold * float(MAX_RATE) * self.gross)


def unimmr_float(wallet: Mapping[str, float], positions: Sequence[tuple[str, float, float]],
                 index: Mapping[str, float]) -> FloatRatio:
    """``unimmr`` in floats: wallet in major units, positions as (symbol, signed qty, entry);
    an asset missing from ``index`` is a stablecoin at 1 (KeyError for a missing base price)."""
    amounts = dict(wallet)
    mm = gross = 0.0
    for symbol, qty, entry in positions:
        mark = index[symbol[:3]]
        margin_asset = MARGIN_ASSET[symbol]
        amounts[margin_asset] = amounts.get(margin_asset, 0.0) + qty * (mark - entry)
        notional = abs(qty * mark)
        gross += notional
        mm += maintenance_float(symbol, notional)
    equity = crypto = 0.0
    for asset, q in amounts.items():
        price = index.get(asset)
        value = q if price is None else q * price
        if price is not None:
            crypto += abs(value)
        equity += value * _FLOAT_RATES[asset] if q > 0 else value
    return FloatRatio(equity, mm, gross, crypto)


def crossing_price(symbol: str, qty: float, entry: float, wallet: float, threshold: float) -> float | None:
    """For one position and a wallet of assets counted at face value (``STABLE_RATE``, unpriced)
    worth ``wallet`` in all: the mark at which equity equals ``threshold`` × maintenance, None if
    no positive one. Equity − threshold·maintenance is linear in the mark within a tier, and its
    slope, qty·(1 − threshold·rate), keeps qty's sign (threshold·rate < 1); maintenance is
    continuous: so there is at most one such mark, uniMMR on one side of the threshold below it
    and on the other above it."""
    size = abs(qty)
    tiers = _FLOAT_TIERS[symbol]
    floor = 0.0
    for i, (bound, rate, cum) in enumerate(tiers):
        mark = (qty * entry - wallet - threshold * cum) / (qty - threshold * rate * size)
        notional = size * mark
        if mark > 0 and notional >= floor and (notional <= bound or i == len(tiers) - 1):
            return mark
        floor = bound
    return None
