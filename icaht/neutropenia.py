"""`grade_neutropenia`: early and late ICAHT and the recovery phenotype of one CAR-T course."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

from icaht.daygrid import WindowEnds
from icaht.early import EarlyResult, grade_early
from icaht.late import LateResult, grade_late
from icaht.observations import AncInput, DailyAnc, daily_minima
from icaht.phenotype import Phenotype, PhenotypeResult, classify_phenotype
from icaht.settings import GradingSettings
from icaht.version import RULES_VERSION

_DEFAULT_SETTINGS = GradingSettings()


@dataclass(frozen=True, slots=True)
class NeutropeniaResult:
    """Everything the ANC series says about one course, with evidence."""

    early: EarlyResult
    late: LateResult
    phenotype: Phenotype
    phenotype_detail: PhenotypeResult
    infusion_date: date
    evaluation_date: date | None  # None = retrospective
    death_day: int | None  # relative to day 0, when known by the evaluation date
    censor_day: int | None
    preliminary_values_used: bool  # §1.1: preliminary values only in real-time grading
    rules_version: str = RULES_VERSION
    # the daily minima the grades were computed from (evidence for charts; not compared)
    daily: DailyAnc | None = field(default=None, compare=False, repr=False)


def _as_date(value: date | datetime | None) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    return value


def _day(value: date | None, day0: date) -> int | None:
    return None if value is None else value.toordinal() - day0.toordinal()


@dataclass(frozen=True, slots=True)
class CourseDays:
    """A course's dates as study days, as known on the evaluation date (C5)."""

    day0: date
    evaluation_date: date | None  # None = retrospective
    eval_day: int | None
    death_day: int | None  # None when unknown or after the evaluation day
    censor_day: int | None
    last_day: int | None  # values after this day are not read (evaluation day or death)

    @property
    def ends(self) -> WindowEnds:
        return WindowEnds(self.death_day, self.censor_day, self.eval_day)


def course_days(
    infusion_date: date | datetime,
    *,
    evaluation_date: date | datetime | None,
    death_date: date | datetime | None,
    censor_date: date | datetime | None,
) -> CourseDays:
    """Day numbers of the evaluation, death and censoring dates; shared by N- and T-ICAHT."""
    day0 = _as_date(infusion_date)
    assert day0 is not None
    evaluated = _as_date(evaluation_date)
    eval_day = _day(evaluated, day0)
    death_day = _day(_as_date(death_date), day0)
    censor_day = _day(_as_date(censor_date), day0)
    if death_day is not None and death_day < 0:
        raise ValueError("death date before the infusion date")
    if censor_day is not None and censor_day < 0:
        raise ValueError("censoring date before the infusion date")
    if eval_day is not None:  # C5: what happens after the evaluation day is not known yet
        death_day = death_day if death_day is not None and death_day <= eval_day else None
        censor_day = censor_day if censor_day is not None and censor_day <= eval_day else None
    last_day = min((d for d in (eval_day, death_day) if d is not None), default=None)
    return CourseDays(day0, evaluated, eval_day, death_day, censor_day, last_day)


def grade_neutropenia(
    anc: Iterable[AncInput],
    infusion_date: date | datetime,
    *,
    evaluation_date: date | datetime | None = None,
    death_date: date | datetime | None = None,
    censor_date: date | datetime | None = None,
    settings: GradingSettings = _DEFAULT_SETTINGS,
) -> NeutropeniaResult:
    """Grade early/late ICAHT and classify recovery from an ANC series (cells/uL).

    `anc`: `(date | datetime, value)` pairs or `icaht.record.LabValue` (analyte ANC).
    `evaluation_date` None = retrospective (nothing after it is ignored; no open window end).
    Events after the evaluation date are not yet known and are ignored (C5).
    `censor_date`: earliest relapse/progression, next therapy, allo-HCT or new infusion.
    """
    course = course_days(
        infusion_date,
        evaluation_date=evaluation_date,
        death_date=death_date,
        censor_date=censor_date,
    )
    day0 = course.day0
    daily = daily_minima(anc, day0, course.last_day, use_preliminary=course.eval_day is not None)
    phenotype = classify_phenotype(daily, course.ends, settings)
    return NeutropeniaResult(
        early=grade_early(daily, course.ends, settings),
        late=grade_late(daily, course.ends, settings),
        phenotype=phenotype.phenotype,
        phenotype_detail=phenotype,
        infusion_date=day0,
        evaluation_date=course.evaluation_date,
        death_day=course.death_day,
        censor_day=course.censor_day,
        preliminary_values_used=bool(daily.preliminary_days),
        daily=daily,
    )
