"""Shared helpers for the mapping tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fhir_mappings import MappingResult
from icaht.record import Analyte, LabValue

FIXTURES = Path(__file__).resolve().parents[2] / "data" / "fhir"


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def lab_by_source(result: MappingResult, source_id: str) -> LabValue:
    found = [lab for lab in result.record.labs if lab.source_id == source_id]
    assert len(found) == 1, f"{source_id}: {found}"
    return found[0]


def labs_of(result: MappingResult, analyte: Analyte) -> list[LabValue]:
    return [lab for lab in result.record.labs if lab.analyte is analyte]


def reasons(result: MappingResult) -> dict[str, str]:
    return {lo.resource_id: lo.reason for lo in result.left_out}
