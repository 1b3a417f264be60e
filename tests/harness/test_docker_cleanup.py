"""Removing a run's networks: an endpoint the engine still lists is disconnected and the removal
tried again; an engine that keeps refusing is said, never a crashed cleanup (no engine needed)."""

from __future__ import annotations

from typing import Any

import docker.errors

from harness.backends.docker import _remove_network


class Network:
    """A network the engine refuses to remove ``refusals`` times (with ``why``), then removes."""

    def __init__(self, refusals: int, why: str = "network x has active endpoints") -> None:
        self.refusals, self.why = refusals, why
        self.attrs: dict[str, Any] = {"Containers": {"c1": {}}}
        self.disconnected: list[str] = []
        self.removed = False

    def remove(self) -> None:
        if self.refusals:
            self.refusals -= 1
            raise docker.errors.APIError("403 Forbidden", explanation=self.why)
        self.removed = True

    def reload(self) -> None:
        return None

    def disconnect(self, container: str, force: bool = False) -> None:
        assert force
        self.disconnected.append(container)


def test_a_lingering_endpoint_is_disconnected_and_the_network_removed() -> None:
    network = Network(refusals=2)
    assert _remove_network(network) is None and network.removed and network.disconnected == ["c1", "c1"]


def test_an_engine_that_keeps_refusing_is_said_in_its_words() -> None:
    stuck = Network(refusals=99)
    assert _remove_network(stuck, tries=3) == "network x has active endpoints" and not stuck.removed
    other = Network(refusals=1, why="permission denied")
    assert _remove_network(other) == "permission denied" and other.disconnected == []
