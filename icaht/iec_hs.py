"""IEC-HS screen (docs/clinical/09-iec-hs.md §17 C13, amending §9.1). A screen, never a diagnosis.

C13: ferritin above 2 x ULN is common for weeks after any CAR-T infusion, so on its own it does
not open the screen. The screen is positive on a day >= 7 only when all of:
  1. ferritin is RISING: >= 2 x the day-0 (+-1 day) value, or >= 2-fold within 72 h, or
     > 10,000 ng/mL;
  2. TIMING: no CRS period is active that day, and the ferritin rise starts after the CRS
     period's end or after a documented improvement (docs/decisions/0013 reading 2: no CRS is
     active from the start of the rise to that day, except an improvement record);
  3. at least one ASSOCIATED finding: fibrinogen < 150 mg/dL; ALT or AST > 5 x ULN (> 5 x the
     patient's baseline when the baseline is above ULN); a new cytopenia (ANC < 500/µL or
     platelets < 20 x10^9/L after a recovery above those values after day 0).
The rising ferritin and the associated finding must both lie in the last SCREEN_WINDOW_DAYS
days (the evaluation day and the 3 days before it).
Source of the criteria: Hines et al., Transplant Cell Ther 2023;29(7):438.e1-438.e16 (ASTCT
IEC-HS consensus); the reconstruction in §9.1 is [UNVERIFIED], C13 is the binding reading.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from icaht.record import (
    Analyte,
    CrsPeriod,
    LabValue,
    PatientRecord,
    TherapyTimeline,
    active_crs,
    count_until,
    is_upper_bound,
    series_until,
)

SCREEN_FROM_DAY = 7  # C13: positive on day >= 7 only
# C13 "in the last 3 days": findings on the evaluation day and the 3 days before it count
# (the one window of the screen; M23 and GradingSettings have no copy of it).
SCREEN_WINDOW_DAYS = 3
FERRITIN_FOLD = 2.0  # C13 (1): >= 2 x the day-0 value; >= 2-fold within 72 h
FERRITIN_RISE_HOURS = 72  # C13 (1): "within 72 h"; calendar days (3) without collection times
FERRITIN_VERY_HIGH = 10_000.0  # C13 (1): > 10,000 ng/mL (S-HIT: "often > 10,000 ng/mL")
FIBRINOGEN_LIMIT = 150.0  # C13 (3): fibrinogen < 150 mg/dL (1.5 g/L)
TRANSAMINASE_FACTOR = 5.0  # C13 (3): ALT or AST > 5 x ULN (> 5 x baseline if baseline > ULN)
# C13 (3): new cytopenia = below these after a recovery above them after day 0
NEW_CYTOPENIA_LIMITS: dict[Analyte, float] = {Analyte.ANC: 500.0, Analyte.PLATELETS: 20.0}
NEW_CYTOPENIA_TEXT = {Analyte.ANC: "ANC < 500/µL", Analyte.PLATELETS: "platelets < 20 x10^9/L"}

ONE_DAY = timedelta(days=1)
SCREEN_NOTE = (
    "Screening only: possible IEC-HS: evaluate against the ASTCT criteria. Not a diagnosis."
)


@dataclass(frozen=True, slots=True)
class IecHsFinding:
    """One lab value that met one screening criterion."""

    analyte: Analyte
    day: date
    value: float
    criterion: str
    source_id: str | None = None


@dataclass(frozen=True, slots=True)
class IecHsScreen:
    """Result of the C13 screen on `day` (the evaluation day; retrospectively the first positive
    day, or None). The findings are those of the window ending on `day`."""

    positive: bool
    day: date | None
    ferritin_findings: tuple[IecHsFinding, ...]  # rising ferritin with the timing met
    associated_findings: tuple[IecHsFinding, ...]
    not_assessable: tuple[str, ...]  # transaminases in the window without a ULN
    note: str = SCREEN_NOTE


@dataclass(frozen=True, slots=True)
class _Rise:
    finding: IecHsFinding
    starts: date  # the day the rise began (C13 timing)


def _day(lab: LabValue, day0: date) -> int:
    return (lab.day - day0).days


def _plain(lab: LabValue) -> bool:
    return lab.comparator is None and lab.provenance != "derived-bound"


def _below(lab: LabValue, limit: float) -> bool:
    """Known to be < limit; `<x` counts when x <= limit (docs/clinical/01-inputs.md §16 C6)."""
    return lab.value <= limit if lab.comparator == "<" else lab.value < limit


def _finding(lab: LabValue, criterion: str) -> IecHsFinding:
    return IecHsFinding(lab.analyte, lab.day, lab.value, criterion, lab.source_id)


def ferritin_baseline(series: Sequence[LabValue], day0: date) -> LabValue | None:
    """Day-0 ferritin, else day -1, else day +1 (C13 "day-0 (+-1 day)")."""
    for offset in (0, -1, 1):
        hits = [v for v in series if _day(v, day0) == offset and _plain(v)]
        if hits:
            return hits[-1]
    return None


def _within_72_h(earlier: LabValue, later: LabValue) -> bool:
    if earlier.collected is not None and later.collected is not None:
        hours = (later.collected - earlier.collected).total_seconds() / 3600
        return 0 < hours <= FERRITIN_RISE_HOURS
    return 0 < (later.day - earlier.day).days <= FERRITIN_RISE_HOURS // 24


def _run_starts(series: Sequence[LabValue], holds: Callable[[float], bool]) -> list[date]:
    """For every value, the first day a level criterion may have begun to hold for it: the day
    after the last earlier value that did not meet it (the rise happened in between), or the
    first value's day when every earlier value met it. A course whose ferritin stays above the
    level since CRS thus has a rise that started during CRS, however sparse the sampling
    (docs/decisions/0013 reading 2). One pass (issue 20: walking back from every value was
    quadratic in a long run)."""
    starts: list[date] = []
    last_unmet: LabValue | None = None
    for lab in series:
        starts.append(series[0].day if last_unmet is None else last_unmet.day + ONE_DAY)
        if not holds(lab.value):
            last_unmet = lab
    return starts


WINDOW = timedelta(hours=FERRITIN_RISE_HOURS)
# two UTC offsets differ by less than 48 h: a pair of one zone, subtracted as wall-clock times,
# is within this of its difference in instants
SLACK = timedelta(hours=48)


class _Window:
    """The values a ferritin value may have doubled from: earlier in the series, above 0 and
    within 72 h (`_within_72_h`). Candidates come from sorted keys (the collection instant, or
    the day), a superset of the window checked pair by pair with `_within_72_h` itself, so the
    result is the pairwise one at O(n log n + n k) for k values near each (issue 20)."""

    def __init__(self, plain: Sequence[LabValue]) -> None:
        self.plain = plain
        timed = [(_instant(v), i) for i, v in enumerate(plain) if v.collected is not None]
        timed.sort()
        self.timed_keys = [key for key, _ in timed]
        self.timed_index = [i for _, i in timed]
        days = sorted((v.day.toordinal(), i) for i, v in enumerate(plain))
        self.day_keys = [key for key, _ in days]
        self.day_index = [i for _, i in days]
        # naive times beside aware ones: `_within_72_h` may raise for a pair (Python does not
        # subtract the two), so it keeps its place before the cheap value test (below)
        self.mixed = len({_aware(v.collected) for v in plain if v.collected is not None}) > 1
        self.slack = _slack(v.collected for v in plain if v.collected is not None)

    def first_doubled_from(self, index: int) -> LabValue | None:
        """The oldest (first in the series) earlier value within 72 h that `plain[index]` is at
        least twice, None when there is none."""
        lab = self.plain[index]
        best: int | None = None
        for i in self._near(lab):
            if i >= index or (best is not None and i >= best):
                continue
            earlier = self.plain[i]
            if self.mixed:
                doubled = (
                    earlier.value > 0
                    and _within_72_h(earlier, lab)
                    and lab.value >= FERRITIN_FOLD * earlier.value
                )
            else:  # the same test, the value first: most pairs fail it (issue 20, 1.5 -> 0.8 ms
                # for 150 ferritin values at 8 a day); nothing here can raise
                doubled = (
                    earlier.value > 0
                    and lab.value >= FERRITIN_FOLD * earlier.value
                    and _within_72_h(earlier, lab)
                )
            if doubled:
                best = i
        return None if best is None else self.plain[best]

    def _near(self, lab: LabValue) -> list[int]:
        """Indices of every value `_within_72_h` can hold for with `lab` (and some more)."""
        day = lab.day.toordinal()
        low, high = day - FERRITIN_RISE_HOURS // 24, day - 1
        if lab.collected is None:  # the calendar-day rule, with every earlier value
            return self.day_index[
                bisect_left(self.day_keys, low) : bisect_right(self.day_keys, high)
            ]
        # with a timed earlier value the hours count: the instants bound them up to the
        # difference of two UTC offsets (aware times of one zone subtract as wall-clock times)
        at = _instant(lab)
        low_at, high_at = at - WINDOW - self.slack, at + self.slack
        timed = self.timed_index[
            bisect_left(self.timed_keys, low_at) : bisect_right(self.timed_keys, high_at)
        ]
        untimed = [
            i
            for i in self.day_index[
                bisect_left(self.day_keys, low) : bisect_right(self.day_keys, high)
            ]
            if self.plain[i].collected is None
        ]
        return timed + untimed


def _slack(times: Iterable[datetime]) -> timedelta:
    """How far a pair's `_within_72_h` hours may lie from the difference of its instants: two
    aware times of one zone subtract as wall-clock times, i.e. off by the difference of their
    UTC offsets, at most the widest difference among the offsets present (1 h for one zone
    with summer time), not SLACK (issue 20: the candidates of a value at 8 a day halve);
    naive times subtract as their instants (`_instant` reads them as UTC): none. Times whose
    offset is unknown (naive beside aware, or a zone without an offset): SLACK."""
    offsets: set[timedelta | None] = set()
    naive = True
    for at in times:
        naive = naive and at.tzinfo is None
        offsets.add(at.utcoffset())
    if naive:
        return timedelta(0)
    if None in offsets:
        return SLACK
    known = [offset for offset in offsets if offset is not None]
    return max(known) - min(known)


def _aware(at: datetime) -> bool:
    return at.tzinfo is not None and at.utcoffset() is not None


def _instant(lab: LabValue) -> datetime:
    """The collection instant in UTC, comparable across zones (naive times read as UTC: the
    mapping gives aware ones)."""
    at = lab.collected
    assert at is not None
    return at.astimezone(UTC) if at.tzinfo is not None else at.replace(tzinfo=UTC)


def ferritin_rises(series: Sequence[LabValue], day0: date) -> list[_Rise]:
    """C13 (1) on every ferritin value after day 0, with the day each rise started."""
    baseline = ferritin_baseline(series, day0)
    plain = [v for v in series if _plain(v)]
    level = FERRITIN_FOLD * baseline.value if baseline is not None else float("inf")
    window = _Window(plain)
    very_high_starts = _run_starts(plain, lambda v: v > FERRITIN_VERY_HIGH)
    level_starts = _run_starts(plain, lambda v: v >= level)
    rises: list[_Rise] = []
    for index, lab in enumerate(plain):
        if _day(lab, day0) < 1 or lab is baseline:
            continue
        start = window.first_doubled_from(index)
        if start is not None:  # the oldest such value: the rise began there
            text = f"ferritin rose >= 2-fold within 72 h (from {start.value:g} ng/mL)"
            rises.append(_Rise(_finding(lab, text), start.day))
        if lab.value > FERRITIN_VERY_HIGH:
            rises.append(_Rise(_finding(lab, "ferritin > 10,000 ng/mL"), very_high_starts[index]))
        if lab.value >= level:
            text = f"ferritin >= 2 x the day-0 value ({level / FERRITIN_FOLD:g} ng/mL)"
            rises.append(_Rise(_finding(lab, text), level_starts[index]))
    return rises


def _improved(timeline: TherapyTimeline, period: CrsPeriod, rise_start: date) -> bool:
    """A documented improvement: `period` is a lower-grade record following a higher-grade one
    without a gap, and the rise starts on or after it (C13 "after a documented improvement")."""
    if period.grade is None or rise_start < period.start:
        return False
    before = active_crs(timeline, period.start - timedelta(days=1))
    return before is not None and before.grade is not None and before.grade > period.grade


def timing_met(timeline: TherapyTimeline, rise_start: date, day: date) -> bool:
    """C13 (2), read in docs/decisions/0013: the rise starts after the CRS period's end, i.e. no
    CRS period is active on any day from the start of the rise to `day`, unless that period is
    a documented improvement the rise started on or after (a rise during or just before a CRS is
    explained by that CRS)."""
    for offset in range((day - rise_start).days + 1):
        period = active_crs(timeline, rise_start + timedelta(days=offset))
        if period is not None and not _improved(timeline, period, rise_start):
            return False
    return True


def _new_cytopenias(after: Sequence[LabValue], analyte: Analyte) -> list[IecHsFinding]:
    """`after`: the analyte's values after day 0 (day >= 1), oldest first."""
    limit = NEW_CYTOPENIA_LIMITS[analyte]
    found: list[IecHsFinding] = []
    recovered = False
    for lab in after:
        if _below(lab, limit) and recovered:
            found.append(_finding(lab, f"new cytopenia: {NEW_CYTOPENIA_TEXT[analyte]}"))
        elif not is_upper_bound(lab) and lab.value > limit:
            recovered = True
    return found


