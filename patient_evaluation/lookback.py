"""How far back and how far ahead a patient's assessment looks (docs/clinical §2.6, §3.2)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from icaht.assessment import BASELINE_NEUTROPENIA_DAYS
from icaht.record import PatientRecord, TherapyTimeline
from icaht.settings import LATE_WINDOW_END

# the monitoring period ends with the late ICAHT window on day +100 (docs/clinical §3.2)
MONITORING_DAYS = LATE_WINDOW_END
# the look-back covers the baseline neutropenia flag's days -14..-1 (docs/clinical §2.6)
LAB_LOOKBACK_DAYS = BASELINE_NEUTROPENIA_DAYS


def course_anchor(timeline: TherapyTimeline) -> date | None:
    """The day the patient's CAR-T care is anchored on: day 0 of the current course; before the
    first infusion, the earliest of its planned day and the first step of a course in
    preparation (apheresis or lymphodepletion, no infusion yet): M01 guards blood-product orders
    before day 0, and on patient-view M10 (antivirals from lymphodepletion) and M24 (issue 14)
    speak before it. None: nothing to say about this patient."""
    if timeline.day0 is not None:
        return timeline.day0
    days = [] if timeline.planned_infusion is None else [timeline.planned_infusion.day]
    if timeline.preparation is not None:
        days.append(timeline.preparation.day)
    return min(days, default=None)


def fallback_since(anchor: date, today: date) -> date:
    """The first day the service's own search asks labs and vital signs for: LAB_LOOKBACK_DAYS
    before the course's anchor, or before today when the anchor is still ahead (a planned
    infusion, issue 14: its baseline counts are today's, not those 14 days before a future
    day 0)."""
    return min(anchor, today) - timedelta(days=LAB_LOOKBACK_DAYS)


def labs_from_lookback(record: PatientRecord, day0: date) -> tuple[PatientRecord, int]:
    """The record with the labs from LAB_LOOKBACK_DAYS before day 0 on (what the service's
    date-bounded search reads), and how many earlier labs it left out."""
    since = day0 - timedelta(days=LAB_LOOKBACK_DAYS)
    kept = tuple(value for value in record.labs if value.day >= since)
    if len(kept) == len(record.labs):
        return record, 0
    return replace(record, labs=kept), len(record.labs) - len(kept)
