"""Designed CAR-T courses: which course a synthetic patient follows and its daily counts.

The design is chosen so that the early ICAHT grade follows from the design alone, whatever the
reading of the gap rules: every severe (ANC <= 500/uL) episode of a quick or intermittent course
lies inside days 0-14, where sampling is daily, and an aplastic course is severe on every sampled
day from day <= 3 to day >= 16 (>= 14 days) and never falls to <= 100/uL for 7 days or more.

Course mix (S-HAEM: ~40% quick, ~40% intermittent, ~20% aplastic in third-line LBCL) and the
phenotype definitions follow clinical-rules.md section 5; the early grades follow section 2.1.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal, get_args

Course = Literal["quick", "intermittent", "aplastic"]
Edge = Literal["death-before-day-30", "relapse", "no-labs-after-day-30"]
MessyKind = Literal[
    "hb-mmol-per-l",
    "crp-mg-per-dl",
    "anc-10*3/uL",
    "anc-less-than",
    "entered-in-error",
    "duplicate",
    "no-unit",
]
MESSY_KINDS: tuple[MessyKind, ...] = get_args(MessyKind)

BASELINE_DAYS = (-6, -1)  # pre-lymphodepletion baseline and the day before infusion
DAILY_DAYS = tuple(range(15))  # daily sampling on days 0-14
EARLY_SPARSE_DAYS = (16, 18, 21, 23, 25, 28, 30)  # 2-3 times a week to day 30
LATE_DAYS = tuple(range(35, 101, 7))  # weekly to day 100
CHEMISTRY_DAYS = frozenset({-6, 0, 1, 2, 3, 5, 7, 10, 14, 21, 28, 42, 56, 84})


@dataclass(frozen=True)
class CrsPlan:
    """The CRS a synthetic patient has in week 1: a Condition with onset and abatement."""

    onset: int  # study day
    end: int | None  # last day (abatement); None = still active on the anchor date
    grade: int  # ASTCT grade 1-4


@dataclass(frozen=True)
class CoursePlan:
    """What the generator drew for one patient, stated so tests and the demo can check it."""

    patient_id: str
    index: int
    course: Course
    edge: Edge | None
    day0: date
    product: str
    ongoing: bool  # day 0 is recent: labs stop at the anchor date, the grade is provisional
    severe_start: int | None  # first day of the designed severe episode
    severe_days: int  # designed length of the longest severe episode (0 = none)
    profound_days: int  # designed longest run of ANC <= 100/uL
    persists_past_day_30: bool  # aplastic course still severe on day 30
    death_day: int | None
    relapse_day: int | None
    last_lab_day: int
    messy: tuple[MessyKind, ...]
    anc: dict[int, float] = field(repr=False)  # designed ANC (/uL) on every sampled day
    gcsf_days: tuple[int, ...] = ()
    # drawn from a second random stream (generator._inflammation): the ANC course, platelets and
    # grades of a seed are the same with or without them
    crs: CrsPlan | None = None
    # an IEC-HS-shaped course (clinical-rules 17 C13): CRS resolved, then on this day ferritin
    # has risen >= 2-fold within 48 h with platelets < 20 x10^9/L and fibrinogen < 150 mg/dL
    iec_hs_day: int | None = None

    @property
    def expected_early_grade(self) -> int | None:
        """Early ICAHT grade implied by the design (clinical-rules.md 2.1, 2.5); None if ongoing."""
        if self.ongoing:
            return None
        without_recovery = self.persists_past_day_30 or self.edge == "death-before-day-30"
        if without_recovery and self.severe_start is not None and self.severe_start <= 3:
            return 4  # 2.5: severe from day <= 3 to the end of a complete window
        return _grade_by_duration(self.severe_days)

    @property
    def expected_early_status(self) -> str:
        if self.edge == "relapse":
            return "censored"
        return "provisional" if self.ongoing else "final"

    @property
    def expected_phenotype(self) -> str | None:
        """Recovery phenotype implied by the design (clinical-rules.md 5.2 with 16 C7)."""
        if self.ongoing:
            return None
        if self.severe_days >= 14:
            return "aplastic"
        if self.edge == "death-before-day-30":
            return "indeterminate"
        return "intermittent" if self.course == "intermittent" else "quick"

    def sampled_days(self) -> tuple[int, ...]:
        return tuple(sorted(self.anc))

    def date_of(self, day: int) -> date:
        return self.day0 + timedelta(days=day)


def _grade_by_duration(days: int) -> int:
    # clinical-rules.md 2.1: 1-6 d grade 1, 7-13 d grade 2, >= 14 d grade 3
    if days == 0:
        return 0
    if days <= 6:
        return 1
    return 2 if days <= 13 else 3


def draw_course(rng: random.Random, edge: Edge | None) -> Course:
    roll = rng.random()
    if edge == "relapse":
        return "quick"  # a censored course whose episode lies before the relapse
    if roll < 0.4:
        return "quick"
    return "intermittent" if roll < 0.8 else "aplastic"


def draw_edge(index: int) -> Edge | None:
    # deterministic, so every cohort of 20 or more holds each edge case
    if index % 20 == 3:
        return "death-before-day-30"
    if index % 10 == 6:
        return "relapse"
    return "no-labs-after-day-30" if index % 10 == 8 else None


def sampling_days(last_day: int) -> tuple[int, ...]:
    days = (*BASELINE_DAYS, *DAILY_DAYS, *EARLY_SPARSE_DAYS, *LATE_DAYS)
    return tuple(d for d in days if d <= last_day)


def _descent(rng: random.Random, start_value: float, to_day: int) -> dict[int, float]:
    """Values > 500 falling from day 0 towards the nadir (lymphodepletion effect)."""
    values: dict[int, float] = {}
    value = start_value
    for day in range(to_day):
        value = max(550.0, value * rng.uniform(0.55, 0.8))
        values[day] = round(value, -1)
    return values


def _severe_run(rng: random.Random, start: int, length: int, profound: int) -> dict[int, float]:
    """ANC <= 500 for `length` days from `start`, the first `profound` of them <= 100."""
    values: dict[int, float] = {}
    profound_start = start + min(2, max(0, length - profound))
    for day in range(start, start + length):
        if profound_start <= day < profound_start + profound:
            values[day] = float(rng.randrange(10, 91, 10))
        else:
            values[day] = float(rng.randrange(120, 481, 10))
    return values


def design_anc(
    rng: random.Random,
    course: Course,
    edge: Edge | None,
    last_lab_day: int,
) -> tuple[dict[int, float], int | None, int, int, bool, int | None, int | None]:
    """Designed ANC on every sampled day.

    Returns (anc, severe_start, severe_days, profound_days, persists_past_day_30, death_day,
    relapse_day).
    """
    baseline = float(rng.randrange(1500, 5001, 10))
    anc = {d: float(rng.randrange(int(baseline * 0.8), int(baseline), 10)) for d in BASELINE_DAYS}
    if edge == "death-before-day-30":
        death_day = rng.randint(16, 24)
        days = sorted(set(sampling_days(death_day)) | set(range(15, death_day + 1)))
        start = rng.randint(0, 2)
        anc.update(_descent(rng, baseline, start))
        anc.update(_severe_run(rng, start, death_day - start + 1, rng.randint(0, 5)))
        profound = sum(1 for d in range(start, death_day + 1) if anc[d] <= 100)
        return anc, start, death_day - start + 1, profound, False, death_day, None
    days = list(sampling_days(last_lab_day))
    if course == "aplastic":
        return (*_aplastic(rng, anc, baseline, days), None, None)
    relapse_day = rng.randint(18, 28) if edge == "relapse" else None
    return (*_quick_or_intermittent(rng, anc, baseline, days, course), None, relapse_day)


def _aplastic(
    rng: random.Random, anc: dict[int, float], baseline: float, days: list[int]
) -> tuple[dict[int, float], int, int, int, bool]:
    start = rng.randint(0, 3)
    persists = rng.random() < 0.5
    end = 45 if persists else rng.randint(16, 27)
    profound = rng.randint(0, 5)
    anc.update(_descent(rng, baseline, start))
    severe = _severe_run(rng, start, end - start + 1, profound)
    for d in days:
        if start <= d <= end:
            anc[d] = severe[d]
        elif d > end:
            # slow recovery: 600-1400/uL for about three weeks, then above 1500/uL
            low, high = (600, 1401) if d <= end + 21 else (1600, 4001)
            anc[d] = float(rng.randrange(low, high, 10))
    last_severe_sampled = max(d for d in days if d <= end)
    return anc, start, last_severe_sampled - start + 1, profound, persists


def _quick_or_intermittent(
    rng: random.Random, anc: dict[int, float], baseline: float, days: list[int], course: Course
) -> tuple[dict[int, float], int | None, int, int, bool]:
    start = rng.randint(1, 4)
    length = rng.choice((0, 0, 1, 2, 3, 4, 5, 6)) if course == "quick" else rng.randint(3, 10)
    nadir_day = start if length else rng.randint(3, 7)
    profound = rng.randint(0, min(2, length))
    descent = _descent(rng, baseline, nadir_day)
    severe = _severe_run(rng, start, length, profound) if length else {}
    dips = _second_dip_days(rng, days) if course == "intermittent" else set()
    for d in (d for d in days if d >= 0):
        if d < nadir_day:
            anc[d] = descent[d]
        elif d in severe:
            anc[d] = severe[d]
        elif d == nadir_day + length:
            anc[d] = float(rng.randrange(700, 1401, 10))  # first value above 500/uL
        elif d in dips:
            anc[d] = float(rng.randrange(550, 951, 10))  # second dip < 1000, never <= 500
        else:
            anc[d] = float(rng.randrange(1600, 4501, 10))
    return anc, (start if length else None), length, profound, False


def _second_dip_days(rng: random.Random, days: list[int]) -> set[int]:
    candidates = [d for d in (21, 23, 25, 28, 35, 42) if d in days]
    if not candidates:
        return set()  # an ongoing course not yet at its second dip
    first = rng.choice(candidates)
    later = [d for d in days if d > first]
    return {first, later[0]} if later and rng.random() < 0.5 else {first}


def assign_messy(index: int, course: Course, severe_days: int) -> tuple[MessyKind, ...]:
    """Messy records for about half the patients; each kind once in every 14 patients."""
    if index % 2 == 0:
        return ()
    kind = MESSY_KINDS[(index // 2) % len(MESSY_KINDS)]
    if kind in ("anc-less-than", "entered-in-error") and severe_days == 0:
        # these two need a severe episode to sit next to; the duplicate needs nothing
        return ("duplicate",)
    return (kind,)
