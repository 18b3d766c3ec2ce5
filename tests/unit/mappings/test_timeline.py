"""Therapy timeline from Procedure, MedicationAdministration, MedicationRequest, Condition."""

from __future__ import annotations

from datetime import date

import pytest
from mapping_helpers import load, reasons

from fhir_mappings import MappingResult, MappingSettings, map_patient
from icaht.record import CoursePreparation, CrsPeriod, DrugCourse, TherapyTimeline, active_crs


@pytest.fixture(scope="module")
def result() -> MappingResult:
    return map_patient(load("therapy.json"), patient_id="p7", tz="America/New_York")


@pytest.fixture(scope="module")
def timeline(result: MappingResult) -> TherapyTimeline:
    return result.record.timeline


def test_two_courses_oldest_first(timeline: TherapyTimeline) -> None:
    first, second = timeline.infusions
    assert (first.day0, first.product) == (date(2026, 1, 10), "axicabtagene ciloleucel")
    # Procedure and MedicationAdministration of the same infusion: one course, one day
    assert first.infusion_days == (date(2026, 1, 10),)
    assert set(first.source_ids) == {"Procedure/cart-1", "MedicationAdministration/cart-1-ma"}
    assert second.product == "obecabtagene autoleucel"
    assert timeline.day0 == date(2026, 6, 1)


def test_split_dose_is_one_course_day0_first_dose(timeline: TherapyTimeline) -> None:
    course = timeline.infusions[-1]
    assert course.infusion_days == (date(2026, 6, 1), date(2026, 6, 10))


def test_split_window_is_configurable() -> None:
    cfg = MappingSettings(split_dose_window_days=5)
    tl = map_patient(
        load("therapy.json"), patient_id="p7", tz="America/New_York", mapping_settings=cfg
    )
    days = [c.day0 for c in tl.record.timeline.infusions]
    assert days == [date(2026, 1, 10), date(2026, 6, 1), date(2026, 6, 10)]


def test_infusion_day_is_local(timeline: TherapyTimeline) -> None:
    utc = map_patient(load("therapy.json"), patient_id="p7", tz="UTC").record.timeline
    assert utc.infusions[-1].day0 == date(2026, 6, 2)  # 23:30-04:00 is the next day in UTC


def test_lymphodepletion_of_current_course(timeline: TherapyTimeline) -> None:
    assert timeline.lymphodepletion_start == date(2026, 5, 27)
    assert timeline.lymphodepletion_agents == ("bendamustine", "fludarabine")


def test_gcsf_days_by_code_ingredient_and_name(timeline: TherapyTimeline) -> None:
    # 8/9 RxNorm filgrastim, 15 Medication.ingredient pegfilgrastim, 16 tbo-filgrastim by name;
    # 17 not-done and 18 entered-in-error do not count
    assert timeline.gcsf_days == (
        date(2026, 6, 8),
        date(2026, 6, 9),
        date(2026, 6, 15),
        date(2026, 6, 16),
    )


def test_statuses_left_out(result: MappingResult) -> None:
    r = reasons(result)
    assert r["MedicationAdministration/gcsf-notdone"] == "status-not-usable"
    assert r["MedicationAdministration/gcsf-eie"] == "entered-in-error"
    assert r["Condition/mould-refuted"] == "entered-in-error"


def test_gmcsf_and_tpo(timeline: TherapyTimeline) -> None:
    assert timeline.gmcsf_days == (date(2026, 6, 20),)
    # TPO-RA is a supportive drug since issue 14: one dose given covers its day
    tpo = [d for d in timeline.supportive_drugs if d.group == "tpo_ra"]
    assert tpo == [
        DrugCourse(
            date(2026, 7, 15),
            date(2026, 7, 15),
            "MedicationAdministration/tpo-1",
            group="tpo_ra",
            name="eltrombopag",
            recorded="given",
        )
    ]


def test_transfusions_with_irradiation(timeline: TherapyTimeline) -> None:
    got = [(t.day, t.product, t.irradiated) for t in timeline.transfusions]
    assert got == [
        (date(2026, 6, 5), "rbc", None),  # "irradiated" only in a note: unknown (C14)
        (date(2026, 6, 6), "platelets", True),
        (date(2026, 6, 7), "platelets", None),
    ]


def test_crs_periods_and_grade(timeline: TherapyTimeline) -> None:
    # each Condition keeps its own grade (C16: the grade of the period active that day)
    assert timeline.crs_periods == (
        CrsPeriod(date(2026, 1, 11), date(2026, 1, 11), "Condition/crs-1", 1),
        CrsPeriod(date(2026, 6, 2), date(2026, 6, 5), "Condition/crs-2", 2),
    )
    assert active_crs(timeline, date(2026, 6, 5)) == timeline.crs_periods[-1]
    assert active_crs(timeline, date(2026, 6, 6)) is None


def test_history_flags(timeline: TherapyTimeline) -> None:
    assert timeline.prior_allo_hct is True
    assert timeline.cardiovascular_disease is True
    assert timeline.prior_invasive_mould_infection is None  # refuted condition ignored


def test_censoring_and_death(timeline: TherapyTimeline) -> None:
    # the relapse before the current course (its indication) does not censor it
    assert timeline.relapse_day == date(2026, 7, 20)
    assert timeline.next_therapy_day == date(2026, 8, 1)
    assert timeline.allo_hct_day is None
    assert timeline.death_day == date(2026, 9, 30)


