"""Stored autologous stem cells (BiologicallyDerivedProduct, HPC collection Procedure) and the
planned CAR-T infusion (ServiceRequest, MedicationRequest, Appointment) (issue 14,
docs/decisions/0020)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from mapping_helpers import reasons

from fhir_mappings import MappingResult, map_patient
from fhir_mappings.resources import owner_of
from icaht.record import PlannedInfusion, StoredStemCells, TherapyTimeline

CPT = "http://www.ama-assn.org/go/cpt"
SUBJECT = {"reference": "Patient/p"}
DAY = "2026-{:02d}-{:02d}T10:00:00+01:00"


def day(month: int, d: int) -> date:
    return date(2026, month, d)


def mapped(*resources: Any) -> MappingResult:
    return map_patient(list(resources), patient_id="p", tz="Europe/Berlin")


def timeline(*resources: Any) -> TherapyTimeline:
    return mapped(*resources).record.timeline


# -- stored stem cells -------------------------------------------------------------------------


def hpc(rid: str = "b1", status: str | None = "available", **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "resourceType": "BiologicallyDerivedProduct",
        "id": rid,
        "productCategory": "cells",
        "productCode": {"text": "HPC, Apheresis"},
        "collection": {"source": SUBJECT, "collectedDateTime": DAY.format(3, 2)},
    }
    if status is not None:
        base["status"] = status
    return base | fields


def collection(rid: str = "c1", code: str = "38206", status: str = "completed") -> Any:
    return {
        "resourceType": "Procedure",
        "id": rid,
        "status": status,
        "subject": SUBJECT,
        "code": {"coding": [{"system": CPT, "code": code}]},
        "performedDateTime": DAY.format(3, 2),
    }


def test_available_hpc_product_is_stored_cells() -> None:
    assert timeline(hpc()).stored_stem_cells == (
        StoredStemCells(True, day(3, 2), "BiologicallyDerivedProduct/b1"),
    )


def test_unavailable_product_says_so() -> None:
    [cells] = timeline(hpc(status="unavailable")).stored_stem_cells
    assert cells.available is False


def test_product_without_status_is_left_out() -> None:
    res = mapped(hpc(status=None))
    assert res.record.timeline.stored_stem_cells == ()
    assert reasons(res) == {"BiologicallyDerivedProduct/b1": "status-not-usable"}


def test_r5_product_status_and_category_codeable_concepts() -> None:
    r5 = hpc(
        status=None,
        productCategory={"coding": [{"code": "cells"}]},
        productStatus={"coding": [{"code": "available"}]},
        productCode={"text": "CD34+ selected cells"},
    )
    assert [c.available for c in timeline(r5).stored_stem_cells] == [True]


def test_product_without_collection_day_is_stored_without_a_day() -> None:
    res = hpc(collection={"source": SUBJECT})
    assert timeline(res).stored_stem_cells == (
        StoredStemCells(True, None, "BiologicallyDerivedProduct/b1"),
    )


@pytest.mark.parametrize(
    "other",
    [
        {"productCategory": "fluid"},  # not cells
        {"productCode": {"text": "Red blood cells"}},  # a blood component, not HPC
        {"productCode": {"text": "Tisagenlecleucel"}},  # a CAR-T product
    ],
)
def test_other_products_are_no_stem_cells(other: dict[str, Any]) -> None:
    assert timeline(hpc(**other)).stored_stem_cells == ()


def test_another_patients_product_is_left_out() -> None:
    other = hpc(collection={"source": {"reference": "Patient/q"}})
    res = mapped(other)
    assert res.record.timeline.stored_stem_cells == ()
    assert reasons(res) == {"BiologicallyDerivedProduct/b1": "other-patient"}


def test_product_naming_no_patient_is_left_out() -> None:
    # R4 has no patient element: a product whose collection names nobody cannot be tied to
    # this patient (a search by type returns every patient's products)
    res = mapped(hpc(collection={"collectedDateTime": DAY.format(3, 2)}))
    assert res.record.timeline.stored_stem_cells == ()
    assert reasons(res) == {"BiologicallyDerivedProduct/b1": "no-patient"}


def test_completed_autologous_collection_is_stored_cells() -> None:
    assert timeline(collection()).stored_stem_cells == (
        StoredStemCells(True, day(3, 2), "Procedure/c1"),
    )


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("38206", "in-progress"),  # not yet stored
        ("38206", "not-done"),
        ("38205", "completed"),  # allogeneic collection: a donor's procedure
    ],
)
def test_collections_that_store_nothing(code: str, status: str) -> None:
    assert timeline(collection(code=code, status=status)).stored_stem_cells == ()


def test_product_record_wins_over_its_collection_day() -> None:
    tl = timeline(collection(), hpc(status="unavailable"))
    assert tl.stored_stem_cells == (
        StoredStemCells(False, day(3, 2), "BiologicallyDerivedProduct/b1"),
    )
    later = collection("c2")
    later["performedDateTime"] = DAY.format(4, 1)
    assert [c.source_id for c in timeline(later, hpc()).stored_stem_cells] == [
        "BiologicallyDerivedProduct/b1",
        "Procedure/c2",
    ]


def test_nothing_on_record() -> None:
    assert timeline().stored_stem_cells == ()


# -- owner of the new resource types -----------------------------------------------------------


def test_owner_of_product_and_appointment() -> None:
    assert owner_of(hpc()) == "p"
    assert owner_of({"resourceType": "BiologicallyDerivedProduct"}) is None
    appointment = {
        "resourceType": "Appointment",
        "participant": [
            {"actor": {"reference": "Practitioner/d"}},
            {"actor": {"reference": "Patient/q"}},
        ],
    }
    assert owner_of(appointment) == "q"
    assert owner_of({"resourceType": "Appointment", "participant": "x"}) is None


# -- planned infusion --------------------------------------------------------------------------


def infusion(d: int, month: int = 5) -> dict[str, Any]:
    return {
        "resourceType": "Procedure",
        "id": f"inf-{month}-{d}",
        "status": "completed",
        "subject": SUBJECT,
        "code": {"coding": [{"system": CPT, "code": "38228"}]},
        "performedDateTime": DAY.format(month, d),
    }


def service_request(rid: str = "sr", d: int = 20, **fields: Any) -> dict[str, Any]:
    base = {
        "resourceType": "ServiceRequest",
        "id": rid,
        "status": "active",
        "intent": "order",
        "subject": SUBJECT,
        "code": {"coding": [{"system": CPT, "code": "38228"}]},
        "occurrenceDateTime": DAY.format(6, d),
    }
    return base | fields


def product_request(rid: str = "mr", **fields: Any) -> dict[str, Any]:
    base = {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": "active",
        "intent": "plan",
        "subject": SUBJECT,
        "medicationCodeableConcept": {"text": "Yescarta suspension for IV infusion"},
        "authoredOn": DAY.format(6, 1),
    }
    return base | fields


def appointment(rid: str = "ap", status: str = "booked", **fields: Any) -> dict[str, Any]:
    base = {
        "resourceType": "Appointment",
        "id": rid,
        "status": status,
        "serviceType": [{"text": "CAR-T cell infusion"}],
        "start": DAY.format(6, 22),
        "participant": [{"actor": SUBJECT, "status": "accepted"}],
    }
    return base | fields


def test_service_request_plans_the_infusion() -> None:
    assert timeline(service_request()).planned_infusion == PlannedInfusion(
        day(6, 20), None, "ServiceRequest/sr"
    )


@pytest.mark.parametrize(
    ("status", "intent", "plans"),
    [
        ("active", "order", True),
        ("active", "original-order", True),
        ("active", "plan", True),
        ("draft", "order", True),  # written, not signed yet: still the plan
        ("on-hold", "order", True),  # suspended, expected to resume
        ("completed", "order", False),
        ("revoked", "order", False),
        ("unknown", "order", False),
        ("active", "proposal", False),  # a suggestion (e.g. decision support) is no plan
        ("active", "option", False),
    ],
)
def test_service_request_status_and_intent(status: str, intent: str, plans: bool) -> None:
    tl = timeline(service_request(status=status, intent=intent))
    assert (tl.planned_infusion is not None) is plans


def test_entered_in_error_request_is_left_out() -> None:
    res = mapped(service_request(status="entered-in-error"))
    assert res.record.timeline.planned_infusion is None
    assert reasons(res) == {"ServiceRequest/sr": "entered-in-error"}


def test_service_request_period_start_or_no_time() -> None:
    by_period = service_request(
        occurrenceDateTime=None, occurrencePeriod={"start": DAY.format(7, 1)}
    )
    assert timeline(by_period).planned_infusion == PlannedInfusion(
        day(7, 1), None, "ServiceRequest/sr"
    )
    res = mapped(service_request(occurrenceDateTime=None))
    assert res.record.timeline.planned_infusion is None
    assert reasons(res) == {"ServiceRequest/sr": "no-time"}


def test_service_request_for_something_else_is_ignored() -> None:
    other = service_request(code={"text": "Platelet transfusion"})
    res = mapped(other)
    assert res.record.timeline.planned_infusion is None
    assert reasons(res) == {}


def test_medication_request_for_the_product_by_timing_event() -> None:
    mr = product_request(dosageInstruction=[{"timing": {"event": [DAY.format(6, 18)]}}])
    assert timeline(mr).planned_infusion == PlannedInfusion(
        day(6, 18), "axicabtagene ciloleucel", "MedicationRequest/mr"
    )


def test_medication_request_by_bounds_start_and_draft_status() -> None:
    mr = product_request(
        status="draft",
        intent="order",
        dosageInstruction=[{"timing": {"repeat": {"boundsPeriod": {"start": DAY.format(6, 19)}}}}],
    )
    assert timeline(mr).planned_infusion == PlannedInfusion(
        day(6, 19), "axicabtagene ciloleucel", "MedicationRequest/mr"
    )


def test_medication_request_without_a_planned_day_is_left_out() -> None:
    # authoredOn is when the order was written, not the infusion day
    res = mapped(product_request())
    assert res.record.timeline.planned_infusion is None
    assert reasons(res) == {"MedicationRequest/mr": "no-time"}


@pytest.mark.parametrize("status", ["completed", "stopped", "cancelled"])
def test_medication_request_no_longer_planned(status: str) -> None:
    mr = product_request(
        status=status, dosageInstruction=[{"timing": {"event": [DAY.format(6, 18)]}}]
    )
    assert timeline(mr).planned_infusion is None


@pytest.mark.parametrize(
    ("status", "plans"),
    [
        ("proposed", True),
        ("pending", True),
        ("booked", True),
        ("arrived", True),
        ("checked-in", True),
        ("fulfilled", False),  # held: the infusion is a Procedure/administration, not a plan
        ("cancelled", False),
        ("noshow", False),
        ("waitlist", False),
    ],
)
def test_appointment_status(status: str, plans: bool) -> None:
    tl = timeline(appointment(status=status))
    expected = PlannedInfusion(day(6, 22), None, "Appointment/ap") if plans else None
    assert tl.planned_infusion == expected


def test_appointment_recognised_by_reason_type_or_description() -> None:
    by_reason = appointment(serviceType=[], reasonCode=[{"text": "Kymriah infusion"}])
    assert timeline(by_reason).planned_infusion == PlannedInfusion(
        day(6, 22), "tisagenlecleucel", "Appointment/ap"
    )
    by_description = appointment(serviceType=[], description="Day 0: CAR-T infusion")
    assert timeline(by_description).planned_infusion is not None
    r5 = appointment(serviceType=[{"concept": {"coding": [{"system": CPT, "code": "38228"}]}}])
    assert timeline(r5).planned_infusion is not None


def test_appointment_that_is_not_an_infusion_is_no_plan() -> None:
    follow_up = appointment(serviceType=[{"text": "CAR-T clinic follow-up"}])
    assert timeline(follow_up).planned_infusion is None


def test_appointment_without_start_is_left_out() -> None:
    res = mapped(appointment(start=None))
    assert res.record.timeline.planned_infusion is None
    assert reasons(res) == {"Appointment/ap": "no-time"}


def test_another_patients_appointment_is_left_out() -> None:
    other = appointment(participant=[{"actor": {"reference": "Patient/q"}}])
    res = mapped(other)
    assert res.record.timeline.planned_infusion is None
    assert reasons(res) == {"Appointment/ap": "other-patient"}


def test_only_plans_after_the_last_infusion_count() -> None:
    # infused on 20 June: a plan for that day is the infusion given, an earlier one overtaken
    assert timeline(infusion(20, month=6), service_request(d=20)).planned_infusion is None
    assert timeline(infusion(20, month=6), service_request(d=19)).planned_infusion is None
    plan = timeline(infusion(19, month=6), service_request(d=20)).planned_infusion
    assert plan == PlannedInfusion(day(6, 20), None, "ServiceRequest/sr")


def test_split_doses_count_to_the_last_dose() -> None:
    # doses on 1 and 8 June (one course): a plan on 5 June was for the second dose, given
    tl = timeline(infusion(1, month=6), infusion(8, month=6), service_request(d=5))
    assert tl.planned_infusion is None


def test_earliest_plan_wins_and_a_named_product_on_the_same_day() -> None:
    mr = product_request(dosageInstruction=[{"timing": {"event": [DAY.format(6, 20)]}}])
    tl = timeline(appointment(), service_request(d=20), mr, service_request("sr2", d=25))
    assert tl.planned_infusion == PlannedInfusion(
        day(6, 20), "axicabtagene ciloleucel", "MedicationRequest/mr"
    )


def test_plan_keeps_the_preparation_as_it_is() -> None:
    apheresis = {
        "resourceType": "Procedure",
        "id": "aph",
        "status": "completed",
        "subject": SUBJECT,
        "code": {"coding": [{"system": CPT, "code": "38225"}]},
        "performedDateTime": DAY.format(6, 1),
    }
    tl = timeline(infusion(1, month=1), apheresis, service_request(d=20))
    assert tl.preparation is not None and tl.preparation.day == day(6, 1)
    assert tl.planned_infusion is not None and tl.planned_infusion.day == day(6, 20)
