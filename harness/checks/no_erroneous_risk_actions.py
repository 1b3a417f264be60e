"""no_erroneous_risk_actions: no risk-level move, reduce-only refusal or liquidation on wrong or
stale inputs, and none that was due left undone: both directions, judged on prices the harness
itself published.

The venue's risk levels (its ``riskLevelChange`` states), by uniMMR: NORMAL above 1.5,
MARGIN_CALL at or below 1.5 (a notice), REDUCE_ONLY at or below 1.2 (no order may add exposure,
no collateral may leave the UM wallet), FORCE_LIQUIDATION at or below 1.05 (open orders
cancelled, then the positions liquidated; a recovery before the liquidation cancels it).

Evidence, and how the target's is cross-examined:

- From the harness itself: the prices. The harness is the market; each tick it published is a
  ``tick`` op (time, prices, delivered). The truth at t is the last tick at or before t
  (``Ticks``); only delivered ticks can be expected to move the target.
- From the client history: the faults the nemesis injected, UM writes refused ``UM_HALTED`` (a
  halt as clients saw it) and UM writes acknowledged (UM trading again after a fault).
- From the client history also: UM orders and transfers refused ``REDUCE_ONLY``, and what the
  leveraged accounts read on their user-data streams (``risk_stream`` ops: each
  ``riskLevelChange`` the target told them).
- From the target: its decisions (``risk_level`` events in the journal, each a move ``from`` one
  level ``to`` another carrying the evaluation it was decided on: wallet, positions, prices with
  their times; and executed ``liquidation`` events), the journal's orders, trades, transfers and
  legs, and its halt log (``/audit/halts``).

Wrong or stale inputs, for each decision (a move, an executed liquidation): every price it reports must be one
the harness published, at exactly that time (a time no tick had is a violation) and at that price
(a different one is "wrong parameters"); no older than ``risk.staleness_ms`` at the decision, none
from before the last resume; the decision not inside a halt. Its wallet and positions are compared
with the account's rebuilt from the journal up to that record. UM wallet: credits − debits of the
legs on ``cust:<acct>:um``; umref evaluates exactly that ledger balance (deposits, transfers,
realized PnL, fees, liquidation proceeds all move through those legs), so it must match to the
minor unit. Positions: signed qty per symbol from UM trade events, less what executed
liquidations closed: exact. A margin engine reads an account a little before it decides, so a
reported state matches if the account held it at some moment of the INPUT_WINDOW_S before the
decision. Entry prices cannot be rebuilt to the digit (each venue rounds the average of opening
fills its own way): the qty-weighted average of opening fills is compared within
ENTRY_TOLERANCE. uniMMR is then recomputed by the oracle (exact fractions) on the true prices and
the journal's inputs (the reported entry price where it agrees with the rebuilt one): a move must
land on exactly the level that uniMMR is in (so an escalation and a recovery are both judged), a
liquidation must be at or below 1.05 and come from FORCE_LIQUIDATION. A move's ``from`` must be
the level the journal had the account in. The journal must also show the levels enforced: no
order adding exposure and no transfer out of the UM wallet accepted while the account was
REDUCE_ONLY or beyond; and each ``REDUCE_ONLY`` refusal a client saw must fall while the journal
had the account so, and (an order) one that would have added exposure to its journal position.

Missed or late actions: the uniMMR of every customer account (one with a ``cust:<acct>:*`` leg)
holding positions, rebuilt from the journal, at each delivered tick (floats, skipping ticks that
provably cannot cross 1.5; fractions where a float lies within NEAR of a threshold). A period where
it stays at or below 1.5 (1.2, 1.05) needs the account at MARGIN_CALL or graver (REDUCE_ONLY or
graver, FORCE_LIQUIDATION or liquidated)
within ``risk.act_within_ms`` + CYCLE_SLACK_S of the moment the target could act: the breach, or UM
trading again (a halt ended, claimed or seen by clients; the first acknowledged UM write after an
injected fault was healed), or fresh ticks again (delivered ticks gapped by more than the staleness
bound), whichever is latest. In the other direction, a period in which the journal holds an
account at a level while its true uniMMR is above that level's threshold (no position counts as
above) must end, by a move, within the same bound; and an account in FORCE_LIQUIDATION with
uniMMR at or below 1.05 must be liquidated within it. The budget counts only time the platform was seen to be working: a
span in which a client's request or the harness's price intake waited longer than STRAINED_S for
its answer (a starved machine: a loaded CI runner, a disk stalled by other work) is added to the
deadline, and named in the evidence. How slow the platform was is judged by the latency bounds of
steady_state and recovery, not here. Periods shorter than that need nothing; the level reached
earlier in the same period (from CYCLE_SLACK_S before it) suffices: a margin-called account that
never recovered needs no new move, and a recovery no longer than that bound is not one the target
must have seen (it samples accounts in cycles), so the period goes on across it. Nothing is
expected from a fault's landing until UM writes are acknowledged again after its heal: the
harness broke part of the platform then (safe_halt and recovery judge those windows), so
timeliness is judged where nothing was broken. Judged up to the end of the load (the
``load_end`` phase; else the journal's last record): the journal is read after it.

Cost: one pass over the journal (linear) and, per delivered tick, only the accounts that changed
or whose band of safe prices the tick left, or whose exact span (one position) it crossed (see
``_Replay``).

The user-data streams against the journal: each level a stream told an account must be a move
the journal made for it within STREAM_MATCH_S of the event's time, and each move the journal made
for an account must reach its stream by a read answered more than STREAM_LAG_S later.

Figures also count moves, liquidations and breaches per margin asset (an account's positions
margined in USDT, USDC or both), since one halt covers contracts of both.

Missing truth is unknown, never a violation: no tick at all makes the check unknown; a decision
whose price time has no tick at or before it is counted and reported, its prices unjudged; while
ticks were not delivered nothing is expected of the target.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from itertools import pairwise
from typing import Any

from harness.checks.base import Audit, CheckResult, Evidence
from harness.checks.common import (
    UM_WRITE_KINDS,
    Interval,
    Ticks,
    fault_windows,
    halt_intervals,
    in_seq_order,
    inside,
    merge,
    missing,
    risk_of,
    started,
    unknown,
)
from harness.checks.margin_oracle import (
    MARGIN_ASSET,
    MAX_RATE,
    SCALE,
    STABLE_RATE,
    FloatRatio,
    crossing_price,
    unimmr,
    unimmr_float,
)
from harness.history import History, Op
from harness.workload import WRITE_KINDS

__all__ = ["no_erroneous_risk_actions", "CYCLE_SLACK_S", "INPUT_WINDOW_S", "ENTRY_TOLERANCE"]

NAME = "no_erroneous_risk_actions"
SEVERITY = ("NORMAL", "MARGIN_CALL", "REDUCE_ONLY", "FORCE_LIQUIDATION")  # the venue's risk levels, graver to the right
RANK = {level: i for i, level in enumerate(SEVERITY)}
THRESHOLD = {"MARGIN_CALL": Fraction(3, 2), "REDUCE_ONLY": Fraction(6, 5), "FORCE_LIQUIDATION": Fraction(21, 20)}
RESTRICTED = ("REDUCE_ONLY", "FORCE_LIQUIDATION")  # no order may add exposure
NO_LEVELS: tuple[list[float], list[str]] = ([], [])  # an account the journal never moved (read, never filled)
LEVELS = tuple((THRESHOLD[name], float(THRESHOLD[name])) for name in SEVERITY[1:])  # highest threshold first
LEVEL_OF = {level_f: level for level, level_f in LEVELS}
NAME_OF = {threshold: name for name, threshold in THRESHOLD.items()}
# The target evaluates accounts in cycles (umref: every 200 ms, then each account in turn), not on
# each tick: this much on top of act_within_ms before an action counts as late.
CYCLE_SLACK_S = 1.0
# How old a view of an account a decision may have been made on: a cycle reads every account
# first, then evaluates them one by one (slowly, when the margin service is slow).
INPUT_WINDOW_S = 30.0
ENTRY_TOLERANCE = 1e-6  # relative: venues round the average entry price differently
NEAR = 1e-9  # relative distance of a float uniMMR to a threshold within which fractions decide
# A request unanswered this long shows the platform (or the machine under it) starved from then on
# until its answer; a risk cycle cannot be expected to run in such a span.
STRAINED_S = 1.0
CLIENT_HALT_GAP_S = 1.0  # UM_HALTED refusals this close together are one halt as clients saw it
STREAM_MATCH_S = 0.5  # a stream event's time and the journal's move it tells: this far apart at most
STREAM_LAG_S = 5.0  # a move not on the account's stream by a read this long after it was never told
BAND_SAFETY = 0.5  # share of the provably safe price move used to skip ticks (float rounding room)
SPAN_MARGIN = 4 * NEAR  # how far from each threshold (relative) an exact span keeps uniMMR, and its marks from the crossings
WAKE_RATE = LEVELS[0][1] * float(MAX_RATE)  # how fast 1.5·maintenance can grow with notional
ROOM_FLOOR = 1e-6  # a band's room (in margin-asset units) at or below which the account is evaluated
STABLE = frozenset(MARGIN_ASSET.values())  # priced at 1: a leg in one moves equity by its amount
ZERO = Decimal(0)


@dataclass(frozen=True)
class Snapshot:
    """An account's UM state after one journal record: nonzero positions, entry prices, wallet."""

    time: float
    qty: dict[str, Decimal]
    entry: dict[str, float]
    wallet: dict[str, int]  # minor units


