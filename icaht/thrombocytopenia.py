"""`grade_thrombocytopenia`: early and late T-ICAHT (thrombocytopenic ICAHT) and platelet recovery
of one CAR-T course (docs/clinical/18-t-icaht.md §18; Rejeski et al., Blood 2025,
doi:10.1182/blood.2025028833).

Issue 19 contract: the result types below are what the cards, the assessment API, the SMART
app and the cohort read. `grade_thrombocytopenia` reads the platelets on the neutrophil
grading's own machinery: daily minima (`icaht.observations`), the day grid with its <= 7-day
filling and open-window rule C1/C12 (`icaht.daygrid`), window end, status and censoring
precedence C3 (`icaht.early`, `icaht.late`), the late confirmation reading C8 and runs joined
across non-stable recoveries (`icaht.episodes`). What differs is §18's own: strict thresholds
(< 50, < 20, < 100), a cumulative count, no never-above override, late grade 3/4 by days < 20,
and the transfusion-independent platelet recovery. Readings: docs/clinical/18-t-icaht.md and
docs/decisions/0024-t-icaht-grading.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Literal

from icaht.daygrid import (
    NUMERIC_KINDS,
    SEVERE,
    DayGrid,
    WindowEnds,
    has_unknown_days,
    severity_flags,
    unusable_window,
    window_grid,
)
from icaht.early import EARLY_WINDOW_END, early_status
from icaht.episodes import find_episodes
from icaht.late import (
    LATE_WINDOW_START,
    LateValue,
    banded_grade,
    late_band,
    late_status,
    late_window_values,
)
from icaht.neutropenia import course_days
from icaht.observations import DailyValues, LabInput, daily_minima
from icaht.record import Analyte, Transfusion
from icaht.settings import GradingSettings
from icaht.version import RULES_VERSION

Status = Literal["final", "provisional", "censored"]

# §18 table (Rejeski et al., Blood 2025, doi:10.1182/blood.2025028833, Table 1), x10^9/L.
# Strict thresholds: "PLT < 50", "< 20", "< 100" (unlike N-ICAHT's <= 500 / <= 100).
BELOW_50 = 50.0  # early grade 1 (1-6 days) / 2 (>= 7 days); late grade 2 ([VERIFY] §18)
BELOW_20 = 20.0  # early grade 3 (1-13 days) / 4 (>= 14 days); late grade 3 / 4 likewise
BELOW_100 = 100.0  # late grade 1
EARLY_GRADE2_DAYS = 7  # §18: < 50 for >= 7 days
GRADE4_DAYS = 14  # §18: < 20 for >= 14 days (early and late)
LATE_WINDOW_END = 100  # §18: "window to day +100"
LATE_LIMITS = (BELOW_20, BELOW_50, BELOW_100)  # ascending: bands 3 (< 20), 2 (< 50), 1 (< 100)
# §18, paper's footnote: "days of non-stable count recovery (< 3 days) are counted to the
# cumulative total": runs below a threshold separated by 1-2 days are joined and those days
# counted (the bridging of §2.4, A4).
NONSTABLE_RECOVERY_MAX_DAYS = 2
# §18 platelet recovery: first of 3 consecutive days >= 20 x10^9/L with no platelet
# transfusion in the 7 days before. "7 days" read as CIBMTR's worked example does (forms
# manual, "initial platelet recovery": last transfusion on day 0, recovery reported on day 7):
# 7 transfusion-free days ending on the recovery day, i.e. none on days d-6..d.
RECOVERY_PLATELETS = 20.0
RECOVERY_RUN_DAYS = 3
RECOVERY_TRANSFUSION_FREE_DAYS = 7
# §18 [PROPOSED]: a count within 24 h after a platelet transfusion counts as measured. A
# Transfusion carries a calendar day only, so a count on the transfusion day or the next day
# may be such a count (the card says so; the grade is not changed).
POST_TRANSFUSION_DAYS = 1


@dataclass(frozen=True, slots=True)
class TEarlyResult:
    """Early T-ICAHT (days 0-30): cumulative days with platelets < 50 and < 20 x10^9/L."""

    grade: int | None  # 0..4; None when not evaluable (see `reason`)
    status: Status
    lower_bound: bool  # unknown days inside the window: the true grade may be higher
    days_below_50: int  # cumulative days in days 0..window_end_day
    days_below_20: int
    window_end_day: int | None
    below_50_days: tuple[int, ...]  # the study days counted (for charts and explanations)
    below_20_days: tuple[int, ...]
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class TLateResult:
    """Late T-ICAHT (days 31-100): the band of the lowest platelets, confirmed by a second test
    or non-transient; grade 3/4 by days < 20 x10^9/L (1-13 / >= 14)."""

    grade: int | None  # 0..4; None when no value in the window
    confirmed: bool
    status: Status
    window_end_day: int | None
    nadir: float | None  # x10^9/L
    nadir_day: int | None
    days_below_20: int
    reason: str | None = None
    # added by the engine (issue 19): the late days counted < 20 x10^9/L (for charts), and
    # grade 0 because the low value was followed by platelets >= 100 x10^9/L (C8 mirrored)
    below_20_days: tuple[int, ...] = ()
    transient: bool = False
    nadir_below: bool = False  # the nadir was given as "<x" (C6)


@dataclass(frozen=True, slots=True)
class ThrombocytopeniaResult:
    """Everything the platelet series says about one course, with evidence."""

    early: TEarlyResult
    late: TLateResult
    # platelet recovery: first of 3 consecutive days >= 20 x10^9/L with no platelet transfusion
    # in the 7 days before (§18); None when not (yet) recovered
    recovery_day: int | None
    infusion_date: date
    evaluation_date: date | None
    death_day: int | None
    censor_day: int | None
    # a count measured within 24 h after a platelet transfusion counted as measured (§18
    # [PROPOSED]); the card says so when True
    post_transfusion_values_used: bool
    rules_version: str = RULES_VERSION
    # added by the engine (issue 19): preliminary platelet values were read (real-time only,
    # §1.1; the card says so, C16)
    preliminary_values_used: bool = False


_DEFAULT_SETTINGS = GradingSettings()


def grade_thrombocytopenia(
    platelets: Iterable[LabInput],
    infusion_date: date | datetime,
    *,
    evaluation_date: date | datetime | None = None,
    death_date: date | datetime | None = None,
    censor_date: date | datetime | None = None,
    transfusions: Iterable[Transfusion] = (),
    settings: GradingSettings = _DEFAULT_SETTINGS,
) -> ThrombocytopeniaResult:
    """Grade early/late T-ICAHT and find platelet recovery from a platelet series (x10^9/L).

    `platelets`: `(date | datetime, value)` pairs or `LabValue` (analyte PLATELETS).
    `transfusions`: the course's blood products; only platelet units are read (recovery and the
    post-transfusion flag). Dates as for `grade_neutropenia` (C5: nothing after the evaluation
    date is known). `settings`: the day-grid switches (gap, edge anchors, open-end fill, fewest
    values) and the late confirmation switches (late_mode, confirmation interval, C8) are those
    of N-ICAHT; the neutrophil-only readings (A1 inclusive thresholds, A3 longest episode, A5,
    the never-above override, Liang's rounding to 10/uL, early_censoring off, late_window_end)
    do not apply: §18 fixes strict thresholds, a cumulative count, censoring and day +100.
    """
    course = course_days(
        infusion_date,
        evaluation_date=evaluation_date,
        death_date=death_date,
        censor_date=censor_date,
    )
    ends = course.ends
    daily = daily_minima(
        platelets,
        course.day0,
        course.last_day,
        use_preliminary=ends.eval_day is not None,
        analyte=Analyte.PLATELETS,
    )
    transfused = _platelet_transfusion_days(transfusions, course.day0, course.last_day)
    early = _grade_early(daily, ends, settings)
    late_end = ends.end(LATE_WINDOW_END)
    grid = _grid(daily, late_end, LATE_WINDOW_END, ends, settings)
    late = _grade_late(daily, grid, late_end, ends, settings)
    used_days = set(daily.numeric) | set(daily.bounds)
    last_used = max(late_end, early.window_end_day or 0)
    return ThrombocytopeniaResult(
        early=early,
        late=late,
        recovery_day=_recovery_day(grid, transfused),
        infusion_date=course.day0,
        evaluation_date=course.evaluation_date,
        death_day=ends.death_day,
        censor_day=ends.censor_day,
        post_transfusion_values_used=any(
            0 <= day <= last_used and any(0 <= day - t <= POST_TRANSFUSION_DAYS for t in transfused)
            for day in used_days
        ),
        preliminary_values_used=bool(daily.preliminary_days),
    )


def _platelet_transfusion_days(
    transfusions: Iterable[Transfusion], day0: date, last_day: int | None
) -> tuple[int, ...]:
    """Study days with a platelet transfusion; none after the evaluation day or death (C5)."""
    days = {
        t.day.toordinal() - day0.toordinal()
        for t in transfusions
        if t.product == "platelets" and t.units > 0
    }
    return tuple(sorted(d for d in days if last_day is None or d <= last_day))


def _grid(
    daily: DailyValues, end: int, horizon: int, ends: WindowEnds, settings: GradingSettings
) -> DayGrid:
    """§2.3/§16-§17's day grid on days 0..end. Liang's rounding to 10 cells/uL is an ANC
    reproduction and would move 45 x10^9/L onto 50: never applied to platelets."""
    if end < 0:
        return DayGrid((), ())
    if settings.round_to_10:  # the default settings do not round: no copy (5 us; issue 20)
        settings = replace(settings, round_to_10=False)
    return window_grid(daily, end, horizon, ends, settings)


def counted_days(flags: list[int], first_day: int = 0) -> tuple[int, ...]:
    """§18 cumulative count: days below the threshold plus the days of non-stable recoveries
    (1-2 days) between them; a recovery at the window's end is not counted (A5 reading).
    `flags` are those of days first_day.. (SEVERE / NOT_SEVERE / UNKNOWN_FLAG)."""
    runs = find_episodes(flags, 0, NONSTABLE_RECOVERY_MAX_DAYS, False)
    return tuple(first_day + day for run in runs for day in range(run.start_day, run.end_day + 1))


def early_grade_from_days(days_below_50: int, days_below_20: int) -> int:
    """§18 early table: the highest grade either row reaches."""
    if days_below_20 >= GRADE4_DAYS:
        return 4
    if days_below_20 >= 1:
        return 3
    if days_below_50 >= EARLY_GRADE2_DAYS:
        return 2
    return 1 if days_below_50 >= 1 else 0


def _grade_early(daily: DailyValues, ends: WindowEnds, settings: GradingSettings) -> TEarlyResult:
    """Days 0..E, E = min(30, death, censoring, evaluation); status as N-ICAHT's (C3)."""
    end = ends.end(EARLY_WINDOW_END)
    status, _ = early_status(end, ends.death_day, ends.censor_day)
    if end < 0:
        return TEarlyResult(None, status, True, 0, 0, None, (), (), "the window ends before day 0")
    grid = _grid(daily, end, EARLY_WINDOW_END, ends, settings)
    flags_50 = severity_flags(grid, BELOW_50, inclusive=False)
    flags_20 = severity_flags(grid, BELOW_20, inclusive=False)
    days = unusable_window(flags_50, end)
    if days is not None:
        reason = f"no usable platelet value {days}"
        return TEarlyResult(None, status, True, 0, 0, end, (), (), reason)
    below_50, below_20 = counted_days(flags_50), counted_days(flags_20)
    return TEarlyResult(
        grade=early_grade_from_days(len(below_50), len(below_20)),
        status=status,
        lower_bound=has_unknown_days(flags_50, flags_20),
        days_below_50=len(below_50),
        days_below_20=len(below_20),
        window_end_day=end,
        below_50_days=below_50,
        below_20_days=below_20,
    )


def _grade_late(
    daily: DailyValues,
    grid: DayGrid,
    end: int,
    ends: WindowEnds,
    settings: GradingSettings,
) -> TLateResult:
    """Days 31..min(100, death, censoring, evaluation). Grade 1/2 from the values' bands
    (< 100, < 50), confirmed by a second value < 100 or non-transient (C8 mirrored); a value
    < 20 gives grade 3, and 4 when the day grid counts >= 14 days < 20 in the window."""
    status = late_status(end, LATE_WINDOW_END, ends.death_day, ends.censor_day)
    values = late_window_values(daily, end)
    if not values:
        return TLateResult(
            None, False, status, end, None, None, 0, "no platelet value in the late window"
        )
    bands = [late_band(v, False, LATE_LIMITS) for v in values]  # strict; "<x" by C6
    grade, confirmed = banded_grade(values, bands, settings)
    flags_20 = severity_flags(grid, BELOW_20, inclusive=False)[LATE_WINDOW_START:]
    below_20 = counted_days(flags_20, LATE_WINDOW_START)
    if grade == 3 and len(below_20) >= GRADE4_DAYS:
        grade = 4
    nadir = _nadir(values)
    return TLateResult(
        grade=grade,
        confirmed=confirmed,
        status=status,
        window_end_day=end,
        nadir=nadir.value,
        nadir_day=nadir.day,
        days_below_20=len(below_20),
        below_20_days=below_20,
        transient=grade == 0 and late_band(nadir, False, LATE_LIMITS) > 0,
        nadir_below=nadir.below,
    )


def _nadir(values: tuple[LateValue, ...]) -> LateValue:
    """Lowest value; `<x` just below a number x (C6); the earliest of ties (C11d)."""
    return min(values, key=lambda v: (v.value, not v.below, v.day))


def _recovery_day(grid: DayGrid, transfused: tuple[int, ...]) -> int | None:
    """§18: the first of 3 consecutive days >= 20 x10^9/L (measured or grid) after 7 days
    without a platelet transfusion (days d-6..d), searched after the first day < 20 (the
    recovery follows the thrombocytopenia, as CIBMTR's platelet recovery does); from day 0 when
    no day is < 20 (CIBMTR: "not applicable"; day 0 keeps such courses recovered in a
    cumulative-incidence plot). Unknown and `<x` days are never >= 20."""
    values, kinds = grid.values, grid.kinds
    high = [
        v is not None and v >= RECOVERY_PLATELETS and kind in NUMERIC_KINDS
        for v, kind in zip(values, kinds, strict=True)
    ]
    flags_20 = severity_flags(grid, BELOW_20, inclusive=False)
    start = next((d for d, f in enumerate(flags_20) if f == SEVERE), 0)
    for day in range(start, len(values) - RECOVERY_RUN_DAYS + 1):
        if not all(high[day : day + RECOVERY_RUN_DAYS]):
            continue
        if any(day - RECOVERY_TRANSFUSION_FREE_DAYS < t <= day for t in transfused):
            continue
        return day
    return None
