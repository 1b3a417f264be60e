"""umref's deploy controller: a release rolled out the way umref runs, watched, and rolled back
by itself when it hurts.

A release swaps one service to another build through a ``Rollout`` (on this machine: a new
process from the new build takes over the port, then the old one drains and exits). For the
release's watch window the controller reads the risk guard (matching's ``/state``) and the
service's health; it rolls back to the build that served before when, within the window, UM
halts (or, released into a halt, UM is still halted when the window closes: the fix did not fix)
or the service stops answering health. A release with a watch window of 0 is not watched.

Two bug switches live here: ``no_auto_rollback`` (the controller watches but never acts) and
``rollback_loses_orders`` (the rollback job runs the operators' maintenance mass-cancel on
matching, as a "clean" restart procedure would, so every resting UM order is gone).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Protocol

import requests

from targets.umref.builds import build_of, versions

__all__ = ["DeployController", "Release", "Rollout"]

log = logging.getLogger("umref.deployer")
WATCH_PERIOD_S = 0.05
HEALTH_MISSES = 3  # health reads in a row without an answer: a regression, not a slow read


class Rollout(Protocol):
    """How a service is swapped to another build where it runs."""

    def swap(self, service: str, version: str) -> None:
        """The service answers from ``version`` when this returns; on failure the old one still does."""
        ...

    def url(self, service: str) -> str: ...


@dataclass(frozen=True)
class Release:
    service: str
    version: str
    previous: str
    at: float  # epoch seconds, when it began serving
    watch_s: float

    def __str__(self) -> str:
        return f"{self.service} {self.previous} -> {self.version}"


class DeployController:
    """Rolls releases out and back; one watch at a time (a new release ends the last one's)."""

    def __init__(self, rollout: Rollout, bugs: tuple[str, ...]) -> None:
        self.rollout = rollout
        self.bugs = bugs
        self.running: dict[str, str] = {}  # service -> the version it runs, when released here
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watch: threading.Thread | None = None

    def deploy(self, service: str, version: str, watch_s: float) -> Release:
        build_of(service, version)  # an unknown build is refused before anything moves
        self.stop()
        previous = self.running.get(service, versions(service)[0])
        with self._lock:
            self.rollout.swap(service, version)
            self.running[service] = version
        release = Release(service, version, previous, time.time(), watch_s)
        log.info("released %s %s (was %s), watched %g s", service, version, previous, watch_s)
        if watch_s > 0:
            self._stop = threading.Event()
            self._watch = threading.Thread(target=self._watch_release, args=(release, self._stop),
                                           name=f"watch-{service}", daemon=True)
            self._watch.start()
        return release

    def stop(self) -> None:
        """End the current watch (a new release, or the platform stopping)."""
        self._stop.set()
        if self._watch is not None:
            self._watch.join(timeout=5)
            self._watch = None

    def _watch_release(self, release: Release, stop: threading.Event) -> None:
        with requests.Session() as session:
            released_into_halt = self._halted(session) is True
            misses = 0
            while time.time() < release.at + release.watch_s and not stop.wait(WATCH_PERIOD_S):
                halted = self._halted(session)
                misses = 0 if self._healthy(session, release.service) else misses + 1
                if released_into_halt and halted is False:
                    released_into_halt = False  # it resumed on this release: a halt from now is the release's
                if (halted and not released_into_halt) or misses >= HEALTH_MISSES:
                    self._roll_back(release, "UM halted" if halted else "health regressed", stop)
                    return
            if released_into_halt and not stop.is_set() and self._halted(session):
                self._roll_back(release, "UM still halted when the watch window closed", stop)

    def _roll_back(self, release: Release, why: str, stop: threading.Event) -> None:
        if "no_auto_rollback" in self.bugs:
            log.warning("%s %s: %s, but automatic rollback is off", release.service, release.version, why)
            return
        with self._lock:
            if stop.is_set() or self.running.get(release.service) != release.version:
                return  # superseded by a newer release meanwhile
            log.warning("rolling %s back from %s to %s: %s", release.service, release.version, release.previous, why)
            try:
                self.rollout.swap(release.service, release.previous)
            except Exception:  # a thread of its own: say it, the release keeps serving
                log.exception("rollback of %s %s failed", release.service, release.version)
                return
            self.running[release.service] = release.previous
            if "rollback_loses_orders" in self.bugs:
                requests.post(self.rollout.url("matching") + "/admin/mass_cancel", timeout=5,
                              json={"client_id": f"rollback-{release.service}-{time.time():.6f}", "reason": "rollback"})

    def _halted(self, session: requests.Session) -> bool | None:
        try:
            return bool(session.get(self.rollout.url("matching") + "/state", timeout=0.5).json()["halted"])
        except (requests.RequestException, ValueError, KeyError):
            return None

    def _healthy(self, session: requests.Session, service: str) -> bool:
        try:
            return session.get(self.rollout.url(service) + "/health", timeout=0.5).status_code == 200
        except requests.RequestException:
            return False
