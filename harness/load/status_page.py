"""The target's public status page, read as its users read it, while the load runs.

A platform tells its users what is down on a status page; whether that page told the truth is
judged against what the clients saw (``status_truthful``). So the page is recorded like any client
request: each read is one op ``f="status"`` of the process ``status`` at the time the answer came,
with the time it was sent, the gateway asked, the HTTP status and the page as the model has it
(``StatusApi.status``: None when no page came). The reads go over the same front of gateways as
the probes (a standby gateway refusing ``NOT_ACTIVE`` is left for the next), one every
``PERIOD_S``, on a daemon thread, bounded in count and time.
"""

from __future__ import annotations

import time
from typing import Any

import requests

from harness.history import Op, OpType
from harness.load.front import Failover
from harness.load.ops import error_code
from harness.load.poller import Poller
from harness.recorder import Recorder
from harness.targets.base import ClientApi, ClientRequest, StatusApi

__all__ = ["PERIOD_S", "StatusPoller", "status_poller"]

PERIOD_S = 0.5  # often enough to place a change of the page within a second of it
TIMEOUT_S = 1.0  # a read still unanswered when the next is due is an answer of its own: none


class StatusPoller(Poller):
    """Reads ``request`` on ``front``: one op per read."""

    name = "status-page"

    def __init__(self, front: Failover, api: StatusApi, request: ClientRequest, recorder: Recorder, *,
                 max_s: float, period_s: float = PERIOD_S, timeout_s: float = TIMEOUT_S) -> None:
        super().__init__(recorder, max_s=max_s, period_s=period_s, timeout_s=timeout_s)
        self.front = front
        self.api = api
        self.request = request

    def read(self, session: requests.Session) -> list[Op]:
        """One read of the page, as its op."""
        at, gateway, url = self.front.pick()
        sent, started = time.time(), time.monotonic()
        status: int | None = None
        body: Any = None
        exc: BaseException | None = None
        try:
            resp = session.request(self.request.method, url + self.request.path, headers=dict(self.request.headers),
                                   json=self.request.json, timeout=self.timeout_s)
            status, body = resp.status_code, resp.json() if resp.content else None
        except (requests.RequestException, ValueError) as error:
            exc = error
        page = self.api.status(body) if status == 200 else None
        code = None if page is not None else error_code(status, body, exc) or "NO_STATUS_PAGE"
        self.front.answered(at, status, code)
        now = time.monotonic()
        kind: OpType = "ok" if page is not None else "info" if status is None else "fail"  # fail: no page in it
        return [Op(index=-1, type=kind, f="status", process="status", time=time.time(), mono=now - self.recorder.start_mono,
                   value={"sent": sent, "status": status, "page": page, "via": gateway},
                   latency_ms=round(1000 * (now - started), 3), error=code)]


def status_poller(front: Failover, api: ClientApi, recorder: Recorder, *, max_s: float) -> StatusPoller | None:
    """A poller of the target's status page, not started; None when its client API reads none."""
    if not isinstance(api, StatusApi) or (request := api.status_request()) is None:
        return None
    return StatusPoller(front, api, request, recorder, max_s=max_s)
