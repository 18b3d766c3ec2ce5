"""`assess`: everything the engine says about one patient record (docs/design.md §2 step 4)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from icaht.ctcae import CTCAE_ANALYTES, CtcaeGrade, ctcae_from_lab
from icaht.early import SEVERE_ANC
from icaht.easix import EasixResult, easix, m_easix, s_easix
from icaht.hematotox import (
    AllHematotoxResult,
    Baseline,
    HematotoxResult,
    all_hematotox,
    baseline_in,
    hematotox_from_baseline,
    pick_baseline,
    scope_note,
    window_for,
)
from icaht.iec_hs import IecHsScreen, screen_iec_hs
from icaht.neutropenia import NeutropeniaResult, grade_neutropenia
from icaht.record import Analyte, LabValue, PatientRecord, series_until
from icaht.settings import GradingSettings
from icaht.thrombocytopenia import ThrombocytopeniaResult, grade_thrombocytopenia
from icaht.version import RULES_VERSION

# §2.6 (A8): the baseline neutropenia flag reads the last pre-LD ANC against the §2.1 SEVERE_ANC
BASELINE_NEUTROPENIA_DAYS = 14  # §2.6 (A8): days -14..-1
_DEFAULT_SETTINGS = GradingSettings()
# what is missing when the record has no CAR-T infusion (the card, the SMART API and the cohort
# tables say it in these words)
NO_INFUSION = "no CAR-T infusion on record: day 0 unknown, no ICAHT grade"


@dataclass(frozen=True, slots=True)
class Censoring:
    """The earliest competing event after day 0 (§2.6, A12)."""

    day: date
    reason: str  # "relapse", "next therapy", "allo-HCT", "new CAR-T infusion"


@dataclass(frozen=True, slots=True)
class Assessment:
    """The engine's whole answer for one patient; `missing` says what could not be computed."""

    patient_id: str
    rules_version: str
    evaluation_date: date | None  # None = retrospective
    day0: date | None
    product: str | None
    censoring: Censoring | None
    death_date: date | None
    neutropenia: NeutropeniaResult | None  # early/late ICAHT and phenotype
    baseline_neutropenia: bool | None  # A8: last ANC on days -14..-1 (before LD) <= 500
    ctcae: tuple[CtcaeGrade, ...]  # latest value of each blood count
    baseline: Baseline | None  # values used for CAR-HEMATOTOX and EASIX
    hematotox: HematotoxResult | None
    all_hematotox: AllHematotoxResult | None  # only for B-ALL with configured cut-offs
    easix: EasixResult | None
    m_easix: EasixResult | None
    s_easix: EasixResult | None
    iec_hs: IecHsScreen | None
    missing: tuple[str, ...]
    # The course in preparation (a planned infusion or a leukapheresis/lymphodepletion after the
    # last infusion, issue 14): its planned day 0 when an infusion is planned, and its
    # pre-infusion CAR-HEMATOTOX (§6.3 window of its lymphodepletion, else of the planned day 0).
    # No ICAHT grade: there is no day 0 yet. With no infusion on record, `baseline` and
    # `hematotox` above are these too (the only course is the planned one).
    planned_day0: date | None = None
    planned_baseline: Baseline | None = None
    planned_hematotox: HematotoxResult | None = None
    # §6.4: set when the disease on record is outside CAR-HEMATOTOX's validated scope
    hematotox_scope: str | None = None
    # T-ICAHT (§18, issue 19): graded whenever `neutropenia` is, on the same dates
    thrombocytopenia: ThrombocytopeniaResult | None = None


def _censoring(record: PatientRecord, day0: date) -> Censoring | None:
    """Earliest of relapse, next therapy, allo-HCT or a new infusion after day 0 (§1.2, §2.6)."""
    timeline = record.timeline
    events = [
        (timeline.relapse_day, "relapse"),
        (timeline.next_therapy_day, "next therapy"),
        (timeline.allo_hct_day, "allo-HCT"),
        *((i.day0, "new CAR-T infusion") for i in timeline.infusions),
    ]
    after = [(d, why) for d, why in events if d is not None and d > day0]
    if not after:
        return None
    day, reason = min(after, key=lambda e: e[0])
    return Censoring(day, reason)


