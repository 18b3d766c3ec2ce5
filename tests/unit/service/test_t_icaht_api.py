"""Issue 19: the assessment API's `tIcaht` object and `plateletBands` (the SMART app shades the
platelet chart with them), against assessment-response.json.

A synthetic patient's FHIR resources through the real `evaluate()`; the T-ICAHT result is built
by hand and put on the assessment, so the API shape is pinned independently of the engine.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest

from cds_service.assessment_api import (
    AssessmentRequest,
    _platelet_bands,
    assessment_response,
)
from cds_service.validation import response_errors
from icaht.series import ChartSeries, DayPoint
from icaht.thrombocytopenia import TEarlyResult, ThrombocytopeniaResult, TLateResult
from icaht_demo.synthetic.generator import generate_patient
from patient_evaluation import Evaluation, evaluate

SCHEMA = "assessment-response.json"
TZ = "Europe/Berlin"


def t_result(
    early_50: tuple[int, ...] = (3, 4, 5, 6, 7, 8, 9, 10, 14),
    early_20: tuple[int, ...] = (5, 6, 7),
    *,
    early_grade: int | None = 3,
    late_grade: int | None = 2,
    transfused: bool = False,
) -> ThrombocytopeniaResult:
    graded = early_grade is not None
    early = TEarlyResult(
        early_grade,
        "final",
        False,
        len(early_50) if graded else 0,
        len(early_20) if graded else 0,
        30,
        early_50 if graded else (),
        early_20 if graded else (),
        None if graded else "no platelet count in days 0-30",
    )
    late = TLateResult(
        late_grade,
        late_grade is not None,
        "provisional",
        45,
        35.0 if late_grade is not None else None,
        40 if late_grade is not None else None,
        0,
    )
    return ThrombocytopeniaResult(early, late, 12, date(2026, 1, 1), None, None, None, transfused)


def evaluation_of(result: ThrombocytopeniaResult | None) -> tuple[Evaluation, date, str]:
    patient = generate_patient(3)
    when = patient.plan.day0 + timedelta(days=45)
    evaluation = evaluate(
        patient.resources(), patient_id=patient.patient_id, timezone=TZ, evaluation_date=when
    )
    assert evaluation.assessment is not None
    graded = replace(evaluation.assessment, thrombocytopenia=result)
    return replace(evaluation, assessment=graded), when, patient.patient_id


def response(result: ThrombocytopeniaResult | None) -> dict[str, Any]:
    evaluation, when, patient_id = evaluation_of(result)
    request = AssessmentRequest(patient_id, (), when)
    body = assessment_response(request, evaluation, when)
    assert response_errors(SCHEMA, body) == []
    return body


def test_t_icaht_object_carries_grades_days_recovery_and_the_card_text() -> None:
    body = response(t_result(transfused=True))
    assert body["tIcaht"]["early"] == {
        "grade": 3,
        "status": "final",
        "lowerBound": False,
        "daysBelow50": 9,
        "daysBelow20": 3,
    }
    assert body["tIcaht"]["late"] == {
        "grade": 2,
        "confirmed": True,
        "status": "provisional",
        "nadir": 35.0,
        "nadirDay": 40,
        "daysBelow20": 0,
    }
    assert body["tIcaht"]["recoveryDay"] == 12
    assert body["tIcaht"]["postTransfusionValuesUsed"] is True
    assert body["tIcaht"]["text"].startswith("early 3 (final): platelets < 50 x10^9/L on 9 days")
    assert "within 24 h after a platelet transfusion" in body["tIcaht"]["text"]
    assert (body["thresholds"]["plateletModerate"], body["thresholds"]["plateletSevere"]) == (
        50,
        20,
    )


def test_early_bands_are_the_runs_of_the_counted_days() -> None:
    bands = response(t_result())["plateletBands"]
    early = [(b["threshold"], b["startDay"], b["endDay"]) for b in bands if b["window"] == "early"]
    assert early == [(50, 3, 10), (50, 14, 14), (20, 5, 7)]


def test_not_graded_t_icaht_has_nulls_and_no_early_bands() -> None:
    body = response(t_result(early_grade=None, late_grade=None))
    assert body["tIcaht"]["early"]["grade"] is None
    assert body["tIcaht"]["early"]["daysBelow50"] is None
    assert body["tIcaht"]["late"]["confirmed"] is None
    assert not [b for b in body["plateletBands"] if b["window"] == "early"]
    assert "early not graded (no platelet count in days 0-30)" in body["tIcaht"]["text"]


def test_without_a_t_icaht_result_the_fields_are_null_and_empty() -> None:
    body = response(None)
    assert body["tIcaht"] is None
    assert body["plateletBands"] == []


def point(day: int, value: float, comparator: Any = None) -> DayPoint:
    return DayPoint(day, date(2026, 1, 1) + timedelta(days=day), value, "measured", comparator)


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        # strict thresholds (§18): exactly 50 and exactly 20 are not below
        (
            [point(31, 50), point(32, 49.9), point(33, 20), point(34, 19)],
            [(50, 32, 34), (20, 34, 34)],
        ),
        # a "<20" result is below 20 (C6); days of the early window are left to the grade
        ([point(29, 10), point(40, 20, "<")], [(50, 40, 40), (20, 40, 40)]),
        ([point(31, 120)], []),
    ],
)
def test_late_bands_are_the_charted_days_beneath_each_threshold(
    points: list[DayPoint], expected: list[tuple[int, int, int]]
) -> None:
    evaluation, _, _ = evaluation_of(t_result(early_grade=None))
    assert evaluation.assessment is not None
    series = ChartSeries((), tuple(points), (), ())
    bands = _platelet_bands(evaluation.assessment, series)
    assert [(b["threshold"], b["startDay"], b["endDay"]) for b in bands] == expected
    assert {b["window"] for b in bands} <= {"late"}
