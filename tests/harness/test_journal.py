"""The fault journal: what a killed run left behind is healed and stopped by the next command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.backends.go_tools import install_toxiproxy
from harness.faults.fault_journal import FaultJournal, heal_leftovers
from harness.faults.network import ProxyNet, ToxiproxyServer

pytestmark = pytest.mark.integration


def orphan(state: Path, run_id: str, faults: dict, resources: dict) -> None:
    """A journal as a SIGKILLed runner leaves it: its owner pid no longer exists."""
    journal = FaultJournal(state, run_id).open()
    data = json.loads(journal.path.read_text())
    data.update(owner_pid=2**22 + 1, owner_start="0", faults=faults, resources=resources)
    journal.path.write_text(json.dumps(data))


def test_leftover_toxic_and_processes_are_healed(tmp_path: Path) -> None:
    # The server carries another run id: the dead run's own server would be stopped by the cleanup
    # (see the stray process below), and this test reads the healed state back from it.
    with ToxiproxyServer(install_toxiproxy(), run_id="test-server") as server:
        net = ProxyNet(server.url, run_id="dead")
        net.create_proxy("matching->margin", "127.0.0.1:9")
        toxic = net.add_toxic("matching->margin", "latency", {"latency": 800}, name="dead__f1")
        net.set_enabled("matching->margin", False)
        sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
        # Started just before the kill, before the journal listed it: found by the run id in its environment.
        stray = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True,
                                 env={**os.environ, "UMCHAOS_RUN_ID": "dead"})
        orphan(tmp_path, "dead", faults={
            "f1": {"heal": "toxic", "api": server.url, "toxics": [[net.proxy_name("matching->margin"), toxic]]},
            "f2": {"heal": "enable", "api": server.url, "proxies": [net.proxy_name("matching->margin")]},
        }, resources={"umref": {"pgid": sleeper.pid}})
        done = heal_leftovers(tmp_path)
        assert any("f1" in line for line in done) and any("stopped" in line for line in done)
        assert net.toxics("matching->margin") == []
        assert net.proxies()[net.proxy_name("matching->margin")]["enabled"] is True
        sleeper.wait(timeout=5)
        stray.wait(timeout=5)
        assert any("more process(es) carrying its run id" in line for line in done), done
        assert not list((tmp_path / "journal").iterdir())


def test_a_live_runs_journal_is_left_alone(tmp_path: Path) -> None:
    journal = FaultJournal(tmp_path, "alive").open()
    journal.add_fault("f1", {"heal": "none"})
    assert heal_leftovers(tmp_path) == []
    assert journal.path.exists()
    journal.close()


def test_cleanup_command_reports_nothing_left(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "--state-dir", str(tmp_path), "cleanup"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "nothing left behind" in proc.stdout


def test_an_interrupt_inside_a_journal_write_leaves_the_journal_whole_and_no_temporary_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    journal = FaultJournal(tmp_path, "ucinterrupted").open()
    before = journal.path.read_text()

    def ctrl_c(_fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        journal.add_fault("f1", {"kind": "latency"})
    assert journal.path.read_text() == before
    assert not journal.path.with_suffix(".tmp").exists()
    journal.close()
    assert list((tmp_path / "journal").iterdir()) == []


def test_a_rewrite_cut_short_by_the_kill_goes_with_its_journal(tmp_path: Path) -> None:
    """SIGKILL between writing the journal's temporary file and renaming it leaves both."""
    orphan(tmp_path, "cut", faults={}, resources={})
    (tmp_path / "journal" / "cut.tmp").write_text('{"run_id": "cut", "fau')
    heal_leftovers(tmp_path)
    assert list((tmp_path / "journal").iterdir()) == []


def test_a_resource_is_removed_by_what_its_backend_named_and_kept_when_that_fails(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The journal knows no backend: a backend lists its remover with the resource (docker's
    removes every object labelled with the run). One that fails keeps the journal for a retry;
    one outside the harness is never imported."""
    import harness.faults.fault_journal as journal_module

    removed: list[str] = []
    monkeypatch.setattr(journal_module, "fake_remove_run", lambda run_id, resource: removed.append(run_id) or ["object x"],
                        raising=False)
    orphan(tmp_path, "gone", faults={}, resources={"engine": {"remove": "harness.faults.fault_journal:fake_remove_run"}})
    done = heal_leftovers(tmp_path)
    assert removed == ["gone"] and "removed gone: object x" in done
    assert not list((tmp_path / "journal").glob("gone*"))

    orphan(tmp_path, "stays", faults={}, resources={"engine": {"remove": "os:system"}})
    done = heal_leftovers(tmp_path)
    assert any("could not remove the engine objects of stays: not a harness remover" in line for line in done), done
    assert (tmp_path / "journal" / "stays.json").exists()
