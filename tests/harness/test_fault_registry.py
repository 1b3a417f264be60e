"""The fault kinds' registrations: each names implementations and healers that exist, on backends
that exist; the pure attributes (instant, takes down, halt expected) say what the harness did
before they were registered; and the harness reads them, not kind strings."""

from __future__ import annotations

import random
from typing import Any

import pytest

from harness.abort import fault_windows, services_down_by
from harness.backends import BACKENDS
from harness.faults.base import (
    BACKEND_FAULTS,
    HEALERS,
    FaultEnv,
    FaultError,
    build_fault,
    load_fault_kinds,
)
from harness.scenario import FAULT_KINDS, KINDS, HaltFacts, is_instant
from harness.schedule import ScheduledFault
from harness.targets import load_target

UMREF = load_target("umref").topology
FACTS = HaltFacts(UMREF, 200.0)


def test_every_kind_is_registered_once_with_resolvable_implementations_and_healers() -> None:
    load_fault_kinds()
    assert tuple(KINDS) == FAULT_KINDS and all(name == kind.name == kind.model.model_fields["fault"].annotation.__args__[0]
                                               for name, kind in KINDS.items())
    for kind in KINDS.values():
        assert kind.implementations and set(kind.implementations) <= set(BACKENDS), kind.name
        for backend, path in kind.implementations.items():
            assert BACKEND_FAULTS[backend][kind.name].__name__ == path.split(":")[1]
        assert kind.healers and all(callable(HEALERS[heal]) for heal in kind.healers), kind.name


def test_netem_runs_only_where_hosts_have_their_own_network() -> None:
    assert set(KINDS["netem"].implementations) == {"docker"}
    spec = ScheduledFault("f1", "netem", 1.0, 2.0, {"service": "margin"}, {"delay_ms": 50}, (0, 0))
    with pytest.raises(FaultError, match="kind 'netem' is not supported on this backend"):
        build_fault(spec, FaultEnv("r", None, None, {}, {}, {"p99_ms": 200}, backend="local"))  # type: ignore[arg-type]


def test_what_each_kind_needs_of_a_process_is_what_a_running_platform_is_asked_for() -> None:
    needs = {k: kind.process_need for k, kind in KINDS.items() if kind.process_need != "nothing"}
    assert needs == {"kill": "restart", "region_power_loss": "restart", "pause": "signal", "clock_skew": "own_target"}


def test_only_market_events_and_releases_are_instant_and_only_kill_and_power_loss_take_services_down() -> None:
    assert [k for k, kind in KINDS.items() if kind.instant] == ["price_shock", "price_drift", "deploy"]
    assert is_instant("price_shock") and not is_instant("kill") and not is_instant("dns_typo") and not is_instant(None)
    assert is_instant("price_drift")  # it lasts its `for`, but as a market move: no fault window excuses the target
    assert services_down_by("kill", {"service": "margin"}, UMREF) == {"margin"}
    assert services_down_by("region_power_loss", {"region": "B"}, UMREF) == set(UMREF.in_region("B"))
    assert services_down_by("pause", {"service": "margin"}, UMREF) == set()
    faults = [ScheduledFault("f1", "price_shock", 1.0, None, {}, {"asset": "BTC", "move_pct": -5}, (0, 0)),
              ScheduledFault("f2", "kill", 2.0, 3.0, {"service": "margin"}, {}, (0, 0)),
              ScheduledFault("f3", "price_drift", 3.0, 12.0, {}, {"asset": "BTC", "move_pct": -0.6}, (0, 0))]
    assert fault_windows(faults, 100.0, 200.0, 10.0) == [(102.0, 115.0)]


