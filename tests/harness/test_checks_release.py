"""release_rolled_back on small hand-made histories, in the ops the runner and the version probe
record: a release that leaves UM halted must be rolled back within its watch budget and UM must
resume on what replaced it; a hot-fix released during a halt is not bad; a good release rolled
back, a risk decision on a bad build's numbers and a build claim the probe contradicts all fail;
missing evidence is unknown."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.checks import BY_NAME, DEFAULT_CHECKS, check_fn
from harness.checks.base import CheckResult
from harness.checks.release_rolled_back import ROLLBACK_SLACK_S
from harness.history import History
from tests.harness.factories import T0, HistoryBuilder, audit, record

release_rolled_back = check_fn("release_rolled_back")
Versions = Callable[[float], "str | None"]  # time since T0 -> the build margin answers (None: no answer)
Halted = Callable[[float], bool]  # time since T0 -> whether UM refuses writes UM_HALTED


def deploy(h: HistoryBuilder, fid: str, t: float, build: str, *, watch_s: float = 10.0, landed: bool = True,
           before: str = "1.4.2", service: str = "margin") -> None:
    """A release as the runner records it: the inject's invoke, then its info op."""
    base = {"id": fid, "fault": "deploy", "target": service, "action": "inject", "expect_um_halt": False,
            "um_only": False, "params": {"build": build, "watch_s": watch_s}}
    h.add("invoke", "fault", "nemesis", t, base)
    detail = f"{service} {before} -> {build}" if landed else f"{service}: build {build} refused by the controller"
    h.add("info", "fault", "nemesis", t + 0.2, {**base, "landed": landed, "detail": detail})


def history(versions: Versions | None, halted: Halted, *, until: float = 30.0,
            releases: tuple[tuple[str, float, str, float], ...] = (("f1", 5.0, "1.5.0", 10.0),)) -> History:
    """UM writes every 0.25 s (refused UM_HALTED while ``halted``); margin's version probed every
    0.1 s (none: not probed); ``releases``: (id, sent at, build, watch_s)."""
    h = HistoryBuilder()
    for fid, t, build, watch_s in releases:
        deploy(h, fid, t, build, watch_s=watch_s)
    for i in range(int(until / 0.25)):
        t = 0.25 * i + 0.1
        if halted(t):
            h.request("um_order", t, "fail", f"r{i}", status=503, error="UM_HALTED")
        else:
            h.request("um_order", t, "ok", f"o{i}")
    for i in range(int(until / 0.1) if versions else 0):
        t = 0.1 * i + 0.05
        assert versions is not None
        seen = versions(t)
        h.add("ok" if seen else "info", "version", "versions", t + 0.002,
              {"service": "margin", "version": seen, "sent": T0 + t}, 2.0)
    return h.build()


def serving(*spans: tuple[float, str]) -> Versions:
    """Margin answers 1.4.2, then each build from its time on."""
    def version(t: float) -> str:
        return next((build for start, build in reversed(spans) if t >= start), "1.4.2")
    return version


def halted(start: float, end: float = float("inf")) -> Halted:
    return lambda t: start <= t < end


def decision(seq: int, t: float, account: str, version: str | None, kind: str = "risk_level") -> Any:
    """A journaled risk decision whose evaluation names the margin build that computed it (the run
    starts at 0.1, its first op)."""
    event: dict[str, Any] = {"type": kind, "account": account, "time": T0 + t, "from": "NORMAL", "to": "MARGIN_CALL",
                             "prices": [], "positions": [], "wallet": {}}
    if version is not None:
        event["version"] = version
    return record(seq, t, "risk", f"risk-{seq}", events=[event])


def judge(hist: History, *decisions: Any) -> CheckResult:
    return release_rolled_back(hist, audit(journal=list(decisions)))


# 1.5.0 sent at 5.0 serves from 5.5; UM halted from 7.0; the controller rolls back to 1.4.2 at 12.0;
# UM resumes at 15.0 (healthy for 3 s after the rollback).
ROLLED_BACK = serving((5.5, "1.5.0"), (12.0, "1.4.2"))


