"""G-CSF exposure from MedicationAdministration, MedicationRequest and MedicationStatement, with
the acting class of each product (docs/clinical §17 C15; docs/decisions/0014)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from mapping_helpers import reasons

from fhir_mappings import map_patient
from icaht.record import GcsfExposure, TherapyTimeline

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SUBJECT = {"reference": "Patient/p"}
JUNE = "2026-06-{:02d}T09:00:00+02:00"


def drug(text: str | None = None, code: str | None = None) -> dict[str, Any]:
    concept: dict[str, Any] = {}
    if text is not None:
        concept["text"] = text
    if code is not None:
        concept["coding"] = [{"system": RXNORM, "code": code}]
    return concept


def given(rid: str, day: int, concept: dict[str, Any], status: str = "completed") -> Any:
    return {
        "resourceType": "MedicationAdministration",
        "id": rid,
        "status": status,
        "medicationCodeableConcept": concept,
        "subject": SUBJECT,
        "effectiveDateTime": JUNE.format(day),
    }


def ordered(rid: str, status: str, concept: dict[str, Any], **fields: Any) -> Any:
    base = {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": status,
        "intent": "order",
        "medicationCodeableConcept": concept,
        "subject": SUBJECT,
    }
    return base | fields


def taken(rid: str, status: str, concept: dict[str, Any], **fields: Any) -> Any:
    base = {
        "resourceType": "MedicationStatement",
        "id": rid,
        "status": status,
        "medicationCodeableConcept": concept,
        "subject": SUBJECT,
    }
    return base | fields


def exposures(*resources: Any) -> tuple[GcsfExposure, ...]:
    return timeline(*resources).gcsf_exposures


def timeline(*resources: Any) -> TherapyTimeline:
    return map_patient(list(resources), patient_id="p", tz="Europe/Berlin").record.timeline


def june(day: int) -> date:
    return date(2026, 6, day)


@pytest.mark.parametrize(
    ("concept", "product", "acting"),
    [
        (drug(text="Filgrastim-sndz 300 MCG/0.5 ML Prefilled Syringe"), "filgrastim", "short"),
        (drug(code="1605064"), "filgrastim", "short"),  # filgrastim-sndz (RxNorm IN)
        (drug(text="pegfilgrastim-jmdb 6 MG/0.6 ML [Fulphila]"), "pegfilgrastim", "long"),
        (drug(code="2048018"), "pegfilgrastim", "long"),  # pegfilgrastim-jmdb (RxNorm IN)
        (drug(text="Stimufend (pegfilgrastim-fpgk) 6 mg SC"), "pegfilgrastim", "long"),
        (drug(text="Rolvedon (eflapegrastim-xnst) 13.2 mg"), "eflapegrastim", "long"),
        (drug(text="Ryzneuta 20 mg"), "efbemalenograstim alfa", "long"),
        (drug(text="Lonquex 6 mg"), "lipegfilgrastim", "long"),
        (drug(text="tbo-filgrastim 480 mcg"), "filgrastim", "short"),
        (drug(text="Granocyte 34"), "lenograstim", "short"),
        (drug(text="Nypozi (filgrastim-txid) 480 mcg"), "filgrastim", "short"),
    ],
)
def test_product_and_acting_class_by_name_and_code(
    concept: dict[str, Any], product: str, acting: str
) -> None:
    (exposure,) = exposures(given("g", 3, concept))
    assert (exposure.product, exposure.acting) == (product, acting)
    assert (exposure.start, exposure.last_dose) == (june(3), june(3))
    assert exposure.source_id == "MedicationAdministration/g"


def test_a_biosimilar_suffix_is_not_read_as_another_word() -> None:
    # before C15 "filgrastim-sndz" matched nothing: "-" is part of the word
    assert exposures(given("g", 3, drug(text="Zarxio"))) != ()
    assert exposures(given("g", 3, drug(text="filgrastimsndz"))) == ()


def test_active_request_for_pegfilgrastim_is_one_dose_on_its_start_day() -> None:
    order = ordered("peg", "active", drug(code="338036"), authoredOn=JUNE.format(4))
    assert exposures(order) == (
        GcsfExposure(june(4), june(4), "long", "pegfilgrastim", "MedicationRequest/peg"),
    )


def test_active_daily_filgrastim_order_is_open_or_bounded() -> None:
    open_order = ordered("f1", "active", drug(code="68442"), authoredOn=JUNE.format(2))
    bounds = {"boundsPeriod": {"start": JUNE.format(5), "end": JUNE.format(9)}}
    bounded = ordered(
        "f2", "active", drug(code="68442"), dosageInstruction=[{"timing": {"repeat": bounds}}]
    )
    found = {e.source_id: (e.start, e.last_dose) for e in exposures(open_order, bounded)}
    assert found == {
        "MedicationRequest/f1": (june(2), None),
        "MedicationRequest/f2": (june(5), june(9)),
    }


@pytest.mark.parametrize("status", ["completed", "stopped", "draft", "cancelled"])
def test_a_gcsf_request_that_is_not_active_is_no_exposure(status: str) -> None:
    order = ordered("f", status, drug(code="68442"), authoredOn=JUNE.format(2))
    assert exposures(order) == ()


def test_a_statement_taking_filgrastim_is_open() -> None:
    statement = taken(
        "s", "active", drug(text="Zarxio 300 mcg daily"), effectivePeriod={"start": JUNE.format(6)}
    )
    assert exposures(statement) == (
        GcsfExposure(june(6), None, "short", "filgrastim", "MedicationStatement/s"),
    )


def test_a_completed_statement_of_pegfilgrastim_is_a_dose() -> None:
    statement = taken(
        "s", "completed", drug(text="Neulasta 6 mg (given at the referring centre)"),
        effectiveDateTime=JUNE.format(1),
    )  # fmt: skip
    (exposure,) = exposures(statement)
    assert (exposure.start, exposure.last_dose, exposure.acting) == (june(1), june(1), "long")


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        ("stopped", "status-not-usable"),
        ("not-taken", "status-not-usable"),
        ("intended", "status-not-usable"),
        ("entered-in-error", "entered-in-error"),
    ],
)
def test_statements_that_say_it_is_not_taken_are_left_out(status: str, reason: str) -> None:
    statement = taken("s", status, drug(code="338036"), effectiveDateTime=JUNE.format(1))
    result = map_patient([statement], patient_id="p", tz="Europe/Berlin")
    assert result.record.timeline.gcsf_exposures == ()
    assert reasons(result)["MedicationStatement/s"] == reason


def test_gcsf_days_stay_the_days_given() -> None:
    found = timeline(
        given("a", 3, drug(code="68442")),
        given("b", 4, drug(code="68442"), status="not-done"),
        ordered("r", "active", drug(code="68442"), authoredOn=JUNE.format(5)),
        taken("s", "active", drug(code="68442"), effectiveDateTime=JUNE.format(6)),
    )
    assert found.gcsf_days == (june(3),)
    assert [e.source_id for e in found.gcsf_exposures] == [
        "MedicationAdministration/a",
        "MedicationRequest/r",
        "MedicationStatement/s",
    ]


def test_other_statements_are_not_read() -> None:
    statement = taken(
        "s", "active", drug(text="Enoxaparin 40 mg"), effectiveDateTime=JUNE.format(1)
    )
    assert timeline(statement).anticoagulant_periods == ()
