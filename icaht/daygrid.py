"""The day grid: one value per calendar day 0..E (docs/clinical §2.3 as amended by §16 C1-C6, C10).

Hot path: plain lists of floats and short strings, no per-day objects.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from icaht.observations import Bound, DailyAnc
from icaht.settings import GradingSettings

# Day kinds (evidence for cards and charts).
MEASURED = "measured"  # daily minimum of measured values on that day
INTERPOLATED = "interpolated"  # linear between two values (or a value and an edge anchor)
FILLED = "filled"  # constant back-fill / carry-forward of the nearest value (<= 7 days)
BELOW = "below"  # value given as "<x" (§16 C6): known only relative to thresholds
AT_MOST = "at-most"  # derived bound ANC <= WBC (§1.3, C6)
UNKNOWN = "unknown"  # no value and not filled: never neutropenic, makes the grade a lower bound

NUMERIC_KINDS = frozenset({MEASURED, INTERPOLATED, FILLED})

SEVERE, NOT_SEVERE, UNKNOWN_FLAG = 1, 0, -1


@dataclass(frozen=True, slots=True)
class WindowEnds:
    """What may end a grading window before its horizon, as study days known on the evaluation
    day (C5): death, censoring (§2.6, C3) and the evaluation day (None: unknown, retrospective).
    One value for every window of a course (early, late, phenotype, T-ICAHT)."""

    death_day: int | None
    censor_day: int | None
    eval_day: int | None

    def end(self, horizon: int) -> int:
        """E = min(horizon, death, censoring, evaluation) (§2.6); missing terms ignored."""
        days = (horizon, self.death_day, self.censor_day, self.eval_day)
        return min(d for d in days if d is not None)


@dataclass(frozen=True, slots=True)
class DayGrid:
    """Values and kinds of days 0..end_day. A bound day holds its bound x as value."""

    values: tuple[float | None, ...]
    kinds: tuple[str, ...]
    left_anchor_day: int | None = None
    right_anchor_day: int | None = None

    @property
    def end_day(self) -> int:
        return len(self.values) - 1

    def days_of(self, kind: str) -> tuple[int, ...]:
        """Days of one kind, e.g. `grid.days_of("interpolated")`."""
        return tuple(d for d, k in enumerate(self.kinds) if k == kind)


@dataclass(frozen=True, slots=True)
class GridSpec:
    """How to build one grid: window end, whether the trailing run may be filled, anchors."""

    end_day: int
    fill_trailing: bool
    left_anchor: tuple[int, float] | None
    right_anchor: tuple[int, float] | None
    max_gap: int
    min_values_for_fill: int
    round_to_10: bool


def left_anchor(daily: DailyAnc) -> tuple[int, float] | None:
    """Latest numeric value on days -7..-1 (§2.3 step 4): sets the slope only, never counted."""
    for day in range(-1, -8, -1):  # docs/clinical/02-early-icaht.md §2.3 step 4: days -7..-1
        if day in daily.numeric:
            return day, daily.numeric[day]
    return None


def right_anchor(
    daily: DailyAnc, window_max: int, censor_day: int | None
) -> tuple[int, float] | None:
    """Earliest numeric value on days W+1..W+7 (§2.3 step 5, C7c), never after censoring (C5)."""
    for day in range(window_max + 1, window_max + 8):  # §2.3 step 5: days 31..37 (W+1..W+7)
        if censor_day is not None and day > censor_day:
            return None
        if day in daily.numeric:
            return day, daily.numeric[day]
    return None


def window_grid_spec(
    daily: DailyAnc,
    end: int,
    horizon: int,
    ends: WindowEnds,
    settings: GradingSettings,
) -> GridSpec:
    """The grid of a window days 0..end whose complete length is `horizon` (30 early, 60 for
    the phenotype): no fill towards an open end (C1, C11b), anchors only at a full window."""
    censor_day = ends.censor_day
    closed = end in (horizon, ends.death_day) or closed_by_censoring(end, censor_day, ends.eval_day)
    return GridSpec(
        end_day=end,
        fill_trailing=closed or settings.fill_towards_open_end,
        left_anchor=left_anchor(daily) if settings.edge_anchors else None,
        right_anchor=(
            right_anchor(daily, horizon, censor_day)
            if settings.edge_anchors and end == horizon
            else None
        ),
        max_gap=settings.max_interpolation_gap,
        min_values_for_fill=settings.min_values_for_fill,
        round_to_10=settings.round_to_10,
    )


def window_grid(
    daily: DailyAnc, end: int, horizon: int, ends: WindowEnds, settings: GradingSettings
) -> DayGrid:
    """The day grid of a window days 0..end (the early and late windows, the phenotype's, and
    T-ICAHT's with its own options)."""
    return build_grid(daily, window_grid_spec(daily, end, horizon, ends, settings))


def unusable_window(flags: list[int], end: int) -> str | None:
    """'on days 0-E' when no day of the window 0..E has a usable value (the grade cannot be
    given), 'on day 0' for a window of one day (issue 16: not "days 0-0"); None otherwise."""
    if not all(f == UNKNOWN_FLAG for f in flags):
        return None
    return "on day 0" if end == 0 else f"on days 0-{end}"


def has_unknown_days(*flags: list[int]) -> bool:
    """Unknown days inside the window: the grade is a lower bound (§2.3 step 7, C11f)."""
    return any(UNKNOWN_FLAG in day_flags for day_flags in flags)


def closed_by_censoring(end: int, censor_day: int | None, eval_day: int | None) -> bool:
    """C12 (amends C11a): a window that censoring ended *before* the evaluation day is closed,
    and the <= 7-day carry-forward fills it up to the censoring day as at day 30 or death. Only
    the evaluation day leaves a window open; a censoring day equal to the evaluation day counts
    as the evaluation day (the patient may still be sampled that day)."""
    if censor_day is None or end != censor_day:
        return False
    return eval_day is None or censor_day < eval_day


def build_grid(daily: DailyAnc, spec: GridSpec) -> DayGrid:
    """Daily minima, interior interpolation, end fills and bounds on days 0..spec.end_day."""
    end = spec.end_day
    values: list[float | None] = [None] * (end + 1)
    kinds = [UNKNOWN] * (end + 1)
    points = [d for d in daily.days if 0 <= d <= end]
    for day in points:
        values[day] = daily.numeric[day]
        kinds[day] = MEASURED
    used_left = used_right = None
    if points and len(points) >= spec.min_values_for_fill:
        used_left = _fill_leading(values, kinds, points[0], spec)
        _fill_interior(values, kinds, points, spec.max_gap)
        if spec.fill_trailing:
            used_right = _fill_trailing(values, kinds, points[-1], spec)
    if spec.round_to_10:
        for day, value in enumerate(values):
            if value is not None:
                values[day] = round(value / 10) * 10  # §2.3 step 6: R round(), half to even
    for day, bound in daily.bounds.items():
        if 0 <= day <= end:  # C6: a bound day is never an interpolation end point
            values[day] = bound.x
            kinds[day] = AT_MOST if bound.inclusive else BELOW
    return DayGrid(tuple(values), tuple(kinds), used_left, used_right)


def _linear(
    values: list[float | None], kinds: list[str], start: tuple[int, float], stop: tuple[int, float]
) -> None:
    """Linear interpolation on the days strictly between a and b that lie inside the grid."""
    (a, va), (b, vb) = start, stop
    slope = (vb - va) / (b - a)
    for day in range(max(a + 1, 0), min(b, len(values))):
        values[day] = va + slope * (day - a)
        kinds[day] = INTERPOLATED


def _fill_leading(
    values: list[float | None], kinds: list[str], first: int, spec: GridSpec
) -> int | None:
    """Days 0..first-1 (C4: only these count towards the 7-day limit)."""
    if first == 0 or first > spec.max_gap:
        return None
    first_value = values[first]
    assert first_value is not None
    if spec.left_anchor is not None:
        _linear(values, kinds, spec.left_anchor, (first, first_value))
        return spec.left_anchor[0]
    for day in range(first):
        values[day] = first_value
        kinds[day] = FILLED
    return None


def _fill_interior(
    values: list[float | None], kinds: list[str], points: list[int], max_gap: int
) -> None:
    """Interior gaps of <= max_gap missing days: linear (§2.3 step 3)."""
    for a, b in itertools.pairwise(points):
        if 1 < b - a <= max_gap + 1:
            va, vb = values[a], values[b]
            assert va is not None and vb is not None
            _linear(values, kinds, (a, va), (b, vb))


def _fill_trailing(
    values: list[float | None], kinds: list[str], last: int, spec: GridSpec
) -> int | None:
    """Days last+1..end (C4: only these count towards the 7-day limit)."""
    missing = spec.end_day - last
    if missing == 0 or missing > spec.max_gap:
        return None
    last_value = values[last]
    assert last_value is not None
    if spec.right_anchor is not None:
        _linear(values, kinds, (last, last_value), spec.right_anchor)
        return spec.right_anchor[0]
    for day in range(last + 1, spec.end_day + 1):
        values[day] = last_value
        kinds[day] = FILLED
    return None


def severity_flags(grid: DayGrid, threshold: float, inclusive: bool) -> list[int]:
    """Per day: SEVERE (value at/below threshold), NOT_SEVERE, or UNKNOWN_FLAG (§2.4, C6)."""
    values, kinds = grid.values, grid.kinds
    if inclusive:
        flags = [
            UNKNOWN_FLAG if v is None else (SEVERE if v <= threshold else NOT_SEVERE)
            for v in values
        ]
    else:
        flags = [
            UNKNOWN_FLAG if v is None else (SEVERE if v < threshold else NOT_SEVERE) for v in values
        ]
    if BELOW in kinds or AT_MOST in kinds:
        for day, kind in enumerate(kinds):
            if kind in (BELOW, AT_MOST):
                bound = Bound(values[day] or 0.0, kind == AT_MOST)
                hit = _bound_satisfies(bound, threshold, inclusive)
                flags[day] = SEVERE if hit else UNKNOWN_FLAG
    return flags


def _bound_satisfies(bound: Bound, threshold: float, inclusive: bool) -> bool:
    """C6: `<x` counts for a threshold when x is at or below it; otherwise the day is unknown."""
    if not bound.inclusive:
        return bound.x <= threshold  # value < x <= threshold
    return bound.x <= threshold if inclusive else bound.x < threshold
