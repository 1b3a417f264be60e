"""Scenario files: read YAML with line numbers, validate it against the schema and the chosen
target, and turn every problem into one ``file:line: what`` error before anything starts.

values     durations, numbers and spans, names, the strict Model base
kinds/     the fault kinds, a family a module: each kind one FaultKind registration
faults     the registry of fault kinds, and the union of their models
touched    what a fault touches in a topology; overlapping faults
random_timeline  the ``random:`` section
schema     the Scenario and its sections
reading    text and YAML with line numbers
explain    pydantic errors as one file:line line
parse      file or text -> validated Scenario

This module re-exports what the rest of the harness imports, so importers need not know the modules.
"""

from harness.scenario.explain import validate_model
from harness.scenario.faults import (
    FAULT_KINDS,
    KINDS,
    DrawScope,
    FaultKind,
    FaultSpec,
    HaltFacts,
    is_instant,
)
from harness.scenario.kinds.links import LatencyFault
from harness.scenario.parse import load_scenario, parse_scenario
from harness.scenario.random_timeline import RandomTimeline
from harness.scenario.reading import MAX_FILE_BYTES, read_text_file, read_yaml_mapping
from harness.scenario.schema import CHECK_NAMES, MAX_FAULTS, AbortWhen, RiskOverrides, Scenario
from harness.scenario.touched import first_overlap, links_touched, services_touched, um_only
from harness.scenario.values import MAX_SECONDS, SETTLE_S, Model, Span, parse_duration

__all__ = [
    "CHECK_NAMES",
    "FAULT_KINDS",
    "KINDS",
    "MAX_FAULTS",
    "MAX_FILE_BYTES",
    "MAX_SECONDS",
    "SETTLE_S",
    "AbortWhen",
    "DrawScope",
    "FaultKind",
    "FaultSpec",
    "HaltFacts",
    "LatencyFault",
    "Model",
    "RandomTimeline",
    "RiskOverrides",
    "Scenario",
    "Span",
    "first_overlap",
    "is_instant",
    "links_touched",
    "load_scenario",
    "parse_duration",
    "parse_scenario",
    "read_text_file",
    "read_yaml_mapping",
    "services_touched",
    "um_only",
    "validate_model",
]
