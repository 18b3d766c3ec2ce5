"""A hook call maps each resource once (issues 15 and 20): stage 1 is mapped when it arrives,
stage 2 is added to it, and the result equals what mapping everything in one pass gave (the
record, the left-out list and the warnings, in the same order).

Every per-rule request fixture is split by the searches' stages exactly as the service gathers
it; the synthetic cases below cover what a fixture does not: a Medication arriving in stage 2
for an administration of stage 1, resources without ids in both stages (their keys count
across stages), a report in stage 1 grouping Observations of stage 2.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from fhir_mappings import MappingResult, PatientMapping, map_patient
from patient_evaluation import course_anchor, stage

DATA = Path(__file__).resolve().parents[2] / "data"
REQUESTS = sorted((DATA / "requests").glob("request-*.json"))
TIMEZONE = "Europe/Berlin"  # the fixtures' centre (tests/data/requests/README.md)


def staged(stage1: list[Any], stage2: list[Any], patient_id: str) -> MappingResult:
    mapping = PatientMapping(patient_id, tz=TIMEZONE)
    mapping.add(stage1)
    mapping.timeline()  # what the hook reads between the stages must not disturb the result
    mapping.add(stage2)
    return mapping.result()


def by_stage(prefetch: dict[str, Any], number: int) -> list[Any]:
    """What the service gathers in a stage, in its order: the stage's keys in search order."""
    return [prefetch[s.key] for s in stage(number) if prefetch.get(s.key) is not None]  # type: ignore[arg-type]


def test_there_are_request_fixtures_with_labs_and_left_out_data() -> None:
    """The comparison below is not vacuous: fixtures map labs, and some leave data out."""
    assert len(REQUESTS) > 100
    results = [_fixture_results(path)[1] for path in REQUESTS[::10]]
    assert all(result.record.labs for result in results)


@pytest.mark.parametrize("path", REQUESTS, ids=[p.stem for p in REQUESTS])
def test_the_once_mapped_result_equals_one_pass_over_every_resource(path: Path) -> None:
    once, whole = _fixture_results(path)
    assert once == whole


@pytest.mark.parametrize("path", REQUESTS[::13], ids=[p.stem for p in REQUESTS[::13]])
def test_stage_1_alone_gives_the_anchor_of_its_own_one_pass(path: Path) -> None:
    request = json.loads(path.read_text(encoding="utf-8"))
    patient_id = request["context"]["patientId"]
    stage1 = by_stage(request["prefetch"], 1)
    mapping = PatientMapping(patient_id, tz=TIMEZONE)
    mapping.add(stage1)
    alone = map_patient(stage1, patient_id=patient_id, tz=TIMEZONE).record.timeline
    assert course_anchor(mapping.timeline()) == course_anchor(alone)


def _fixture_results(path: Path) -> tuple[MappingResult, MappingResult]:
    request = json.loads(path.read_text(encoding="utf-8"))
    patient_id = request["context"]["patientId"]
    stage1, stage2 = by_stage(request["prefetch"], 1), by_stage(request["prefetch"], 2)
    whole = map_patient([*stage1, *stage2], patient_id=patient_id, tz=TIMEZONE)
    return staged(stage1, stage2, patient_id), whole


def _resources(name: str) -> list[dict[str, Any]]:
    document = json.loads((DATA / "fhir" / name).read_text(encoding="utf-8"))
    if document.get("resourceType") == "Bundle":
        return [entry["resource"] for entry in document["entry"]]
    return [document]


def test_a_medication_of_stage_2_is_read_for_an_administration_of_stage_1() -> None:
    resources = _resources("therapy.json")
    medications = [r for r in resources if r["resourceType"] == "Medication"]
    others = [r for r in resources if r["resourceType"] != "Medication"]
    assert medications  # the pegfilgrastim of `gcsf-peg`
    once = staged(others, medications, "p7")
    whole = map_patient([*others, *medications], patient_id="p7", tz=TIMEZONE)
    assert once == whole
    # the Medication matters: without it the administration names no drug
    without = map_patient(others, patient_id="p7", tz=TIMEZONE)
    assert without.record.timeline != whole.record.timeline


def test_resources_without_id_and_of_another_patient_are_left_out_as_in_one_pass() -> None:
    resources = _resources("therapy.json")
    first, second = copy.deepcopy(resources[:10]), copy.deepcopy(resources[10:])
    no_unit = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "751-8"}]},
        "subject": {"reference": "Patient/p7"},
        "effectiveDateTime": "2026-05-20T08:00:00+02:00",
        "valueQuantity": {"value": 300},
    }
    del first[1]["id"]  # a Procedure without id in stage 1
    other = {"resourceType": "Condition", "id": "c9", "subject": {"reference": "Patient/p8"}}
    second += [other, no_unit]
    once = staged(first, second, "p7")
    whole = map_patient([*first, *second], patient_id="p7", tz=TIMEZONE)
    assert once == whole
    keys = {item.resource_id for item in whole.left_out}
    assert f"Observation/#{len(first) + len(second) - 1}" in keys  # counted across stages
    assert "Condition/c9" in keys  # another patient's: left out first, as in one pass


def test_a_report_of_stage_1_groups_observations_of_stage_2() -> None:
    (report,) = _resources("diagnostic_report.json")
    outside = {
        "resourceType": "Observation",
        "id": "hb-outside",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": "2026-05-20T08:00:00+02:00",
        "valueQuantity": {
            "value": 9.1,
            "unit": "g/dL",
            "system": "http://unitsofmeasure.org",
            "code": "g/dL",
        },
    }
    once = staged([report], [outside], "p1")
    assert once == map_patient([report, outside], patient_id="p1", tz=TIMEZONE)
    assert len(once.record.labs) >= 2


def test_a_product_record_in_either_stage_names_the_product_of_a_transfusion() -> None:
    """A Procedure "transfusion of blood product" names its product through the
    BiologicallyDerivedProduct it uses: found whether it came in the same stage or later."""
    product = {
        "resourceType": "BiologicallyDerivedProduct",
        "id": "u1",
        "productCode": {"text": "Red blood cells, leukocyte reduced"},
    }
    transfusion = {
        "resourceType": "Procedure",
        "id": "tx",
        "status": "completed",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "116859006"}]},
        "performedDateTime": "2026-06-09T08:00:00+02:00",
        "usedReference": [{"reference": "BiologicallyDerivedProduct/u1"}],
    }
    whole = map_patient([transfusion, product], patient_id="p1", tz=TIMEZONE)
    assert [t.product for t in whole.record.timeline.transfusions] == ["rbc"]
    assert staged([transfusion, product], [], "p1") == whole
    assert staged([transfusion], [product], "p1") == whole