@pytest.mark.parametrize(("kind", "target", "params", "halt"), [
    ("latency", {"link": "matching->margin"}, {"latency_ms": 201}, True),
    ("latency", {"link": "matching->margin"}, {"latency_ms": 200}, False),  # within the budget's p99
    ("latency", {"link": "gateway->auth"}, {"latency_ms": 5000}, False),
    ("timeout", {"link": "matching->margin"}, {}, True),
    ("reset_peer", {"link": "matching->margin"}, {"timeout_ms": 0}, True),
    ("bandwidth", {"link": "matching->margin"}, {"rate_kbps": 8}, False),
    ("slicer", {"link": "matching->margin"}, {"average_bytes": 8, "delay_us": 500}, False),
    ("down", {"link": "matching->margin"}, {}, True),
    ("down", {"link": "ledger-a->ledger-b"}, {}, False),
    ("partition", {"links": ["margin->pricefeed", "matching->margin"], "direction": "one-way"}, {}, True),
    ("partition", {"regions": ["A", "B"], "direction": "both"}, {},
     "matching->margin" in KINDS["partition"].links({"regions": ["A", "B"], "direction": "both"}, UMREF)),
    ("kill", {"service": "margin"}, {}, True),
    ("kill", {"service": "matching"}, {}, False),
    ("pause", {"service": "margin"}, {}, True),
    ("netem", {"service": "margin"}, {"loss_pct": 5}, True),
    ("region_power_loss", {"region": UMREF.region_of["margin"]}, {}, False),  # matching itself is gone
    ("clock_skew", {"service": "margin"}, {"offset_ms": 900}, False),
    ("price_shock", {}, {"asset": "BTC", "move_pct": -8}, False),
    ("price_drift", {}, {"asset": "ETH", "move_pct": -0.6}, False),
])
def test_what_the_checks_may_expect_is_pure_data_and_the_implementation_reports_it(
        kind: str, target: dict[str, Any], params: dict[str, Any], halt: bool) -> None:
    assert KINDS[kind].expects_um_halt(target, params, FACTS) is halt
    spec = ScheduledFault("f1", kind, 1.0, None if KINDS[kind].instant else 2.0, target, params, (0, 0))
    for backend in KINDS[kind].implementations:
        env = FaultEnv("r", None, None, {}, {}, {"p99_ms": 200}, backend=backend, topology=UMREF)  # type: ignore[arg-type]
        assert build_fault(spec, env).expect_um_halt() is halt  # built only: nothing injected


def test_every_kind_draws_a_valid_entry_for_any_seed() -> None:
    from harness.scenario import parse_scenario
    from harness.schedule import _FAULT_SPEC

    scenario = parse_scenario("name: r\ntimeline: random\nrandom: {mix: {latency: 1}}\n"
                              "load: {users: 1, duration: 60s}\n", "r.yaml")
    assert scenario.random is not None
    scope = scenario.random.scope(scenario.target_system)
    for seed in range(20):
        for name, kind in KINDS.items():
            entry = {"fault": name, "at": 1.0, **kind.draw(random.Random(seed), scope)}
            if not kind.instant:
                entry["for"] = 2.0
            assert _FAULT_SPEC.validate_python(entry, context={"target": scenario.target_system}).fault == name


def test_a_toxic_kind_says_its_toxic_as_data() -> None:
    """What Toxiproxy is asked for is the registration's, read by the one ToxicFault."""
    toxics = {name: (k.toxic.type, k.toxic.stream) for name, k in KINDS.items() if k.toxic is not None}
    assert toxics == {"latency": ("latency", "downstream"), "bandwidth": ("bandwidth", "downstream"),
                      "timeout": ("timeout", "upstream"), "reset_peer": ("reset_peer", "downstream"),
                      "slicer": ("slicer", "downstream")}
    slicer = KINDS["slicer"].toxic
    assert slicer is not None and slicer.attributes({"average_bytes": 40, "delay_us": 300}) == {
        "average_size": 40, "size_variation": 20, "delay": 300}


def test_a_drift_opens_no_fault_window_the_checks_would_excuse() -> None:
    """A drift lasts its ``for`` on the market, but the target must keep working through it."""
    from harness.checks.common import fault_windows as windows_of
    from tests.harness.factories import HistoryBuilder

    h = HistoryBuilder()
    h.fault("f1", 2.0, 4.0)
    h.fault("f2", 5.0, None, fault="price_drift", target="market")
    assert [w.id for w in windows_of(h.build())] == ["f1"]
