"""G-CSF exposure and coverage (docs/clinical/10-management-rules.md §17 C15; docs/decisions/0014).

A G-CSF dose covers its own day when the drug is short-acting (filgrastim and its biosimilars,
tbo-filgrastim, lenograstim: given once daily) and 14 days when it is long-acting (pegylated:
pegfilgrastim and its biosimilars, lipegfilgrastim, eflapegrastim, efbemalenograstim alfa: one
dose per chemotherapy cycle). Doses from day -7 count. Pure functions over `GcsfExposure`s; the
rules (M02, M03, M06, M07) ask `covering(...)` for a day.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta

from icaht.record import GcsfActing, GcsfExposure

# Days one dose covers, its own day included: dose day + 0 .. + (days - 1).
# short: once-daily dosing (filgrastim US label, section 2: "5 mcg/kg/day ... administered daily";
#   Neupogen, openFDA set id 97cc73cc-b5b7-458a-a933-77b00523e193).
# long: "6 mg once per chemotherapy cycle ... Do not administer between 14 days before and 24
#   hours after administration of cytotoxic chemotherapy" (Neulasta US label, section 2;
#   openFDA set id fdfe5d72-6b80-435a-afa4-c5d74dd852ce): the label spaces doses at >= 14 days,
#   so one dose stands for 14 days of G-CSF (C15). Eflapegrastim-xnst (Rolvedon) and
#   efbemalenograstim alfa-vuxw (Ryzneuta) are also dosed once per cycle (their US labels).
#   The label records were found on openFDA; their section 2 wording was not displayed there
#   and is quoted as known (docs/decisions/0014: to be checked against the current labels).
COVER_DAYS: Mapping[GcsfActing, int] = {"short": 1, "long": 14}

# C15: "Doses from day -7 count" (a dose given before is from before this course's
# lymphodepletion, e.g. stem-cell mobilisation, and does not count for this course).
COUNTS_FROM_DAY = -7

# Acting class of each G-CSF concept name of fhir_mappings' value sets (valuesets.yaml, group
# gcsf). Long-acting = pegylated G-CSF (the labels above; ATC L03AA13 pegfilgrastim, L03AA14
# lipegfilgrastim). A name not listed is read as short-acting: a 14-day coverage would silence
# M03 for two weeks, a 1-day coverage at worst repeats a G-CSF suggestion.
LONG_ACTING: frozenset[str] = frozenset(
    {"pegfilgrastim", "lipegfilgrastim", "eflapegrastim", "efbemalenograstim alfa"}
)


def acting_class(product: str | None) -> GcsfActing:
    """'long' for pegylated G-CSF, else 'short' (see LONG_ACTING)."""
    return "long" if product in LONG_ACTING else "short"


def last_covered_day(exposure: GcsfExposure) -> date | None:
    """The last day the exposure covers (None while it is open): its last dose day plus the
    dose's coverage minus one (a long-acting dose on day d covers d .. d + 13)."""
    if exposure.last_dose is None:
        return None
    return exposure.last_dose + timedelta(days=COVER_DAYS[exposure.acting] - 1)


def counts(exposure: GcsfExposure, day0: date) -> bool:
    """C15: an exposure counts for the course of `day0` when a dose of it falls on day -7 or
    later (an open one always does)."""
    last = exposure.last_dose
    return last is None or last >= day0 + timedelta(days=COUNTS_FROM_DAY)


def covers(exposure: GcsfExposure, day0: date, day: date) -> bool:
    """True when the exposure counts for this course and covers `day`."""
    if not counts(exposure, day0) or day < exposure.start:
        return False
    last = last_covered_day(exposure)
    return last is None or day <= last


def covering(exposures: Iterable[GcsfExposure], day0: date, day: date) -> GcsfExposure | None:
    """G-CSF coverage on `day`: the exposure covering it (the latest started), or None."""
    found = [e for e in exposures if covers(e, day0, day)]
    return max(found, key=lambda e: e.start) if found else None


def exposed_between(
    exposures: Iterable[GcsfExposure], day0: date, first: date, last: date
) -> tuple[GcsfExposure, ...]:
    """Counted exposures started on or before `last` whose coverage reaches `first` or later."""
    out = []
    for e in exposures:
        end = last_covered_day(e)
        if counts(e, day0) and e.start <= last and (end is None or end >= first):
            out.append(e)
    return tuple(sorted(out, key=lambda e: e.start))


def covered_run_until(
    exposures: Iterable[GcsfExposure], day0: date, until: date
) -> tuple[date, ...]:
    """Consecutive covered days from day 0 on, ending on `until` or the day before.

    Each day is covered when `covering` finds an exposure: the counted exposures' spans are
    worked out once, not for every day of the run (issue 20: a 10-day run of 6 exposures took
    60 `covers` calls; tests/unit/rules/test_facts_fast_paths.py holds it to `covering`)."""
    spans = [(e.start, last_covered_day(e)) for e in exposures if counts(e, day0)]

    def covered(day: date) -> bool:
        return any(start <= day and (last is None or day <= last) for start, last in spans)

    one_day = timedelta(days=1)
    day = until if covered(until) else until - one_day
    run: list[date] = []
    while day >= day0 and covered(day):
        run.append(day)
        day -= one_day
    return tuple(reversed(run))