def test_a_bad_release_rolled_back_in_time_passes_with_its_figures() -> None:
    result = judge(history(ROLLED_BACK, halted(7.0, 15.0)), decision(1, 3.0, "a1", "1.4.2"), decision(2, 20.0, "a2", None))
    assert result.valid is True, result.summary
    assert "margin 1.5.0 bad, replaced by 1.4.2 after 6.5 s, UM resumed" in result.summary, result.summary
    assert "1 decision(s) whose build the probe bears out; 1 decision(s) name no build" in result.summary
    f = result.figures
    assert (f["releases"], f["rolled_back"], f["bad_releases"]) == (1, 1, 1)
    assert 6.9 < f["deploy_to_rollback_s"] < 7.2 and 6.4 < f["bad_version_served_s"] < 6.6
    assert 7.9 < f["um_halt_s"] < 8.2
    assert f["deploys"]["f1"]["bad"] is True and f["deploys"]["f1"]["build"] == "1.5.0"


def test_a_bad_release_never_rolled_back_fails_naming_it() -> None:
    result = judge(history(serving((5.5, "1.5.0")), halted(7.0)))
    assert result.valid is False
    text = result.evidence[0].text
    assert text.startswith("margin 1.5.0 served 24.4 s with UM halted, budget 13 s: not rolled back"), text
    assert result.evidence[0].ops and result.evidence[0].time is not None
    assert "deploy_to_rollback_s" not in result.figures and result.figures["rolled_back"] == 0


def test_a_rollback_later_than_the_budget_fails() -> None:
    late = 5.5 + 10.0 + ROLLBACK_SLACK_S + 1.0
    result = judge(history(serving((5.5, "1.5.0"), (late, "1.4.2")), halted(7.0, late + 3.0)))
    assert result.valid is False and "replaced by 1.4.2 only then" in result.summary, result.summary


def test_rolled_back_but_um_never_resumed_fails() -> None:
    result = judge(history(ROLLED_BACK, halted(7.0)))
    assert result.valid is False
    assert result.summary.startswith("1 violation(s): UM never resumed after margin 1.5.0 was replaced by 1.4.2"), \
        result.summary
    assert result.figures["rolled_back"] == 1


def test_a_hotfix_released_during_a_halt_passes_and_is_not_bad() -> None:
    """UM halted from 4.0 by something else; 1.5.1 sent at 8.0 serves from 8.5; UM resumes at 14."""
    hist = history(serving((8.5, "1.5.1")), halted(4.0, 14.0), releases=(("f2", 8.0, "1.5.1", 10.0),))
    result = judge(hist)
    assert result.valid is True, result.summary
    assert result.figures["bad_releases"] == 0 and result.figures["deploys"]["f2"]["bad"] is False
    assert 9.8 < result.figures["deploys"]["f2"]["um_halt_s"] < 10.2  # the whole halt it met
    assert "margin 1.5.1 good" in result.summary


def test_an_unwatched_bad_release_replaced_by_a_hotfix_passes() -> None:
    """1.5.0 pushed unwatched at 5 halts UM from 7; the hot-fix 1.5.1 serves from 20.5; UM resumes at 24."""
    releases = (("f1", 5.0, "1.5.0", 0.0), ("f2", 20.0, "1.5.1", 10.0))
    versions = serving((5.5, "1.5.0"), (20.5, "1.5.1"))
    result = judge(history(versions, halted(7.0, 24.0), until=32.0, releases=releases))
    assert result.valid is True, result.summary
    f = result.figures
    assert (f["bad_releases"], f["rolled_back"]) == (1, 0) and f["deploys"]["f2"]["bad"] is False
    assert 14.9 < f["bad_version_served_s"] < 15.1
    never = judge(history(versions, halted(7.0), until=32.0, releases=releases))
    assert never.valid is False and "UM never resumed after margin 1.5.0 was replaced by 1.5.1" in never.summary


def test_an_unwatched_bad_release_still_serving_at_the_end_is_no_violation() -> None:
    result = judge(history(serving((5.5, "1.5.0")), halted(7.0), releases=(("f1", 5.0, "1.5.0", 0.0),)))
    assert result.valid is True and "no rollback expected" in result.summary, result.summary


def test_a_spurious_rollback_of_a_good_release_fails() -> None:
    hist = history(serving((5.5, "1.5.1"), (8.0, "1.4.2")), halted(99.0), releases=(("f1", 5.0, "1.5.1", 10.0),))
    result = judge(hist)
    assert result.valid is False
    assert result.summary.startswith("1 violation(s): a good release was rolled back: margin 1.5.1 was replaced by "
                                     "1.4.2 after 2.5 s"), result.summary
    unwatched = history(serving((5.5, "1.5.1"), (8.0, "1.4.2")), halted(99.0), releases=(("f1", 5.0, "1.5.1", 0.0),))
    assert judge(unwatched).valid is True  # no controller watched it: rolled back by hand, not spuriously


