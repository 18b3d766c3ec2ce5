"""Preliminary ANC results and a day holding both "<100" and 80 reach the engine (issue 21).

docs/clinical §1.1: preliminary results are used in real-time grading only, and the result
says so (`NeutropeniaResult.preliminary_values_used`, shown on the card, C16); a retrospective
grade reads final results only. icaht.observations._resolve_same_day: a day with a number v
and a bound `<x` keeps the number when x > v (the number says more about the daily minimum).
Before issue 21 these paths were fed by engine-level tuples only, never from FHIR.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fhir_mappings import map_patient
from icaht import assess
from icaht.neutropenia import NeutropeniaResult
from icaht.record import PatientRecord

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
ANC_AUTOMATED = "751-8"  # LOINC: neutrophils [#/volume] in blood, automated count (10*3/uL)
DAY0 = date(2026, 5, 1)


def when(day: int, hour: int = 6) -> str:
    return f"{(DAY0 + timedelta(days=day)).isoformat()}T{hour:02d}:00:00Z"


def anc(
    rid: str,
    day: int,
    thousands: float,
    status: str = "final",
    *,
    below: bool = False,
    hour: int = 6,
) -> dict[str, Any]:
    quantity: dict[str, Any] = {
        "value": thousands,
        "unit": "10*3/uL",
        "system": UCUM,
        "code": "10*3/uL",
    }
    if below:
        quantity["comparator"] = "<"
    return {
        "resourceType": "Observation",
        "id": rid,
        "status": status,
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": LOINC, "code": ANC_AUTOMATED}]},
        "effectiveDateTime": when(day, hour),
        "valueQuantity": quantity,
    }


INFUSION = {
    "resourceType": "Procedure",
    "id": "cart",
    "status": "completed",
    "subject": {"reference": "Patient/p1"},
    "code": {"coding": [{"system": "http://www.cms.gov/Medicare/Coding/ICD10", "code": "XW033H7"}]},
    "performedDateTime": when(0, 10),
}


def mapped(*observations: dict[str, Any]) -> PatientRecord:
    return map_patient([INFUSION, *observations], patient_id="p1", tz="UTC").record


def graded(record: PatientRecord, evaluation_day: int | None) -> NeutropeniaResult:
    evaluated = None if evaluation_day is None else DAY0 + timedelta(days=evaluation_day)
    neutropenia = assess(record, evaluation_date=evaluated).neutropenia
    assert neutropenia is not None
    return neutropenia


# days 1-8 final ANC 2000/uL; days 9-15 preliminary 300/uL (the laboratory has not released them)
COURSE = [anc(f"f{d}", d, 2.0) for d in range(1, 9)] + [
    anc(f"p{d}", d, 0.3, "preliminary") for d in range(9, 16)
]


def test_preliminary_values_are_mapped_with_their_flag() -> None:
    record = mapped(*COURSE)
    flags = {lab.day: lab.preliminary for lab in record.labs}
    assert flags[DAY0 + timedelta(days=8)] is False
    assert flags[DAY0 + timedelta(days=9)] is True


def test_real_time_grade_uses_preliminary_values_and_says_so() -> None:
    result = graded(mapped(*COURSE), evaluation_day=15)
    assert result.preliminary_values_used is True
    assert result.early.days_anc_le_500 == 7  # days 9-15
    assert result.early.grade == 2


def test_retrospective_grade_reads_final_values_only() -> None:
    result = graded(mapped(*COURSE), evaluation_day=None)
    assert result.preliminary_values_used is False
    assert result.early.days_anc_le_500 == 0
    assert result.daily is not None
    assert max(result.daily.numeric) == 8  # the last final value; days 9-15 not read


def test_a_final_only_course_uses_no_preliminary_values() -> None:
    result = graded(mapped(*COURSE[:8]), evaluation_day=15)
    assert result.preliminary_values_used is False


def test_day_with_below_100_and_80_keeps_80_and_grades_from_it() -> None:
    # day 40: "<0.1" (<100/uL) at 06:00 and 0.08 (80/uL) at 14:00; day 45: 80/uL confirms
    record = mapped(
        anc("lt100", 40, 0.1, below=True),
        anc("eighty", 40, 0.08, hour=14),
        anc("confirm", 45, 0.08),
    )
    result = graded(record, evaluation_day=50)
    assert result.daily is not None
    assert result.daily.numeric[40] == 80.0
    assert 40 not in result.daily.bounds
    assert result.late.nadir is not None
    assert (result.late.nadir.day, result.late.nadir.value, result.late.nadir.below) == (
        40,
        80.0,
        False,
    )
    assert result.late.grade == 4
    assert "were 80/µL (day 40) and 80/µL (day 45)" in result.late.explanation()


def test_preliminary_below_100_and_80_reach_the_real_time_grade() -> None:
    record = mapped(
        anc("lt100", 40, 0.1, "preliminary", below=True),
        anc("eighty", 40, 0.08, "preliminary", hour=14),
        anc("confirm", 45, 0.08),
    )
    result = graded(record, evaluation_day=50)
    assert result.preliminary_values_used is True
    assert result.daily is not None
    assert result.daily.numeric[40] == 80.0
    assert result.late.grade == 4
    assert graded(record, evaluation_day=None).preliminary_values_used is False