def test_anticoagulant_periods(timeline: TherapyTimeline) -> None:
    got = [(p.start, p.end) for p in timeline.anticoagulant_periods]
    assert got == [
        (date(2026, 6, 20), date(2026, 6, 21)),
        (date(2026, 6, 23), date(2026, 6, 23)),
        (date(2026, 7, 1), None),  # active request without end: ongoing
    ]


def test_myelosuppressive_request_period(timeline: TherapyTimeline) -> None:
    [period] = timeline.myelosuppressive_drug_periods
    assert (period.start, period.end) == (date(2026, 7, 1), date(2026, 9, 1))


def test_deceased_boolean_without_date_warns() -> None:
    res = map_patient(
        [{"resourceType": "Patient", "id": "x", "deceasedBoolean": True}], patient_id="x"
    )
    assert res.record.timeline.death_day is None
    assert [w.code for w in res.warnings] == ["death-without-date"]


def test_no_infusion_means_no_day0() -> None:
    res = map_patient([], patient_id="x")
    assert res.record.timeline.day0 is None
    assert res.record.labs == ()


def test_allo_hct_after_day0_censors() -> None:
    proc = {
        "resourceType": "Procedure",
        "id": "allo",
        "status": "completed",
        "subject": {"reference": "Patient/p"},
        "code": {
            "coding": [{"system": "http://www.cms.gov/Medicare/Coding/ICD10", "code": "30243Y3"}]
        },
        "performedDateTime": "2026-05-01",
    }
    cart = {
        "resourceType": "Procedure",
        "id": "cart",
        "status": "completed",
        "subject": {"reference": "Patient/p"},
        "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "38228"}]},
        "performedDateTime": "2026-01-15",
    }
    tl = map_patient([proc, cart], patient_id="p").record.timeline
    assert tl.allo_hct_day == date(2026, 5, 1)
    assert tl.prior_allo_hct is None
    assert tl.infusions[0].product is None


def _procedure(pid: str, code: str, when: str) -> dict[str, object]:
    return {
        "resourceType": "Procedure",
        "id": pid,
        "status": "completed",
        "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": code}]},
        "subject": {"reference": "Patient/p1"},
        "performedDateTime": when,
    }


def test_apheresis_of_the_current_course_opens_the_irradiation_window() -> None:
    resources = [
        _procedure("aph-old", "38225", "2025-01-02T09:00:00Z"),
        _procedure("aph", "38225", "2026-02-02T09:00:00Z"),
        _procedure("inf", "38228", "2026-03-01T10:00:00Z"),
        _procedure("aph-later", "38225", "2026-09-01T09:00:00Z"),  # for a later course
    ]
    timeline = map_patient(resources, patient_id="p1").record.timeline
    assert timeline.day0 == date(2026, 3, 1)
    assert timeline.apheresis_day == date(2026, 2, 2)


def test_no_apheresis_on_record_is_none() -> None:
    resources = [_procedure("inf", "38228", "2026-03-01T10:00:00Z")]
    assert map_patient(resources, patient_id="p1").record.timeline.apheresis_day is None


def _fludarabine(mid: str, when: str) -> dict[str, object]:
    return {
        "resourceType": "MedicationAdministration",
        "id": mid,
        "status": "completed",
        "medicationCodeableConcept": {
            "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "24698"}]
        },
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": when,
    }


def test_apheresis_without_an_infusion_is_a_course_in_preparation() -> None:
    resources = [_procedure("aph", "38225", "2026-02-02T09:00:00Z")]
    timeline = map_patient(resources, patient_id="p1").record.timeline
    assert timeline.day0 is None
    assert timeline.preparation == CoursePreparation(date(2026, 2, 2), "apheresis", "Procedure/aph")


def test_lymphodepletion_after_the_last_infusion_prepares_the_next_course() -> None:
    resources = [
        _procedure("inf", "38228", "2026-03-01T10:00:00Z"),
        _fludarabine("flu-1", "2026-08-25T09:00:00Z"),
        _fludarabine("flu-2", "2026-08-26T09:00:00Z"),
    ]
    timeline = map_patient(resources, patient_id="p1").record.timeline
    assert timeline.day0 == date(2026, 3, 1)
    assert timeline.preparation == CoursePreparation(
        date(2026, 8, 25), "lymphodepletion", "MedicationAdministration/flu-1"
    )


def test_the_later_apheresis_is_a_preparation_not_the_current_courses() -> None:
    resources = [
        _procedure("aph", "38225", "2026-02-02T09:00:00Z"),
        _procedure("inf", "38228", "2026-03-01T10:00:00Z"),
        _procedure("aph-later", "38225", "2026-09-01T09:00:00Z"),
    ]
    timeline = map_patient(resources, patient_id="p1").record.timeline
    assert timeline.preparation is not None and timeline.preparation.day == date(2026, 9, 1)


def test_steps_of_the_current_course_are_not_a_preparation() -> None:
    resources = [
        _procedure("aph", "38225", "2026-02-02T09:00:00Z"),
        _fludarabine("flu", "2026-02-25T09:00:00Z"),
        _procedure("inf", "38228", "2026-03-01T10:00:00Z"),
    ]
    assert map_patient(resources, patient_id="p1").record.timeline.preparation is None
