"""Neutrophil recovery phenotypes (clinical-rules §5 as amended by §16 C7, C11b, C11c, C11e)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Literal, NamedTuple

from icaht.daygrid import GridSpec, build_grid, left_anchor, right_anchor, severity_flags
from icaht.early import SEVERE_ANC, window_end
from icaht.episodes import find_episodes
from icaht.observations import DailyAnc
from icaht.options import GradingOptions

Phenotype = Literal["quick", "intermittent", "aplastic", "unclassified", "indeterminate"]

APLASTIC_DAYS = 14  # §5.1, S-HAEM Table 1: severe neutropenia for >= 14 days
DIP_ANC = 1000  # §5.1, S-HAEM Table 1: "second dip below an ANC <1,000/uL" (strict)
RECOVERY_ANC = 1500  # §5.1, S-HAEM Table 1: "neutrophil recovery (ANC >1,500/uL)" (strict)


@dataclass(frozen=True, slots=True)
class PhenotypeResult:
    """Recovery phenotype with the days that decided it."""

    phenotype: Phenotype
    window_end_day: int | None
    longest_severe_days: int
    dip_day: int | None = None  # first value < 1000
    recovery_day: int | None = None  # intermittent: value > 1500 after the dip
    second_dip_day: int | None = None  # intermittent: value < 1000 after that recovery
    sustained_recovery_day: int | None = None  # C7a


def classify_phenotype(
    daily: DailyAnc,
    *,
    death_day: int | None,
    censor_day: int | None,
    eval_day: int | None,
    options: GradingOptions,
) -> PhenotypeResult:
    """Precedence aplastic > intermittent > quick > indeterminate/unclassified (§5.2, C7b)."""
    horizon = options.phenotype_window_end
    end = window_end(horizon, death_day, censor_day, eval_day)
    if end < 0:
        return PhenotypeResult("indeterminate", None, 0)
    longest = _longest_severe(
        daily, end, horizon=horizon, death_day=death_day, censor_day=censor_day, opts=options
    )
    marks = _measured_marks(daily, end)
    if longest >= APLASTIC_DAYS:
        return PhenotypeResult("aplastic", end, longest)
    dip = next((m.day for m in marks if m.low), None)
    a, b, c = _intermittent(marks)
    if c is not None:
        return PhenotypeResult("intermittent", end, longest, a, b, c)
    sustained = _sustained_recovery(marks, dip)
    quick = bool(marks) and (
        dip is None
        or (sustained is not None and not any(m.low for m in marks if m.day > sustained))
    )
    if quick:
        return PhenotypeResult("quick", end, longest, dip, sustained_recovery_day=sustained)
    complete = end == horizon and bool(marks)  # C7b
    kind: Phenotype = "unclassified" if complete else "indeterminate"
    return PhenotypeResult(kind, end, longest, dip, sustained_recovery_day=sustained)


def _longest_severe(
    daily: DailyAnc,
    end: int,
    *,
    horizon: int,
    death_day: int | None,
    censor_day: int | None,
    opts: GradingOptions,
) -> int:
    """Longest severe episode on the day grid 0..W (C7c; C1 applies with day 60, C11b)."""
    closed = end in (horizon, death_day)
    spec = GridSpec(
        end_day=end,
        fill_trailing=closed or opts.fill_towards_open_end,
        left_anchor=left_anchor(daily) if opts.edge_anchors else None,
        right_anchor=(
            right_anchor(daily, horizon, censor_day)
            if opts.edge_anchors and end == horizon
            else None
        ),
        max_gap=opts.max_interpolation_gap,
        min_values_for_fill=opts.min_values_for_fill,
        round_to_10=opts.round_to_10,
    )
    flags = severity_flags(build_grid(daily, spec), SEVERE_ANC, opts.threshold_inclusive)
    episodes = find_episodes(flags, SEVERE_ANC, opts.bridging_gap, opts.absorb_trailing_gaps)
    return max((e.duration for e in episodes), default=0)


class Mark(NamedTuple):
    """A measured day in the phenotype window, read against 1000 and 1500 (strict, §5.1)."""

    day: int
    low: bool  # ANC < 1000
    recovered: bool  # ANC >= 1000
    high: bool  # ANC > 1500


def _measured_marks(daily: DailyAnc, end: int) -> list[Mark]:
    """Measured days 0..W (no interpolation, §5.2 rule 2); C11e drops uninformative `<x`."""
    marks: list[Mark] = []
    for day in range(0, end + 1):
        if day in daily.numeric:
            value = daily.numeric[day]
            marks.append(Mark(day, value < DIP_ANC, value >= DIP_ANC, value > RECOVERY_ANC))
        elif day in daily.bounds:
            bound = daily.bounds[day]
            below = bound.x < DIP_ANC if bound.inclusive else bound.x <= DIP_ANC
            if below:  # C11e: `<x` with x > 1000 says nothing for the 1000/1500 tests
                marks.append(Mark(day, True, False, False))
    return marks


def _intermittent(marks: list[Mark]) -> tuple[int | None, int | None, int | None]:
    """Measured days a < b < c: ANC(a) < 1000, ANC(b) > 1500, ANC(c) < 1000 (§5.2 rule 2)."""
    dip = recovery = None
    for mark in marks:
        if recovery is not None and mark.low:
            return dip, recovery, mark.day
        if dip is not None and recovery is None and mark.high:
            recovery = mark.day
        if dip is None and mark.low:
            dip = mark.day
    return dip, recovery, None


def _sustained_recovery(marks: list[Mark], dip: int | None) -> int | None:
    """C7a, C11c: first measured day after the first dip with ANC >= 1000 whose next measured
    value inside the window is also >= 1000."""
    if dip is None:
        return None
    for mark, following in itertools.pairwise(marks):
        if mark.day > dip and mark.recovered and following.recovered:
            return mark.day
    return None
