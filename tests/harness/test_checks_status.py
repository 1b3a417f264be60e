"""status_truthful on small hand-made histories: the page is held against what the clients saw
(and against the halt log, only where the clients bear it out); each way a page can mislead is
caught, the honest page passes, missing evidence is unknown. Then the status page's reader: the
standard client's model of umref's page, and the poller that records it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from harness.checks import DEFAULT_CHECKS, check_fn
from harness.history import History
from harness.load.front import Failover
from harness.load.status_page import StatusPoller, status_poller
from harness.recorder import Recorder
from harness.targets.base import ClientRequest
from harness.targets.client import StandardClient
from tests.harness.factories import T0, HistoryBuilder, audit, halt
from tests.harness.json_server import JsonServer
from tests.harness.venue_dialect import VenueClient

status_truthful = check_fn("status_truthful")
Page = Callable[[float], tuple[str, str]]  # time since T0 -> what the page says of (UM, spot)

# UM halted from 5.0 to 12.0: the clients' UM writes are refused UM_HALTED from 5.1 to 11.9 and
# acknowledged before and after; spot serves throughout. The page is read every 0.5 s.
HALT, RESUME = 5.0, 12.0


def honest(t: float) -> tuple[str, str]:
    return ("halted" if HALT + 0.5 <= t < RESUME + 0.5 else "normal"), "normal"


def history(page: Page | None = honest, *, spot_refused: bool = False, um_writes: bool = True,
            reads_fail: Callable[[float], bool] = lambda t: False, quiet: tuple[float, float] = (0, 0)) -> History:
    """``quiet``: a span no UM write is sent in."""
    h = HistoryBuilder()
    for i in range(80):
        t = 0.25 * i + 0.1
        if quiet[0] <= t < quiet[1]:
            pass
        elif um_writes and HALT < t < RESUME:
            h.request("um_order", t, "fail", f"r{i}", process="u1", status=503, error="UM_HALTED")
        elif um_writes:
            h.request("um_order", t, "ok", f"o{i}", process="u1")
        if spot_refused and HALT < t < RESUME:
            h.request("spot_order", t + 0.05, "fail", f"s{i}", process="spot", status=503, error="UM_HALTED")
        else:
            h.request("spot_order", t + 0.05, "ok", f"s{i}", process="spot")
    for i in range(40 if page else 0):
        t = 0.5 * i + 0.2
        if reads_fail(t):
            h.add("fail", "status", "status", t + 0.005, {"sent": T0 + t, "status": 503, "page": None, "via": "gateway"},
                  5.0, "UPSTREAM_UNAVAILABLE")
            continue
        assert page is not None
        um, spot = page(t)
        lines = {name: {"status": said, "since": None, "reason": None} for name, said in (("um", um), ("spot", spot))}
        h.add("ok", "status", "status", t + 0.005, {"sent": T0 + t, "status": 200, "page": {**lines, "updated": T0 + t},
                                                    "via": "gateway"}, 5.0)
    return h.build()


CLAIMED = [halt(HALT), halt(RESUME, "resume")]


def judge(hist: History, **parts: Any) -> Any:
    return status_truthful(hist, audit(**{"halts": CLAIMED, **parts}))


def test_the_honest_page_passes_with_its_lag_measured() -> None:
    result = judge(history())
    assert result.valid is True, result.summary
    assert result.figures["halts_seen"] == 1 and result.figures["halts_claimed_corroborated"] == 1
    assert result.figures["status_samples"] == result.figures["status_pages_read"] == 40
    assert 0.5 <= result.figures["max_lag_s"] <= 0.75  # behind the claim by its half-second; ahead of the clients
    assert result.figures["changes_never_shown"] == 0
    assert status_truthful(history(), audit()).valid is True  # no halt log: the clients alone


def test_a_page_that_never_shows_the_halt_fails() -> None:
    """stale_status: the page a minute behind says normal all through a 7 s halt."""
    result = judge(history(lambda t: ("normal", "normal")))
    assert result.valid is False
    texts = [e.text for e in result.evidence]
    assert texts[0].startswith("status page not shown halted within the bound of the halt: UM was halted (writes "
                               "refused UM_HALTED) as the clients saw it"), texts
    assert any("the audit's halt log claims it" in t for t in texts), texts
    assert result.evidence[0].time is not None and result.evidence[0].ops
    assert result.figures["changes_never_shown"] == 2  # the halt, as the clients saw it and as claimed


def test_a_page_late_by_more_than_the_bound_fails_and_within_it_passes() -> None:
    assert judge(history(lambda t: (("halted" if HALT + 3.0 <= t < RESUME else "normal"), "normal"))).valid is False
    assert judge(history(lambda t: (("halted" if HALT + 1.5 <= t < RESUME + 1.5 else "normal"), "normal"))).valid is True


def test_the_halt_log_places_a_halt_earlier_than_the_clients_can() -> None:
    """No UM write from 4.5 to 6: the clients see the halt only at 6.1. The page, halted from 7.5,
    follows them within the bound but the claimed start (5.0, which they bear out) by more."""
    late = history(lambda t: (("halted" if HALT + 2.5 <= t < RESUME else "normal"), "normal"), quiet=(4.5, 6.0))
    result = judge(late)
    assert result.valid is False and "the audit's halt log claims it" in result.summary, result.summary
    assert judge(late, halts=[]).valid is True
    contradicted = judge(late, halts=[halt(4.0), halt(RESUME, "resume")])  # acknowledged writes at 4.1 to 4.35
    assert contradicted.valid is True and contradicted.figures["halts_claimed_corroborated"] == 0


def test_a_claimed_halt_the_clients_contradict_is_not_held_against_the_page() -> None:
    """A halt log claiming 15..18, while clients were acknowledged all through it: not believed."""
    result = judge(history(), halts=[*CLAIMED, halt(15.0), halt(18.0, "resume")])
    assert result.valid is True and result.figures["halts_claimed_corroborated"] == 1, result.summary


def test_saying_normal_in_the_middle_of_a_halt_fails() -> None:
    flicker = history(lambda t: ("normal" if 9.0 <= t < 9.6 else honest(t)[0], "normal"))
    result = judge(flicker)
    assert result.valid is False
    assert result.summary.startswith("2 violation(s): status page said UM normal while UM was halted"), result.summary


def test_a_page_that_clears_late_fails() -> None:
    result = judge(history(lambda t: (("halted" if HALT + 0.5 <= t < RESUME + 3.0 else "normal"), "normal")))
    assert result.valid is False and "not cleared within the bound of the resume" in result.summary, result.summary


def test_saying_halted_while_um_trades_fails() -> None:
    result = judge(history(lambda t: ("halted" if 16.0 <= t < 17.0 else honest(t)[0], "normal")))
    assert result.valid is False and "said UM halted while UM traded" in result.summary, result.summary


def spot_too(t: float) -> tuple[str, str]:
    return honest(t)[0], honest(t)[0]


def test_spot_said_down_while_spot_is_served_fails() -> None:
    result = judge(history(spot_too))
    assert result.valid is False
    assert result.evidence[0].text.startswith("status page said spot halted in 14 read(s) while spot orders were served")


def test_spot_said_down_while_spot_is_refused_passes() -> None:
    """halt_spot_too: the halt stops spot too, and the page says so (the halt is safe_halt's to judge)."""
    result = judge(history(spot_too, spot_refused=True))
    assert result.valid is True, result.summary


def test_missing_evidence_is_unknown() -> None:
    no_page = judge(history(None))
    assert no_page.valid == "unknown" and "no status page was read" in no_page.summary
    unanswered = judge(history(reads_fail=lambda t: True))
    assert unanswered.valid == "unknown" and "UPSTREAM_UNAVAILABLE" in unanswered.summary
    no_writes = judge(history(um_writes=False))
    assert no_writes.valid == "unknown" and "nothing to hold the status page against" in no_writes.summary
    unread = judge(history(reads_fail=lambda t: HALT < t < RESUME))
    assert unread.valid == "unknown" and "no read of the status page fell in it" in unread.summary, unread.summary


def test_no_halt_and_a_normal_page_passes() -> None:
    result = status_truthful(_trading_only(), audit())
    assert result.valid is True and result.figures["halts_seen"] == 0, result.summary


def _trading_only() -> History:
    h = HistoryBuilder()
    for i in range(40):
        h.request("um_order", 0.25 * i, "ok", f"o{i}")
    for i in range(20):
        t = 0.5 * i
        h.add("ok", "status", "status", t + 0.005, {"sent": T0 + t, "status": 200, "page": {
            "um": {"status": "normal"}, "spot": {"status": "normal"}, "updated": None}, "via": "gateway"}, 5.0)
    return h.build()


def test_it_is_asked_for_by_name() -> None:
    assert "status_truthful" not in DEFAULT_CHECKS  # a target with no page would leave every run unknown


# ---- reading the page ------------------------------------------------------------------------

def test_the_standard_client_reads_umrefs_page_as_the_model() -> None:
    client = StandardClient()
    assert client.status_request() == ClientRequest("GET", "/sapi/v1/system/status", {})
    body = {"status": 1, "msg": "system maintenance", "updated": 5.0,
            "products": {"um": {"status": "halted", "since": 4.0, "reason": "margin slow"},
                         "spot": {"status": "degraded", "since": None, "reason": None}}}
    assert client.status(body) == {"um": {"status": "halted", "since": 4.0, "reason": "margin slow"}, "spot": None,
                                   "updated": 5.0}  # a line saying neither normal nor halted says nothing
    assert client.status({"error": {"code": "NOT_ACTIVE"}}) is None and client.status(None) is None


def test_a_client_api_with_no_status_page_gets_no_poller() -> None:
    assert status_poller(Failover((("gateway", "http://127.0.0.1:9"),)), VenueClient(), Recorder(0.0), max_s=1) is None


def test_the_poller_records_each_read_fails_over_and_stops_by_itself() -> None:
    page = {"status": 0, "msg": "normal", "updated": 1.0,
            "products": {"um": {"status": "normal", "since": None, "reason": None},
                         "spot": {"status": "normal", "since": None, "reason": None}}}
    standby = JsonServer(lambda body, n: (503, {"error": {"code": "NOT_ACTIVE", "message": "standby"}}))
    active = JsonServer(lambda body, n: (200, page))
    try:
        recorder = Recorder(time.monotonic())
        front = Failover((("gateway", standby.url), ("gateway-b", active.url)))
        started = time.monotonic()
        poller = StatusPoller(front, StandardClient(), ClientRequest("POST", "/", {}), recorder, max_s=0.5,
                              period_s=0.1).start()
        poller._thread.join(timeout=5)  # bounded by max_s: it ends without stop()
        assert not poller._thread.is_alive() and time.monotonic() - started < 2
        ops = recorder.snapshot()
        assert 2 <= len(ops) <= 6 and all(op.f == "status" and op.process == "status" for op in ops)
        assert (ops[0].type, ops[0].error, ops[0].value["via"]) == ("fail", "NOT_ACTIVE", "gateway")
        assert {(op.type, op.value["via"]) for op in ops[1:]} == {("ok", "gateway-b")}
        assert ops[1].value["page"]["um"] == {"status": "normal", "since": None, "reason": None}
        assert all(op.value["sent"] <= op.time and op.latency_ms is not None for op in ops)
    finally:
        standby.close()
        active.close()
