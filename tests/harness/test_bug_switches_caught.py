"""Every bug switch of umref is caught, for real, by a check expected to catch it.

One run per switch, with the switch on, of a short test-only scenario (``scenarios_extra/short-*``):
a gating scenario's own faults and checks, earlier, shorter, with a shorter recovery window, and
without the steady-state gate (these runs are judged by their checks; a busy machine must not
turn a caught switch into ``unknown``). The run must fail (exit 1), and at least one of the
switch's expected checks (``KILLED_BY``, the table the self-test reads) must fail with evidence.

The companion: the correct exchange passes every one of those short scenarios, with the fault
having done what it is there for (a halt, a failover, forged keys while auth was down), so a
caught switch is the switch and not a scenario no exchange could pass. The gating scenarios
themselves still carry a check that kills each switch (checked below, without running them);
the seed incident is run whole by ``test_end_to_end`` and every gating scenario by the self-test.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from harness.scenario import load_scenario
from targets.umref.config import KILLED_BY
from tests.harness.busy import explain
from tests.harness.conftest import RealRun
from tests.harness.test_end_to_end import run

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCENARIOS = Path(__file__).parents[2] / "scenarios"
SHORT = Path(__file__).parent / "scenarios_extra"
# The shortest gating scenario that must kill each switch, and the short test scenario cut from
# it that this file runs. The price-only switches (a mislabelled or late decision) are judged
# while UM trades: the price drop of the seed incident without its halt, where every leveraged
# account is due at once and must be acted on within the risk budget (and moved to the level its
# uniMMR is in: the old state table has none between a margin call at 1.2 and a liquidation).
CUT_FROM = {
    "short-auth-partition": "auth-partition",
    "short-old-primary-returns": "old-primary-returns",
    "short-ledger-crash": "ledger-crash-mid-transfer",
    "short-margin-halt": "margin-latency-halt",
    "short-price-drop": "margin-latency-halt",
    "short-cross-region-partition": "cross-region-partition",
    "short-region-loss": "region-a-power-loss",
    "short-region-returns": "region-a-returns",
    "short-inter-region-partition": "inter-region-partition",
    "short-bad-release": "bad-margin-release-rolled-back",
}
KILLER = {
    "fail_open_auth": "short-auth-partition",
    "ledger_misreport": "short-auth-partition",
    "commingle_fees": "short-auth-partition",
    "no_fencing": "short-old-primary-returns",
    "non_atomic_transfer": "short-ledger-crash",
    "no_halt": "short-margin-halt",
    "halt_leak": "short-margin-halt",
    "halt_spot_too": "short-margin-halt",
    "halt_cancels_orders": "short-margin-halt",
    "resume_shrinks_orders": "short-margin-halt",
    "stale_margin_call": "short-margin-halt",
    "margin_call_during_halt": "short-margin-halt",
    "price_mislabel": "short-price-drop",
    "late_liquidation": "short-price-drop",
    "async_replication": "short-cross-region-partition",
    "cold_standby_books": "short-region-loss",
    "dual_active_matching": "short-region-returns",
    "no_witness": "short-inter-region-partition",
    "stale_status": "short-margin-halt",
    "old_state_table": "short-price-drop",
    "no_auto_rollback": "short-bad-release",
    "rollback_loses_orders": "short-bad-release",
}
# What the correct exchange's pass must show, so that it is not vacuous: (check, figure, at least).
# (A breach the exchange ends by liquidating at once is never "due": breaches_due may rightly be 0.)
DID_ITS_JOB = {
    "short-auth-partition": [("auth_fail_closed", "invalid_key_during_auth_fault", 1)],
    "short-old-primary-returns": [("no_acked_write_lost", "failovers", 1)],
    "short-ledger-crash": [("no_acked_write_lost", "failovers", 1), ("rollback", "transfers", 100)],
    "short-margin-halt": [("safe_halt", "halts", 1), ("no_erroneous_risk_actions", "decisions", 1),
                          ("status_truthful", "halts_seen", 1), ("status_truthful", "status_pages_read", 10)],
    "short-price-drop": [("no_erroneous_risk_actions", "breaches", 1),
                         ("no_erroneous_risk_actions", "liquidations", 1)],
    # the witness keeps the standby that missed the cut's writes from being promoted: no failover
    "short-cross-region-partition": [("no_acked_write_lost", "acked_writes", 100)],
    "short-region-loss": [("no_acked_write_lost", "failovers", 1), ("recovery", "region_still_down", 1),
                          ("single_active_matching", "failovers_seen", 1)],
    "short-region-returns": [("no_acked_write_lost", "failovers", 1), ("single_active_matching", "failovers_seen", 1)],
    "short-inter-region-partition": [("no_acked_write_lost", "acked_writes", 100)],
    "short-bad-release": [("release_rolled_back", "rolled_back", 1), ("safe_halt", "halts", 1),
                          ("resting_orders_preserved", "acked_resting", 100)],
}


def _faults(path: Path) -> list[tuple[str, dict, dict]]:
    return [(f.fault, dict(f.target), dict(f.params)) for f in load_scenario(path).timeline]


def test_every_switch_has_a_short_scenario_cut_from_a_gating_scenario_that_kills_it() -> None:
    assert set(KILLER) == set(KILLED_BY) and set(KILLER.values()) == set(CUT_FROM) == set(DID_ITS_JOB)
    for bug, name in KILLER.items():
        short, gate = load_scenario(SHORT / f"{name}.yaml"), load_scenario(SCENARIOS / f"{CUT_FROM[name]}.yaml")
        assert set(KILLED_BY[bug]) & set(short.checks) & set(gate.checks), bug
        assert "gate" in gate.tags and set(short.checks) <= set(gate.checks), name
    for name, gate in CUT_FROM.items():
        short_faults, gate_faults = _faults(SHORT / f"{name}.yaml"), _faults(SCENARIOS / f"{gate}.yaml")
        assert short_faults and all(f in gate_faults for f in short_faults), name  # same kinds, targets, params
        assert load_scenario(SHORT / f"{name}.yaml").steady_state.probe_gate() == {}, name


@pytest.mark.parametrize("bug", list(KILLER))
def test_bug_switch_is_caught_by_an_expected_check(real_run: Callable[..., RealRun], bug: str) -> None:
    """(The halt_cancels_orders run is also the one test_end_to_end replays.)"""
    caught_run = real_run(SHORT / f"{KILLER[bug]}.yaml", "--bugs", bug)
    code, output, result = caught_run.code, caught_run.verdict, caught_run.result
    failed = {c["name"]: c for c in result.get("checks", []) if c["status"] == "fail"}
    assert code == 1 and output.startswith("FAIL"), output
    caught = [failed[name] for name in KILLED_BY[bug] if name in failed]
    assert caught, f"{bug}: failed {sorted(failed)}, expected one of {KILLED_BY[bug]}: {output}"
    assert all(check["evidence"] for check in caught), caught  # a violation names what decided it
    xml = (caught_run.run_dir / "junit.xml").read_text()
    assert f'name="{caught[0]["name"]}"' in xml and "<failure" in xml


@pytest.mark.parametrize("name", list(CUT_FROM))
def test_the_correct_exchange_passes_each_short_scenario(tmp_path: Path, name: str) -> None:
    """The verdict is this test's point: no false alarm. These scenarios have no steady-state
    gate, so a busy machine cannot end them ``unknown`` before their faults."""
    code, output, result = run(tmp_path, scenario=SHORT / f"{name}.yaml")
    assert code == 0 and output.startswith(f"PASS {name}"), explain(output, result)
    checks = {c["name"]: c for c in result["checks"]}
    for check, figure, least in DID_ITS_JOB[name]:
        assert checks[check]["figures"][figure] >= least, (check, checks[check]["figures"])
    assert result["figures"]["ok"] > 100
