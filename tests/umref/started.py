"""umref started on free loopback ports for a test, as the local backend starts it: a port another
program takes between the plan and the bind (the other test worker's platform, say) is planned
again, on a fresh data folder."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from targets.umref.launcher import Topology, TopologyError, plan

ATTEMPTS = 3


def started(data_dir: Path, *, bootstrap: bool = True, **plan_args: Any) -> Topology:
    for attempt in range(1, ATTEMPTS + 1):
        topology = Topology(plan(data_dir, **plan_args))
        try:
            topology.start(bootstrap=bootstrap)  # stops what it started when it fails
            return topology
        except TopologyError as exc:
            if "address already in use" not in str(exc) or attempt == ATTEMPTS:
                raise
            shutil.rmtree(data_dir, ignore_errors=True)
    raise AssertionError("unreachable")