EMPTY = Snapshot(-math.inf, {}, {}, {})


@dataclass(frozen=True)
class Episode:
    """A period in which an account's true uniMMR stayed at or below ``level``."""

    account: str
    level: Fraction
    start: float
    end: float
    ratio: float
    prices: Mapping[str, str]


@dataclass(eq=False, slots=True)
class _Account:
    """One account as the journal makes it, replayed record by record."""

    name: str
    customer: bool = False
    keep: bool = False  # its states are kept: the account has decisions to judge
    qty: dict[str, Decimal] = field(default_factory=dict)
    qf: dict[str, float] = field(default_factory=dict)  # qty in floats, for uniMMR's screen
    entry: dict[str, float] = field(default_factory=dict)
    wallet: dict[str, int] = field(default_factory=dict)
    recent: deque[Snapshot] = field(default_factory=deque)
    floats: tuple[dict[str, float], list[tuple[str, float, float]]] | None = None
    # The band: per priced asset, (low, high) prices within which uniMMR cannot reach 1.5, and
    # ``room``, a floor of (equity − 1.5·maintenance) anywhere in it, lowered by each change of
    # the account; ``band`` is its id (0: none, the account is evaluated at every tick).
    band: int = 0
    bounds: dict[str, tuple[float, float]] = field(default_factory=dict)
    room: float = 0.0
    open: dict[float, tuple[float, float, Mapping[str, str]]] = field(default_factory=dict)  # level -> breach

    def snapshot(self, t: float) -> None:
        self.recent.append(Snapshot(t, {s: q for s, q in self.qty.items() if q}, dict(self.entry), dict(self.wallet)))
        while len(self.recent) > 1 and self.recent[1].time < t - INPUT_WINDOW_S:
            self.recent.popleft()

    def held_since(self, t: float) -> list[Snapshot]:
        """The states the account was in at some moment from t on (the last always counts)."""
        states = list(self.recent) or [EMPTY]
        return [s for s, nxt in zip(states, [*states[1:], None], strict=True) if nxt is None or nxt.time >= t]

    def float_inputs(self) -> tuple[dict[str, float], list[tuple[str, float, float]]]:
        if self.floats is None:
            wallet = {a: v / SCALE[a] for a, v in self.wallet.items() if a in SCALE}
            self.floats = (wallet, [(s, self.qf[s], self.entry[s]) for s, q in self.qty.items() if q])
        return self.floats


