"""Assets, symbols and exact money: Decimal on the wire, integer minor units in the ledger.

Never float for money: every amount is parsed from a string into Decimal, checked against the
symbol's step, and converted to integer minor units only by ``to_minor`` (rounding down).
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal, InvalidOperation

from targets.umref.service import ApiError

__all__ = [
    "ASSETS", "SCALE", "COLLATERAL_RATE", "UM_SYMBOLS", "SPOT_SYMBOLS", "ALL_SYMBOLS", "REFERENCE_PRICE",
    "QTY_STEP", "PRICE_TICK", "base_of", "to_minor", "from_minor", "parse_decimal", "parse_qty", "parse_price",
    "parse_amount",
]

SCALE: dict[str, int] = {"USDT": 10**6, "USDC": 10**6, "BTC": 10**8, "ETH": 10**8}
ASSETS: tuple[str, ...] = tuple(SCALE)
COLLATERAL_RATE: dict[str, Decimal] = {"USDT": Decimal(1), "USDC": Decimal(1), "BTC": Decimal("0.95"), "ETH": Decimal("0.95")}
UM_SYMBOLS: dict[str, str] = {"BTCUSDT": "USDT", "ETHUSDT": "USDT", "BTCUSDC": "USDC", "ETHUSDC": "USDC"}  # -> margin asset
SPOT_SYMBOLS: dict[str, tuple[str, str]] = {"BTC/USDT": ("BTC", "USDT")}  # -> (base, quote)
ALL_SYMBOLS: tuple[str, ...] = (*UM_SYMBOLS, *SPOT_SYMBOLS)
REFERENCE_PRICE: dict[str, Decimal] = {"BTC": Decimal(50000), "ETH": Decimal(3000)}
QTY_STEP: dict[str, Decimal] = {**{s: Decimal("0.001") for s in UM_SYMBOLS}, "BTC/USDT": Decimal("0.00001")}
PRICE_TICK = Decimal("0.01")
MAX_QTY = Decimal(1000)
MAX_PRICE = Decimal(10_000_000)


def base_of(symbol: str) -> str:
    return SPOT_SYMBOLS[symbol][0] if symbol in SPOT_SYMBOLS else symbol[:3]


def to_minor(asset: str, amount: Decimal) -> int:
    return int((amount * SCALE[asset]).to_integral_value(rounding=ROUND_DOWN))


def from_minor(asset: str, minor: int) -> Decimal:
    return (Decimal(minor) / SCALE[asset]).quantize(Decimal(1) / SCALE[asset])


def parse_decimal(raw: object, field: str) -> Decimal:
    """A finite decimal from a JSON string or integer; 400 INVALID_<FIELD> otherwise."""
    code = f"INVALID_{field.upper()}"
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        raise ApiError(400, code, f"{field} must be a decimal string")
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise ApiError(400, code, f"{field} {raw!r} is not a decimal") from None
    if not value.is_finite():
        raise ApiError(400, code, f"{field} must be finite")
    return value


def _positive_step(raw: object, field: str, step: Decimal, limit: Decimal) -> Decimal:
    value = parse_decimal(raw, field)
    if value <= 0 or value > limit:
        raise ApiError(400, f"INVALID_{field.upper()}", f"{field} must be > 0 and ≤ {limit}")
    if value % step != 0:
        raise ApiError(400, f"INVALID_{field.upper()}", f"{field} must be a multiple of {step}")
    return value


def parse_qty(symbol: str, raw: object) -> Decimal:
    return _positive_step(raw, "qty", QTY_STEP[symbol], MAX_QTY)


def parse_price(symbol: str, raw: object) -> Decimal:
    return _positive_step(raw, "price", PRICE_TICK, MAX_PRICE)


def parse_amount(asset: str, raw: object) -> Decimal:
    return _positive_step(raw, "amount", Decimal(1) / SCALE[asset], Decimal(10**12))
