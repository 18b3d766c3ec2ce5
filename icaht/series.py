"""Day series for a chart: the value of each day -7..+100 that the engine used, with its kind.

Pure (no clock, no I/O): built from the record and the engine's own evidence, never recomputed.
ANC: the daily minima the grading read (`NeutropeniaResult.daily`), overlaid on days 0..E by
the early window's day grid, so a day the engine interpolated or carried is shown as such.
Platelets and hemoglobin are never filled by the engine: their daily minima, measured only.
Nothing collected after the evaluation date (or after death) appears: as-of, like the grades.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from icaht.assessment import Assessment
from icaht.daygrid import AT_MOST, BELOW, FILLED, INTERPOLATED, MEASURED, DayGrid
from icaht.episodes import Episode
from icaht.observations import DailyAnc
from icaht.record import Analyte, Comparator, LabValue, PatientRecord, daily_lowest
from icaht.settings import LATE_WINDOW_END

FIRST_DAY = -7  # the left anchor of the early grid lies on days -7..-1 (§2.3 step 4)
LAST_DAY = LATE_WINDOW_END  # the late window ends on day +100 (§3.2)

PointKind = Literal["measured", "interpolated", "carried"]
GRID_KINDS: dict[str, tuple[PointKind, Comparator | None]] = {
    MEASURED: ("measured", None),
    INTERPOLATED: ("interpolated", None),
    FILLED: ("carried", None),  # constant back-fill / carry-forward of the nearest value
    BELOW: ("measured", "<"),  # "<x": known only as below x (C6)
    AT_MOST: ("measured", "<="),  # derived bound ANC <= WBC (§1.3)
}


@dataclass(frozen=True, slots=True)
class DayPoint:
    """One day's value; `comparator` when the value is a bound ("<0.1"), not a number."""

    day: int
    date: date
    value: float
    kind: PointKind
    comparator: Comparator | None = None


@dataclass(frozen=True, slots=True)
class ChartSeries:
    anc: tuple[DayPoint, ...]
    platelets: tuple[DayPoint, ...]
    hemoglobin: tuple[DayPoint, ...]
    episodes: tuple[Episode, ...]  # early window, ANC <= 500 and <= 100 (§2.4)


EMPTY = ChartSeries((), (), (), ())


def chart_series(record: PatientRecord, assessment: Assessment) -> ChartSeries:
    """The chart of the latest course; empty without day 0."""
    day0 = assessment.day0
    if day0 is None:
        return EMPTY
    last = _last_known_day(assessment, day0)
    result = assessment.neutropenia
    if result is not None and result.daily is not None:
        anc = anc_points(result.daily, result.early.grid, day0, last)
        episodes = (*result.early.episodes_500, *result.early.episodes_100)
    else:  # not graded (evaluation or death before day 0): the measured values only
        anc = lowest_points(record.series(Analyte.ANC), day0, last)
        episodes = ()
    return ChartSeries(
        anc=anc,
        platelets=lowest_points(record.series(Analyte.PLATELETS), day0, last),
        hemoglobin=lowest_points(record.series(Analyte.HEMOGLOBIN), day0, last),
        episodes=episodes,
    )


def _last_known_day(assessment: Assessment, day0: date) -> int:
    """Days after the evaluation date or death are not shown (as-of, C5)."""
    ends = [LAST_DAY]
    for when in (assessment.evaluation_date, assessment.death_date):
        if when is not None:
            ends.append((when - day0).days)
    return min(ends)


def anc_points(daily: DailyAnc, grid: DayGrid, day0: date, last: int) -> tuple[DayPoint, ...]:
    """Daily minima on days FIRST_DAY..last, with the early grid's value and kind on 0..E."""
    points: dict[int, DayPoint] = {}
    for day, value in daily.numeric.items():
        if FIRST_DAY <= day <= last:
            points[day] = DayPoint(day, _date(day0, day), value, "measured")
    for day, bound in daily.bounds.items():
        if FIRST_DAY <= day <= last:
            comparator: Comparator = "<=" if bound.inclusive else "<"
            points[day] = DayPoint(day, _date(day0, day), bound.x, "measured", comparator)
    for day, (grid_value, kind) in enumerate(zip(grid.values, grid.kinds, strict=True)):
        mapped = GRID_KINDS.get(kind)
        if grid_value is None or mapped is None or day > last:
            continue  # an unknown day stays without a point: the engine had no value
        points[day] = DayPoint(day, _date(day0, day), grid_value, *mapped)
    return tuple(points[day] for day in sorted(points))


def lowest_points(values: Iterable[LabValue], day0: date, last: int) -> tuple[DayPoint, ...]:
    """The lowest value of each day FIRST_DAY..last (the value CTCAE grades, §1.1)."""
    shown = (v for v in values if FIRST_DAY <= (v.day - day0).days <= last)
    return tuple(
        DayPoint((v.day - day0).days, v.day, v.value, "measured", v.comparator)
        for v in daily_lowest(shown)
    )


def _date(day0: date, day: int) -> date:
    return day0 + timedelta(days=day)


def day_runs(days: Iterable[int]) -> list[tuple[int, int]]:
    """Consecutive study days as (first, last), in the order given (sorted input gives sorted
    runs): [3, 4, 5, 9] -> [(3, 5), (9, 9)]. For card spans and chart bands."""
    runs: list[tuple[int, int]] = []
    for day in days:
        if runs and day == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs
