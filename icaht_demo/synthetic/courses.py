"""Designed CAR-T courses: which course a synthetic patient follows and its daily counts.

The design is chosen so that the early ICAHT grade follows from the design alone, whatever the
reading of the gap rules: every severe (ANC <= 500/uL) episode of a quick or intermittent course
lies inside days 0-14, where sampling is daily, and an aplastic course is severe on every sampled
day from day <= 3 to day >= 16 (>= 14 days) and never falls to <= 100/uL for 7 days or more.

Course mix (S-HAEM: ~40% quick, ~40% intermittent, ~20% aplastic in third-line LBCL) and the
phenotype definitions follow docs/clinical §5; the early grades follow section 2.1.
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
class PlateletPlan:
    """The designed platelet course (x10^9/L) on the sampled days 1..last of a patient.

    Built so that the T-ICAHT grades (docs/clinical §18) follow from the design whatever the
    reading of the day grid: every count is clearly inside a band (>= 55, 25-45 or <= 18; late
    >= 100 or 55-95), a short run beneath a threshold lies in days 1-13 where sampling is
    daily, a long one spans sampled days, and where a run ends next to a sparse sample the next
    value is high enough that no interpolated day between them falls beneath the threshold.
    """

    early_grade: int  # designed early T-ICAHT grade (days 0-30)
    late_grade: int | None  # designed late T-ICAHT grade (days 31-100); None: not designed
    values: dict[int, float] = field(repr=False)


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
    # an IEC-HS-shaped course (docs/clinical §17 C13): CRS resolved, then on this day ferritin
    # has risen >= 2-fold within 48 h with platelets < 20 x10^9/L and fibrinogen < 150 mg/dL
    iec_hs_day: int | None = None
    # the platelet course (T-ICAHT, docs/clinical §18), drawn from a third random stream
    # (generator: "icaht-synthetic-platelets"): the ANC course and grades of a seed stay as they
    # were without it
    platelets: PlateletPlan | None = None

    @property
    def expected_t_early_grade(self) -> int | None:
        """Early T-ICAHT grade implied by the platelet design (§18); None if ongoing."""
        if self.ongoing or self.platelets is None:
            return None
        return self.platelets.early_grade

    @property
    def expected_t_late_grade(self) -> int | None:
        """Late T-ICAHT grade implied by the design; None without a designed late window
        (ongoing, censored, died or no labs after day 30) or where it rests on a reading."""
        if self.ongoing or self.edge is not None or self.platelets is None:
            return None
        return self.platelets.late_grade

    @property
    def expected_early_grade(self) -> int | None:
        """Early ICAHT grade implied by the design (docs/clinical §2.1, §2.5); None if ongoing."""
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
        """Recovery phenotype implied by the design (docs/clinical §5.2 with 16 C7)."""
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
    # docs/clinical/02-early-icaht.md §2.1: 1-6 d grade 1, 7-13 d grade 2, >= 14 d grade 3
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


def assign_messy(index: int, severe_days: int) -> tuple[MessyKind, ...]:
    """Messy records for about half the patients; each kind once in every 14 patients."""
    if index % 2 == 0:
        return ()
    kind = MESSY_KINDS[(index // 2) % len(MESSY_KINDS)]
    if kind in ("anc-less-than", "entered-in-error") and severe_days == 0:
        # these two need a severe episode to sit next to; the duplicate needs nothing
        return ("duplicate",)
    return (kind,)


# -- platelets (T-ICAHT, docs/clinical §18) ---------------------------------------------------
# Early T-ICAHT grade weights (0..4) by course: aplastic courses are mostly severe, but every
# grade occurs with every course so that discordant pairs (N-ICAHT 1 with T-ICAHT 4 and the
# reverse) exist. Rejeski et al. (Blood 2025): early any grade 43 %, grade >= 3 23 %; late any
# grade 42 %, grade >= 3 13 %. The weights are illustrative, near those shares overall.
T_EARLY_WEIGHTS: dict[Course, tuple[int, ...]] = {
    "quick": (55, 12, 12, 11, 10),
    "intermittent": (45, 14, 14, 14, 13),
    "aplastic": (15, 20, 15, 20, 30),
}
T_LATE_WEIGHTS = (58, 14, 15, 7, 6)
HIGH = (60, 160)  # >= 50 with a margin
MID = (25, 45)  # < 50, >= 20
LOW = (5, 18)  # < 20; < 10 draws a platelet transfusion (generator)
LATE_HIGH = (110, 250)  # >= 100
LATE_MILD = (55, 95)  # < 100, >= 50
LATE_DAYS_SET = frozenset(LATE_DAYS)


def design_platelets(rng: random.Random, plan: CoursePlan) -> PlateletPlan:
    """Designed platelets on the sampled days >= 1 of `plan` (day 0 and before: generator)."""
    days = [d for d in plan.sampled_days() if d >= 1]
    closed = plan.edge in ("death-before-day-30", "relapse")  # window ends before day 30
    if plan.iec_hs_day is not None:
        # the IEC-HS course writes its own new cytopenia (< 20 from the event for 10 days):
        # no designed dip of its own, so the count beneath 20 is that of the event alone
        early, late = 0, 0
    else:
        early = rng.choices(range(5), weights=T_EARLY_WEIGHTS[plan.course])[0]
        late = rng.choices(range(5), weights=T_LATE_WEIGHTS)[0]
    low, mid = _early_runs(rng, early, late, days, closed)
    values: dict[int, float] = {}
    for day in (d for d in days if d <= 30):
        band = LOW if day in low else MID if day in mid else HIGH
        values[day] = float(rng.randint(*band))
    if late == 0 and 30 in values and 30 not in low:
        values[30] = float(rng.randint(*LATE_HIGH))  # the days 31-34 between stay >= 100
    values.update(_late_values(rng, late, [d for d in days if d in LATE_DAYS_SET], values))
    return PlateletPlan(_expected_early(plan, early), _expected_late(plan, late), values)


def _early_runs(
    rng: random.Random, grade: int, late: int, days: list[int], closed: bool
) -> tuple[set[int], set[int]]:
    """(days < 20, days 20-49) of the early window for the designed grade."""
    if grade == 1:  # 1-6 days < 50, inside days 3-12
        start, length = rng.randint(3, 7), rng.randint(1, 6)
        return set(), set(range(start, start + length))
    if grade == 2:  # 7-10 days < 50 inside days 3-14, none < 20
        start, length = rng.randint(3, 5), rng.randint(7, 10)
        return set(), set(range(start, start + length))
    if grade == 3:  # 1-8 days < 20 inside days 4-13, between days 20-49
        start, length = rng.randint(4, 6), rng.randint(1, 8)
        low = set(range(start, start + length))
        return low, {start - 1, start + length, start + length + 1}
    if grade == 4:  # < 20 from day 2-4 on >= 14 days, sampled to day 23 or later
        start = rng.randint(2, 3) if closed else rng.randint(2, 4)
        if closed or late >= 3:
            end = 30  # to the end of the window (and on into the late window)
        else:
            end = rng.choice([d for d in (23, 25, 28) if d in days] or [30])
        return set(range(start, end + 1)), {start - 1}
    return set(), set()


def _late_values(
    rng: random.Random, grade: int, days: list[int], early: dict[int, float]
) -> dict[int, float]:
    """Weekly counts on days 35-98 for the designed late grade (>= 2 tests in the band)."""
    values: dict[int, float] = {}
    if grade == 1:
        bands = [LATE_MILD] * rng.randint(2, 3)
    elif grade == 2:
        bands = [MID] * rng.randint(2, 3) + [LATE_MILD]
    elif grade == 3:  # < 20 on days 35 and 42 only: <= 12 days with days 31-34
        bands = [(12, 18), (12, 18)]
    elif grade == 4:  # < 20 from day 35 for >= 22 days (weekly tests, 6 days between)
        bands = [LOW] * rng.choice((4, 5, 6, 10))
    else:
        bands = []
    previous = early.get(30)
    for index, day in enumerate(days):
        if index < len(bands):
            value = float(rng.randint(*bands[index]))
        elif previous is not None and previous < 20:
            # first count after a run < 20 a week earlier: high enough that the interpolated
            # day after the run is >= 20 (v + (next - v) / 7 >= 20)
            floor = 140 - 6 * previous + 10
            value = float(rng.randint(int(max(75, floor)), int(max(75, floor)) + 30))
        else:
            value = float(rng.randint(*LATE_HIGH))
        values[day] = value
        previous = value
    return values


def _expected_early(plan: CoursePlan, designed: int) -> int:
    if plan.iec_hs_day is not None:
        return 3  # the event's 7-11 days < 20 x10^9/L (see generator: iec_hs_platelets)
    return designed


def _expected_late(plan: CoursePlan, designed: int) -> int | None:
    event = plan.iec_hs_day
    if event is not None and event + 10 >= 30:
        # the event's dip reaches day 30: days 31-34 lie between a count < 20 and one >= 100,
        # and their band rests on how the late window reads interpolated days
        return None
    return designed
