"""Grading one patient: a pure function of that patient's rows (no I/O, no clock).

The same function runs in the local worker processes and under PySpark's `applyInPandas`.
FHIR resources go through what the patient-view hook reads and maps (patient_evaluation: the
resource types its searches read, `map_patient` with the centre's time zone, labs from
LAB_LOOKBACK_DAYS before day 0, the bound of the service's own search), then `icaht.assess` on
the evaluation date with the batch tool's grading settings. A Liang-layout CSV has no FHIR: its
rows become the engine's `PatientRecord` directly (the mapping layer's contract) and go through
the same `icaht.assess`.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from cohort.model import EpisodeRow, PatientGrading, Recovery
from fhir_mappings import map_patient
from icaht import Assessment, GradingSettings, assess
from icaht.assessment import NO_INFUSION as NO_DAY0
from icaht.daygrid import NUMERIC_KINDS, UNKNOWN
from icaht.early import EARLY_WINDOW_END as EARLY_LAST_DAY
from icaht.early import EarlyResult
from icaht.record import (
    Analyte,
    CarTInfusion,
    LabValue,
    PatientRecord,
    TherapyTimeline,
    daily_lowest,
)
from icaht.settings import PHENOTYPE_WINDOW_END as TRAJECTORY_LAST_DAY  # the phenotype's window

# platelet recovery is followed after platelets < 20 x10^9/L in days 0-30 (§18: recovery is
# the first of 3 days >= 20 x10^9/L without a platelet transfusion in the 7 days before)
from icaht.thrombocytopenia import RECOVERY_PLATELETS as PLATELET_RECOVERY_FROM
from icaht.thrombocytopenia import ThrombocytopeniaResult
from patient_evaluation import READ_TYPES, labs_from_lookback, read_types_only

InputKind = Literal["fhir", "liang"]
BEFORE_LOOKBACK = "before-day-minus-14"  # not read by the service either (hook query bound)
SERVICE_RESOURCE_TYPES = READ_TYPES  # the resource types the service reads


@dataclass(frozen=True, slots=True)
class CohortSettings:
    kind: InputKind
    as_of: date | None  # evaluation date; None = retrospective (Liang: each last follow-up)
    timezone: str = "UTC"  # the centre's IANA zone: calendar days of lab results
    liang: bool = False  # GradingSettings.liang(), the reference preset

    @property
    def grading_settings(self) -> GradingSettings:
        return GradingSettings.liang() if self.liang else GradingSettings()


def grade_payloads(
    patient_id: str, payloads: Iterable[str], settings: CohortSettings
) -> PatientGrading:
    """Grade one patient from its JSON texts: FHIR resources, or Liang CSV rows as objects.

    The texts are sorted first: engines deliver a patient's rows in different orders, and the
    same rows must give the same grading whichever engine read them.
    """
    items = [json.loads(text) for text in sorted(payloads)]
    if settings.kind == "fhir":
        return grade_fhir_patient(patient_id, items, settings)
    return grade_liang_patient(patient_id, items, settings)


def grade_fhir_patient(
    patient_id: str, resources: Sequence[Mapping[str, Any]], settings: CohortSettings
) -> PatientGrading:
    """What the patient-view hook computes for this patient on `settings.as_of`."""
    mapped = map_patient(read_types_only(resources), patient_id=patient_id, tz=settings.timezone)
    left_out = Counter(item.reason for item in mapped.left_out)
    day0 = mapped.record.timeline.day0
    if day0 is None:
        return _without_day0(patient_id, settings.as_of, left_out)
    record, before = labs_from_lookback(mapped.record, day0)
    if before:
        left_out[BEFORE_LOOKBACK] += before
    assessment = assess(record, evaluation_date=settings.as_of, settings=settings.grading_settings)
    return grading_of(assessment, record, left_out)


def grade_liang_patient(
    patient_id: str, rows: Sequence[Mapping[str, Any]], settings: CohortSettings
) -> PatientGrading:
    """Rows `patient_id, cart_date, date, anc, progression_date, subsequent_therapy_date,
    last_fu_date` (dates ISO or None, validated by the reader). The evaluation date is the last
    follow-up (Liang et al.), or `--as-of` when that is earlier."""
    left_out: Counter[str] = Counter()
    labs = []
    for row in rows:
        if row["date"] is None:
            left_out["no-time"] += 1
        elif row["anc"] is None:
            left_out["no-value"] += 1
        else:
            labs.append(LabValue(Analyte.ANC, float(row["anc"]), _day(row["date"])))
    infusions = tuple(CarTInfusion(day0=d) for d in sorted(_days(rows, "cart_date")))
    follow_up = max(_days(rows, "last_fu_date"), default=None)
    evaluation = min((d for d in (settings.as_of, follow_up) if d is not None), default=None)
    if not infusions:
        return _without_day0(patient_id, evaluation, left_out)
    timeline = TherapyTimeline(
        infusions=infusions,
        relapse_day=min(_days(rows, "progression_date"), default=None),
        next_therapy_day=min(_days(rows, "subsequent_therapy_date"), default=None),
    )
    record = PatientRecord(patient_id, tuple(labs), timeline)
    assessment = assess(record, evaluation_date=evaluation, settings=settings.grading_settings)
    # the Liang et al. layout has no platelet counts: its T-ICAHT columns stay empty
    return grading_of(assessment, record, left_out, platelets=False)


def _day(text: str) -> date:
    return date.fromisoformat(text)


def _days(rows: Sequence[Mapping[str, Any]], column: str) -> set[date]:
    return {_day(row[column]) for row in rows if row[column] is not None}


def _without_day0(
    patient_id: str, evaluation: date | None, left_out: Counter[str]
) -> PatientGrading:
    return PatientGrading(
        patient_id, None, evaluation, None, not_computed=NO_DAY0, left_out=_counts(left_out)
    )


def _counts(left_out: Counter[str]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(left_out.items()))


def grading_of(
    assessment: Assessment,
    record: PatientRecord,
    left_out: Counter[str],
    *,
    platelets: bool = True,
) -> PatientGrading:
    """Copy the engine's answer into flat values (nothing is graded here).

    `platelets=False`: the input cannot hold platelet counts (Liang CSV), no T-ICAHT values."""
    day0 = assessment.day0
    assert day0 is not None
    evaluation = assessment.evaluation_date
    result = assessment.neutropenia
    known = [v for v in record.series(Analyte.ANC) if evaluation is None or v.day <= evaluation]
    daily = _daily_lowest(known, day0)
    values: dict[str, Any] = {
        "patient_id": assessment.patient_id,
        "day0": day0,
        "evaluation_date": evaluation,
        "day": None if evaluation is None else (evaluation - day0).days,
        "product": assessment.product,
        "anc_values": len(known),
        "not_computed": "; ".join(assessment.missing),
        "left_out": _counts(left_out),
        "anc_by_day": tuple((d, v) for d, v in daily if 0 <= d <= TRAJECTORY_LAST_DAY),
    }
    if assessment.hematotox is not None:
        values["hematotox_score"] = assessment.hematotox.score
        values["hematotox_risk"] = assessment.hematotox.risk
        values["hematotox_missing"] = ", ".join(assessment.hematotox.missing) or None
    if assessment.easix is not None:
        values["easix"] = assessment.easix.value
    if result is not None:
        values.update(_neutropenia_values(assessment))
        values["recovery"] = anc_recovery(result.early, result.death_day)
    thrombocytopenia = assessment.thrombocytopenia if platelets else None
    if thrombocytopenia is not None:
        series = record.series(Analyte.PLATELETS)
        counts = [v for v in series if evaluation is None or v.day <= evaluation]
        values.update(thrombocytopenia_values(thrombocytopenia, _daily_lowest(counts, day0)))
    return PatientGrading(**values)


def thrombocytopenia_values(
    result: ThrombocytopeniaResult, daily: Sequence[tuple[int, float]]
) -> dict[str, Any]:
    early, late = result.early, result.late
    return {
        "t_early_grade": early.grade,
        "t_early_status": early.status,
        "t_early_lower_bound": early.lower_bound,
        "t_days_below_50": early.days_below_50,
        "t_days_below_20": early.days_below_20,
        "t_late_grade": late.grade,
        "t_late_confirmed": late.confirmed if late.grade else None,
        "platelet_recovery_day": result.recovery_day,
        "platelet_recovery": platelet_recovery(result, daily),
    }


def platelet_recovery(
    result: ThrombocytopeniaResult, daily: Sequence[tuple[int, float]]
) -> Recovery | None:
    """Time to the engine's platelet recovery day after the first day < 20 x10^9/L of days
    0-30; None: never below 20 in the early window. Not recovered: death (competing) or
    censored at the last platelet day (or the censoring day), as the ANC recovery."""
    censor_day = result.censor_day
    seen = [(d, v) for d, v in daily if d >= 0 and (censor_day is None or d <= censor_day)]
    below = [d for d, v in seen if v < PLATELET_RECOVERY_FROM and d <= EARLY_LAST_DAY]
    first = min([*below, *result.early.below_20_days], default=None)
    if first is None:
        return None
    recovered = result.recovery_day
    if recovered is not None and recovered > first:
        return Recovery("recovered", recovered)
    death_day = result.death_day
    if death_day is not None and (censor_day is None or death_day <= censor_day):
        return Recovery("death", death_day)
    last = max([first, *(d for d, _ in seen)])
    return Recovery("censored", last if censor_day is None else min(last, censor_day))


def _neutropenia_values(assessment: Assessment) -> dict[str, Any]:
    result = assessment.neutropenia
    assert result is not None
    early, late = result.early, result.late
    pid = assessment.patient_id
    episodes = [EpisodeRow(pid, e.threshold, e.start_day, e.end_day) for e in early.episodes_500]
    episodes += [EpisodeRow(pid, e.threshold, e.start_day, e.end_day) for e in early.episodes_100]
    censoring = assessment.censoring
    return {
        "early_grade": early.grade,
        "early_explanation": early.explanation(),
        "late_explanation": late.explanation(),
        "early_status": early.status,
        "early_lower_bound": early.lower_bound,
        "days_anc_le_500": early.days_anc_le_500,
        "days_anc_le_100": early.days_anc_le_100,
        "never_above_500": early.never_above_500,
        "late_grade": late.grade,
        "late_status": late.status,
        "late_confirmed": late.confirmed if late.grade else None,
        "late_nadir_anc": late.nadir.value if late.nadir else None,
        "late_nadir_day": late.nadir.day if late.nadir else None,
        "phenotype": result.phenotype,
        "censoring_reason": censoring.reason
        if result.censor_day is not None and censoring
        else None,
        "censoring_day": result.censor_day,
        "death_day": result.death_day,
        "episodes": tuple(episodes),
    }


def _daily_lowest(values: Sequence[LabValue], day0: date) -> list[tuple[int, float]]:
    """The lowest value (ANC or platelets) of each measured day, by day after day 0."""
    return [((v.day - day0).days, v.value) for v in daily_lowest(values)]


def anc_recovery(early: EarlyResult, death_day: int | None) -> Recovery | None:
    """Time to ANC recovery > 500/µL after the first early severe episode, from the engine's own
    episodes and day grid (so a rise of 1-2 days that the engine bridges, reading A4, is no
    recovery); None: no severe episode in days 0-30.

    Recovered: the first day after the episode's end with a number on the grid (measured,
    interpolated or filled) that lies in no episode: such a day is above 500/µL by the
    engine's own reading (a bound "<x" day outside the episodes says nothing and is skipped).
    That is the episode's end + 1 unless the days right after it are unknown. Not recovered in
    the window: death when the window ends with the death day (competing event), else censored
    at the last known day of the window (relapse, next therapy, end of data or of day 30).
    """
    if not early.episodes_500:
        return None
    first = min(early.episodes_500, key=lambda e: e.start_day)
    severe = {d for e in early.episodes_500 for d in range(e.start_day, e.end_day + 1)}
    kinds = early.grid.kinds
    known = [d for d, kind in enumerate(kinds) if kind != UNKNOWN]
    numeric = (d for d in known if kinds[d] in NUMERIC_KINDS)
    recovered = next((d for d in numeric if d > first.end_day and d not in severe), None)
    if recovered is not None:
        return Recovery("recovered", recovered)
    end = early.window_end_day
    if early.status != "censored" and death_day is not None and death_day == end:
        return Recovery("death", death_day)
    return Recovery("censored", max(known, default=first.end_day))
