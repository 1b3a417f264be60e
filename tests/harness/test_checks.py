"""Each check on small hand-made histories: true, false and unknown."""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest import MonkeyPatch

from harness import history as history_module
from harness.checks import CHECK_NAMES, check_fn, run_checks
from harness.checks.base import CheckResult, run_check
from harness.history import History, Op, read_ops
from tests.harness.factories import HistoryBuilder, audit


def order_event(oid: str, account: str = "a1", qty: str = "1", price: str | None = "100") -> dict:
    return {"type": "order", "order_id": oid, "account": account, "symbol": "BTCUSDT", "market": "um", "side": "BUY",
            "price": price, "qty": qty}


# ---- safe_halt, resting_orders_preserved, blast_radius: tests/harness/test_checks_halt.py -----------
def halting_history(landed: bool = True) -> History:
    h = HistoryBuilder()
    h.fault("f1", 5.0, 15.0, landed=landed)
    for i in range(20):
        h.request("spot_order", 1 + i, "ok", f"s{i}")
    return h.build()


# ---- no_erroneous_risk_actions: tests/harness/test_margin_decisions.py ----------------------------


# ---- recovery ------------------------------------------------------------------------------------
# ---- composition ---------------------------------------------------------------------------------
def test_a_crashing_check_is_unknown_not_a_crash() -> None:
    def broken(history: History, audit: dict) -> CheckResult:
        raise ZeroDivisionError("boom")

    result = run_check("broken", broken, History([]), audit())
    assert result.valid == "unknown" and "ZeroDivisionError" in result.summary


def test_garbage_audit_makes_checks_unknown_never_raise() -> None:
    garbage = {"halts": "nonsense", "journal": [{"no": "fields"}], "risk_levels": 5, "prices": []}
    results = run_checks(CHECK_NAMES, halting_history(), garbage)
    # Every check that reads the audit says unknown on garbage: never a pass, never a made-up fail.
    # steady_state reads only the config's tolerances, absent here and in an empty audit alike;
    # blast_radius reads the history alone.
    expected = {name: "unknown" for name in CHECK_NAMES} | {
        name: check_fn(name)(halting_history(), {}).valid for name in ("steady_state", "blast_radius")}
    assert {r.name: r.valid for r in results} == expected


def test_history_file_reads_back_op_for_op_and_skips_a_line_cut_by_a_kill(tmp_path: Path, monkeypatch: MonkeyPatch) -> None:
    """read_ops decodes in chunks: lines across chunk ends, blank lines and a torn last line."""
    monkeypatch.setattr(history_module, "CHUNK_BYTES", 200)  # many chunks, lines cut at their ends
    history = halting_history()
    path = tmp_path / "history.jsonl"
    history.write(path)
    with path.open("ab") as out:
        out.write(b"\n" + path.read_bytes().splitlines()[0][:40])  # a blank line, then a line cut short
    assert read_ops(path) == list(history.ops)
    assert Op.from_dict({"index": 0, "type": "ok", "f": "x", "process": "p", "time": 1.0, "mono": 0.0}).value == {}


def test_the_check_registry_is_the_checks_folder() -> None:
    """One place: every name resolves to the function of its module, and every check module is named."""
    import pkgutil

    import harness.checks

    helpers = {"base", "common", "margin_oracle"}
    modules = {m.name for m in pkgutil.iter_modules(harness.checks.__path__)} - helpers
    assert modules == set(CHECK_NAMES)
    assert all(check_fn(name).__name__ == name and check_fn(name).__module__ == f"harness.checks.{name}"
               for name in CHECK_NAMES)
    with pytest.raises(KeyError, match="no check 'nope'"):
        check_fn("nope")
