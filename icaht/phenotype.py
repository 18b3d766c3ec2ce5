"""Neutrophil recovery phenotypes (docs/clinical §5 as amended by §16 C7, C11b, C11c, C11e)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Literal

from icaht.daygrid import DayGrid, WindowEnds, severity_flags, window_grid
from icaht.early import SEVERE_ANC
from icaht.episodes import find_episodes
from icaht.observations import DailyAnc
from icaht.settings import GradingSettings

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
    # Window reached day 60 (or death). False: the phenotype may still change (e.g. a "quick"
    # patient evaluated on day 20 can re-dip); C7(b) still names it when rules 1-3 apply.
    window_complete: bool = False


def classify_phenotype(
    daily: DailyAnc,
    ends: WindowEnds,
    settings: GradingSettings,
) -> PhenotypeResult:
    """Precedence aplastic > intermittent > quick > indeterminate/unclassified (§5.2, C7b)."""
    horizon = settings.phenotype_window_end
    end = ends.end(horizon)
    if end < 0:
        return PhenotypeResult("indeterminate", None, 0)
    longest = _longest_severe(window_grid(daily, end, horizon, ends, settings), settings)
    done = end in (horizon, ends.death_day)
    if longest >= APLASTIC_DAYS:
        return PhenotypeResult("aplastic", end, longest, window_complete=done)
    marks = _measured_marks(daily, end)
    dip = next((day for day, value in marks if value < DIP_ANC), None)
    a, b, c = _intermittent(marks)
    if c is not None:
        return PhenotypeResult("intermittent", end, longest, a, b, c, window_complete=done)
    sustained = _sustained_recovery(marks, dip)
    quick = bool(marks) and (
        dip is None
        or (sustained is not None and not any(v < DIP_ANC for d, v in marks if d > sustained))
    )
    if quick:
        return PhenotypeResult(
            "quick", end, longest, dip, sustained_recovery_day=sustained, window_complete=done
        )
    complete = end == horizon and bool(marks)  # C7b
    kind: Phenotype = "unclassified" if complete else "indeterminate"
    return PhenotypeResult(
        kind, end, longest, dip, sustained_recovery_day=sustained, window_complete=done
    )


def _longest_severe(grid: DayGrid, settings: GradingSettings) -> int:
    """Longest severe episode on the day grid 0..W (C7c; C1 applies with day 60, C11b)."""
    flags = severity_flags(grid, SEVERE_ANC, settings.threshold_inclusive)
    episodes = find_episodes(
        flags, SEVERE_ANC, settings.bridging_gap, settings.absorb_trailing_gaps
    )
    return max((e.duration for e in episodes), default=0)


# A `<x` (x <= 1000) day is known to be < 1000 but has no number; it is carried as this value,
# which is below 1000 and so reads as a dip and never as a recovery.
KNOWN_BELOW_DIP = -1.0

Mark = tuple[int, float]  # (measured day, ANC or KNOWN_BELOW_DIP)


def _measured_marks(daily: DailyAnc, end: int) -> list[Mark]:
    """Measured days 0..W (no interpolation, §5.2 rule 2); C11e drops uninformative `<x`."""
    numeric, bounds = daily.numeric, daily.bounds
    if not bounds:
        return [(d, numeric[d]) for d in daily.days if 0 <= d <= end]
    marks: list[Mark] = []
    for day in sorted((*daily.days, *bounds)):
        if day < 0 or day > end:
            continue
        if day in numeric:
            marks.append((day, numeric[day]))
        else:
            bound = bounds[day]
            below = bound.x < DIP_ANC if bound.inclusive else bound.x <= DIP_ANC
            if below:  # C11e: `<x` with x > 1000 says nothing for the 1000/1500 tests
                marks.append((day, KNOWN_BELOW_DIP))
    return marks


def _intermittent(marks: list[Mark]) -> tuple[int | None, int | None, int | None]:
    """Measured days a < b < c: ANC(a) < 1000, ANC(b) > 1500, ANC(c) < 1000 (§5.2 rule 2)."""
    dip = recovery = None
    for day, value in marks:
        if recovery is not None and value < DIP_ANC:
            return dip, recovery, day
        if dip is not None and recovery is None and value > RECOVERY_ANC:
            recovery = day
        if dip is None and value < DIP_ANC:
            dip = day
    return dip, recovery, None


def _sustained_recovery(marks: list[Mark], dip: int | None) -> int | None:
    """C7a, C11c: first measured day after the first dip with ANC >= 1000 whose next measured
    value inside the window is also >= 1000."""
    if dip is None:
        return None
    for (day, value), (_, following) in itertools.pairwise(marks):
        if day > dip and value >= DIP_ANC and following >= DIP_ANC:
            return day
    return None
