"""Censoring events as EHRs code them (docs/clinical §2.6; issue 12): relapse by ICD-10-CM "in
relapse" codes, next therapy by radiotherapy procedures and salvage drugs, never by a
lymphodepletion agent."""

from __future__ import annotations

from datetime import date
from typing import Any

from fhir_mappings import map_patient

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CPT = "http://www.ama-assn.org/go/cpt"
PCS = "http://www.cms.gov/Medicare/Coding/ICD10"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"


def _procedure(pid: str, system: str, code: str, when: str) -> dict[str, Any]:
    return {
        "resourceType": "Procedure",
        "id": pid,
        "status": "completed",
        "subject": {"reference": "Patient/p"},
        "code": {"coding": [{"system": system, "code": code}]},
        "performedDateTime": when,
    }


def _administration(mid: str, code: str, when: str) -> dict[str, Any]:
    return {
        "resourceType": "MedicationAdministration",
        "id": mid,
        "status": "completed",
        "subject": {"reference": "Patient/p"},
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": code}]},
        "effectiveDateTime": when,
    }


def _condition(cid: str, code: str, onset: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": cid,
        "subject": {"reference": "Patient/p"},
        "code": {"coding": [{"system": ICD10CM, "code": code}]},
        "onsetDateTime": onset,
    }


INFUSION = _procedure("cart", PCS, "XW033C7", "2026-03-01")  # autologous CAR-T, product not named


def _timeline(*resources: dict[str, Any]) -> Any:
    return map_patient([INFUSION, *resources], patient_id="p").record.timeline


def test_the_current_car_t_code_gives_day0() -> None:
    assert _timeline().day0 == date(2026, 3, 1)


def test_radiotherapy_procedure_after_day0_censors() -> None:
    tl = _timeline(_procedure("rt", CPT, "77412", "2026-03-20"))
    assert tl.next_therapy_day == date(2026, 3, 20)


def test_radiotherapy_by_icd10pcs_section_d_after_day0_censors() -> None:
    tl = _timeline(_procedure("rt", PCS, "DW021ZZ", "2026-03-18"))
    assert tl.next_therapy_day == date(2026, 3, 18)


def test_bridging_radiotherapy_before_day0_does_not_censor() -> None:
    tl = _timeline(_procedure("rt", CPT, "77412", "2026-02-10"))
    assert tl.next_therapy_day is None


def test_all_in_relapse_after_day0_censors() -> None:
    tl = _timeline(_condition("rel", "C91.02", "2026-04-02"))
    assert tl.relapse_day == date(2026, 4, 2)


def test_relapse_that_led_to_car_t_does_not_censor() -> None:
    tl = _timeline(_condition("rel", "C91.02", "2025-12-01"))
    assert tl.relapse_day is None


def test_cyclophosphamide_after_day0_is_not_next_therapy() -> None:
    cyclophosphamide_1000 = "1734919"  # cyclophosphamide 1000 MG Injection
    tl = _timeline(_administration("cy", cyclophosphamide_1000, "2026-03-10"))
    assert tl.next_therapy_day is None


def test_dexamethasone_after_day0_is_not_next_therapy() -> None:
    dexamethasone_4mg = "197582"  # dexamethasone 4 MG Oral Tablet
    tl = _timeline(_administration("dex", dexamethasone_4mg, "2026-03-05"))
    assert tl.next_therapy_day is None


def test_salvage_drug_by_clinical_drug_code_after_day0_censors() -> None:
    lenalidomide_20mg = "1428947"  # lenalidomide 20 MG Oral Capsule
    tl = _timeline(_administration("len", lenalidomide_20mg, "2026-05-01"))
    assert tl.next_therapy_day == date(2026, 5, 1)


def test_an_in_relapse_code_recorded_after_day0_without_onset_does_not_censor() -> None:
    # the "in relapse" diagnosis that led to CAR-T is re-entered at follow-up visits with a
    # recorded date only: it must not censor the grading (it is left out, with its reason)
    reentered = _condition("rel", "C91.02", "2026-04-02")
    del reentered["onsetDateTime"]
    reentered["recordedDate"] = "2026-04-02"
    mapped = map_patient([INFUSION, reentered], patient_id="p")
    assert mapped.record.timeline.relapse_day is None
    assert [i.reason for i in mapped.left_out if i.resource_id == "Condition/rel"] == ["no-time"]
