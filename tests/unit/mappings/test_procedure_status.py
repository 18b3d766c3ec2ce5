"""A CAR-T infusion or a transfusion that did not happen is no day 0 and no transfusion (issue 21).

FHIR R4 Procedure.status / MedicationAdministration.status: `not-done` = the event did not
occur, `entered-in-error` = the record is void; only `completed` and `in-progress` count
(fhir_mappings.timeline.DONE). Before issue 21 no fixture held such a record, so removing the
status filter passed every test.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from mapping_helpers import reasons

from fhir_mappings import MappingResult, map_patient

ICD10_PCS = "http://www.cms.gov/Medicare/Coding/ICD10"
AXI_CEL_PCS = "XW033H7"  # ICD-10-PCS: introduction of axicabtagene ciloleucel (valuesets.yaml)
PLATELETS_PCS = "30233R1"  # ICD-10-PCS: transfusion of nonautologous platelets, peripheral vein
ATC = "http://www.whocc.no/atc"
AXI_CEL_ATC = "L01XL03"  # ATC: axicabtagene ciloleucel


def procedure(rid: str, status: str, code: str, when: str) -> dict[str, Any]:
    return {
        "resourceType": "Procedure",
        "id": rid,
        "status": status,
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": ICD10_PCS, "code": code}]},
        "performedDateTime": when,
    }


def car_t_administration(rid: str, status: str, when: str) -> dict[str, Any]:
    return {
        "resourceType": "MedicationAdministration",
        "id": rid,
        "status": status,
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": when,
        "medicationCodeableConcept": {"coding": [{"system": ATC, "code": AXI_CEL_ATC}]},
    }


# The real infusion on 1 March; later records of infusions and transfusions that did not happen.
# Counted, each void infusion would start a new course (a later day 0) and each void transfusion
# would be a platelet transfusion (M15, T-ICAHT recovery).
RESOURCES = [
    procedure("cart-given", "completed", AXI_CEL_PCS, "2026-03-01T10:00:00Z"),
    procedure("cart-not-done", "not-done", AXI_CEL_PCS, "2026-04-10T10:00:00Z"),
    procedure("cart-eie", "entered-in-error", AXI_CEL_PCS, "2026-04-20T10:00:00Z"),
    car_t_administration("cart-ma-not-done", "not-done", "2026-04-25T10:00:00Z"),
    car_t_administration("cart-ma-eie", "entered-in-error", "2026-04-26T10:00:00Z"),
    procedure("plt-given", "completed", PLATELETS_PCS, "2026-03-05T10:00:00Z"),
    procedure("plt-not-done", "not-done", PLATELETS_PCS, "2026-03-06T10:00:00Z"),
    procedure("plt-eie", "entered-in-error", PLATELETS_PCS, "2026-03-07T10:00:00Z"),
    procedure("plt-preparation", "preparation", PLATELETS_PCS, "2026-03-08T10:00:00Z"),
]


@pytest.fixture(scope="module")
def result() -> MappingResult:
    return map_patient(RESOURCES, patient_id="p1", tz="UTC")


def test_only_the_completed_infusion_is_day_0(result: MappingResult) -> None:
    timeline = result.record.timeline
    assert [course.day0 for course in timeline.infusions] == [date(2026, 3, 1)]
    assert timeline.day0 == date(2026, 3, 1)


def test_only_the_completed_transfusion_counts(result: MappingResult) -> None:
    given = [(t.day, t.product) for t in result.record.timeline.transfusions]
    assert given == [(date(2026, 3, 5), "platelets")]


@pytest.mark.parametrize(
    ("resource_id", "reason"),
    [
        ("Procedure/cart-not-done", "status-not-usable"),
        ("Procedure/cart-eie", "entered-in-error"),
        ("MedicationAdministration/cart-ma-not-done", "status-not-usable"),
        ("MedicationAdministration/cart-ma-eie", "entered-in-error"),
        ("Procedure/plt-not-done", "status-not-usable"),
        ("Procedure/plt-eie", "entered-in-error"),
        ("Procedure/plt-preparation", "status-not-usable"),
    ],
)
def test_void_records_are_left_out_with_their_reason(
    result: MappingResult, resource_id: str, reason: str
) -> None:
    assert reasons(result)[resource_id] == reason


@pytest.mark.parametrize("status", ["not-done", "entered-in-error"])
def test_a_void_infusion_alone_gives_no_day_0(status: str) -> None:
    only = [procedure("cart", status, AXI_CEL_PCS, "2026-03-01T10:00:00Z")]
    timeline = map_patient(only, patient_id="p1", tz="UTC").record.timeline
    assert timeline.infusions == ()
    assert timeline.day0 is None
