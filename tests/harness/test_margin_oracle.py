"""The harness's margin oracle against umref's margin model: two implementations written apart
agree on random inputs, on the published BTCUSDT brackets of March 2021 and on DESIGN.md's test
vector; the oracle's float twin (the screen) agrees with its fractions, and its safe band holds."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from itertools import pairwise
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.checks import margin_oracle as oracle
from harness.checks.no_erroneous_risk_actions import RANK, level_of
from targets.umref import margin_model as umref

SYMBOLS = sorted(oracle.MARGIN_ASSET)
# Published BTCUSDT brackets (March 2021): upper notional bound, maintenance rate, maintenance amount.
BTCUSDT_2021_03 = [(50_000, "0.004", 0), (250_000, "0.005", 50), (1_000_000, "0.01", 1_300),
                   (10_000_000, "0.025", 16_300), (20_000_000, "0.05", 266_300)]
CENT = Fraction(1, 100)

quantities = st.integers(-1_000_000, 1_000_000).filter(bool).map(lambda n: Decimal(n).scaleb(-3))  # ±1000, step 0.001
prices = st.integers(1, 1_000_000_000).map(lambda n: Decimal(n).scaleb(-2))  # 0.01 .. 10,000,000
amounts = st.integers(-10**12, 10**12).map(lambda n: Decimal(n).scaleb(-6))
positions = st.lists(st.tuples(st.sampled_from(SYMBOLS), quantities, prices), min_size=1, max_size=4)
wallets = st.dictionaries(st.sampled_from(["USDT", "USDC", "BTC", "ETH"]), amounts, max_size=4)
indexes = st.fixed_dictionaries({"BTC": prices, "ETH": prices})


def d(x: Fraction) -> Decimal:
    return Decimal(x.numerator) / Decimal(x.denominator)


@settings(max_examples=1000, deadline=None)
@given(st.sampled_from(SYMBOLS), quantities, prices)
def test_maintenance_agrees_with_umref_on_random_positions(symbol: str, qty: Decimal, mark: Decimal) -> None:
    ours = oracle.maintenance(symbol, Fraction(qty), Fraction(mark))
    assert ours == Fraction(umref.maintenance_margin(symbol, qty, mark))
    assert abs(oracle.maintenance_float(symbol, float(abs(qty * mark))) - float(ours)) <= 1e-9 * (1 + float(ours))


def both(wallet: dict[str, Decimal], held: list[tuple[str, Decimal, Decimal]],
         index: dict[str, Decimal]) -> tuple[Fraction | None, Decimal | None]:
    rows: list[dict[str, Any]] = [{"symbol": s, "qty": str(q), "entry_price": str(e)} for s, q, e in held]
    ours = oracle.unimmr({a: str(v) for a, v in wallet.items()}, rows, {a: Fraction(p) for a, p in index.items()})
    theirs = umref.unimmr(wallet, [umref.PositionIn(s, q, e) for s, q, e in held], index)
    return ours, theirs


@settings(max_examples=1000, deadline=None)
@given(wallets, positions, indexes)
def test_unimmr_agrees_with_umref_and_the_float_twin(wallet: dict[str, Decimal], held: list[tuple[str, Decimal, Decimal]],
                                                     index: dict[str, Decimal]) -> None:
    ours, theirs = both(wallet, held, index)
    assert ours is not None and theirs is not None
    assert abs(ours - Fraction(theirs)) <= Fraction(1, 10**18) * (1 + abs(ours))  # umref divides in 28 digits
    parts = oracle.unimmr_float({a: float(v) for a, v in wallet.items()}, [(s, float(q), float(e)) for s, q, e in held],
                                {a: float(p) for a, p in index.items()})
    assert parts.ratio is not None and abs(parts.ratio - float(ours)) <= 1e-6 * (1 + abs(float(ours)))


@settings(max_examples=1000, deadline=None)
@given(wallets, positions, indexes, st.lists(st.floats(-1, 1), min_size=2, max_size=2))
def test_the_safe_band_holds_uniMMR_above_the_threshold(wallet: dict[str, Decimal], held: list[tuple[str, Decimal, Decimal]],
                                                        index: dict[str, Decimal], where: list[float]) -> None:
    """What lets the check skip ticks: anywhere in the band, uniMMR (exact) stays above 1.2."""
    parts = oracle.unimmr_float({a: float(v) for a, v in wallet.items()}, [(s, float(q), float(e)) for s, q, e in held],
                                {a: float(p) for a, p in index.items()})
    move = parts.safe_band(1.2) * 0.5
    if move <= 0:
        return
    moved = {a: d(Fraction(p) * (1 + Fraction(move * w))) for (a, p), w in zip(sorted(index.items()), where, strict=True)}
    ours, _ = both(wallet, held, moved)
    assert ours is not None and ours > Fraction(6, 5)


def test_the_published_btcusdt_brackets_of_march_2021() -> None:
    assert [(bound, Fraction(rate)) for bound, rate in oracle.TABLES["BTCUSDT"]] == \
        [(bound, Fraction(rate)) for bound, rate, _ in BTCUSDT_2021_03]
    assert [(t.max_notional, t.mmr, t.cum) for t in umref.TIERS["BTCUSDT"]] == \
        [(Decimal(bound), Decimal(rate), Decimal(cum)) for bound, rate, cum in BTCUSDT_2021_03]
    lower = Fraction(0)
    for bound, rate, cum in BTCUSDT_2021_03:
        for notional in (lower + CENT, (lower + bound) / 2, Fraction(bound)):  # inside the bracket, its bound included
            expected = notional * Fraction(rate) - cum
            assert oracle.maintenance("BTCUSDT", Fraction(1), notional) == expected
            assert umref.maintenance_margin("BTCUSDT", Decimal(1), d(notional)) == d(expected)
            assert oracle.maintenance("BTCUSDT", Fraction(-1, 1000), notional * 1000) == expected  # a short, smaller qty
        lower = Fraction(bound)


def test_maintenance_margin_is_continuous_at_every_bracket_bound() -> None:
    for (bound, rate, cum), (_, next_rate, next_cum) in pairwise(BTCUSDT_2021_03):
        at = Fraction(bound)
        assert at * Fraction(rate) - cum == at * Fraction(next_rate) - next_cum  # both brackets' formulas meet
        for mm in (lambda n: oracle.maintenance("BTCUSDT", Fraction(1), n),
                   lambda n: Fraction(umref.maintenance_margin("BTCUSDT", Decimal(1), d(n)))):
            assert mm(at) == at * Fraction(rate) - cum
            assert mm(at + CENT) - mm(at) == CENT * Fraction(next_rate)  # no jump: one cent more costs one cent's rate
            assert mm(at) - mm(at - CENT) == CENT * Fraction(rate)
    for symbol in ("ETHUSDT", "BTCUSDC", "ETHUSDC"):
        for bound, _ in oracle.TABLES[symbol][:-1]:
            at = Fraction(bound)
            jump = oracle.maintenance(symbol, Fraction(1), at + Fraction(1, 10**6)) - oracle.maintenance(symbol, Fraction(1), at)
            assert 0 < jump < Fraction(1, 10**7)


def test_the_design_test_vector() -> None:
    """Short 0.05 BTCUSDT @ 52,000, mark 40,000: uPnL +600; long 0.04 @ 52,350, mark 42,000: -414."""
    assert oracle.unrealized_pnl(Fraction("-0.05"), Fraction(52_000), Fraction(40_000)) == 600
    assert oracle.unrealized_pnl(Fraction("0.04"), Fraction(52_350), Fraction(42_000)) == -414
    assert umref.unrealized_pnl(Decimal("-0.05"), Decimal(52_000), Decimal(40_000)) == 600
    assert umref.unrealized_pnl(Decimal("0.04"), Decimal(52_350), Decimal(42_000)) == -414
    # the same inside uniMMR, on an empty wallet: equity is the uPnL, maintenance 0.4 % of notional
    short, _ = both({}, [("BTCUSDT", Decimal("-0.05"), Decimal(52_000))], {"BTC": Decimal(40_000), "ETH": Decimal(3_000)})
    long, _ = both({}, [("BTCUSDT", Decimal("0.04"), Decimal(52_350))], {"BTC": Decimal(42_000), "ETH": Decimal(3_000)})
    assert short == Fraction(600) / (Fraction(2_000) * Fraction("0.004"))
    assert long == Fraction(-414) / (Fraction(1_680) * Fraction("0.004"))


def test_the_check_and_umref_put_an_account_in_the_same_level_at_each_boundary() -> None:
    """For every contract, USDT- and USDC-margined: a wallet at exactly 1.5, 1.2 and 1.05 times
    the maintenance margin of one contract held at its entry, and a millionth above each."""
    index = {"BTC": Decimal(50_000), "ETH": Decimal(3_000)}
    for symbol in SYMBOLS:
        mark = index[symbol[:3]]
        maintenance = oracle.maintenance(symbol, Fraction(1), Fraction(mark))
        for threshold, level in ((Fraction(3, 2), "MARGIN_CALL"), (Fraction(6, 5), "REDUCE_ONLY"),
                                 (Fraction(21, 20), "FORCE_LIQUIDATION")):
            for wallet, expected in ((threshold * maintenance, level), (threshold * maintenance + Fraction(1, 10**6), None)):
                ours, theirs = both({oracle.MARGIN_ASSET[symbol]: d(wallet)}, [(symbol, Decimal(1), mark)], index)
                assert ours is not None and theirs is not None  # umref divides in 28 digits, the oracle exactly
                assert level_of(ours) == umref.risk_level(theirs)
                if expected:
                    assert level_of(ours) == expected
                else:  # just above: one level milder
                    assert RANK[level_of(ours)] == RANK[level] - 1
