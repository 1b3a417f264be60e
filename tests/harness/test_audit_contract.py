"""The audit contract (docs/audit-contract.yaml): valid OpenAPI 3.1, in step with the typed audit
model, and what a real umref serves, endpoint by endpoint. The document is what a platform team
builds against: if umref, the model or the harness drift from it, a test here fails."""

from __future__ import annotations

import copy
import functools
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
import requests
import yaml
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from harness.audit import JournalRecord, Leg
from harness.collect import AuditSources, collect_audit
from harness.market import MarketFeed, PricePath
from harness.recorder import Recorder
from harness.targets import load_target
from harness.targets.base import ROLES
from tests.umref.started import started

ROOT = Path(__file__).parents[2]
CONTRACT = ROOT / "docs" / "audit-contract.yaml"
URI = "urn:umchaos:audit-contract"
OPERATIONS = {("get", "/health"), ("post", "/intake"), ("get", "/state"), ("get", "/audit/halts"),
              ("get", "/audit/books"), ("get", "/audit/ledger"), ("get", "/audit/balances"),
              ("get", "/audit/discarded"), ("get", "/audit/replication")}


@functools.cache
def contract() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(CONTRACT.read_text())
    return doc


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def validator(pointer: str) -> Draft202012Validator:
    """A Draft 2020-12 validator of the contract's schema at ``pointer`` (a JSON pointer, or a
    ``#/...`` reference), its ``$ref``s resolved inside the document."""
    registry: Registry[Any] = Registry().with_resource(URI, Resource(contents=contract(), specification=DRAFT202012))
    return Draft202012Validator({"$ref": URI + "#" + pointer.removeprefix("#")}, registry=registry)


def response_schema(method: str, path: str, status: str = "200", media: str = "application/json") -> str:
    return "/" + "/".join(_escape(p) for p in ("paths", path, method, "responses", status, "content", media, "schema"))