@dataclass(frozen=True, slots=True)
class PlannedCourse:
    """A CAR-T course in preparation: its lymphodepletion (when on record) and planned day 0."""

    lymphodepletion: date | None
    day0: date | None


def planned_course(record: PatientRecord) -> PlannedCourse | None:
    """The course in preparation after the last infusion (or with none on record): a planned
    infusion later than the last day 0, or a leukapheresis/lymphodepletion step (the mapping
    gives only steps after the last infusion). A lymphodepletion after the planned day is not
    this course's."""
    timeline = record.timeline
    last = timeline.day0
    planned = timeline.planned_infusion
    day0 = planned.day if planned is not None and (last is None or planned.day > last) else None
    prep = timeline.preparation
    if prep is not None and last is not None and prep.day <= last:
        prep = None
    if day0 is None and prep is None:
        return None
    ld = prep.day if prep is not None and prep.step == "lymphodepletion" else None
    if ld is not None and day0 is not None and ld > day0:
        ld = None
    return PlannedCourse(ld, day0)


def _planned_score(
    known: PatientRecord, course: PlannedCourse | None, missing: list[str]
) -> tuple[Baseline | None, HematotoxResult | None]:
    """§6.3 for the course in preparation: [LD - 7 d, LD], else [planned day -10, day -5]; only
    values known on the evaluation date (the score is as of that day)."""
    if course is None:
        return None, None
    if course.day0 is None and course.lymphodepletion is None:
        missing.append(
            "CAR-HEMATOTOX of the course in preparation: no lymphodepletion or planned infusion "
            "date (baseline window unknown)"
        )
        return None, None
    anchor = course.day0 or course.lymphodepletion
    assert anchor is not None
    baseline = baseline_in(known, *window_for(course.lymphodepletion, anchor))
    score = hematotox_from_baseline(baseline)
    missing += [f"CAR-HEMATOTOX (course in preparation): no baseline {i}" for i in score.missing]
    return baseline, score


def _known(labs: tuple[LabValue, ...], evaluation_date: date | None) -> tuple[LabValue, ...]:
    return labs if evaluation_date is None else tuple(v for v in labs if v.day <= evaluation_date)


def _latest_ctcae(record: PatientRecord, evaluation_date: date | None) -> tuple[CtcaeGrade, ...]:
    grades = []
    for analyte in CTCAE_ANALYTES:
        series = series_until(record.series(analyte), evaluation_date)
        if series:
            latest_day = series[-1].day
            same_day = [v for v in series if v.day == latest_day]
            grades.append(ctcae_from_lab(min(same_day, key=lambda v: v.value)))
    return tuple(grades)


def _baseline_neutropenia(record: PatientRecord, day0: date) -> bool | None:
    ld = record.timeline.lymphodepletion_start
    values = [
        v
        for v in record.series(Analyte.ANC)
        if -BASELINE_NEUTROPENIA_DAYS <= (v.day - day0).days <= -1 and (ld is None or v.day <= ld)
    ]
    return None if not values else values[-1].value <= SEVERE_ANC


