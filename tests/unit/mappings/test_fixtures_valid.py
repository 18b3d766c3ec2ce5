"""The hand-written fixtures are valid FHIR (R4B models of fhir.resources)."""

from __future__ import annotations

import importlib
import json
import re

import pytest
from fhir.resources.R4B.observation import Observation
from mapping_helpers import FIXTURES
from pydantic import ValidationError

JSON_FIXTURES = sorted(p.name for p in FIXTURES.glob("*.json"))


def _model(resource_type: str) -> type:
    module = importlib.import_module(f"fhir.resources.R4B.{resource_type.lower()}")
    return getattr(module, resource_type)  # type: ignore[no-any-return]


def _resources(doc: object) -> list[dict[str, object]]:
    if isinstance(doc, list):
        return [r for item in doc for r in _resources(item)]
    assert isinstance(doc, dict)
    return [doc]


def test_there_are_fixtures() -> None:
    assert len(JSON_FIXTURES) >= 6


@pytest.mark.parametrize("name", JSON_FIXTURES)
def test_fixture_is_valid_r4b(name: str) -> None:
    doc = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    for resource in _resources(doc):
        model = _model(str(resource["resourceType"]))
        model.model_validate(resource)  # raises ValidationError on invalid FHIR


def test_validation_would_catch_an_invalid_fixture() -> None:
    bad = {"resourceType": "Observation", "status": "final", "foo": 1}  # no code, extra field
    with pytest.raises(ValidationError):
        Observation.model_validate(bad)


def test_fixture_ids_are_fhir_ids() -> None:
    pattern = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
    for name in JSON_FIXTURES:
        text = (FIXTURES / name).read_text(encoding="utf-8")
        for rid in re.findall(r'"id": "([^"]+)"', text):
            assert pattern.match(rid), (name, rid)
