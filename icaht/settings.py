"""Grading settings: one switch per entry of the ambiguity register (docs/clinical §13, §16).

`GradingSettings()` is the proposed reading of docs/clinical/ (as amended by §16).
`GradingSettings.liang()` reproduces the public Liang et al. R implementation
(`emilyliangmd/automatedicahtgrading:index.Rmd`; docs/clinical §4.3, §4.4, §4.8, §16 C9, C10).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

DurationMode = Literal["longest", "cumulative"]
LateMode = Literal["nadir", "strict"]

# §3.2, S-HAEM Table 1: late ICAHT is graded to day +100 (A13: 180/365 for extended follow-up);
# the default of `late_window_end` and the end of the monitoring period of the rules and charts
LATE_WINDOW_END = 100  # §3.2
PHENOTYPE_WINDOW_END = 60  # P2 (§5.2): the recovery phenotype is named from days 0-60


@dataclass(frozen=True, slots=True)
class AllHematotoxCutoffs:
    """ALL-Hematotox (B-ALL) configuration. UNVERIFIED: no cut-offs ship with the engine.

    docs/clinical §6.4: ALL-HT "substitutes BM disease burden for ferritin in CAR-HT"; the
    marrow-blast cut-offs and points are [UNVERIFIED], so they must be configured by the centre.
    `blast_points` holds (minimum blast percent, inclusive; points), e.g. ((5.0, 1), (20.0, 2)).
    """

    blast_points: tuple[tuple[float, int], ...]
    high_risk_min_score: int = 2  # docs/clinical §6.1 (CAR-HEMATOTOX high >= 2); ALL-HT UNVERIFIED


@dataclass(frozen=True, slots=True)
class GradingSettings:
    """Every configurable reading. Defaults = proposed reading (docs/clinical §13 + §16)."""

    # A1 (§2.2): ICAHT thresholds 500/100 and 1500/1000/500/100 read as "<=" (True) or "<".
    threshold_inclusive: bool = True
    # A3 (§2.4): graded duration = longest bridged episode, or the sum of all episodes.
    duration_mode: DurationMode = "longest"
    # A2 (§2.3 step 3, C4): longest run of missing days in the window that is filled.
    max_interpolation_gap: int = 7
    # A4 (§2.4): runs of severe days separated by 1..bridging_gap non-severe days are joined.
    bridging_gap: int = 2
    # A2 (§2.3 steps 4-5): use a value on days -7..-1 / 31..37 as the slope anchor of end gaps.
    edge_anchors: bool = True
    # A14 (§2.3 step 6): round grid values to the nearest 10, half to even (Liang).
    round_to_10: bool = False
    # A5 (§2.4): absorb a trailing run of <= bridging_gap non-severe days into the last episode.
    absorb_trailing_gaps: bool = False
    # A15 (§2.5, §2.7, C9): never-above override only when the window is complete (day 30 or
    # death). False = Liang: whenever the episode reaches the last grid day.
    never_above_requires_complete_window: bool = True
    # A6 (§2.5): the override needs a severe episode starting on day 0..this day.
    never_above_latest_start_day: int = 3
    # A12 (§2.6, C3): relapse/next therapy/allo-HCT end the early window (Liang: no).
    early_censoring: bool = True
    # C1/C9: fill the run after the last measured day up to an open end (evaluation day or
    # end of follow-up). False = proposed (C1); True = Liang's end-of-follow-up treatment (C9).
    fill_towards_open_end: bool = False
    # C10 (§4.3): fewest values on days 0..E for any filling (zoo::na.approx needs two).
    min_values_for_fill: int = 1
    # A10 (§3.2): late grade from the nadir (gated by a 2nd value <= 1500) or strict (2nd value).
    late_mode: LateMode = "nadir"
    # A13 (§3.2): last day of the late window (100; 180/365 for extended follow-up).
    late_window_end: int = LATE_WINDOW_END
    # A13 (§3.2): longest interval between two confirming late values (None = no limit).
    late_max_days_between_confirming_values: int | None = None
    # C8 (§16): grade 0 "transient" needs a value > 1500 after the nadir (Liang: order ignored).
    transient_needs_later_value: bool = True
    # P2 (§5.2): last day of the recovery-phenotype window.
    phenotype_window_end: int = PHENOTYPE_WINDOW_END
    # §6.4: ALL-Hematotox only when cut-offs are configured (UNVERIFIED).
    all_hematotox: AllHematotoxCutoffs | None = None

    @classmethod
    def liang(cls) -> GradingSettings:
        """The public Liang et al. R implementation, reproduced exactly (§4.3, §4.4, C9, C10)."""
        return cls(
            threshold_inclusive=True,
            duration_mode="longest",
            max_interpolation_gap=7,
            bridging_gap=2,
            edge_anchors=False,
            round_to_10=True,
            absorb_trailing_gaps=True,
            never_above_requires_complete_window=False,
            early_censoring=False,
            fill_towards_open_end=True,
            min_values_for_fill=2,
            late_mode="nadir",
            late_window_end=LATE_WINDOW_END,
            late_max_days_between_confirming_values=None,
            transient_needs_later_value=False,
        )

    def with_changes(self, **changes: object) -> GradingSettings:
        """A copy with some switches changed (the dataclass is frozen)."""
        return replace(self, **changes)  # type: ignore[arg-type]