def test_a_rollback_quicker_than_the_clients_first_refusal_is_still_a_bad_release_rolled_back() -> None:
    """The guard halted and the controller rolled back before any client was refused (they all
    waited on the slow build's checks): the halt the clients meet just after still makes it bad."""
    quick = history(serving((5.5, "1.5.0"), (5.8, "1.4.2")), halted(6.3, 12.0))
    result = judge(quick)
    assert result.valid is True and result.figures["bad_releases"] == 1, result.summary
    late = history(serving((5.5, "1.5.0"), (5.8, "1.4.2")), halted(7.5, 12.0))  # long after: not its halt
    assert "a good release was rolled back" in judge(late).summary


def test_the_old_build_answering_while_it_drains_is_one_release_serving_not_a_rollback() -> None:
    """Both builds share the port for a moment: the probe may meet the old one right after the
    new one, which is the rollout, not a rollback and a redo."""
    drained = history(serving((5.5, "1.5.1"), (5.6, "1.4.2"), (5.7, "1.5.1")), halted(99.0),
                      releases=(("f1", 5.0, "1.5.1", 10.0),))
    result = judge(drained)
    assert result.valid is True and result.figures["rolled_back"] == 0, result.summary
    bad = history(serving((5.5, "1.5.0"), (5.6, "1.4.2"), (5.7, "1.5.0"), (12.0, "1.4.2")), halted(7.0, 15.0))
    result = judge(bad)  # the rollback is the one at 12 s, not the drain's answer at 5.6 s
    assert result.valid is True and 6.9 < result.figures["deploy_to_rollback_s"] < 7.2, result.figures


def test_a_risk_decision_on_the_bad_build_fails() -> None:
    result = judge(history(ROLLED_BACK, halted(7.0, 15.0)), decision(7, 6.5, "acct7", "1.5.0", "liquidation"))
    assert result.valid is False
    assert [e.text for e in result.evidence] == ["acct7 liquidation 6.4 s into the run decided on the numbers of margin 1.5.0, "
                                                 "a bad release"]
    assert result.evidence[0].records == (7,)


def test_a_decision_claiming_a_build_the_probe_did_not_see_then_fails() -> None:
    hist = history(serving((5.5, "1.5.1")), halted(99.0), releases=(("f1", 5.0, "1.5.1", 10.0),))
    result = judge(hist, decision(3, 10.0, "acct3", "1.4.2"), decision(4, 10.0, "acct4", "1.5.1"))
    assert result.valid is False and len(result.evidence) == 1
    text = result.evidence[0].text
    assert text.startswith("acct3 risk_level 9.9 s into the run: the journal says 1.4.2, the probe saw 1.5.1"), text
    assert result.evidence[0].ops and result.evidence[0].records == (3,)


def test_no_release_is_unknown() -> None:
    result = judge(history(serving(), halted(99.0), releases=()))
    assert result.valid == "unknown" and "no release in this run" in result.summary


def test_no_version_probe_is_unknown() -> None:
    result = judge(history(None, halted(7.0)))
    assert result.valid == "unknown" and "no version probe of margin" in result.summary, result.summary
    silent = judge(history(lambda t: None, halted(7.0)))
    assert silent.valid == "unknown" and "never got a version" in silent.summary, silent.summary


def test_a_release_that_did_not_land_or_never_served_fails() -> None:
    h = HistoryBuilder()
    deploy(h, "f1", 5.0, "1.5.0", landed=False)
    result = judge(h.build())
    assert result.valid is False
    assert result.evidence[0].text == ("release f1 of margin 1.5.0 did not land: margin: build 1.5.0 refused by the "
                                       "controller"), result.evidence[0].text
    never = judge(history(serving(), halted(99.0)))
    assert never.valid is False and "margin 1.5.0: release never served" in never.summary, never.summary


def test_a_bad_release_still_in_its_budget_at_the_end_is_unknown() -> None:
    result = judge(history(serving((5.5, "1.5.0")), halted(7.0), until=12.0))
    assert result.valid == "unknown" and "rollback budget" in result.summary, result.summary


def test_it_runs_only_when_asked_for() -> None:
    assert "release_rolled_back" in BY_NAME and "release_rolled_back" not in DEFAULT_CHECKS
