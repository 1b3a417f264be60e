"""Which build of each released service answered, and when: the harness's own record of a
release, held against what the target says of it (``release_rolled_back``).

While the load runs, every ``PERIOD_S`` each service a ``deploy`` of the schedule names is asked
``GET /health`` on its direct address, on a new connection each time (while two processes share
the port during a rollout, the kernel picks one per connection, as it does for the target's own
callers). Each answer is one op ``f="version"`` of the process ``versions``: ``ok`` with the
``version`` it gave, or ``info`` with none (no answer, or no version in it), with the time the
read was sent."""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping

import requests

from harness.history import Op, OpType
from harness.load.poller import Poller
from harness.recorder import Recorder

__all__ = ["PERIOD_S", "VersionProbe"]

PERIOD_S = 0.1  # a rollback's moment placed within a tenth of a second
TIMEOUT_S = 0.5


class VersionProbe(Poller):
    name = "version-probe"

    def __init__(self, services: Collection[str], urls: Mapping[str, str], recorder: Recorder, *, max_s: float,
                 period_s: float = PERIOD_S, timeout_s: float = TIMEOUT_S) -> None:
        super().__init__(recorder, max_s=max_s, period_s=period_s, timeout_s=timeout_s)
        self.services = sorted(services)
        self.urls = urls  # service -> its direct base URL, read at each ask (a release may move it)

    def read(self, session: requests.Session) -> list[Op]:
        return [self.read_one(session, service, self.urls[service]) for service in self.services]

    def read_one(self, session: requests.Session, service: str, url: str) -> Op:
        sent, started = time.time(), time.monotonic()
        version: str | None = None
        error: str | None = None
        try:
            answer = session.get(url + "/health", timeout=self.timeout_s, headers={"Connection": "close"})
            body = answer.json() if answer.status_code == 200 else {}
            version = body.get("version") if isinstance(body, dict) and isinstance(body.get("version"), str) else None
            error = None if version else f"HTTP {answer.status_code}, no version"
        except (requests.RequestException, ValueError) as exc:
            error = exc.__class__.__name__
        now = time.monotonic()
        kind: OpType = "ok" if version else "info"
        return Op(index=-1, type=kind, f="version", process="versions", time=time.time(),
                  mono=now - self.recorder.start_mono, value={"service": service, "version": version, "sent": sent},
                  latency_ms=round(1000 * (now - started), 3), error=error)
