"""``--backend k8s``: a scenario's seeded schedule as the Chaos Mesh resources and the Locust Job
that would play it on a Kubernetes-deployed platform, for ``umchaos run --backend k8s --dry-run``.

On paper only: nothing here talks to a cluster, and a run on this backend is refused (there is no
cluster to build and test that against here). Each fault kind says its own Chaos Mesh resource
(``FaultKind.chaos_mesh``); this module adds what every resource has: its name, the namespace,
the pods it selects (a service's pods by ``app.kubernetes.io/name``, a region's by
``umchaos.io/region``; a link's caller pods toward its callee's), its duration (the fault's
``for``: Chaos Mesh ends it by itself if the harness is gone), and when in the run it is applied.
Its heal is the resource's deletion. A kind no resource expresses is refused at its line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from harness.errors import BadInput
from harness.scenario import KINDS, Scenario
from harness.schedule import Schedule, ScheduledFault
from harness.targets import Topology

__all__ = ["CHAOS_MESH_API", "SERVICE_LABEL", "REGION_LABEL", "check_schedule", "manifests", "manifests_yaml"]

CHAOS_MESH_API = "chaos-mesh.org/v1alpha1"
SERVICE_LABEL = "app.kubernetes.io/name"
REGION_LABEL = "umchaos.io/region"
LOAD_IMAGE = "umchaos/harness:latest"  # the harness's own image (docker backend), pushed where the cluster pulls
LOAD_CONFIG = "/etc/umchaos/load-config.json"


def check_schedule(path: Path, schedule: Schedule) -> None:
    """Every fault of the schedule has a Chaos Mesh resource or is the harness's own (a price shock)."""
    for fault in schedule.faults:
        kind = KINDS[fault.kind]
        if kind.chaos_mesh is None and (not kind.instant or fault.target):  # a market event has no target
            raise BadInput(f"{path}:{fault.lines[0] or 1}: timeline ({fault.kind}): no Chaos Mesh resource "
                           "expresses it; not on --backend k8s")


def _pods(namespace: str, label: str, value: str) -> dict[str, Any]:
    return {"namespaces": [namespace], "labelSelectors": {label: value}}


def _selections(fault: ScheduledFault, topology: Topology, namespace: str) -> list[tuple[str, dict[str, Any]]]:
    """(name suffix, selection fields) per resource: one per link, per region pair, or one."""
    where = fault.target

    def svc(name: str) -> dict[str, Any]:
        return _pods(namespace, SERVICE_LABEL, name)

    def toward(source: dict[str, Any], dest: dict[str, Any], direction: str) -> dict[str, Any]:
        return {"selector": source, "mode": "all", "direction": direction, "target": {"mode": "all", "selector": dest}}

    direction = "both" if where.get("direction", "both") == "both" else "to"
    if "link" in where or "links" in where:
        links = [where["link"]] if "link" in where else list(where["links"])
        return [(link.replace("->", "-to-"), toward(svc(topology.ends(link)[0]), svc(topology.ends(link)[1]),
                                                    "to" if "link" in where else direction)) for link in links]
    if "regions" in where:
        a, b = where["regions"]
        return [(f"{a}-{b}", toward(_pods(namespace, REGION_LABEL, a), _pods(namespace, REGION_LABEL, b), direction))]
    if "service" in where:
        return [(where["service"], {"selector": svc(where["service"]), "mode": "all"})]
    return [(f"region-{where['region']}", {"selector": _pods(namespace, REGION_LABEL, where["region"]), "mode": "all"})]


def _dns_name(*parts: str) -> str:
    """A DNS-1123 name (what Kubernetes takes): lower case, digits and '-', at most 63."""
    name = "-".join(parts).lower()
    name = "".join(ch if ch.isalnum() or ch == "-" else "-" for ch in name).strip("-")
    return name[:63].rstrip("-")


def _fault_resources(fault: ScheduledFault, scenario: Scenario, seed: int, namespace: str) -> list[dict[str, Any]]:
    kind = KINDS[fault.kind]
    if kind.chaos_mesh is None:  # the harness's own (a price shock through the price intake)
        return []
    out = []
    for suffix, selection in _selections(fault, scenario.topology, namespace):
        spec = {**selection, **kind.chaos_mesh.fields(fault.params)}
        if fault.duration_s is not None and kind.chaos_mesh.lasting:
            spec["duration"] = f"{fault.duration_s:g}s"
        notes = {"umchaos.io/apply-at": f"{fault.at_s:g}s after load starts",
                 "umchaos.io/heal": "delete this resource" + (f" at {fault.end_s:g}s" if fault.duration_s else
                                                                " when the run ends")}
        if kind.chaos_mesh.note:
            notes["umchaos.io/differs"] = kind.chaos_mesh.note
        out.append({"apiVersion": CHAOS_MESH_API, "kind": kind.chaos_mesh.kind,
                    "metadata": {"name": _dns_name("umchaos", scenario.name, str(seed), fault.id, suffix),
                                 "namespace": namespace, "labels": _labels(scenario, seed, fault.id),
                                 "annotations": notes},
                    "spec": spec})
    return out


def _labels(scenario: Scenario, seed: int, fault_id: str = "") -> dict[str, str]:
    labels = {"app.kubernetes.io/managed-by": "umchaos", "umchaos.io/scenario": _dns_name(scenario.name),
              "umchaos.io/seed": str(seed)}
    return {**labels, "umchaos.io/fault": fault_id} if fault_id else labels


def _load_job(scenario: Scenario, schedule: Schedule, namespace: str) -> dict[str, Any]:
    """A Locust Job with the scenario's users, spawn rate and length; its target and accounts come
    from the load config the harness would write into the ``umchaos-load`` ConfigMap."""
    load = scenario.load
    classes = [name for name, weight in (load.classes or {}).items() if weight > 0]
    args = ["-f", "harness/load/locustfile.py", "--headless", "--users", str(load.users),
            "--spawn-rate", f"{load.spawn_rate:g}", "--run-time", f"{schedule.duration_s:g}s", "--only-summary",
            *(classes or ["UmTrader"])]
    container = {"name": "locust", "image": LOAD_IMAGE, "command": ["locust"], "args": args,
                 "env": [{"name": "UMCHAOS_LOAD_CONFIG", "value": LOAD_CONFIG}],
                 "volumeMounts": [{"name": "load-config", "mountPath": str(Path(LOAD_CONFIG).parent),
                                   "readOnly": True}]}
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": _dns_name("umchaos-load", scenario.name, str(schedule.seed)), "namespace": namespace,
                         "labels": _labels(scenario, schedule.seed)},
            "spec": {"backoffLimit": 0, "activeDeadlineSeconds": int(schedule.duration_s) + 120,
                     "ttlSecondsAfterFinished": 3600,
                     "template": {"metadata": {"labels": _labels(scenario, schedule.seed)},
                                  "spec": {"restartPolicy": "Never", "containers": [container],
                                           "volumes": [{"name": "load-config",
                                                        "configMap": {"name": "umchaos-load"}}]}}}}


def manifests(scenario: Scenario, schedule: Schedule, namespace: str) -> list[dict[str, Any]]:
    """The Locust Job, then each fault's resources in schedule order."""
    out = [_load_job(scenario, schedule, namespace)]
    for fault in schedule.faults:
        out += _fault_resources(fault, scenario, schedule.seed, namespace)
    return out


def manifests_yaml(documents: Sequence[Mapping[str, Any]]) -> str:
    return yaml.safe_dump_all(documents, sort_keys=False, explicit_start=True)
