"""The UM margin model (Binance portfolio-margin style), exact in Decimal.

Maintenance margin per position = |qty·mark|·MMR − cum, with tiers by notional where
cum_i = cum_{i−1} + floor_i·(MMR_i − MMR_{i−1}) keeps MM continuous across tier boundaries.
Adjusted equity per asset = q·index·collateral_rate for q > 0, q·index for q < 0, where q is the
wallet balance plus the unrealized PnL of positions margined in that asset.
uniMMR = Σ adjusted equity / Σ maintenance margin.

Risk levels as the venue has them (its ``riskLevelChange`` states): above 1.5 an account trades
freely; at or below 1.5 it is margin-called (a notice, nothing more); at or below 1.2 it is
reduce-only; at or below 1.05 it is force-liquidated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from targets.umref.money import COLLATERAL_RATE, UM_SYMBOLS, base_of

__all__ = ["Tier", "TIERS", "tier_for", "maintenance_margin", "unrealized_pnl", "adjusted_equity", "unimmr",
           "risk_level", "initial_margin", "PositionIn", "OrderIn", "RISK_LEVELS", "THRESHOLDS", "OLD_THRESHOLDS",
           "RESTRICTED"]

RISK_LEVELS = ("NORMAL", "MARGIN_CALL", "REDUCE_ONLY", "FORCE_LIQUIDATION")  # by severity
# The uniMMR at or below which each level begins.
THRESHOLDS = {"MARGIN_CALL": Decimal("1.5"), "REDUCE_ONLY": Decimal("1.2"), "FORCE_LIQUIDATION": Decimal("1.05")}
# The ``old_state_table`` defect: the table umref had before the venue's (a margin call only at
# 1.2, no reduce-only level at all).
OLD_THRESHOLDS = {"MARGIN_CALL": Decimal("1.2"), "FORCE_LIQUIDATION": Decimal("1.05")}
RESTRICTED = ("REDUCE_ONLY", "FORCE_LIQUIDATION")  # levels in which no order may add exposure


@dataclass(frozen=True)
class Tier:
    max_notional: Decimal
    mmr: Decimal
    cum: Decimal


def _tiers(rows: Sequence[tuple[int, str]]) -> tuple[Tier, ...]:
    """Tiers from (max notional, MMR) rows; cum from the continuity rule."""
    tiers: list[Tier] = []
    floor, prev_mmr, cum = Decimal(0), Decimal(0), Decimal(0)
    for max_notional, mmr_text in rows:
        mmr = Decimal(mmr_text)
        cum = cum + floor * (mmr - prev_mmr)
        tiers.append(Tier(Decimal(max_notional), mmr, cum))
        floor, prev_mmr = Decimal(max_notional), mmr
    return tuple(tiers)


# Per symbol: USDC-margined contracts have brackets of their own, as on the venue.
TIERS: dict[str, tuple[Tier, ...]] = {
    "BTCUSDT": _tiers([(50_000, "0.004"), (250_000, "0.005"), (1_000_000, "0.01"), (10_000_000, "0.025"), (20_000_000, "0.05")]),
    "ETHUSDT": _tiers([(10_000, "0.005"), (100_000, "0.0065"), (500_000, "0.01"), (1_000_000, "0.02"), (2_000_000, "0.05")]),
    "BTCUSDC": _tiers([(100_000, "0.004"), (500_000, "0.005"), (2_000_000, "0.01"), (10_000_000, "0.025"), (20_000_000, "0.05")]),
    "ETHUSDC": _tiers([(50_000, "0.005"), (250_000, "0.0065"), (1_000_000, "0.01"), (2_000_000, "0.02"), (5_000_000, "0.05")]),
}


@dataclass(frozen=True)
class PositionIn:
    symbol: str
    qty: Decimal  # signed
    entry_price: Decimal
    leverage: int = 10


@dataclass(frozen=True)
class OrderIn:
    symbol: str
    qty: Decimal  # unsigned
    price: Decimal
    leverage: int = 10


def tier_for(symbol: str, notional: Decimal) -> Tier:
    tiers = TIERS[symbol]
    return next((t for t in tiers if notional <= t.max_notional), tiers[-1])


def maintenance_margin(symbol: str, qty: Decimal, mark: Decimal) -> Decimal:
    notional = abs(qty * mark)
    tier = tier_for(symbol, notional)
    return notional * tier.mmr - tier.cum


def unrealized_pnl(qty: Decimal, entry: Decimal, mark: Decimal) -> Decimal:
    return qty * (mark - entry)


def adjusted_equity(wallet: Mapping[str, Decimal], positions: Sequence[PositionIn],
                    index: Mapping[str, Decimal]) -> Decimal:
    """Σ over assets of the haircut value of (balance + uPnL of positions margined in it)."""
    q: dict[str, Decimal] = {asset: Decimal(v) for asset, v in wallet.items()}
    for p in positions:
        margin_asset = UM_SYMBOLS[p.symbol]
        q[margin_asset] = q.get(margin_asset, Decimal(0)) + unrealized_pnl(p.qty, p.entry_price, index[base_of(p.symbol)])
    total = Decimal(0)
    for asset, amount in q.items():
        value = amount * index.get(asset, Decimal(1))
        total += value * COLLATERAL_RATE[asset] if amount > 0 else value
    return total


def unimmr(wallet: Mapping[str, Decimal], positions: Sequence[PositionIn], index: Mapping[str, Decimal]) -> Decimal | None:
    mm = sum((maintenance_margin(p.symbol, p.qty, index[base_of(p.symbol)]) for p in positions if p.qty), Decimal(0))
    if mm <= 0:
        return None
    return adjusted_equity(wallet, positions, index) / mm


def risk_level(ratio: Decimal | None, table: Mapping[str, Decimal] = THRESHOLDS) -> str:
    """The level an account with this uniMMR is in (no position: NORMAL)."""
    if ratio is None:
        return "NORMAL"
    return next((level for level in reversed(RISK_LEVELS) if level in table and ratio <= table[level]), "NORMAL")


def initial_margin(qty: Decimal, price: Decimal, leverage: int) -> Decimal:
    return abs(qty * price) / Decimal(leverage)
