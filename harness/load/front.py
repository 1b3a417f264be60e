"""A client's place on the target's front: the gateway it sends to, and when it moves on.

Real clients hold an address list and fail over on it; the Locust users and the probe do the same,
with nothing target-specific: a gateway that gave no answer at all (refused, reset, timed out) or
refused as a standby (503 ``NOT_ACTIVE``) is left for the next one, round robin, from the next
request on. A request is never retried: its op is recorded as it went. Away from the home gateway
(the front's first), a client tries it again after ``HOME_AGAIN_S``, as clients whose address
list prefers their own region do once its name resolves there again: that is how a region that
came back is put to the test (it must refuse as a standby, never trade as a second primary).
"""

from __future__ import annotations

import threading
import time

from harness.targets.base import Front

__all__ = ["STANDBY_REFUSAL", "Failover"]

STANDBY_REFUSAL = "NOT_ACTIVE"  # the error code of a gateway that is not (or no longer) the active one
HOME_AGAIN_S = 5.0


class Failover:
    """Which gateway of ``front`` to send to. The probe's lanes share one: a gateway that failed
    several requests sent at once is left once, not skipped past its successor."""

    def __init__(self, front: Front) -> None:
        if not front:
            raise ValueError("a front has at least one gateway")
        self.front = front
        self._at = 0
        self._moved_at = 0.0  # monotonic: when it last moved on
        self._lock = threading.Lock()

    def pick(self) -> tuple[int, str, str]:
        """The gateway to send to now: its place on the front, its service and its base URL."""
        if self._at and time.monotonic() - self._moved_at >= HOME_AGAIN_S:
            with self._lock:
                self._at, self._moved_at = 0, time.monotonic()
        at = self._at
        service, url = self.front[at]
        return at, service, url

    def answered(self, at: int, status: int | None, code: str | None) -> None:
        """What the gateway at ``at`` answered (status None: nothing): moves on when it gave no
        answer or refused as a standby."""
        if status is None or (status == 503 and code == STANDBY_REFUSAL):
            with self._lock:
                if self._at == at:
                    self._at, self._moved_at = (at + 1) % len(self.front), time.monotonic()
