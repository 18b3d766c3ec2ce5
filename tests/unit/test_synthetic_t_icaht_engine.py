"""The engine grades the synthetic platelet courses as designed: early and late T-ICAHT of every
course equal `CoursePlan.expected_t_early_grade` / `expected_t_late_grade` (issue 19).

Needs the issue-19 engine (`Assessment.thrombocytopenia`): on a branch without it this test
fails with an AttributeError, by design, until the engine is merged.

Each patient is mapped and assessed in-process as the patient-view hook does (the resource types
of its prefetch, `map_patient`, `assess`); of the Observations only ANC and platelets are passed.
"""

from __future__ import annotations

from typing import Any

import pytest

from cohort.grading import SERVICE_RESOURCE_TYPES
from fhir_mappings import map_patient
from fhir_mappings.tables import loinc_codes_by_analyte
from icaht import assess
from icaht_demo.synthetic import SyntheticPatient, generate_cohort
from icaht_demo.synthetic.generator import CENTRE_TZ, DEFAULT_ANCHOR
from icaht_demo.synthetic.stories import story_patients

WANTED_LOINC = frozenset(c for a in ("anc", "platelets") for c in loinc_codes_by_analyte()[a])


def _wanted(resource: dict[str, Any]) -> bool:
    if resource["resourceType"] != "Observation":
        return resource["resourceType"] in SERVICE_RESOURCE_TYPES
    return any(c.get("code") in WANTED_LOINC for c in resource["code"].get("coding", []))


@pytest.fixture(scope="module")
def cohort() -> list[SyntheticPatient]:
    return generate_cohort(200, seed=3, anchor=DEFAULT_ANCHOR)


def test_engine_grades_t_icaht_as_designed(cohort: list[SyntheticPatient]) -> None:
    compared = 0
    for patient in cohort:
        plan = patient.plan
        wanted = [r for r in patient.resources() if _wanted(r)]
        record = map_patient(wanted, patient_id=patient.patient_id, tz=str(CENTRE_TZ)).record
        assessment = assess(record, evaluation_date=DEFAULT_ANCHOR)
        result = assessment.thrombocytopenia  # type: ignore[attr-defined]  # issue-19 engine
        assert result is not None, patient.patient_id
        if plan.expected_t_early_grade is not None:
            assert result.early.grade == plan.expected_t_early_grade, (
                patient.patient_id,
                result.early,
            )
            assert result.early.status == plan.expected_early_status, patient.patient_id
            compared += 1
        if plan.expected_t_late_grade is not None:
            assert result.late.grade == plan.expected_t_late_grade, (
                patient.patient_id,
                result.late,
            )
    assert compared >= 150


def test_the_discordant_story_is_graded_as_written() -> None:
    """icaht-story-discordant-day35: early N-ICAHT 1 and early T-ICAHT 4 on its day."""
    stories = [s for s in story_patients(DEFAULT_ANCHOR) if s.expected_t_early_grade is not None]
    assert [s.patient_id for s in stories] == ["icaht-story-discordant-day35"]
    for story in stories:
        wanted = [r for r in story.resources() if _wanted(r)]
        record = map_patient(wanted, patient_id=story.patient_id, tz=str(CENTRE_TZ)).record
        assessment = assess(record, evaluation_date=story.anchor)
        assert assessment.neutropenia is not None
        assert assessment.neutropenia.early.grade == story.expected_early_grade
        result = assessment.thrombocytopenia  # type: ignore[attr-defined]  # issue-19 engine
        assert result.early.grade == story.expected_t_early_grade
        assert result.early.days_below_20 >= 14
        assert result.recovery_day is None  # transfusion-dependent: no recovery
