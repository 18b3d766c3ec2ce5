"""The clinical status on one day, read from the record: infection, fever, bleeding, supportive
drugs and corticosteroid exposure (issue 14; docs/decisions/0022).

One home for these readings so every rule reads them the same way. Pure: no clock, the day is
passed in. Infection and bleeding are tri-state: `UNKNOWN` when the record says nothing either
way (`TherapyTimeline.infections` / `.bleeding` is None: an engine caller without Conditions),
None when the record has none active, else the record that is active.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from enum import Enum

from icaht.record import (
    Analyte,
    DrugCourse,
    Infection,
    LabValue,
    PatientRecord,
    Period,
    SupportiveGroup,
    TherapyTimeline,
    course_start,
)


class Unknown(Enum):
    """The record says nothing either way (not the same as "none on record")."""

    UNKNOWN = "unknown"


UNKNOWN = Unknown.UNKNOWN

# [PROPOSED] An open infection Condition (no abatement) counts as active for this many days after
# its onset. Issue 14 asks for "clinicalStatus active and onset within the course"; an infection
# record nobody closed weeks later says little about today. Sepsis, bacteraemia and pneumonia are
# treated over 1-3 weeks; 28 days keeps a slow invasive fungal or viral infection active through
# its first month (CRS uses 21 days, docs/clinical §17 C16; infections last longer).
INFECTION_OPEN_RECORD_MAX_DAYS = 28
# Issue 14: a positive blood culture counts as active infection when collected "within 72 h":
# the engine has calendar days, not hours, so the collection day and the 3 days before the
# evaluation day (day - 3 .. day) count; 4 days back does not.
BLOOD_CULTURE_ACTIVE_DAYS = 3
# Issue 14 / docs/clinical §10 M14: fever = body temperature >= 38.0 °C "within 24 h". The engine
# has no clock and days are calendar days: a temperature on the evaluation day or the day before.
FEVER_CELSIUS = 38.0
FEVER_LOOKBACK_DAYS = 1
# [PROPOSED] An open bleeding Condition counts as active for this many days after its onset
# (the same reading as for infections: an unclosed record is not a bleed weeks later).
BLEEDING_OPEN_RECORD_MAX_DAYS = 28
# [PROPOSED] Drugs given at long intervals: one dose covers this many days (a shorter grace of
# the caller does not end it). Aerosolised pentamidine for PJP prophylaxis: 300 mg once a month
# (CDC, Recommendations for prophylaxis against Pneumocystis carinii pneumonia, MMWR 1992;41(RR-4);
# "once every 4 weeks", Am J Med 1993;94(1):35-40, doi:10.1016/0002-9343(93)90117-8).
DOSE_INTERVAL_DAYS: dict[str, int] = {"pentamidine": 28}


def _open_record_current(period: Period, day: date, max_days: int) -> bool:
    """A closed record covers its days; an open one only `max_days` after its start."""
    return period.end is not None or (day - period.start).days <= max_days


def _culture_recent(culture: Infection, day: date) -> bool:
    """Issue 14: a positive blood culture collected in the last 72 h (day - 3 .. day)."""
    return 0 <= (day - culture.start).days <= BLOOD_CULTURE_ACTIVE_DAYS


def _condition_active(infection: Infection, day: date, start: date | None) -> bool:
    """Issue 14: an infection Condition active on `day` (open, or abated on/after it), with its
    onset in the current course (`course_start`: an infection of an earlier course says nothing
    today) and, open, no more than INFECTION_OPEN_RECORD_MAX_DAYS before `day`."""
    return (
        (start is None or infection.start >= start)
        and infection.contains(day)
        and _open_record_current(infection, day, INFECTION_OPEN_RECORD_MAX_DAYS)
    )


def active_infection(timeline: TherapyTimeline, day: date) -> Infection | Unknown | None:
    """The infection active on `day` (the latest-starting one), None when none is, UNKNOWN when
    infections are not known. A positive blood culture counts in its 72 h whatever the course
    (it is recent by definition); a Condition as `_condition_active` says."""
    if timeline.infections is None:
        return UNKNOWN
    start = course_start(timeline)
    active = [
        i
        for i in timeline.infections
        if (
            _culture_recent(i, day)
            if i.kind == "positive_blood_culture"
            else _condition_active(i, day, start)
        )
    ]
    return max(active, key=lambda i: i.start) if active else None


def fever(record: PatientRecord, day: date) -> LabValue | None:
    """The highest temperature >= 38.0 °C on `day` or the day before, else None. A value known
    only as below x ("<x") is not a fever."""
    first = day - timedelta(days=FEVER_LOOKBACK_DAYS)
    found = [
        t
        for t in record.series(Analyte.TEMPERATURE)
        if first <= t.day <= day
        and t.comparator not in ("<", "<=")
        and t.provenance != "derived-bound"
        and t.value >= FEVER_CELSIUS
    ]
    return max(found, key=lambda t: t.value) if found else None


def temperature_known(record: PatientRecord, day: date) -> bool:
    """Whether any temperature was taken on `day` or the day before (fever can be ruled out)."""
    first = day - timedelta(days=FEVER_LOOKBACK_DAYS)
    return any(first <= t.day <= day for t in record.series(Analyte.TEMPERATURE))


def active_bleeding(timeline: TherapyTimeline, day: date) -> Period | Unknown | None:
    """The bleeding record active on `day` (open, or ended on/after it; open ones for
    BLEEDING_OPEN_RECORD_MAX_DAYS), None when none is, UNKNOWN when bleeding is not known."""
    if timeline.bleeding is None:
        return UNKNOWN
    active = [
        p
        for p in timeline.bleeding
        if p.contains(day) and _open_record_current(p, day, BLEEDING_OPEN_RECORD_MAX_DAYS)
    ]
    return max(active, key=lambda p: p.start) if active else None


def on_supportive(
    timeline: TherapyTimeline, group: SupportiveGroup, day: date, grace_days: int
) -> DrugCourse | None:
    """A drug of `group` covering `day` (the latest-starting one), or None.

    Covering: an order or statement whose days include `day` (open ones: from their start on), or
    a dose given within `grace_days` before `day` (daily drugs: today's dose may not be charted
    yet), or within its DOSE_INTERVAL_DAYS for drugs given at long intervals."""
    covering = [
        c
        for c in timeline.supportive_drugs
        if c.group == group
        and c.start <= day
        and (c.contains(day) or _dose_recent(c, day, grace_days))
    ]
    return max(covering, key=lambda c: c.start) if covering else None


def _dose_recent(course: DrugCourse, day: date, grace_days: int) -> bool:
    if course.recorded != "given" or course.end is None:
        return False
    grace = max(grace_days, DOSE_INTERVAL_DAYS.get((course.name or "").lower(), 0))
    return 0 <= (day - course.end).days <= grace


def drugs_between(
    timeline: TherapyTimeline, group: SupportiveGroup, since: date, until: date
) -> tuple[DrugCourse, ...]:
    """Records of `group` with at least one day in [since, until], oldest first."""
    return tuple(
        c
        for c in timeline.supportive_drugs
        if c.group == group and c.start <= until and (c.end is None or c.end >= since)
    )


def corticosteroid_days(timeline: TherapyTimeline, since: date, until: date) -> int:
    """Distinct days in [since, until] covered by a corticosteroid record (a dose: its day; an
    order or statement: its days, open ones up to `until`). Overlapping records count once."""
    return len(covered_days(drugs_between(timeline, "corticosteroid", since, until), since, until))


def covered_days(courses: Iterable[DrugCourse], since: date, until: date) -> set[date]:
    days: set[date] = set()
    for course in courses:
        first = max(course.start, since)
        last = min(course.end or until, until)
        days.update(first + timedelta(days=n) for n in range((last - first).days + 1))
    return days
