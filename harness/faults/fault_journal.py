"""The fault journal: what a run has applied and started, on disk before it is applied.

One JSON file per run under ``<state_dir>/journal/``. A fault is added *before* it is applied and
removed after it is healed; the processes a run starts are listed as resources. When the owner
process is gone (killed, crashed), the next ``umchaos`` command heals the faults and stops the
resources that file still lists — and only those: everything is keyed by run id.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["FaultJournal", "heal_leftovers", "heal_run", "owner_alive", "process_start_time", "run_processes",
           "stop_run_processes"]

log = logging.getLogger("umchaos.journal")


def process_start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid``: tells a live owner from a recycled pid."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


@dataclass
class FaultJournal:
    state_dir: Path
    run_id: str

    @property
    def path(self) -> Path:
        return self.state_dir / "journal" / f"{self.run_id}.json"

    def open(self, *, signals: bool = False) -> FaultJournal:
        """``signals``: the owner turns SIGTERM/SIGUSR1 into an abort (the watchdog may then ask it to stop)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._write({"run_id": self.run_id, "owner_pid": os.getpid(), "owner_start": process_start_time(os.getpid()),
                     "created": time.time(), "signals": signals, "faults": {}, "resources": {}}, durable=False)
        return self

    def _read(self) -> dict[str, Any]:
        return json.loads(self.path.read_text())

    def _write(self, data: dict[str, Any], *, durable: bool) -> None:
        """Written whole to a temporary file and renamed: a reader never sees half a journal. A
        Ctrl-C landing between the two leaves the journal as it was, and no temporary file.

        ``durable``: on disk before returning (fsync), for a fault about to be applied:
        it must outlive even the machine. What a crashed machine loses anyway needs only outlive
        this process (the kernel has it): the journal's start, its processes, a heal done."""
        tmp = self.path.with_suffix(".tmp")
        try:
            with tmp.open("w") as out:
                json.dump(data, out)
                if durable:
                    out.flush()
                    os.fsync(out.fileno())
            tmp.replace(self.path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def add_fault(self, fault_id: str, entry: dict[str, Any]) -> None:
        data = self._read()
        data["faults"][fault_id] = entry
        self._write(data, durable=True)

    def remove_fault(self, fault_id: str) -> None:
        data = self._read()
        data["faults"].pop(fault_id, None)
        self._write(data, durable=False)  # lost in a crash: the fault is healed again, harmlessly

    def add_resource(self, name: str, entry: dict[str, Any]) -> None:
        """Process groups (``{"pgid": n}``, ``{"pgids": [..]}``) or a pids file (``{"pids_file": path}``) to stop on cleanup."""
        data = self._read()
        data["resources"][name] = entry
        self._write(data, durable=False)  # processes do not outlive the machine

    def faults(self) -> dict[str, Any]:
        return dict(self._read()["faults"])

    def close(self) -> None:
        self.path.with_suffix(".tmp").unlink(missing_ok=True)
        self.path.unlink(missing_ok=True)


def owner_alive(data: dict[str, Any]) -> bool:
    pid = data.get("owner_pid")
    return isinstance(pid, int) and process_start_time(pid) is not None and process_start_time(pid) == data.get("owner_start")


def _stop_group(pgid: int) -> None:
    for sig in (signal.SIGCONT, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            return


def run_processes(run_id: str) -> list[int]:
    """Pids of every process carrying this run's id (in its environment or its command line).

    Locust and Toxiproxy get ``UMCHAOS_RUN_ID``; a local target's services name a file of their private
    folder, ``runs/<run_id>/target/``, in their command line (``Deployment.data_dir``; umref's name
    their config). Docker objects carry the run id as a label.
    Read from /proc, so it also finds what was started just before a kill, before the journal listed it.
    """
    marks = (f"UMCHAOS_RUN_ID={run_id}".encode(), f"/runs/{run_id}/target/".encode())
    me = os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            env = (entry / "environ").read_bytes()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marks[0] in env.split(b"\0") or marks[1] in cmdline:
            found.append(int(entry.name))
    return found


def stop_run_processes(run_id: str) -> int:
    """SIGCONT then SIGKILL every process (and its group) of this run; returns how many were found."""
    pids = run_processes(run_id)
    for pid in pids:
        for sig in (signal.SIGCONT, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                break
        try:
            if os.getpgid(pid) == pid:
                _stop_group(pid)
        except (ProcessLookupError, PermissionError):
            pass
    return len(pids)


def _remover(path: Any) -> Callable[[str, dict[str, Any]], list[str]]:
    """What a backend named, when it listed a resource, to remove everything of a run by its id
    and that resource's entry (``module:function``, of the harness's own modules only): the
    journal knows no backend."""
    module, _, name = str(path).partition(":")
    if not module.startswith("harness.") or not name:
        raise LookupError(f"not a harness remover: {path!r}")
    remove: Callable[[str, dict[str, Any]], list[str]] = getattr(importlib.import_module(module), name)
    return remove


def heal_run(path: Path, data: dict[str, Any]) -> list[str]:
    """Heal one run's journalled faults, then stop its processes; the journal goes once all healed."""
    from harness.faults.base import HEALERS, load_fault_kinds

    load_fault_kinds()
    done: list[str] = []
    healed_all = True
    for fault_id, entry in data.get("faults", {}).items():
        healer = HEALERS.get(entry.get("heal", ""))
        try:
            if healer is None:
                raise LookupError(f"no healer for {entry.get('heal')!r}")
            healer(entry)
            done.append(f"healed {data['run_id']}/{fault_id} ({entry.get('heal')})")
        except Exception as exc:  # noqa: BLE001 - keep cleaning the rest; keep this journal for a retry
            healed_all = False
            done.append(f"could not heal {data['run_id']}/{fault_id}: {exc}")
    for name, res in data.get("resources", {}).items():
        pgids = ([res["pgid"]] if "pgid" in res else []) + list(res.get("pgids", []))
        pids_file = Path(res.get("pids_file", "/nonexistent"))
        try:
            if pids_file.exists():
                pgids += list(json.loads(pids_file.read_text()).values())
        except (OSError, ValueError):
            pass  # a pids file cut short by the kill: the /proc scan below still finds them
        for pgid in pgids:
            _stop_group(int(pgid))
        if pgids:
            done.append(f"stopped {data['run_id']}/{name} ({len(pgids)} process group(s))")
        if "remove" in res:
            try:
                done += [f"removed {data['run_id']}: {what}" for what in _remover(res["remove"])(str(data["run_id"]), res)]
            except Exception as exc:  # noqa: BLE001 - e.g. no engine now: keep the journal for a retry
                healed_all = False
                done.append(f"could not remove the {name} objects of {data['run_id']}: {exc}")
    if stray := stop_run_processes(str(data["run_id"])):
        done.append(f"stopped {data['run_id']}: {stray} more process(es) carrying its run id")
    if healed_all:
        path.unlink(missing_ok=True)
        path.with_suffix(".tmp").unlink(missing_ok=True)  # a rewrite the kill cut short
    return done


def heal_leftovers(state_dir: Path) -> list[str]:
    """Heal faults and stop processes of runs whose owner is gone; returns what was done."""
    done: list[str] = []
    for path in sorted((state_dir / "journal").glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if owner_alive(data):
            continue
        done += heal_run(path, data)
    return done
