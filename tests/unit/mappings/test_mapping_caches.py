"""The mapping's speed-ups of issue 20 change no result: the cached unit conversions and patient
references, and the display-free code reading, give what the uncached paths give, on every
request fixture (tests/data/requests/) and on messy input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fhir_mappings import MappingResult, map_patient, resources
from fhir_mappings.resources import codings, system_codes
from fhir_mappings.settings import MappingSettings
from fhir_mappings.units import Conversion, UnitConverter, UnitError

REQUESTS = Path(__file__).resolve().parents[2] / "data" / "requests"
FIXTURES = sorted(REQUESTS.glob("*.json"))
TZ = "Europe/Berlin"  # the fixtures' time zone (tests/data/requests/README.md)


class UncachedConverter(UnitConverter):
    """Every conversion worked out afresh, as before the caches."""

    def conversion_for(
        self, kind: str, system: str | None, code: str | None, unit: str | None
    ) -> Conversion | UnitError:
        self._cache.clear()
        return self._conversion(kind, system, code, unit)


def uncached_config() -> MappingSettings:
    mapping_settings = MappingSettings()
    object.__setattr__(mapping_settings, "units", UncachedConverter())
    return mapping_settings


def request_resources(path: Path) -> tuple[list[Any], str]:
    body = json.loads(path.read_text())
    return list((body.get("prefetch") or {}).values()), str(body["context"]["patientId"])


def map_uncached(path: Path) -> MappingResult:
    found, patient = request_resources(path)
    return map_patient(found, patient_id=patient, tz=TZ, mapping_settings=uncached_config())


def test_the_fixtures_are_there() -> None:
    assert len(FIXTURES) > 100


def test_cached_mapping_equals_uncached_on_every_request_fixture(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raw = resources._patient_of_reference.__wrapped__
    with monkeypatch.context() as patch:
        patch.setattr(resources, "_patient_of_reference", raw)
        expected = {path: map_uncached(path) for path in FIXTURES}
    mapping_settings = (
        MappingSettings()
    )  # one converter for all: its caches fill on the first round
    for _round in range(2):  # cold caches, then warm ones holding every fixture's units
        for path in FIXTURES:
            found, patient = request_resources(path)
            mapped = map_patient(
                found, patient_id=patient, tz=TZ, mapping_settings=mapping_settings
            )
            assert mapped == expected[path], path.name
    assert mapping_settings.units._conversions  # the cache was used


def every_unit_patient() -> list[dict[str, Any]]:
    """One Observation per (code, unit) of the analyte table, each unit as a UCUM code, as a
    bare `unit` text and as an unknown one, on successive days: an analyte in several units."""
    table = MappingSettings().table
    found: list[dict[str, Any]] = []
    for (system, code), entry in sorted(table.entries.items()):
        for unit in (*entry.units, "furlong"):
            for quantity in (
                {"value": 7.5, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
                {"value": 7.5, "unit": unit},
            ):
                day = 1 + len(found) % 27
                found.append(
                    {
                        "resourceType": "Observation",
                        "id": f"u{len(found)}",
                        "status": "final",
                        "code": {"coding": [{"system": system, "code": code}]},
                        "subject": {"reference": "Patient/p"},
                        "effectiveDateTime": f"2026-05-{day:02d}T08:00:00+02:00",
                        "valueQuantity": quantity,
                    }
                )
    return found


def test_cached_mapping_equals_uncached_for_every_unit_of_the_analyte_table() -> None:
    observations = every_unit_patient()
    expected = map_patient(observations, patient_id="p", tz=TZ, mapping_settings=uncached_config())
    mapping_settings = MappingSettings()
    for _round in range(2):
        assert (
            map_patient(observations, patient_id="p", tz=TZ, mapping_settings=mapping_settings)
            == expected
        )
    assert len({lab.value for lab in expected.record.labs}) > 3  # the units gave other values


def test_the_patient_reference_cache_reads_as_the_pattern_does() -> None:
    raw = resources._patient_of_reference.__wrapped__
    for ref in (
        "Patient/123",
        "https://ehr/fhir/Patient/123/_history/4",
        "Group/1",
        "urn:uuid:0f",
        "Patient/" + "x" * 65,
        "Patient/a b",
    ):
        assert resources._patient_of_reference(ref) == raw(ref)
        assert resources._patient_of_reference(ref) == raw(ref)  # second call: from the cache


_TEXT = st.one_of(st.text(max_size=6), st.none(), st.integers(), st.lists(st.text(), max_size=2))
_CODING = st.one_of(
    st.fixed_dictionaries({}, optional={"system": _TEXT, "code": _TEXT, "display": _TEXT}),
    _TEXT,
)
_CONCEPT = st.one_of(
    st.fixed_dictionaries({}, optional={"coding": st.one_of(st.lists(_CODING), _CODING)}),
    _TEXT,
)


@given(_CONCEPT)
@settings(max_examples=300, deadline=None)
def test_system_codes_are_the_codings_without_display(concept: Any) -> None:
    assert system_codes(concept) == [(system, code) for system, code, _ in codings(concept)]
