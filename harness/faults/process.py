"""Process and node faults: kill (power loss of a host), pause (a frozen host), region power loss.

A killed service comes back (restart) when the fault's window ends; a paused one is resumed.
Landing is verified from the operating system: the process is gone, or stopped.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.faults.base import FaultBase, Landing

__all__ = ["Kill", "Pause", "RegionPowerLoss", "heal_sigcont"]


def _is_stopped(pid: int | None, *, within_s: float = 1.0) -> bool:
    """Whether the kernel shows the process stopped (SIGSTOP is delivered asynchronously)."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            if pid is not None and Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T":
                return True
        except OSError:
            return False
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)


@dataclass
class Kill(FaultBase):
    @property
    def services(self) -> list[str]:
        return [self.spec.target["service"]]

    def describe(self) -> str:
        return f"kill {', '.join(self.services)}"

    def journal_entry(self) -> dict[str, Any]:
        return {"heal": "none", "services": self.services}  # a dead process needs no cleanup

    def inject(self) -> Landing:
        for service in self.services:
            self.env.processes.kill(service)
        alive = [s for s in self.services if self.env.processes.alive(s)]
        return Landing(not alive, f"still alive: {alive}" if alive else f"gone: {', '.join(self.services)}")

    def heal(self) -> None:
        for service in self.services:
            if not self.env.processes.alive(service):
                self.env.processes.restart(service)


@dataclass
class RegionPowerLoss(Kill):
    @property
    def services(self) -> list[str]:
        region = self.spec.target["region"]
        return [s for s, r in self.env.regions.items() if r == region]

    def describe(self) -> str:
        return f"power loss of region {self.spec.target['region']}"



@dataclass
class Pause(FaultBase):
    def describe(self) -> str:
        return f"pause {self.spec.target['service']}"

    def journal_entry(self) -> dict[str, Any]:
        return {"heal": "sigcont", "pid": self.env.processes.pid(self.spec.target["service"])}

    def inject(self) -> Landing:
        service = self.spec.target["service"]
        self.env.processes.pause(service)
        pid = self.env.processes.pid(service)
        stopped = _is_stopped(pid)
        return Landing(stopped, f"{service} pid {pid} {'stopped' if stopped else 'NOT stopped'}")

    def heal(self) -> None:
        self.env.processes.resume(self.spec.target["service"])


def heal_sigcont(entry: dict[str, Any]) -> None:
    if entry.get("pid"):
        try:
            os.killpg(int(entry["pid"]), signal.SIGCONT)
        except ProcessLookupError:
            pass

