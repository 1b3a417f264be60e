"""--backend k8s, on paper: every scenario of the library whose faults Chaos Mesh can express
becomes resources that the Chaos Mesh CRDs' schemas accept (vendored with their version:
data/chaos-mesh/PROVENANCE.md) and a Locust Job the Kubernetes API schema accepts
(kubernetes-validate, strict); a kind no resource expresses is refused at its line; a run (not a
dry run) on k8s is refused. Nothing here talks to a cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from harness.backends.k8s import REGION_LABEL, SERVICE_LABEL, check_schedule, manifests
from harness.cli import main
from harness.errors import BadInput
from harness.scenario import KINDS, load_scenario
from harness.schedule import build_schedule

ROOT = Path(__file__).parents[2]
CRDS = Path(__file__).parent / "data" / "chaos-mesh"
LIBRARY = sorted((ROOT / "scenarios").glob("*.yaml"))
K8S_VERSION = "1.33"


def crd_schemas() -> dict[str, dict[str, Any]]:
    out = {}
    for path in CRDS.glob("*.yaml"):
        crd = yaml.safe_load(path.read_text())
        [version] = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
        out[crd["spec"]["names"]["kind"]] = version["schema"]["openAPIV3Schema"]
    return out


SCHEMAS = crd_schemas()


def expressible(path: Path) -> bool:
    scenario = load_scenario(path)
    return all(KINDS[f.kind].chaos_mesh is not None or KINDS[f.kind].instant for f in build_schedule(scenario, 1).faults)


def test_the_vendored_crds_are_the_three_kinds_used() -> None:
    used = {k.chaos_mesh.kind for k in KINDS.values() if k.chaos_mesh is not None}
    assert used == set(SCHEMAS) == {"NetworkChaos", "PodChaos", "TimeChaos"}


@pytest.mark.parametrize("path", [p for p in LIBRARY if expressible(p)], ids=lambda p: p.stem)
def test_each_resource_meets_its_crd_and_the_job_the_kubernetes_schema(path: Path) -> None:
    scenario = load_scenario(path)
    for seed in (1, 2):
        schedule = build_schedule(scenario, seed)
        documents = manifests(scenario, schedule, "umref-staging")
        job, *chaos = documents
        kubernetes_validate.validate(job, K8S_VERSION, strict=True)
        assert job["kind"] == "Job" and job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
        assert len(chaos) >= sum(not KINDS[f.kind].instant for f in schedule.faults)
        for resource in chaos:
            jsonschema.validate(resource, SCHEMAS[resource["kind"]])
            assert resource["metadata"]["namespace"] == "umref-staging" and len(resource["metadata"]["name"]) <= 63
        names = [d["metadata"]["name"] for d in documents]
        assert len(set(names)) == len(names)


def test_a_resource_breaking_its_crd_is_refused_by_the_schema() -> None:
    scenario = load_scenario(ROOT / "scenarios" / "margin-latency-halt.yaml")
    _, delay = manifests(scenario, build_schedule(scenario, 42), "ns")[:2]
    broken = {**delay, "spec": {**delay["spec"], "mode": "every"}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMAS["NetworkChaos"])


def test_the_seed_incident_delays_matching_toward_margin_for_its_window() -> None:
    scenario = load_scenario(ROOT / "scenarios" / "margin-latency-halt.yaml")
    schedule = build_schedule(scenario, 42)
    [latency] = [f for f in schedule.faults if f.kind == "latency"]
    [delay] = [d for d in manifests(scenario, schedule, "ns") if d["kind"] == "NetworkChaos"]
    spec = delay["spec"]
    assert spec["action"] == "delay" and spec["delay"]["latency"] == f"{latency.params['latency_ms']}ms"
    assert spec["selector"]["labelSelectors"] == {SERVICE_LABEL: "matching"} and spec["direction"] == "to"
    assert spec["target"]["selector"]["labelSelectors"] == {SERVICE_LABEL: "margin"}
    assert spec["duration"] == f"{latency.duration_s:g}s"


def test_a_region_power_loss_fails_every_pod_of_the_region() -> None:
    scenario = load_scenario(ROOT / "scenarios" / "region-a-power-loss.yaml")
    [pods] = [d for d in manifests(scenario, build_schedule(scenario, 1), "ns") if d["kind"] == "PodChaos"]
    assert pods["spec"]["action"] == "pod-failure" and pods["spec"]["selector"]["labelSelectors"] == {REGION_LABEL: "A"}


def test_a_kind_no_resource_expresses_is_refused_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "slicer.yaml"
    path.write_text("name: sliced\nduration: 20s\ntimeline:\n  - at: 2s\n    fault: slicer\n    link: gateway->matching\n"
                    "    params: {average_bytes: 10, delay_us: 100}\n    for: 3s\n")
    scenario = load_scenario(path)
    with pytest.raises(BadInput, match=r"slicer.yaml:4: timeline \(slicer\): no Chaos Mesh resource"):
        check_schedule(path, build_schedule(scenario, 1))


def test_the_cli_prints_manifests_on_a_dry_run_and_refuses_a_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = ["--state-dir", str(tmp_path / "state")]
    seed_incident = str(ROOT / "scenarios" / "margin-latency-halt.yaml")
    assert main([*state, "run", seed_incident, "--backend", "k8s", "--dry-run", "--namespace", "umref-staging"]) == 0
    documents = [d for d in yaml.safe_load_all(capsys.readouterr().out) if d]
    assert [d["kind"] for d in documents] == ["Job", "NetworkChaos"]
    assert main([*state, "run", seed_incident, "--backend", "k8s", "--report-dir", str(tmp_path / "r")]) == 3
    assert "--backend k8s: writes what a run would apply with --dry-run" in capsys.readouterr().err
    assert main([*state, "run", seed_incident, "--namespace", "umref", "--dry-run"]) == 3
    assert not (tmp_path / "r").exists()