class _Replay:
    """The journal replayed in order: accounts, decisions judged (direction 1) and uniMMR sampled
    at each delivered tick before each record (direction 2).

    Sampling every account at every tick would be accounts × ticks float evaluations on a soak;
    instead an account whose uniMMR is above 1.5 gets a band of prices within which it provably
    stays above (``FloatRatio.safe_band``), and sleeps until a price leaves its band (heaps of
    band edges per asset) or its own changes use up the band's room: a fill of d at any mark m
    in the band changes equity by m·d − Δ(qty·entry) and 1.5·maintenance by at most
    1.5·MAX_RATE·|d|·m; a stablecoin leg changes equity by its amount; anything else wakes it.

    An account holding one position and only stablecoins needs no such bound: uniMMR then crosses
    each threshold at one mark of that position's asset (``crossing_price``), so it sleeps, above
    or below each threshold as just judged (in breach too), until a tick crosses the nearest of
    those marks (``span``); any change of its own wakes it. A soak's accounts near a threshold
    are mostly of this kind: under a band of safe prices they were evaluated at nearly every tick."""

    def __init__(self, ticks: Ticks, halts: list[Interval], staleness_s: float, until: float,
                 deciders: set[str]) -> None:
        self.ticks = ticks
        self.halts = halts
        self.resumes = sorted(h.end for h in halts if h.end != math.inf)
        self.staleness_s = staleness_s
        self.until = until
        self.deciders = deciders
        self.accounts: dict[str, _Account] = {}
        self.awake: set[str] = set()  # accounts evaluated at the next tick: changed, unbanded or breached
        self.low_edges: dict[str, list[tuple[float, int, str]]] = {}  # asset -> heap of (-low, band, account)
        self.high_edges: dict[str, list[tuple[float, int, str]]] = {}  # asset -> heap of (high, band, account)
        self.bands = 0
        self.bad: list[Evidence] = []
        self.episodes: list[Episode] = []
        self.levels: dict[str, tuple[list[float], list[str]]] = {}  # account -> the journal's levels: since when, which
        self.liquidations: dict[str, list[float]] = {}  # account -> when its positions were liquidated
        self.decisions = self.judged = self.unjudged = 0
        self.moves = dict.fromkeys(SEVERITY, 0)  # risk-level moves, by the level entered
        self.spared = 0  # moves out of FORCE_LIQUIDATION before it was executed: liquidations cancelled
        self.by_asset: dict[str, dict[str, int]] = {}  # margin asset -> moves / liquidations / breaches
        self.delivered = [i for i, d in enumerate(ticks.delivered) if d and ticks.times[i] <= until]
        self.priced = frozenset(asset for prices in ticks.prices for asset in prices)  # by any tick
        self.samples = 0

    def account(self, name: str) -> _Account:
        if (a := self.accounts.get(name)) is None:
            a = self.accounts[name] = _Account(name, keep=name in self.deciders)
        return a

    def changed(self, a: _Account) -> None:
        """The account's state changed in a way its band's room does not account for."""
        a.band = 0
        a.floats = None
        self.awake.add(a.name)

    # ---- replay -----------------------------------------------------------------------------
    def run(self, records: Iterable[Any]) -> None:
        times, delivered, accounts = self.ticks.times, self.delivered, self.accounts
        quantities: dict[str, tuple[tuple[Decimal, float], ...]] = {}  # a qty's text parsed once, both signs
        wallets: dict[str, _Account | None] = {}  # ledger account -> the customer whose UM wallet it is
        fill, awake = self.fill, self.awake
        kept: list[_Account] = []  # accounts with decisions this record changed: their state is kept
        next_tick = 0
        next_time = times[delivered[0]] if delivered else math.inf
        for record in records:
            while next_time < record.time:  # the ticks before this record, on the state before it
                self.sample(next_time, self.ticks.prices[delivered[next_tick]])
                next_tick += 1
                next_time = times[delivered[next_tick]] if next_tick < len(delivered) else math.inf
            for event in record.events:
                kind = event.get("type")
                if kind == "trade":
                    if event.get("market") == "um":
                        qty, symbol = event["qty"], event["symbol"]
                        if (parsed := quantities.get(qty)) is None:
                            exact, d = Decimal(qty), float(qty)
                            parsed = quantities[qty] = ((exact, d), (-exact, -d))
                        price = float(event["price"])
                        buy, sell = parsed if event.get("taker_side") == "BUY" else parsed[::-1]
                        for name, (delta, d) in ((event["taker_account"], buy), (event["maker_account"], sell)):
                            a = accounts.get(name) or self.account(name)
                            fill(a, symbol, delta, d, price)
                            if a.keep:
                                kept.append(a)
                elif kind == "risk_level":
                    self.decision(record, event)
                elif kind == "liquidation" and event.get("closed") is not None:  # executed (no other stage decides)
                    self.decision(record, event)
                    kept.append(self.closed(event))
                elif (kind == "order" and event.get("market") == "um" and not event.get("reduce_only")) or \
                        (kind == "transfer" and event.get("from") == "um"):
                    self.enforced(record, event)
            for leg in record.legs:
                try:
                    owner = wallets[leg.account]
                except KeyError:
                    owner = wallets[leg.account] = self.wallet_of(leg.account)
                if owner is not None:
                    owner.wallet[leg.asset] = owner.wallet.get(leg.asset, 0) - leg.amount  # credits − debits
                    owner.floats = None
                    if owner.band and leg.asset in STABLE and (room := owner.room - leg.amount / SCALE[leg.asset]) > ROOM_FLOOR:
                        owner.room = room  # asleep still: the band's room is read only while it sleeps
                    else:
                        owner.band = 0
                        awake.add(owner.name)
                    if owner.keep:
                        kept.append(owner)
            if kept:
                for a in kept:
                    a.snapshot(record.time)
                kept.clear()
        for i in delivered[next_tick:]:
            self.sample(times[i], self.ticks.prices[i])
        for name, a in accounts.items():  # a breach still open, its account awake or asleep in it
            for level_f, (start, ratio, prices) in a.open.items():
                self.episodes.append(Episode(name, LEVEL_OF[level_f], start, self.until, ratio, prices))

    def wallet_of(self, ledger_account: str) -> _Account | None:
        """The customer whose UM wallet this ledger account is (``cust:<acct>:um``); any
        ``cust:<acct>:*`` account marks <acct> a customer."""
        if not ledger_account.startswith("cust:"):
            return None
        a = self.account(ledger_account[5:ledger_account.rindex(":")])
        if not a.customer and any(a.qty.values()):
            self.awake.add(a.name)  # positions held before it was known a customer
        a.customer = True
        return a if ledger_account.endswith(":um") else None

    def fill(self, a: _Account, symbol: str, delta: Decimal, d: float, price: float) -> None:
        """A fill of signed ``delta`` (``d`` in float) at ``price``: qty exact, entry the
        qty-weighted average of opening fills (floats: compared within ENTRY_TOLERANCE)."""
        qty = a.qty.get(symbol, ZERO)
        q, entry = a.qf.get(symbol, 0.0), a.entry.get(symbol, 0.0)
        new = qty + delta
        n = q + d if new else 0.0
        if not qty or (qty > ZERO) is (d > 0):  # d: delta in float, of its sign
            after = (q * entry + d * price) / n
        elif not new:
            after = 0.0
        elif (new > ZERO) is not (qty > ZERO):
            after = price  # flipped: the rest opens at the fill price
        else:
            after = entry
        a.qty[symbol], a.qf[symbol], a.entry[symbol] = new, n, after
        a.floats = None
        if a.band:
            edges = a.bounds.get(symbol[:3])
            if edges is not None:
                low, high = edges
                a.room += q * entry - n * after + (d * low if d > 0 else d * high) - WAKE_RATE * abs(d) * high
                if a.room > ROOM_FLOOR:
                    return
            a.band = 0
        self.awake.add(a.name)

    def closed(self, event: Mapping[str, Any]) -> _Account:
        a = self.account(event["account"])
        for c in event["closed"]:
            symbol = c["symbol"]
            left = a.qty.get(symbol, ZERO) - Decimal(str(c["qty"])) if "qty" in c else ZERO
            a.qty[symbol], a.qf[symbol] = left, float(left)
            if not left or symbol not in a.entry:
                a.entry[symbol] = 0.0
        self.changed(a)
        return a

    # ---- the levels the journal holds each account in -----------------------------------------
    def level_at(self, name: str, t: float) -> str:
        times, levels = self.levels.get(name, NO_LEVELS)
        i = bisect.bisect_right(times, t) - 1
        return levels[i] if i >= 0 else "NORMAL"

    def current(self, name: str) -> str:
        entry = self.levels.get(name)
        return entry[1][-1] if entry else "NORMAL"

    def set_level(self, name: str, t: float, level: str) -> None:
        times, levels = self.levels.setdefault(name, ([], []))
        times.append(max(t, times[-1]) if times else t)  # journal order: a record stamped a hair earlier is still later
        levels.append(level)

    def reached(self, name: str, rank: int, start: float) -> float | None:
        """The first moment from ``start`` at which the journal had the account at ``rank`` or
        graver (at ``start`` itself if it already was); for FORCE_LIQUIDATION a liquidation counts."""
        times, levels = self.levels.get(name, NO_LEVELS)
        i = bisect.bisect_right(times, start) - 1
        if i >= 0 and RANK.get(levels[i], 0) >= rank:
            return start
        first = next((t for t, level in zip(times[i + 1:], levels[i + 1:], strict=True) if RANK.get(level, 0) >= rank), None)
        if rank == RANK["FORCE_LIQUIDATION"] and (liquidated := self.liquidations.get(name)):
            j = bisect.bisect_left(liquidated, start)
            if j < len(liquidated) and (first is None or liquidated[j] < first):
                first = liquidated[j]
        return first

    def enforced(self, record: Any, event: Mapping[str, Any]) -> None:
        """An order or a transfer out of the UM wallet the journal accepted: none may add exposure
        or take collateral while the account is REDUCE_ONLY or graver."""
        name = str(event.get("account"))
        if (level := self.current(name)) not in RESTRICTED:
            return
        if event.get("type") == "order":
            symbol, side, qty = str(event.get("symbol")), event.get("side"), _decimal(event.get("qty"))
            a = self.accounts.get(name)
            held = a.qty.get(symbol, ZERO) if a else ZERO
            if qty is not None and _reduces(held, side, qty):
                return
            what = f"an order adding exposure ({side} {qty} {symbol} on a position of {held})"
        else:
            what = f"a transfer of {event.get('amount')} {event.get('asset')} out of the UM wallet"
        self.bad.append(Evidence(f"{name}: {what} accepted while the journal had the account {level}", record.time,
                                 records=(record.seq,)))

    def count(self, what: str, positions: Iterable[Mapping[str, Any]]) -> None:
        for asset in {MARGIN_ASSET.get(str(p.get("symbol"))) for p in positions} - {None}:
            counts = self.by_asset.setdefault(str(asset), {})
            counts[what] = counts.get(what, 0) + 1

    def follow(self, kind: str, name: str, t: float, event: Mapping[str, Any], flag: Callable[[str], None]) -> None:
        """The account's level after this decision; flag a move from a level the journal did not
        have it in, and a liquidation not from FORCE_LIQUIDATION."""
        held, to = self.current(name), str(event.get("to"))
        if kind == "risk_level":
            self.moves[to] = self.moves.get(to, 0) + 1
            self.count("moves", event.get("positions") or [])
            if to not in RANK:
                flag(f"{to!r} is none of the venue's risk levels ({', '.join(SEVERITY)})")
            if event.get("from") != held:
                flag(f"the journal had the account {held}, not {event.get('from')}")
            self.spared += held == "FORCE_LIQUIDATION" != to
            self.set_level(name, t, to)
            return
        self.count("liquidations", event.get("positions") or [])
        self.liquidations.setdefault(name, []).append(t)
        if held != "FORCE_LIQUIDATION":
            flag(f"liquidated from {held}: not first moved to FORCE_LIQUIDATION (its open orders cancelled)")
        self.set_level(name, t, "NORMAL")

    # ---- direction 1: each decision's inputs ------------------------------------------------
    def decision(self, record: Any, event: Mapping[str, Any]) -> None:
        self.decisions += 1
        kind = str(event["type"])
        t = float(event.get("time", record.time))
        name = str(event.get("account"))
        to = str(event.get("to"))
        label = f"{name} {event.get('from')} -> {to}" if kind == "risk_level" else f"liquidation of {name}"

        def flag(text: str) -> None:
            self.bad.append(Evidence(f"{label}: {text}", t, records=(record.seq,)))

        self.follow(kind, name, t, event, flag)

        if h := inside(t, self.halts):
            flag(f"inside a halt, {t - h.start:.3f} s after it began")
        last_resume = self.resumes[bisect.bisect_right(self.resumes, t) - 1] if self.resumes and self.resumes[0] <= t else None
        index: dict[str, Fraction] = {}
        quoted: dict[str, str] = {}  # the true prices as the harness published them
        unjudged = False
        for p in event.get("prices") or []:
            asset, used_at, text = str(p["asset"]), float(p["time"]), str(p["price"])
            i = self.ticks.last_at(used_at)
            if i is None or asset not in self.ticks.prices[i]:
                unjudged = True  # the harness had published no such price by then: no truth to judge by
                continue
            true = self.ticks.prices[i][asset]
            if self.ticks.published_at(used_at) is None:
                flag(f"{asset} price {text} stamped {used_at:.6f}, when the harness published no tick "
                     f"(the last before was at {self.ticks.times[i]:.6f}, {asset} {true})")
            elif _decimal(text) != _decimal(true):
                flag(f"wrong parameters: {asset} price {text} at {used_at:.6f}, but the harness published {true} then")
            if t - used_at > self.staleness_s + 1e-6:
                flag(f"stale {asset} price, {t - used_at:.3f} s old (bound {self.staleness_s} s)")
            elif last_resume is not None and used_at < last_resume - 1e-6:
                flag(f"{asset} price from {last_resume - used_at:.3f} s before the last resume")
            index[asset], quoted[asset] = Fraction(true), true
        states = self.account(name).held_since(t - INPUT_WINDOW_S)
        state = next((s for s in states if _same_inputs(event, s)), None)
        if state is None:
            state = states[-1]
            flag(f"its inputs are not the account's per the journal: {_difference(event, state)}")
        if unjudged:
            self.unjudged += 1
            return
        self.judged += 1
        wallet = {a: Fraction(v, SCALE[a]) for a, v in state.wallet.items() if a in SCALE}
        positions = [{"symbol": s, "qty": q, "entry_price": _entry(event, s, state.entry[s])} for s, q in state.qty.items()]
        try:
            ratio = unimmr(wallet, positions, index)
        except KeyError as exc:
            flag(f"no price for {exc} among its inputs")
            return
        shown = "none (no position)" if ratio is None else f"{float(ratio):.4f}"
        shown += f" at {', '.join(f'{asset} {quoted[asset]}' for asset in sorted(quoted))}" if quoted else ""
        if kind == "liquidation":
            if ratio is None or ratio > THRESHOLD["FORCE_LIQUIDATION"]:
                flag(f"uniMMR on the harness's prices and the journal's inputs is {shown} > 1.05")
        elif (truth := level_of(ratio)) != to:
            flag(f"uniMMR on the harness's prices and the journal's inputs is {shown}: {truth}, not {to}")

    def streamed(self, reads: Sequence[Op]) -> int:
        """Hold what each account's user-data stream told it against the journal's moves, both
        ways; return how many events the streams carried."""
        told: dict[str, list[tuple[float, str]]] = {}
        last_read: dict[str, float] = {}
        for op in reads:
            name = str(op.value.get("account"))
            last_read[name] = max(last_read.get(name, -math.inf), op.time)
            body = op.value.get("body")
            for event in body.get("events", []) if isinstance(body, dict) else []:
                told.setdefault(name, []).append((float(event.get("time") or 0.0), str(event.get("level"))))
        for name, events in told.items():
            times, levels = self.levels.get(name, NO_LEVELS)
            moves = list(zip(times, levels, strict=True))
            for at, level in events:
                if not any(lv == level and abs(t - at) <= STREAM_MATCH_S for t, lv in moves):
                    self.bad.append(Evidence(f"{name}: its user-data stream told {level} at {at:.3f}, a move the "
                                             f"journal does not have", at))
        for name, read_until in last_read.items():
            times, levels = self.levels.get(name, NO_LEVELS)
            for t, level in zip(times, levels, strict=True):
                if t + STREAM_LAG_S < read_until and t <= self.until and \
                        not any(lv == level and abs(t - at) <= STREAM_MATCH_S for at, lv in told.get(name, ())):
                    self.bad.append(Evidence(f"{name}: the journal moved it to {level} at {t:.3f}; its user-data stream "
                                             f"never told it, read until {read_until:.3f}", t))
        return sum(len(events) for events in told.values())

    def refused(self, op: Any, request: Mapping[str, Any]) -> None:
        """A client's order or transfer refused ``REDUCE_ONLY``: the journal must have had the
        account REDUCE_ONLY or graver meanwhile, and an order must add to its position."""
        name, sent, t = str(op.value.get("account")), started(op), op.time
        times, levels = self.levels.get(name, NO_LEVELS)
        during = {self.level_at(name, sent)} | {lv for at, lv in zip(times, levels, strict=True) if sent < at <= t}
        what = "a transfer out of the UM wallet" if op.f == "transfer" else \
            f"an order ({request.get('side')} {request.get('qty')} {request.get('symbol')})"
        if during.isdisjoint(RESTRICTED):
            self.bad.append(Evidence(f"{name}: {what} refused REDUCE_ONLY while the journal had the account "
                                     f"{' then '.join(sorted(during, key=lambda lv: RANK.get(lv, 0)))}", t))
            return
        qty, symbol = _decimal(request.get("qty")), str(request.get("symbol"))
        if op.f != "um_order" or qty is None or (a := self.accounts.get(name)) is None:
            return
        states = [state for state in a.held_since(sent) if state.time <= t] or a.held_since(sent)[:1]
        if all(_reduces(state.qty.get(symbol, ZERO), request.get("side"), qty) for state in states):
            held = states[-1].qty.get(symbol, ZERO)
            self.bad.append(Evidence(f"{name}: {what} refused REDUCE_ONLY, yet it only reduced the position of "
                                     f"{held} {symbol} the journal shows", t))

    # ---- direction 2: uniMMR at each delivered tick -------------------------------------------
    def sample(self, t: float, text: Mapping[str, str]) -> None:
        px = {a: float(p) for a, p in text.items()}
        for asset, p in px.items():  # wake the accounts whose band this price left
            if (heap := self.low_edges.get(asset)) is not None:
                while heap and -heap[0][0] >= p:
                    self.wake(*heapq.heappop(heap)[1:])
            if (heap := self.high_edges.get(asset)) is not None:
                while heap and heap[0][0] <= p:
                    self.wake(*heapq.heappop(heap)[1:])
        for name in list(self.awake):
            a = self.accounts[name]
            if not a.customer:
                self.awake.discard(name)
                continue
            wallet, positions = a.float_inputs()
            try:
                parts = unimmr_float(wallet, positions, px) if positions else None
            except KeyError:
                continue  # this tick lacks a price the account needs: no sample
            self.samples += 1
            ratio = None if parts is None else parts.ratio
            for level, level_f in LEVELS:
                breached = ratio is not None and ratio <= level_f
                if ratio is not None and abs(ratio - level_f) <= NEAR * level_f:
                    exact = _exact(a, text)
                    breached = exact is not None and exact <= level
                if breached and level_f not in a.open:
                    a.open[level_f] = (t, ratio or 0.0, text)
                    self.count("breaches", [{"symbol": s} for s, q in a.qty.items() if q])
                elif not breached and level_f in a.open:
                    start, low, prices = a.open.pop(level_f)
                    self.episodes.append(Episode(name, level, start, t, low, prices))
            if parts is None or ratio is None:
                if not a.open:
                    self.awake.discard(name)
            elif (span := self.span(a, positions, wallet, px)) is not None:
                self.sleep(a, {span[0]: span[1:]}, -math.inf)
            elif not a.open and (move := parts.safe_band(LEVELS[0][1]) * BAND_SAFETY) > 0:
                self.banded(a, parts, move, positions, wallet, px)

    def banded(self, a: _Account, parts: FloatRatio, move: float, positions: Sequence[tuple[str, float, float]],
               wallet: Mapping[str, float], px: Mapping[str, float]) -> None:
        """Put the account to sleep within ``move`` (relative) of these prices."""
        bounds = {x: (px[x] * (1 - move), px[x] * (1 + move)) for x in {s[:3] for s, _, _ in positions} | (wallet.keys() & px.keys())}
        self.sleep(a, bounds, parts.equity - LEVELS[0][1] * parts.mm - move * (parts.gross + parts.crypto + WAKE_RATE * parts.gross))

    def span(self, a: _Account, positions: Sequence[tuple[str, float, float]], wallet: Mapping[str, float],
             px: Mapping[str, float]) -> tuple[str, float, float] | None:
        """For an account holding one position and only face-value assets no tick prices: the
        marks (low, high) around this one within which it provably stays as just judged, above
        or below each threshold, with SPAN_MARGIN to spare (``crossing_price``: uniMMR crosses
        each threshold at one mark); checked at those marks. None for any other account."""
        if len(positions) != 1 or not STABLE_RATE.issuperset(wallet) or not self.priced.isdisjoint(wallet):
            return None
        symbol, qty, entry = positions[0]
        base, settle = symbol[:3], MARGIN_ASSET.get(symbol)
        if settle not in STABLE_RATE or settle in self.priced or base not in px:
            return None
        total = sum(wallet.values())
        low, high, checks = 0.0, math.inf, []
        for _, level_f in LEVELS:
            held = level_f in a.open  # at or below it, as just judged: to stay so, with room
            target = level_f * (1 - SPAN_MARGIN if held else 1 + SPAN_MARGIN)
            if (mark := crossing_price(symbol, qty, entry, total, target)) is None:
                return None
            if (qty > 0) != held:  # uniMMR rises with the mark for a long: above the crossing
                low = max(low, mark * (1 + SPAN_MARGIN))
            else:
                high = min(high, mark * (1 - SPAN_MARGIN))
            checks.append((target, held))
        if not low < px[base] < high:
            return None
        for edge in (low, high):
            if 0 < edge < math.inf:
                ratio = unimmr_float(wallet, positions, {base: edge}).ratio
                if ratio is None or any((ratio < target) != held for target, held in checks):
                    return None
        return base, low, high

    def sleep(self, a: _Account, bounds: dict[str, tuple[float, float]], room: float) -> None:
        """Put the account to sleep until a price leaves its bounds (heaps of their edges per
        asset; an edge at 0 or infinity is none) or its changes use up ``room``."""
        self.bands += 1
        a.band = self.bands
        a.bounds = bounds
        a.room = room
        for x, (low, high) in bounds.items():
            lows, highs = self.low_edges.setdefault(x, []), self.high_edges.setdefault(x, [])
            if low > 0:
                heapq.heappush(lows, (-low, a.band, a.name))
            if high < math.inf:
                heapq.heappush(highs, (high, a.band, a.name))
            if len(lows) + len(highs) > 8 * len(self.accounts) + 128:  # mostly edges of bands long gone: rebuild
                self.low_edges[x] = [e for e in lows if self.accounts[e[2]].band == e[1]]
                self.high_edges[x] = [e for e in highs if self.accounts[e[2]].band == e[1]]
                heapq.heapify(self.low_edges[x])
                heapq.heapify(self.high_edges[x])
        self.awake.discard(a.name)

    def wake(self, band: int, name: str) -> None:
        if (a := self.accounts[name]).band == band:
            a.band = 0
            self.awake.add(name)

    # ---- direction 2: each breach against the levels the journal held ----------------------------
    def late(self, excused: list[tuple[float, float]], strained: list[tuple[float, float]], bound_s: float) -> int:
        """Flag each breach the journal did not follow, in time (``bound_s`` of time not
        ``strained``), with the account at the breached level or graver; return how many breaches
        required a move."""
        starts = [s for s, _ in excused]
        strain_starts = [s for s, _ in strained]
        for times in self.liquidations.values():
            times.sort()
        due = 0
        period: dict[tuple[str, Fraction], tuple[float, float]] = {}  # (account, level) -> (start, end)
        for ep in sorted(self.episodes, key=lambda e: (e.start, e.account)):
            name = NAME_OF[ep.level]
            since, last_end = period.get((ep.account, ep.level), (ep.start, -math.inf))
            if ep.start - last_end > bound_s:  # a recovery this long the target must have seen
                since = ep.start
            period[ep.account, ep.level] = (since, ep.end)
            for a_, b in _windows(ep.start, ep.end, excused, starts):
                if b - a_ <= bound_s:
                    continue
                due += 1
                deadline = _deadline(a_, bound_s, strained, strain_starts)
                first = self.reached(ep.account, RANK[name], since - CYCLE_SLACK_S)
                if first is not None and first <= deadline:
                    break
                after = f"; it was from {first - a_:.3f} s after" if first is not None else "; it never was"
                shown = ", ".join(f"{k} {v}" for k, v in sorted(ep.prices.items()))
                slow = f" (+{deadline - a_ - bound_s:.1f} s the platform was seen starved)" if deadline - a_ > bound_s else ""
                graver = "liquidated" if name == "FORCE_LIQUIDATION" else "graver"
                self.bad.append(Evidence(
                    f"{ep.account}: true uniMMR {ep.ratio:.4f} <= {float(ep.level)} from {ep.start:.3f} ({shown}), "
                    f"UM trading with fresh ticks from {a_:.3f}, yet the account was not {name} or {graver} within "
                    f"{bound_s:.1f} s{slow}{after}", deadline))
                break
        self.held_too_long(excused, starts, strained, strain_starts, bound_s)
        return due

    def held_too_long(self, excused: list[tuple[float, float]], starts: list[float], strained: list[tuple[float, float]],
                      strain_starts: list[float], bound_s: float) -> None:
        """Flag each level the journal held an account in while its true uniMMR was above that
        level's threshold for longer than the bound (a recovery never followed), and each forced
        liquidation left unexecuted that long at or below 1.05."""
        below: dict[tuple[str, Fraction], list[tuple[float, float]]] = {}
        for ep in sorted(self.episodes, key=lambda e: e.start):
            below.setdefault((ep.account, ep.level), []).append((ep.start, ep.end))

        def overdue(spans: Iterable[tuple[float, float]]) -> tuple[float, float, float] | None:
            for x, y in spans:
                for p, q in _windows(x, y, excused, starts):
                    if q - p > bound_s and (deadline := _deadline(p, bound_s, strained, strain_starts)) < q:
                        return x, p, deadline
            return None

        for name, (times, levels) in self.levels.items():
            if (a := self.accounts.get(name)) is None or not a.customer:
                continue
            for i, level in enumerate(levels):
                start, end = times[i], times[i + 1] if i + 1 < len(times) else self.until
                if level not in THRESHOLD or end <= start:
                    continue
                threshold = THRESHOLD[level]
                spans = [(max(x, start), min(y, end)) for x, y in below.get((name, threshold), ()) if x < end and y > start]
                if (found := overdue(_gaps(start, end, spans))) is not None:
                    x, p, deadline = found
                    self.bad.append(Evidence(
                        f"{name}: held {level} from {start:.3f}, yet its true uniMMR was above {float(threshold)} from "
                        f"{x:.3f} (UM trading with fresh ticks from {p:.3f}) and no move came within {bound_s:.1f} s",
                        deadline))
                elif level == "FORCE_LIQUIDATION" and (found := overdue(spans)) is not None:
                    x, p, deadline = found
                    self.bad.append(Evidence(
                        f"{name}: in FORCE_LIQUIDATION from {start:.3f} with true uniMMR <= 1.05 from {x:.3f} (UM trading "
                        f"with fresh ticks from {p:.3f}), yet not liquidated within {bound_s:.1f} s", deadline))