def _transaminase_findings(
    series: Sequence[LabValue], day0: date
) -> tuple[list[IecHsFinding], list[LabValue]]:
    """ALT/AST > 5 x ULN, or > 5 x baseline when the baseline (last value on or before day 0)
    is above its ULN. Values without a ULN (and no such baseline) are returned as unassessable.
    `series`: oldest day first."""
    first_after = count_until(series, day0)  # the first value after day 0 (day >= 1)
    before = [v for v in series[:first_after] if _plain(v)]
    baseline = before[-1] if before else None
    high_baseline = (
        baseline
        if baseline is not None
        and baseline.reference_high is not None
        and baseline.value > baseline.reference_high
        else None
    )
    found: list[IecHsFinding] = []
    unassessable: list[LabValue] = []
    name = series[0].analyte.value.upper() if series else ""
    for lab in series[first_after:]:
        if is_upper_bound(lab):
            continue
        if high_baseline is not None:
            if lab.value > TRANSAMINASE_FACTOR * high_baseline.value:
                text = f"{name} > 5 x baseline ({high_baseline.value:g} U/L, above ULN)"
                found.append(_finding(lab, text))
        elif lab.reference_high is None:
            unassessable.append(lab)
        elif lab.value > TRANSAMINASE_FACTOR * lab.reference_high:
            found.append(_finding(lab, f"{name} > 5 x ULN ({lab.reference_high:g} U/L)"))
    return found, unassessable


