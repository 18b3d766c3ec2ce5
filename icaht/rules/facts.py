"""Small pure helpers the rules share: study day, current values, runs, G-CSF, CRS.

Threshold readings used here (docs/decisions/0005):
* a value given as `<x` (or a derived bound `ANC <= x`) counts as at/below a threshold t only
  when x <= t (docs/clinical/01-inputs.md §16 C6); it is never "above" anything;
* "current" = the latest value on the evaluation day or the `current_count_max_age_days`
  days before it; same day, several values: the lowest (§1.1, A9).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date, timedelta

from icaht import gcsf
from icaht.record import (
    Analyte,
    GcsfExposure,
    LabValue,
    Period,
    daily_lowest,
    is_upper_bound,
    series_until,
)
from icaht.rules.model import DataUsed, RuleInput

UNITS: dict[Analyte, str] = {
    # one spelling in every card (docs/decisions/0016): "/µL", " x10^9/L", " g/dL"
    Analyte.ANC: "/µL",
    Analyte.PLATELETS: " x10^9/L",
    Analyte.HEMOGLOBIN: " g/dL",
    Analyte.FIBRINOGEN: " mg/dL",
    Analyte.IGG: " mg/dL",
    Analyte.FERRITIN: " ng/mL",
}
LABELS: dict[Analyte, str] = {
    Analyte.ANC: "ANC",
    Analyte.PLATELETS: "platelets",
    Analyte.HEMOGLOBIN: "Hb",
    Analyte.FIBRINOGEN: "fibrinogen",
    Analyte.IGG: "IgG",
    Analyte.FERRITIN: "ferritin",
}

LabTest = Callable[[LabValue], bool]


def study_day(inp: RuleInput, when: date | None = None) -> int | None:
    """Day relative to day 0 (docs/clinical §0 "Day numbering"); None without an infusion."""
    day0 = inp.assessment.day0
    if day0 is None:
        return None
    return ((when or inp.evaluation_date) - day0).days


def at_or_below(lab: LabValue, threshold: float) -> bool:
    """Known to be <= threshold (C6: `<x` and derived bounds only when x <= threshold)."""
    return lab.value <= threshold


def below(lab: LabValue, threshold: float) -> bool:
    """Known to be < threshold. `<x` with x <= threshold is below it; a derived bound needs x <
    threshold; a plain value needs value < threshold."""
    if lab.comparator == "<":
        return lab.value <= threshold
    return lab.value < threshold


def above(lab: LabValue, threshold: float) -> bool:
    """Known to be > threshold; a bounded value (`<x`, derived bound) never is."""
    return not is_upper_bound(lab) and lab.value > threshold


def known_values(inp: RuleInput, analyte: Analyte) -> tuple[LabValue, ...]:
    """Values of one analyte on or before the evaluation date, oldest first (the series is in
    day order: a slice of it, issue 20)."""
    return series_until(inp.record.series(analyte), inp.evaluation_date)


def current(inp: RuleInput, analyte: Analyte, max_age: int | None = None) -> LabValue | None:
    """The latest day's lowest value within `max_age` days before the evaluation date.

    Worked out once per input, analyte and age (the rules ask 22 times per evaluation; issue
    20): `_current_of` (tests/unit/rules/test_facts_fast_paths.py holds it to the definition)."""
    age = inp.settings.current_count_max_age_days if max_age is None else max_age
    key = (analyte, age)
    memo = inp._current
    if key not in memo:
        oldest = inp.evaluation_date - timedelta(days=age)
        memo[key] = _current_of(known_values(inp, analyte), oldest)
    return memo[key]


def _current_of(known: tuple[LabValue, ...], oldest: date) -> LabValue | None:
    """The lowest value of the last day of `known` (in day order), if that day is `oldest` or
    later: only that day's values are read (the series' tail), not the whole series."""
    if not known or known[-1].day < oldest:
        return None
    latest = known[-1].day
    first = len(known) - 1
    while first and known[first - 1].day == latest:
        first -= 1
    return daily_lowest(known[first:])[0]


def show(lab: LabValue) -> str:
    """'300/µL', '<5 x10^9/L', '6.9 g/dL'."""
    sign = "<" if lab.comparator == "<" else ("<=" if lab.provenance == "derived-bound" else "")
    return f"{sign}{lab.value:g}{UNITS.get(lab.analyte, '')}"


def day_label(inp: RuleInput, when: date) -> str:
    day = study_day(inp, when)
    return f"day {day}" if day is not None else when.isoformat()


def used(lab: LabValue) -> DataUsed:
    return DataUsed(LABELS.get(lab.analyte, lab.analyte.value), show(lab), lab.day, lab.source_id)


def describe(inp: RuleInput, lab: LabValue) -> str:
    """'ANC 300/µL on day 9' (flagged when preliminary)."""
    text = f"{LABELS.get(lab.analyte, lab.analyte.value)} {show(lab)} on {day_label(inp, lab.day)}"
    return text + " (preliminary)" if lab.preliminary else text


def describe_run(inp: RuleInput, run: Sequence[LabValue]) -> str:
    """'ANC 300, 180, 90/µL on days 9-11' or, for long runs, first/latest values and the span."""
    if not run:
        return ""
    label = LABELS.get(run[0].analyte, run[0].analyte.value)
    unit = UNITS.get(run[0].analyte, "")
    first, last = study_day(inp, run[0].day), study_day(inp, run[-1].day)
    span = f"day {first}" if first == last else f"days {first}-{last}"
    if len(run) <= 4:
        numbers = ", ".join(show(v).removesuffix(unit) for v in run)
        return f"{label} {numbers}{unit} on {span}"
    return (
        f"{label} {show(run[0])} on day {first} to {show(run[-1])} on day {last} "
        f"({len(run)} values, all in range)"
    )


def run_ending_now(inp: RuleInput, analyte: Analyte, test: LabTest) -> tuple[LabValue, ...]:
    """The run of daily values (day >= 0) meeting `test` that ends with the current value.

    Empty when the current value is missing or does not meet the test. Consecutive values more
    than `cytopenia_max_gap_days` apart break the run (§2.3 step 3: 7-day limit).
    """
    now = current(inp, analyte)
    if now is None or not test(now):
        return ()
    day0 = inp.assessment.day0
    values = [v for v in daily_lowest(known_values(inp, analyte)) if day0 is None or v.day >= day0]
    run: list[LabValue] = [now]
    for value in reversed(values[:-1]):
        if not test(value) or (run[-1].day - value.day).days > inp.settings.cytopenia_max_gap_days:
            break
        run.append(value)
    return tuple(reversed(run))


def span_days(run: Sequence[LabValue]) -> int:
    """Days from the first to the last value of a run, both included."""
    return (run[-1].day - run[0].day).days + 1 if run else 0


def active_period(periods: Iterable[Period], when: date) -> Period | None:
    return next((p for p in periods if p.contains(when)), None)


def gcsf_covering(inp: RuleInput, day: date) -> GcsfExposure | None:
    """G-CSF coverage on `day` (C15, icaht.gcsf): the dose or course covering it, or None."""
    day0 = inp.assessment.day0
    if day0 is None:
        return None
    memo = inp._gcsf_covering  # once per input and day (issue 20)
    if day not in memo:
        memo[day] = gcsf.covering(inp.record.timeline.gcsf_exposures, day0, day)
    return memo[day]


def gcsf_exposed_since_day_minus_7(inp: RuleInput) -> tuple[GcsfExposure, ...]:
    """Counted G-CSF (a dose on day -7 or later, or an open course) started by the evaluation
    date (M02: prophylaxis is not proposed once G-CSF was started)."""
    day0 = inp.assessment.day0
    if day0 is None:
        return ()
    first = day0 + timedelta(days=gcsf.COUNTS_FROM_DAY)
    exposures = inp.record.timeline.gcsf_exposures
    return gcsf.exposed_between(exposures, day0, first, inp.evaluation_date)


def gcsf_ongoing(inp: RuleInput) -> GcsfExposure | None:
    """G-CSF coverage on the evaluation day, or a short-acting dose in the `gcsf_ongoing_days`
    before it (daily dosing: today's dose may not be charted yet). A long-acting dose needs no
    grace: its 14 days already are its coverage (M03 fires again on dose day + 14)."""
    today = gcsf_covering(inp, inp.evaluation_date)
    if today is not None:
        return today
    for back in range(1, inp.settings.gcsf_ongoing_days + 1):
        earlier = gcsf_covering(inp, inp.evaluation_date - timedelta(days=back))
        if earlier is not None and earlier.acting == "short":
            return earlier
    return None


def gcsf_run_until(inp: RuleInput, until: date) -> tuple[date, ...]:
    """Consecutive G-CSF-covered days (day 0 on) ending on `until` or the day before (M07)."""
    day0 = inp.assessment.day0
    if day0 is None:
        return ()
    return gcsf.covered_run_until(inp.record.timeline.gcsf_exposures, day0, until)


def describe_gcsf(inp: RuleInput, exposure: GcsfExposure) -> str:
    """'filgrastim on day 3', 'pegfilgrastim (long-acting) on day -3, covering to day 10'."""
    name = exposure.product or "G-CSF"
    start = day_label(inp, exposure.start)
    last = gcsf.last_covered_day(exposure)
    if exposure.last_dose == exposure.start and last == exposure.start:
        return f"{name} on {start}"
    kind = f"{name} ({exposure.acting}-acting)"
    if last is None:
        return f"{kind} from {start}, ongoing"
    when = "on" if exposure.last_dose == exposure.start else "from"
    return f"{kind} {when} {start}, covering to {day_label(inp, last)}"


def gcsf_used(inp: RuleInput, exposure: GcsfExposure) -> DataUsed:
    return DataUsed("G-CSF", describe_gcsf(inp, exposure), exposure.start, exposure.source_id)


def day_span(inp: RuleInput, days: Sequence[date]) -> str:
    first, last = study_day(inp, days[0]), study_day(inp, days[-1])
    return f"day {first}" if first == last else f"days {first}-{last}"