def _figures(replay: _Replay, refusals: int, ticks: int, fresh: int, due: int, bound_s: float,
             strained: list[tuple[float, float]]) -> dict[str, Any]:
    """The check's figures: moves by level, liquidations, refusals, per margin asset, the work done."""
    return {**{f"moves_to_{level}": n for level, n in replay.moves.items()},
            "liquidations": sum(len(t) for t in replay.liquidations.values()), "reduce_only_refusals": refusals,
            "liquidations_cancelled": replay.spared,
            **{f"{what}_{asset}": n for asset, counts in sorted(replay.by_asset.items()) for what, n in counts.items()},
            "decisions": replay.decisions, "decisions_judged": replay.judged, "decisions_unjudged": replay.unjudged,
            "ticks": ticks, "ticks_delivered": fresh, "breaches": len(replay.episodes), "breaches_due": due,
            "uniMMR_samples": replay.samples, "act_within_s": round(bound_s - CYCLE_SLACK_S, 3),
            "strained_s": round(sum(b - a for a, b in strained), 3)}


def _refusals(history: History, until: float) -> tuple[list[Op], dict[Any, dict[str, Any]]]:
    """The orders and transfers refused ``REDUCE_ONLY`` up to ``until``, and what each asked
    (its invocation's fields, by client id)."""
    refusals = [op for op in history.completions("um_order", "transfer") if op.error == "REDUCE_ONLY" and op.time <= until]
    ids = {op.value.get("client_id") for op in refusals}
    requests = {op.value.get("client_id"): op.value for op in history.of("um_order", "transfer")
                if op.type == "invoke" and op.value.get("client_id") in ids}
    return refusals, requests


