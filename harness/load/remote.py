"""Workers on other machines: what travels over Locust's own master/worker messages, kept pure.

A remote worker (``umchaos worker --master HOST:PORT``) has none of the master's files: its load
config, the target's front and accounts, the release and the run's start all come as messages,
and its ops go back as messages, batched. Its clocks are not the master's: at join it measures
both offsets NTP-style (several pings, the shortest round trip kept) and writes its ops in the
master's time, so checks can set them beside the target's times. No gevent or Locust here: the
locustfile wires these to its greenlets and handlers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["MSG", "Clock", "ClockSample", "Outbox", "best_sample", "clock_sample", "parse_master",
           "worker_settings"]

# Locust custom message types, one place: worker -> master (join, ping, ready, ops, done),
# master -> worker (config, pong, release, stop).
MSG = {name: f"umchaos_{name}" for name in
       ("join", "config", "ping", "pong", "ready", "release", "ops", "stop", "done")}
PINGS = 8  # clock samples at join; the one with the shortest round trip is kept
BATCH_LINES = 2000  # ops per message: a few hundred kilobytes
# The part of the master's load config a remote worker needs (not its file paths).
WORKER_KEYS = ("run_id", "start_mono", "mix", "classes", "think_s", "timeout_s", "client_api")


@dataclass(frozen=True)
class Clock:
    """One reading of both clocks a history op carries: epoch (``time``) and monotonic (``mono``)."""

    wall: float
    mono: float


@dataclass(frozen=True)
class ClockSample:
    """Master's clock minus the worker's, by one ping/pong; the true offset is within
    ``round_trip_s / 2`` of it (the exchange's time on the wire, split unknown)."""

    wall_offset_s: float
    mono_offset_s: float
    round_trip_s: float

    @property
    def uncertainty_s(self) -> float:
        return self.round_trip_s / 2


def clock_sample(t0: Clock, t1: Clock, t2: Clock, t3: Clock) -> ClockSample:
    """NTP's offset for each clock: t0 sent and t3 answered by the worker, t1 received and t2
    answered by the master; offset = ((t1 - t0) + (t2 - t3)) / 2, round trip without the master's
    own time in between."""
    def offset(a: float, b: float, c: float, d: float) -> float:
        return ((b - a) + (c - d)) / 2

    round_trip = max(0.0, (t3.mono - t0.mono) - (t2.mono - t1.mono))
    return ClockSample(offset(t0.wall, t1.wall, t2.wall, t3.wall), offset(t0.mono, t1.mono, t2.mono, t3.mono),
                       round_trip)


def best_sample(samples: Iterable[ClockSample]) -> ClockSample:
    """The shortest round trip: the least room for a one-sided delay."""
    return min(samples, key=lambda s: s.round_trip_s)


def worker_settings(config: dict[str, object]) -> dict[str, object]:
    """What of the master's config goes to a remote worker."""
    return {key: config.get(key) for key in WORKER_KEYS}


def parse_master(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` too) of a Locust master; ValueError with why otherwise."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r}: expected HOST:PORT, e.g. 127.0.0.1:5557")
    return host, int(port)


class Outbox:
    """A remote worker's history file: ops written as lines and taken in batches to send to the
    master. ``flush`` is the file's no-op: sending is the sender's business."""

    def __init__(self) -> None:
        self._lines: list[str] = []

    def write(self, line: str) -> int:
        self._lines.append(line)
        return len(line)

    def flush(self) -> None:
        pass

    def take(self, most: int = BATCH_LINES) -> str:
        """Up to ``most`` lines, oldest first, as one text ('' when empty)."""
        batch, self._lines = self._lines[:most], self._lines[most:]
        return "".join(batch)

    def __len__(self) -> int:
        return len(self._lines)
