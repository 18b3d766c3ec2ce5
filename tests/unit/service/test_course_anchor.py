"""Which patients a hook evaluates: a course given, planned (issue 14) or, for orders, prepared."""

from __future__ import annotations

from datetime import date

from icaht.record import CarTInfusion, CoursePreparation, PlannedInfusion, TherapyTimeline
from patient_evaluation import course_anchor

DAY0 = date(2026, 6, 4)
PLANNED = PlannedInfusion(DAY0, "axicabtagene ciloleucel", "ServiceRequest/planned")
LYMPHODEPLETION = CoursePreparation(date(2026, 5, 30), "lymphodepletion")


def test_a_planned_infusion_anchors_patient_view_before_day_0() -> None:
    """M24 (CAR-HEMATOTOX high before infusion) can only fire if patient-view evaluates a
    course that has no infusion yet."""
    assert course_anchor(TherapyTimeline(planned_infusion=PLANNED)) == DAY0


def test_every_hook_takes_the_earlier_preparation_step() -> None:
    """M01 guards orders from the lymphodepletion; M10 reminds antivirals from it."""
    timeline = TherapyTimeline(planned_infusion=PLANNED, preparation=LYMPHODEPLETION)
    assert course_anchor(timeline) == LYMPHODEPLETION.day
    assert course_anchor(TherapyTimeline(planned_infusion=PLANNED)) == DAY0


def test_day_0_wins_and_a_chart_without_a_course_stays_quiet() -> None:
    given = TherapyTimeline(infusions=(CarTInfusion(date(2026, 1, 5)),), planned_infusion=PLANNED)
    assert course_anchor(given) == date(2026, 1, 5)
    assert course_anchor(TherapyTimeline()) is None
    # a lymphodepletion in preparation anchors patient-view too (M10 from lymphodepletion)
    prepared = TherapyTimeline(preparation=LYMPHODEPLETION)
    assert course_anchor(prepared) == LYMPHODEPLETION.day