def level_of(ratio: Fraction | None) -> str:
    """The venue's risk level at this uniMMR (no position: NORMAL)."""
    if ratio is None:
        return "NORMAL"
    return next((name for name in reversed(SEVERITY[1:]) if ratio <= THRESHOLD[name]), "NORMAL")


def _reduces(held: Decimal, side: Any, qty: Decimal) -> bool:
    """Whether an order of ``qty`` on ``side`` only reduces a position of ``held`` (signed)."""
    return (side == "SELL" and held >= qty) or (side == "BUY" and -held >= qty)


def _gaps(start: float, end: float, spans: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """[start, end) less the ``spans`` (sorted by start)."""
    gaps, cur = [], start
    for x, y in spans:
        if x > cur:
            gaps.append((cur, x))
        cur = max(cur, y)
    if cur < end:
        gaps.append((cur, end))
    return gaps


def _deadline(start: float, budget_s: float, strained: Sequence[tuple[float, float]],
              starts: Sequence[float]) -> float:
    """The moment ``budget_s`` of time outside the ``strained`` spans (sorted, disjoint) has
    passed since ``start``."""
    t, left = start, budget_s
    for x, y in strained[max(0, bisect.bisect_right(starts, start) - 1):]:
        if y <= t:
            continue
        if x >= t + left:
            break
        left -= max(0.0, x - t)
        t = y
    return t + left


def _strained(history: History, ticks: Ticks) -> list[tuple[float, float]]:
    """Where the harness saw the platform starved (merged): from STRAINED_S after a client request
    was sent until its answer, for each answer that took longer; and between two price ticks
    further apart than STRAINED_S (the harness's intake post waits for the target's answer)."""
    spans = [(sent + STRAINED_S, op.time) for op in history.completions(*WRITE_KINDS)
             if op.time - (sent := started(op)) > STRAINED_S]
    spans += [(a + STRAINED_S, b) for a, b in pairwise(ticks.times) if b - a > STRAINED_S]
    return merge(spans)


def _windows(start: float, end: float, excused: Sequence[tuple[float, float]],
             starts: Sequence[float]) -> Iterable[tuple[float, float]]:
    """[start, end) less the excused spans (sorted, disjoint)."""
    cur = start
    for x, y in excused[max(0, bisect.bisect_right(starts, start) - 1):]:
        if x >= end:
            break
        if y <= cur:
            continue
        if x > cur:
            yield cur, x
        cur = max(cur, y)
    if cur < end:
        yield cur, end


def _decimal(text: Any) -> Decimal | None:
    try:
        return Decimal(str(text))
    except InvalidOperation:
        return None


def _reported(event: Mapping[str, Any]) -> tuple[dict[str, Decimal | None], dict[str, Decimal | None]]:
    qty = {str(p.get("symbol")): _decimal(p.get("qty")) for p in event.get("positions") or []}
    return {s: q for s, q in qty.items() if q != 0}, {str(a): _decimal(v) for a, v in (event.get("wallet") or {}).items()}


def _same_inputs(event: Mapping[str, Any], state: Snapshot) -> bool:
    qty, wallet = _reported(event)
    if qty != state.qty:
        return False
    for asset in set(wallet) | set(state.wallet):
        reported, scale = wallet.get(asset, ZERO), SCALE.get(asset)
        if reported is None or scale is None or reported * scale != state.wallet.get(asset, 0):
            return False
    for p in event.get("positions") or []:
        symbol, entry = str(p.get("symbol")), _decimal(p.get("entry_price"))
        if symbol in state.qty and (entry is None or abs(float(entry) - state.entry[symbol])
                                    > ENTRY_TOLERANCE * abs(state.entry[symbol]) + 1e-8):
            return False
    return True


def _difference(event: Mapping[str, Any], state: Snapshot) -> str:
    qty, wallet = _reported(event)
    parts = [f"{s} qty {qty.get(s, 0)} reported, {state.qty.get(s, 0)} in the journal"
             for s in sorted(set(qty) | set(state.qty)) if qty.get(s, ZERO) != state.qty.get(s, ZERO)]
    for asset in sorted(set(wallet) | set(state.wallet)):
        reported, minor, scale = wallet.get(asset, ZERO), state.wallet.get(asset, 0), SCALE.get(asset)
        if reported is None or scale is None or reported * scale != minor:
            journal = "?" if scale is None else Decimal(minor) / scale
            parts.append(f"wallet {asset} {reported} reported, {journal} in the journal")
    if not parts:
        parts = [f"{p.get('symbol')} entry price {p.get('entry_price')} reported, "
                 f"{state.entry.get(str(p.get('symbol')), 0.0):.8f} rebuilt from the journal's fills"
                 for p in event.get("positions") or []]
    return "; ".join(parts)


def _entry(event: Mapping[str, Any], symbol: str, rebuilt: float) -> str:
    """The reported entry price where it agrees with the rebuilt one (it carries the venue's own
    rounding), else the rebuilt one."""
    for p in event.get("positions") or []:
        if p.get("symbol") == symbol and (entry := _decimal(p.get("entry_price"))) is not None \
                and abs(float(entry) - rebuilt) <= ENTRY_TOLERANCE * abs(rebuilt) + 1e-8:
            return str(entry)
    return repr(rebuilt)


def _exact(a: _Account, prices: Mapping[str, str]) -> Fraction | None:
    """uniMMR in fractions (entry prices as rebuilt), for a float too near a threshold to decide."""
    wallet = {x: Fraction(v, SCALE[x]) for x, v in a.wallet.items() if x in SCALE}
    positions = [{"symbol": s, "qty": q, "entry_price": repr(a.entry[s])} for s, q in a.qty.items() if q]
    return unimmr(wallet, positions, {x: Fraction(p) for x, p in prices.items()})


def _client_halts(history: History) -> tuple[list[tuple[float, float]], list[float]]:
    """Halts as UM clients saw them (refusals ``UM_HALTED`` close together, as spans), and the
    times UM writes were acknowledged."""
    spans: list[tuple[float, float]] = []
    acked: list[float] = []
    start = end = -math.inf  # the span being grown (a soak has a hundred thousand refusals)
    for op in history.completions(*UM_WRITE_KINDS):
        if op.type == "ok":
            acked.append(op.time)
        elif op.error == "UM_HALTED":
            if (sent := started(op)) - end <= CLIENT_HALT_GAP_S:
                end = max(end, op.time)
            else:
                if end != -math.inf:
                    spans.append((start, end))
                start, end = sent, op.time
    if end != -math.inf:
        spans.append((start, end))
    acked.sort()
    return spans, acked


def no_erroneous_risk_actions(history: History, audit: Audit) -> CheckResult:
    if absent := missing(audit, "journal", "halts"):
        return unknown(NAME, absent, audit)
    ticks = Ticks.from_history(history)
    if not ticks:
        return CheckResult(NAME, "unknown", "the history holds no price tick: no truth to judge risk decisions by")
    risk = risk_of(audit)
    staleness_s = risk["staleness_ms"] / 1000
    bound_s = float(risk["act_within_ms"]) / 1000 + CYCLE_SLACK_S
    records = in_seq_order(history, audit)
    load_end = [op.time for op in history.of("phase") if op.value.get("phase") == "load_end"]
    # Judged up to the end of the load (the audit is read after it): a journal read later may not
    # hold an action taken after the read.
    until = min(ticks.times[-1], load_end[-1] if load_end else (records[-1].time if records else -math.inf))
    halts = halt_intervals(audit)
    refusals, requests = _refusals(history, until)
    deciders = {str(e.get("account")) for r in records for e in r.events if e.get("type") in ("risk_level", "liquidation")}
    replay = _Replay(ticks, halts, staleness_s, until, deciders | {str(op.value.get("account")) for op in refusals})
    replay.run(records)
    for op in refusals:
        replay.refused(op, requests.get(op.value.get("client_id"), {}))
    told = replay.streamed([op for op in history.completions("risk_stream") if op.type == "ok" and op.time <= until])

    client_halts, acked = _client_halts(history)
    excused = [(h.start, h.end) for h in halts] + client_halts
    for fw in fault_windows(history):  # until UM writes are acknowledged again after the heal
        i = bisect.bisect_left(acked, fw.end)
        excused.append((fw.start, acked[i] if i < len(acked) else math.inf))
    fresh = [ticks.times[i] for i in replay.delivered]
    excused += [(-math.inf, fresh[0] if fresh else math.inf)]
    excused += [(a + staleness_s, b) for a, b in pairwise(fresh) if b - a > staleness_s]
    if fresh:
        excused.append((fresh[-1] + staleness_s, math.inf))
    strained = _strained(history, ticks)
    due = replay.late(merge(excused), strained, bound_s)

    bad = replay.bad
    figures = {**_figures(replay, len(refusals), len(ticks), len(fresh), due, bound_s, strained), "stream_events": told}
    unjudged = f"; {replay.unjudged} decision(s) unjudged: made on prices from before the harness's first tick" \
        if replay.unjudged else ""
    if bad:
        bad.sort(key=lambda e: (math.inf if e.time is None else e.time, e.text))
        return CheckResult(NAME, False, f"{len(bad)} erroneous or missing risk action(s): {bad[0].text}{unjudged}",
                           tuple(bad[:50]), figures)
    if replay.decisions and not replay.judged:
        return CheckResult(NAME, "unknown", f"{replay.decisions} risk decision(s), none judgeable{unjudged}",
                           figures=figures)
    breaches = (f"{len(replay.episodes)} breach period(s) on the harness's prices, {due} long enough with UM trading "
                f"and fresh ticks to require a move, each followed in time; {len(refusals)} REDUCE_ONLY refusal(s), "
                f"each while the journal had the account so; {told} user-stream event(s), each a move the journal made")
    if not replay.decisions:
        return CheckResult(NAME, True, f"no risk-level move or liquidation was made; {breaches}{unjudged}", figures=figures)
    return CheckResult(NAME, True, f"{replay.judged} risk decision(s) (moves, liquidations), each on the harness's fresh "
                                   f"prices and the journal's inputs, to the level they show; {breaches}{unjudged}",
                       figures=figures)