def assess(
    record: PatientRecord,
    *,
    evaluation_date: date | None = None,
    settings: GradingSettings = _DEFAULT_SETTINGS,
) -> Assessment:
    """Combine grading, CTCAE, CAR-HEMATOTOX, EASIX and the IEC-HS screen for the latest course."""
    missing: list[str] = []
    timeline = record.timeline
    ctcae = _latest_ctcae(record, evaluation_date)
    day0 = timeline.day0
    # nothing collected after the evaluation date may reach a score (as-of grading); when
    # nothing was, the record itself, with the series it has sorted already (issue 20)
    labs = _known(record.labs, evaluation_date)
    known = record if len(labs) == len(record.labs) else replace(record, labs=labs)
    planned = planned_course(record)
    planned_baseline, planned_score = _planned_score(known, planned, missing)
    scope = scope_note(timeline.disease)
    if day0 is None:
        missing.insert(0, NO_INFUSION)
        return Assessment(
            record.patient_id,
            RULES_VERSION,
            evaluation_date,
            None,
            None,
            None,
            timeline.death_day,
            None,
            None,
            ctcae,
            planned_baseline,
            planned_score,
            None,
            None,
            None,
            None,
            None,
            tuple(missing),
            planned_day0=planned.day0 if planned else None,
            planned_baseline=planned_baseline,
            planned_hematotox=planned_score,
            hematotox_scope=scope,
        )
    course = timeline.infusions[-1]
    censoring = _censoring(record, day0)
    death = timeline.death_day
    neutropenia = None
    thrombocytopenia = None
    anc = series_until(record.series(Analyte.ANC), evaluation_date)
    if evaluation_date is not None and evaluation_date < day0:
        missing.append("evaluation date before day 0: no ICAHT grade")
    elif death is not None and death < day0:
        missing.append("death date before day 0: no ICAHT grade")
    else:
        if not anc:
            missing.append("no ANC values")
        neutropenia = grade_neutropenia(
            anc,
            day0,
            evaluation_date=evaluation_date,
            death_date=death,
            censor_date=censoring.day if censoring else None,
            settings=settings,
        )
        # no "missing" entry without platelets: the result's reason says it (cards list
        # `missing`, and their wording belongs to the surfaces)
        thrombocytopenia = grade_thrombocytopenia(
            series_until(record.series(Analyte.PLATELETS), evaluation_date),
            day0,
            evaluation_date=evaluation_date,
            death_date=death,
            censor_date=censoring.day if censoring else None,
            transfusions=timeline.transfusions,
            settings=settings,
        )
    baseline = pick_baseline(known, day0)
    hematotox = hematotox_from_baseline(baseline)
    missing += [f"CAR-HEMATOTOX: no baseline {item}" for item in hematotox.missing]
    return Assessment(
        patient_id=record.patient_id,
        rules_version=RULES_VERSION,
        evaluation_date=evaluation_date,
        day0=day0,
        product=course.product,
        censoring=censoring,
        death_date=death,
        neutropenia=neutropenia,
        baseline_neutropenia=_baseline_neutropenia(known, day0),
        ctcae=ctcae,
        baseline=baseline,
        hematotox=hematotox,
        all_hematotox=_all_hematotox(known, baseline, settings, missing),
        easix=easix(
            ldh=baseline.value(Analyte.LDH),
            creatinine=baseline.value(Analyte.CREATININE),
            platelets=baseline.value(Analyte.PLATELETS),
        ),
        m_easix=m_easix(
            ldh=baseline.value(Analyte.LDH),
            crp=baseline.value(Analyte.CRP),
            platelets=baseline.value(Analyte.PLATELETS),
        ),
        s_easix=s_easix(
            ldh=baseline.value(Analyte.LDH), platelets=baseline.value(Analyte.PLATELETS)
        ),
        iec_hs=screen_iec_hs(record, day0, evaluation_date),
        missing=tuple(missing),
        planned_day0=planned.day0 if planned else None,
        planned_baseline=planned_baseline,
        planned_hematotox=planned_score,
        hematotox_scope=scope,
        thrombocytopenia=thrombocytopenia,
    )


def _all_hematotox(
    record: PatientRecord, baseline: Baseline, settings: GradingSettings, missing: list[str]
) -> AllHematotoxResult | None:
    """ALL-Hematotox only for B-ALL and only with configured cut-offs (§6.4, UNVERIFIED)."""
    if record.timeline.disease != "B-ALL":
        return None
    if settings.all_hematotox is None:
        missing.append("ALL-Hematotox: cut-offs not configured (UNVERIFIED, §6.4)")
        return None
    return all_hematotox(
        settings.all_hematotox,
        platelets=baseline.value(Analyte.PLATELETS),
        anc=baseline.value(Analyte.ANC),
        hemoglobin=baseline.value(Analyte.HEMOGLOBIN),
        crp=baseline.value(Analyte.CRP),
        marrow_blast_percent=record.timeline.marrow_blast_percent,
    )
