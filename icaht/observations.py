"""ANC (or platelet) input -> daily minima per study day (docs/clinical §1.1, §1.2, §16 C5, C6).

Accepts `(date | datetime, value)` pairs or `icaht.record.LabValue` items of one analyte: ANC
(cells/uL, the default) or platelets (x10^9/L, T-ICAHT §18 reads the same day grid).
Days are integers relative to day 0 (day = collection date - infusion date, §0 "Day numbering").

Value kinds on one day:
* numeric: a measured (or derived) value, or a `<=`/`>=`/`>` value read as its number (§1.1);
* bound: a value given as `<x` (strictly below x) or a derived bound `ANC <= WBC` (§1.3,
  provenance "derived-bound"): known only relative to thresholds (§16 C6).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date, datetime
from typing import NamedTuple

from icaht.record import Analyte, LabValue

AncInput = LabValue | tuple[date | datetime, float]
LabInput = AncInput  # any analyte's input (platelets for T-ICAHT, §18)


class Bound(NamedTuple):
    """Day value known only as an upper bound: strictly below x (`<x`) or at most x (derived)."""

    x: float
    inclusive: bool  # True: value <= x (derived bound); False: value < x


class DailyAnc(NamedTuple):
    """Daily minima by day number: numeric values and bound-only days (disjoint)."""

    numeric: dict[int, float]
    bounds: dict[int, Bound]
    preliminary_days: frozenset[int]
    days: tuple[int, ...]  # sorted days of `numeric`


DailyValues = DailyAnc  # the same daily minima for another analyte (platelets, §18)


def _label(analyte: Analyte) -> str:
    return "ANC" if analyte is Analyte.ANC else analyte.value


def to_day(when: date | datetime, day0_ordinal: int) -> int:
    """Calendar day relative to day 0 (a datetime is taken at its own calendar date, §1.1)."""
    if isinstance(when, datetime):
        when = when.date()
    return when.toordinal() - day0_ordinal


def _unpack(
    item: AncInput, analyte: Analyte = Analyte.ANC
) -> tuple[date | datetime, float, Bound | None, bool]:
    if isinstance(item, LabValue):
        if item.analyte is not analyte:
            wanted = "an ANC" if analyte is Analyte.ANC else f"a {analyte.value}"
            raise ValueError(f"expected {wanted} value, got {item.analyte.value}")
        bound = None
        if item.comparator == "<":  # §1.1: "<x" = strictly below x
            bound = Bound(item.value, inclusive=False)
        elif item.provenance == "derived-bound":  # §1.3: ANC <= WBC
            bound = Bound(item.value, inclusive=True)
        return item.day, float(item.value), bound, item.preliminary
    when, value = item
    return when, float(value), None, False


def daily_minima(
    items: Iterable[AncInput],
    day0: date,
    last_day: int | None,
    *,
    use_preliminary: bool = True,
    analyte: Analyte = Analyte.ANC,
) -> DailyAnc:
    """Daily minimum per day (§1.1, A9); values after `last_day` are ignored (C5).

    `analyte`: the analyte every LabValue must have (ANC by default; platelets for §18)."""
    day0_ordinal = day0.toordinal()
    limit = last_day if last_day is not None else 1 << 30
    numeric: dict[int, float] = {}
    bounds: dict[int, Bound] = {}
    preliminary: set[int] = set()
    for item in items:
        if type(item) is tuple:  # hot path: (date, value) pairs
            when, raw = item
            value = float(raw)
            bound = None
        else:
            when, value, bound, is_preliminary = _unpack(item, analyte)
            if is_preliminary:
                if not use_preliminary:
                    continue
                day = to_day(when, day0_ordinal)
                if day <= limit:
                    preliminary.add(day)
        if not 0 <= value < math.inf:  # also rejects NaN
            raise ValueError(f"{_label(analyte)} must be a finite number >= 0, got {value!r}")
        day = (when if type(when) is date else _calendar_date(when)).toordinal() - day0_ordinal
        if day > limit:
            continue
        if bound is None:
            old = numeric.get(day)
            if old is None or value < old:
                numeric[day] = value
        else:
            old_bound = bounds.get(day)
            if old_bound is None or (bound.x, bound.inclusive) < (old_bound.x, old_bound.inclusive):
                bounds[day] = bound
    if bounds:
        _resolve_same_day(numeric, bounds)
    return DailyAnc(numeric, bounds, frozenset(preliminary), tuple(sorted(numeric)))


def _calendar_date(when: date | datetime) -> date:
    return when.date() if isinstance(when, datetime) else when


def _resolve_same_day(numeric: dict[int, float], bounds: dict[int, Bound]) -> None:
    """A day with both a number v and a bound x keeps the bound only when x <= v.

    [PROPOSED, not in the rules] `<x` with x <= v says the minimum lies below v, so the bound
    is the better description of the daily minimum; otherwise the number is kept.
    """
    for day in [d for d in bounds if d in numeric]:
        if bounds[day].x <= numeric[day]:
            del numeric[day]
        else:
            del bounds[day]
