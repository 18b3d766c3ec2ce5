"""`grade_thrombocytopenia`: early and late T-ICAHT (thrombocytopenic ICAHT) and platelet recovery
of one CAR-T course (clinical-rules.md §18; Rejeski et al., Blood 2025,
doi:10.1182/blood.2025028833).

Issue 19 contract: the result types below are what the cards, the assessment API, the SMART
app and the cohort read; the engine helper implements `grade_thrombocytopenia` on the day grid
of `icaht.daygrid` (the neutrophil grading's filling, censoring and status machinery).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from icaht.version import RULES_VERSION

Status = Literal["final", "provisional", "censored"]


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

    def explanation(self) -> str:  # e.g. "early T-ICAHT grade 3 (final) because ..."
        raise NotImplementedError  # issue 19 engine helper


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

    def explanation(self) -> str:
        raise NotImplementedError  # issue 19 engine helper


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
