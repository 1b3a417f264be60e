"""Every bug switch of umref is caught, for real, by a check expected to catch it.

One run per switch: the shortest gating scenario that must kill it, with the switch on. The run
must fail (exit 1), and at least one of the switch's expected checks (``KILLED_BY``, the table the
self-test reads) must fail with evidence. The correct exchange passing these scenarios is shown by
the gate's own tests (``test_end_to_end``) and the self-test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from targets.umref.config import KILLED_BY
from tests.harness.test_end_to_end import run

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCENARIOS = Path(__file__).parents[2] / "scenarios"
# The shortest gating scenario that must kill each switch, the fast and plain ones first.
SHORTEST = {
    "fail_open_auth": "auth-partition",
    "ledger_misreport": "auth-partition",
    "commingle_fees": "auth-partition",
    "no_fencing": "old-primary-returns",
    "non_atomic_transfer": "ledger-crash-mid-transfer",
    "no_halt": "margin-latency-halt",
    "halt_leak": "margin-latency-halt",
    "halt_spot_too": "margin-latency-halt",
    "halt_cancels_orders": "margin-latency-halt",
    "resume_shrinks_orders": "margin-latency-halt",
    "stale_margin_call": "margin-latency-halt",
    "margin_call_during_halt": "margin-latency-halt",
    "price_mislabel": "margin-latency-halt",
    "late_liquidation": "margin-latency-halt",
    "async_replication": "cross-region-partition",
}


def test_every_switch_has_a_scenario_that_runs_a_check_expected_to_catch_it() -> None:
    from harness.scenario import load_scenario

    assert set(SHORTEST) == set(KILLED_BY)
    for bug, name in SHORTEST.items():
        assert set(KILLED_BY[bug]) & set(load_scenario(SCENARIOS / f"{name}.yaml").checks), bug


@pytest.mark.parametrize("bug", list(SHORTEST))
def test_bug_switch_is_caught_by_an_expected_check(tmp_path: Path, bug: str) -> None:
    code, output, result = run(tmp_path, "--bugs", bug, scenario=SCENARIOS / f"{SHORTEST[bug]}.yaml")
    failed = {c["name"]: c for c in result.get("checks", []) if c["status"] == "fail"}
    assert code == 1 and output.startswith("FAIL"), output
    caught = [failed[name] for name in KILLED_BY[bug] if name in failed]
    assert caught, f"{bug}: failed {sorted(failed)}, expected one of {KILLED_BY[bug]}: {output}"
    assert all(check["evidence"] for check in caught), caught  # a violation names what decided it
    xml = next((tmp_path / "reports").glob("*/junit.xml")).read_text()
    assert f'name="{caught[0]["name"]}"' in xml and "<failure" in xml
