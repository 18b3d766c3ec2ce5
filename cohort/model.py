"""What the cohort grading says about one patient: flat values for the tables and plots."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from datetime import date
from typing import Any, Literal

RecoveryEvent = Literal["recovered", "death", "censored"]


@dataclass(frozen=True, slots=True)
class EpisodeRow:
    """One early severe (ANC <= 500/uL) or profound (<= 100/uL) episode, days from day 0."""

    patient_id: str
    threshold: int  # 500 or 100 cells/uL
    start_day: int
    end_day: int

    @property
    def duration_days(self) -> int:
        return self.end_day - self.start_day + 1


@dataclass(frozen=True, slots=True)
class Recovery:
    """Time to ANC recovery > 500/uL after the first severe day (days 0-30) of a course, or to
    platelet recovery (>= 20 x10^9/L, transfusion-independent) after platelets < 20 x10^9/L.

    `death` is the competing event; `censored` when the data end first (cumulative incidence).
    """

    event: RecoveryEvent
    day: int


@dataclass(frozen=True, slots=True)
class PatientGrading:
    """One row of patients.csv plus what episodes.csv and the plots need.

    Grades, statuses, phenotype and scores are copied from `icaht.Assessment` unchanged;
    nothing here is computed a second time. Days count from day 0.
    """

    patient_id: str
    day0: date | None
    evaluation_date: date | None  # None: retrospective (all data known)
    day: int | None  # the evaluation date as a day after day 0
    product: str | None = None
    early_grade: int | None = None
    early_status: str | None = None
    early_lower_bound: bool | None = None
    days_anc_le_500: int | None = None
    days_anc_le_100: int | None = None
    never_above_500: bool | None = None
    late_grade: int | None = None
    late_status: str | None = None
    late_confirmed: bool | None = None
    late_nadir_anc: float | None = None
    late_nadir_day: int | None = None
    phenotype: str | None = None
    hematotox_score: int | None = None
    hematotox_risk: str | None = None
    hematotox_missing: str | None = None
    easix: float | None = None
    censoring_reason: str | None = None
    censoring_day: int | None = None
    death_day: int | None = None
    anc_values: int = 0
    not_computed: str = ""  # the engine's `missing`, joined
    early_explanation: str = ""  # the engine's own sentence, as on the card
    late_explanation: str = ""
    left_out: tuple[tuple[str, int], ...] = ()  # (reason, count), sorted by reason
    episodes: tuple[EpisodeRow, ...] = ()
    anc_by_day: tuple[tuple[int, float], ...] = ()  # lowest ANC per measured day 0..60
    recovery: Recovery | None = None
    # T-ICAHT (thrombocytopenic ICAHT, docs/clinical/18-t-icaht.md §18), copied from
    # `Assessment.thrombocytopenia`; empty for a Liang-layout CSV (no platelet counts)
    t_early_grade: int | None = None
    t_early_status: str | None = None
    t_early_lower_bound: bool | None = None
    t_days_below_50: int | None = None  # cumulative days < 50 x10^9/L in days 0-30
    t_days_below_20: int | None = None
    t_late_grade: int | None = None
    t_late_confirmed: bool | None = None
    platelet_recovery_day: int | None = None  # >= 20 x10^9/L, transfusion-independent (§18)
    # time to platelet recovery after platelets < 20 x10^9/L in days 0-30 (death competing)
    platelet_recovery: Recovery | None = None

    @property
    def left_out_total(self) -> int:
        return sum(count for _, count in self.left_out)


# the flat columns of patients.csv, in order (left-out counts follow, one column per reason)
SCALAR_COLUMNS: tuple[str, ...] = tuple(
    f.name
    for f in fields(PatientGrading)
    if f.name not in ("left_out", "episodes", "anc_by_day", "recovery", "platelet_recovery")
)
_DATE_FIELDS = ("day0", "evaluation_date")


def grading_to_json(grading: PatientGrading) -> str:
    """A JSON text that `grading_from_json` turns back into an equal grading (for Spark)."""
    data: dict[str, Any] = {name: getattr(grading, name) for name in SCALAR_COLUMNS}
    for name in _DATE_FIELDS:
        value = data[name]
        data[name] = value.isoformat() if value is not None else None
    data["left_out"] = [list(item) for item in grading.left_out]
    data["episodes"] = [[e.threshold, e.start_day, e.end_day] for e in grading.episodes]
    data["anc_by_day"] = [list(item) for item in grading.anc_by_day]
    for name in ("recovery", "platelet_recovery"):
        recovery = getattr(grading, name)
        data[name] = None if recovery is None else [recovery.event, recovery.day]
    return json.dumps(data, separators=(",", ":"))


def grading_from_json(text: str) -> PatientGrading:
    data: dict[str, Any] = json.loads(text)
    for name in _DATE_FIELDS:
        if data[name] is not None:
            data[name] = date.fromisoformat(data[name])
    pid = data["patient_id"]
    data["left_out"] = tuple((reason, count) for reason, count in data["left_out"])
    data["episodes"] = tuple(EpisodeRow(pid, t, s, e) for t, s, e in data["episodes"])
    data["anc_by_day"] = tuple((day, value) for day, value in data["anc_by_day"])
    for name in ("recovery", "platelet_recovery"):
        recovery = data[name]
        data[name] = None if recovery is None else Recovery(recovery[0], recovery[1])
    return PatientGrading(**data)