def _in_window(when: date, day: date) -> bool:
    return 0 <= (day - when).days <= SCREEN_WINDOW_DAYS


def screen_iec_hs(
    record: PatientRecord, day0: date, evaluation_date: date | None = None
) -> IecHsScreen:
    """C13 on the evaluation day; retrospectively (no evaluation date) on every day >= 7 up to
    the last lab day, positive when any day is."""

    def series(analyte: Analyte) -> tuple[LabValue, ...]:
        return series_until(record.series(analyte), evaluation_date)

    timeline = record.timeline
    rises = ferritin_rises(series(Analyte.FERRITIN), day0)
    associated: list[IecHsFinding] = []
    for analyte in NEW_CYTOPENIA_LIMITS:
        values = series(analyte)
        associated += _new_cytopenias(values[count_until(values, day0) :], analyte)
    fibrinogen = series(Analyte.FIBRINOGEN)
    for lab in fibrinogen[count_until(fibrinogen, day0) :]:
        if _below(lab, FIBRINOGEN_LIMIT):
            associated.append(_finding(lab, "fibrinogen < 150 mg/dL"))
    unassessable: list[LabValue] = []
    for analyte in (Analyte.ALT, Analyte.AST):
        found, missing = _transaminase_findings(series(analyte), day0)
        associated += found
        unassessable += missing
    associated.sort(key=lambda f: (f.day, f.analyte.value))

    def on(day: date) -> IecHsScreen:
        ferritin = tuple(
            dict.fromkeys(
                r.finding
                for r in rises
                if _in_window(r.finding.day, day) and timing_met(timeline, r.starts, day)
            )
        )
        near = tuple(a for a in associated if _in_window(a.day, day))
        missing = tuple(
            f"{lab.analyte.value.upper()} on {lab.day.isoformat()}"
            for lab in unassessable
            if _in_window(lab.day, day)
        )
        positive = (day - day0).days >= SCREEN_FROM_DAY and bool(ferritin) and bool(near)
        return IecHsScreen(positive, day, ferritin, near, missing)

    if evaluation_date is not None:
        return on(evaluation_date)
    candidates = sorted(
        {
            r.finding.day + timedelta(days=offset)
            for r in rises
            for offset in range(SCREEN_WINDOW_DAYS + 1)
        }
    )
    for day in candidates:
        result = on(day)
        if result.positive:
            return result
    return IecHsScreen(False, None, (), (), ())