def schema_at(pointer: str) -> dict[str, Any]:
    """The contract's schema at a JSON pointer, its ``$ref`` followed."""
    node: Any = contract()
    for part in pointer.removeprefix("#").strip("/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return _resolve(node)


def errors_of(pointer: str, body: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator(pointer).iter_errors(body)]


# ---- (a) the document itself ---------------------------------------------------------------------

def test_the_contract_is_valid_openapi_3_1() -> None:
    validate(contract(), cls=OpenAPIV31SpecValidator)
    for schema in contract()["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)  # each also a valid JSON Schema 2020-12


@pytest.mark.parametrize("breakage", ["a type that is none", "a parameter without in", "a dangling $ref", "no info"])
def test_the_validator_refuses_a_broken_document(breakage: str) -> None:
    doc = copy.deepcopy(contract())
    if breakage == "a type that is none":
        doc["components"]["schemas"]["Leg"]["properties"]["amount"]["type"] = "int"
    elif breakage == "a parameter without in":
        del doc["paths"]["/audit/ledger"]["get"]["parameters"][0]["in"]
    elif breakage == "a dangling $ref":
        doc["paths"]["/audit/books"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] = {
            "$ref": "#/components/schemas/Nowhere"}
    else:
        del doc["info"]
    with pytest.raises((OpenAPIValidationError, Unresolvable)):
        validate(doc, cls=OpenAPIV31SpecValidator)


def test_versioned_semver_with_the_major_as_the_contract_number() -> None:
    doc = contract()
    version = doc["info"]["version"]
    assert re.fullmatch(r"(\d+)\.(\d+)\.(\d+)", version), version
    assert doc["x-umchaos-contract"] == int(version.split(".")[0]) == 1
    assert "a new required field" in doc["info"]["description"] and "major" in doc["info"]["description"]


def test_organised_by_the_targets_roles_with_no_servers() -> None:
    doc = contract()
    assert sorted(t["name"] for t in doc["tags"]) == sorted(ROLES)
    assert "servers" not in doc
    found = {(method, path) for path, item in doc["paths"].items() for method in item}
    assert found == OPERATIONS
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert op["tags"] and set(op["tags"]) <= set(ROLES), (method, path)
            served = op["description"]
            assert "Served by" in served and all(f"`{role}`" in served or path == "/health" for role in op["tags"])
    by_role = doc["paths"]["/state"]["get"]["x-umchaos-schema-by-role"]
    assert set(by_role) == set(doc["paths"]["/state"]["get"]["tags"])


# ---- (b) the typed audit model against the contract -------------------------------------------

def _json_types(t: msgspec.inspect.Type) -> set[str] | None:
    """The JSON types the model decodes for a field type; None: any JSON."""
    if isinstance(t, msgspec.inspect.IntType):
        return {"integer"}
    if isinstance(t, msgspec.inspect.FloatType):
        return {"integer", "number"}
    if isinstance(t, msgspec.inspect.StrType):
        return {"string"}
    if isinstance(t, msgspec.inspect.BoolType):
        return {"boolean"}
    if isinstance(t, msgspec.inspect.NoneType):
        return {"null"}
    if isinstance(t, msgspec.inspect.ListType):
        return {"array"}
    if isinstance(t, (msgspec.inspect.DictType, msgspec.inspect.StructType)):
        return {"object"}
    if isinstance(t, msgspec.inspect.UnionType):
        out: set[str] = set()
        for member in t.types:
            if (types := _json_types(member)) is None:
                return None
            out |= types
        return out
    if isinstance(t, (msgspec.inspect.RawType, msgspec.inspect.AnyType)):
        return None
    raise AssertionError(f"no JSON mapping for {t}")


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = contract()["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def drift(model: type[msgspec.Struct], schema: dict[str, Any], where: str) -> list[str]:
    """Where the model and the contract's schema for it disagree: a field on one side only, a
    field the model needs and the contract does not require, a type the contract allows that the
    model would refuse (a conforming target's journal failing to decode), recursively."""
    info = msgspec.inspect.type_info(model)
    assert isinstance(info, msgspec.inspect.StructType)
    props: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", ()))
    fields = {f.encode_name: f for f in info.fields}
    out = [f"{where}.{name}: required by the contract, not in the model" for name in sorted(required - set(fields))]
    for name, field in fields.items():
        if name not in props:
            out.append(f"{where}.{name}: in the model, not in the contract")
            continue
        if field.required and name not in required:
            out.append(f"{where}.{name}: the model needs it, the contract does not require it")
        prop = _resolve(props[name])
        allowed, decodes = prop.get("type"), _json_types(field.type)
        allowed = None if allowed is None else {allowed} if isinstance(allowed, str) else set(allowed)
        if decodes is not None and (allowed is None or not allowed <= decodes):
            out.append(f"{where}.{name}: the contract allows {sorted(allowed or ['any'])}, the model decodes "
                       f"{sorted(decodes)}")
        item = field.type.item_type if isinstance(field.type, msgspec.inspect.ListType) else None
        if isinstance(item, msgspec.inspect.StructType):
            out += drift(item.cls, _resolve(prop.get("items", {})), f"{where}.{name}[]")
        elif item is not None and (items := _resolve(prop.get("items", {}))).get("type") is not None:
            if not {items["type"]} <= (_json_types(item) or {items["type"]}):
                out.append(f"{where}.{name}[]: the contract's items are {items['type']}, the model decodes "
                           f"{sorted(_json_types(item) or [])}")
    return out


def test_the_journal_record_model_and_the_contract_agree() -> None:
    schemas = contract()["components"]["schemas"]
    assert drift(JournalRecord, schemas["JournalRecord"], "JournalRecord") == []
    assert drift(Leg, schemas["Leg"], "Leg") == []


def test_a_drift_between_model_and_contract_is_named() -> None:
    class Wider(msgspec.Struct):  # a model that grew a field and needs one the contract leaves optional
        seq: int
        fee: int
        answer: int

    schema = copy.deepcopy(contract()["components"]["schemas"]["JournalRecord"])
    schema["properties"]["seq"]["type"] = "number"
    found = drift(Wider, schema, "R")
    assert "R.fee: in the model, not in the contract" in found
    assert "R.answer: the model needs it, the contract does not require it" in found
    assert "R.seq: the contract allows ['number'], the model decodes ['integer']" in found
    assert "R.legs: required by the contract, not in the model" in found
    schema = copy.deepcopy(contract()["components"]["schemas"]["JournalRecord"])
    schema["properties"]["legs"]["items"] = {"$ref": "#/components/schemas/Error"}
    assert "JournalRecord.legs[].account: in the model, not in the contract" in drift(JournalRecord, schema, "JournalRecord")


# ---- (c) a real umref's answers ------------------------------------------------------------------

@dataclass(frozen=True)
class Served:
    """What a real umref answered, endpoint by endpoint, after real traffic."""

    bodies: dict[tuple[str, str, str], Any]  # (role, service, "METHOD /path") -> JSON body
    journal_lines: list[Any]  # /audit/ledger?format=jsonl of the primary, line by line
    ticks: list[dict[str, Any]]  # the bodies the harness's MarketFeed posted
    intake: dict[str, tuple[int, Any]]  # what the intake answered: accepted, overtaken, malformed
    audit: dict[str, Any]  # harness.collect's audit of the same umref


def _until(what: str, probe: Any, within_s: float = 20.0) -> Any:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if found := probe():
            return found
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {within_s} s")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """umref with orders, a cancel, a leverage change, transfers and spot orders through its
    gateway, prices from the harness's MarketFeed with a shock (margin calls, liquidations), margin
    paused (a halt, a resume) and ledger-a killed (a failover to region B's stack), then restarted
    as standby; after it, region B's gateway and matching engine (the active ones) are asked."""
    topo = started(Path(tmp_path_factory.mktemp("contract")) / "umref", price_seed=4)
    c = topo.config
    recorder = Recorder(time.monotonic())
    path = PricePath(seed=4)
    feed = MarketFeed(path, {name: c.url(name) + "/intake" for name in ("pricefeed", "pricefeed-b")}, recorder,
                      max_s=120).start()
    session = requests.Session()
    try:
        trader = next(a for a in c.accounts if a.role == "trader")
        active = {"gateway": c.url("gateway")}  # region B's once it took over
        key = {"X-API-Key": trader.api_key}

        def send(route: str, body: dict[str, Any]) -> Any:
            resp = session.post(active["gateway"] + route, headers=key, json=body, timeout=10)
            assert resp.status_code == 200, (route, resp.status_code, resp.text)
            return resp.json()

        def journal() -> list[Any]:
            text = session.get(c.url(primary()) + "/audit/ledger", params={"format": "jsonl"}, timeout=10).text
            return [json.loads(line) for line in text.splitlines()]

        def primary() -> str:
            return str(session.get(c.url("coordinator") + "/audit/replication", timeout=5).json()["primary"])

        order = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "qty": "0.010", "price": "40000.00",
                 "reduce_only": False}
        send("/um/order", {"client_id": "ct-order-1", **order})
        gone = send("/um/order", {"client_id": "ct-order-2", **order, "price": "39000.00"})
        send("/um/cancel", {"client_id": "ct-cancel-1", "order_id": gone["order_id"]})
        send("/um/leverage", {"client_id": "ct-leverage-1", "symbol": "ETHUSDT", "leverage": 10})
        send("/transfer", {"client_id": "ct-transfer-1", "asset": "USDT", "amount": "25.50", "from": "spot", "to": "um"})
        send("/spot/order", {"client_id": "ct-spot-1", "symbol": "BTC/USDT", "side": "BUY", "type": "LIMIT",
                             "qty": "0.00100", "price": "40000.00"})
        # The leveraged longs reach MARGIN_CALL about 7 % down, REDUCE_ONLY and FORCE_LIQUIDATION a
        # few hundredths of a percent further: the price walks down through that band in small
        # steps (bounded).
        feed.shock("BTC", Decimal("-6.5"))
        for _ in range(40):
            moved_to = {e.get("to") for r in journal()[1:] for e in r["events"] if e["type"] == "risk_level"}
            if {"MARGIN_CALL", "REDUCE_ONLY", "FORCE_LIQUIDATION"} <= moved_to:
                break
            feed.shock("BTC", Decimal("-0.05"))
            time.sleep(0.3)
        feed.shock("BTC", Decimal("-3"))
        _until("an executed liquidation", lambda: any(
            e.get("stage") == "executed" for r in journal()[1:] for e in r["events"]))
        topo.pause("margin")
        time.sleep(1.0)
        topo.resume("margin")
        _until("a halt and its resume", lambda: [e["type"] for e in session.get(
            c.url("matching") + "/audit/halts", timeout=5).json()["events"]][-2:] == ["halt", "resume"])
        topo.kill("ledger-a")
        _until("a failover to ledger-b", lambda: primary() == "ledger-b")
        topo.restart("ledger-a")

        def standby_again() -> bool:
            state = session.get(c.url("ledger-a") + "/state", timeout=5).json()
            return bool(state["role"] == "standby" and state["epoch"] == 2)

        _until("ledger-a back as standby", standby_again)
        active["gateway"] = c.url("gateway-b")
        send("/transfer", {"client_id": "ct-transfer-2", "asset": "USDT", "amount": "1.25", "from": "um", "to": "spot"})

        def get(service: str, route: str) -> Any:
            resp = session.get(c.url(service) + route, timeout=10)
            assert resp.status_code == 200, (service, route, resp.status_code)
            return resp.json()

        bodies: dict[tuple[str, str, str], Any] = {}
        for role, service in (("gateway", "gateway"), ("matching", "matching"), ("price_intake", "pricefeed"), ("ledgers", "ledger-a"),
                              ("ledgers", "ledger-b"), ("replication", "coordinator"), ("auth", "auth")):
            bodies[role, service, "GET /health"] = get(service, "/health")
        bodies["matching", "matching-b", "GET /state"] = get("matching-b", "/state")
        bodies["matching", "matching-b", "GET /audit/halts"] = get("matching-b", "/audit/halts")
        bodies["matching", "matching-b", "GET /audit/books"] = get("matching-b", "/audit/books")
        for node in ("ledger-a", "ledger-b"):
            bodies["ledgers", node, "GET /state"] = get(node, "/state")
            bodies["ledgers", node, "GET /audit/balances"] = get(node, "/audit/balances")
            bodies["ledgers", node, "GET /audit/discarded"] = get(node, "/audit/discarded")
        bodies["replication", "coordinator", "GET /audit/replication"] = get("coordinator", "/audit/replication")
        lines = journal()
        umref = load_target("umref").topology
        audit = collect_audit(AuditSources.of(umref, {s: c.url(s) for s in umref.services}), config={}, samples=[])
        feed.stop()
        ticks = [{"time": op.time, "prices": op.value["prices"]} for op in recorder.snapshot() if op.f == "tick"]
        now = {"time": time.time(), "prices": {a: str(p) for a, p in path.prices(path.computed()).items()}}
        intake: dict[str, tuple[int, Any]] = {}
        for name, body in (("accepted", now), ("overtaken", {**now, "time": now["time"] - 5}),
                           ("malformed", {"time": now["time"] + 1, "prices": {}})):
            resp = session.post(c.url("pricefeed") + "/intake", json=body, timeout=5)
            intake[name] = (resp.status_code, resp.json())
        yield Served(bodies, lines, ticks, intake, audit)
    finally:
        feed.stop()
        session.close()
        topo.stop()


def _operation(key: str) -> tuple[str, str]:
    method, path = key.split(" ")
    return method.lower(), path


def schema_for(role: str, key: str) -> str:
    method, path = _operation(key)
    by_role = contract()["paths"][path][method].get("x-umchaos-schema-by-role", {})
    return by_role.get(role) or response_schema(method, path)


@pytest.mark.integration
def test_every_operation_of_the_contract_was_answered_by_umref(served: Served) -> None:
    answered = {_operation(key) for _, _, key in served.bodies} | {("get", "/audit/ledger"), ("post", "/intake")}
    assert answered == OPERATIONS
    for path, item in contract()["paths"].items():  # and by the service of every role it names
        for method, op in item.items():
            roles = {role for role, _, key in served.bodies if _operation(key) == (method, path)}
            assert path in ("/audit/ledger", "/intake") or roles == set(op["tags"]), (path, roles)


ENDPOINTS = [("gateway", "gateway", "GET /health"), ("matching", "matching", "GET /health"), ("price_intake", "pricefeed", "GET /health"),
             ("ledgers", "ledger-a", "GET /health"), ("ledgers", "ledger-b", "GET /health"),
             ("replication", "coordinator", "GET /health"), ("auth", "auth", "GET /health"),
             ("matching", "matching-b", "GET /state"), ("matching", "matching-b", "GET /audit/halts"),
             ("matching", "matching-b", "GET /audit/books"), ("ledgers", "ledger-a", "GET /state"),
             ("ledgers", "ledger-b", "GET /state"), ("ledgers", "ledger-a", "GET /audit/balances"),
             ("ledgers", "ledger-b", "GET /audit/balances"), ("ledgers", "ledger-a", "GET /audit/discarded"),
             ("ledgers", "ledger-b", "GET /audit/discarded"),
             ("replication", "coordinator", "GET /audit/replication")]


@pytest.mark.integration
@pytest.mark.parametrize(("role", "service", "key"), ENDPOINTS, ids=[f"{s} {k}" for _, s, k in ENDPOINTS])
def test_umrefs_answer_conforms(served: Served, role: str, service: str, key: str) -> None:
    assert errors_of(schema_for(role, key), served.bodies[role, service, key]) == []


@pytest.mark.integration
def test_umrefs_journal_conforms_line_by_line(served: Served) -> None:
    media = contract()["paths"]["/audit/ledger"]["get"]["responses"]["200"]["content"]["application/x-ndjson"]
    header, *records = served.journal_lines
    assert errors_of(media["x-umchaos-lines"]["first"]["$ref"], header) == []
    each = validator(media["x-umchaos-lines"]["each"]["$ref"])
    bad = [(r.get("seq"), e.message) for r in records for e in each.iter_errors(r)]
    assert bad == [] and len(records) > 40
    # the journal held what the event schemas describe, so each of them was exercised
    seen = {e["type"] for r in records for e in r["events"]}
    assert {"order", "trade", "cancel", "transfer", "leverage", "risk_level", "liquidation"} <= seen, seen
    assert {r["epoch"] for r in records} == {1, 2} and any(r["legs"] for r in records)


@pytest.mark.integration
def test_what_the_audit_endpoints_held_was_not_empty(served: Served) -> None:
    b = served.bodies
    assert [e["type"] for e in b["matching", "matching-b", "GET /audit/halts"]["events"]][-2:] == ["halt", "resume"]
    books = b["matching", "matching-b", "GET /audit/books"]["books"]
    assert any(book["bids"] or book["asks"] for book in books.values())
    assert [f["epoch"] for f in b["replication", "coordinator", "GET /audit/replication"]["failovers"]] == [2]
    assert b["ledgers", "ledger-b", "GET /state"]["role"] == "primary"
    assert b["ledgers", "ledger-b", "GET /audit/balances"]["balances"]


@pytest.mark.integration
def test_the_harness_reads_the_same_umref_without_an_error(served: Served) -> None:
    """The harness's own collector over the same endpoints: what conforms is what it reads."""
    assert served.audit["errors"] == [] and served.audit["journal_node"] == "ledger-b"
    assert len(served.audit["journal"]) >= len(served.journal_lines) - 1


@pytest.mark.integration
def test_the_harness_ticks_and_the_intakes_answers_conform(served: Served) -> None:
    tick = validator("#/components/schemas/Tick")
    assert len(served.ticks) > 50 and [t for t in served.ticks if not tick.is_valid(t)] == []
    assert served.intake["accepted"] == (200, {"accepted": True})
    for name, status in (("accepted", "200"), ("overtaken", "200"), ("malformed", "400")):
        code, body = served.intake[name]
        assert str(code) == status
        assert errors_of(response_schema("post", "/intake", status), body) == [], name
    assert served.intake["overtaken"][1]["accepted"] is False


# ---- and a broken body is refused ------------------------------------------------------------------

def _first_record(served: Served, event_type: str) -> dict[str, Any]:
    return copy.deepcopy(next(r for r in served.journal_lines[1:] if any(e["type"] == event_type for e in r["events"])))


BREAKAGES = {
    "a journal record without legs": lambda r: r.pop("legs"),
    "a journal record without events": lambda r: r.pop("events"),
    "a journal record without client_id": lambda r: r.pop("client_id"),
    "a seq that is text": lambda r: r.update(seq=str(r["seq"])),
    "a leg without amount": lambda r: r["legs"][0].pop("amount"),
    "a leg amount in decimal text": lambda r: r["legs"][0].update(amount="1.5"),
    "a trade without its taker": lambda r: next(e for e in r["events"] if e["type"] == "trade").pop("taker_account"),
}


@pytest.mark.integration
@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_a_broken_journal_record_is_refused(served: Served, breakage: str) -> None:
    record = _first_record(served, "trade")
    assert validator("#/components/schemas/JournalRecord").is_valid(record)
    BREAKAGES[breakage](record)
    assert errors_of("#/components/schemas/JournalRecord", record) != []


@pytest.mark.integration
def test_a_margin_decision_without_its_price_times_is_refused(served: Served) -> None:
    record = _first_record(served, "liquidation")
    event = next(e for e in record["events"] if e["type"] == "liquidation")
    event["prices"][0].pop("time")
    assert any("'time' is a required property" in e for e in errors_of("#/components/schemas/JournalRecord", record))


@pytest.mark.integration
@pytest.mark.parametrize(("role", "service", "key"), [e for e in ENDPOINTS if not e[2].startswith("GET /health")]
                         + [("ledgers", "ledger-a", "GET /health")], ids=lambda v: str(v))
def test_every_required_field_taken_out_is_refused(served: Served, role: str, service: str, key: str) -> None:
    """Each top-level field the contract requires, taken out of umref's real answer, fails it: the
    required lists are checked, not decoration."""
    pointer = schema_for(role, key)
    body = served.bodies[role, service, key]
    target = validator(pointer)
    required = schema_at(pointer).get("required", [])
    assert required, key
    for name in required:
        assert not target.is_valid({k: v for k, v in body.items() if k != name}), (key, name)


@pytest.mark.integration
@pytest.mark.parametrize(("key", "breakage", "pointer"), [
    ("GET /audit/replication", lambda b: b["failovers"][0].pop("epoch"), "Replication"),
    ("GET /audit/halts", lambda b: b["events"][0].pop("time"), "Halts"),
    ("GET /audit/halts", lambda b: b["events"][0].update(type="paused"), "Halts"),
    ("GET /audit/books", lambda b: next(bk for bk in b["books"].values() if bk["bids"])["bids"][0].pop("qty"), "Books"),
    ("GET /audit/balances", lambda b: next(iter(b["balances"].values())).update(USDT="10.00"), "Balances"),
])
def test_a_broken_nested_field_is_refused(served: Served, key: str, breakage: Any, pointer: str) -> None:
    (found,) = [copy.deepcopy(body) for (_, service, k), body in served.bodies.items()
                if k == key and service in ("matching-b", "coordinator", "ledger-b")]
    assert errors_of(f"#/components/schemas/{pointer}", found) == []
    breakage(found)
    assert errors_of(f"#/components/schemas/{pointer}", found) != []
