"""assess(): the combined answer for a PatientRecord."""

from __future__ import annotations

from datetime import timedelta

from engine_helpers import DAY0, lab, on

from icaht import RULES_VERSION, GradingSettings, assess
from icaht.record import (
    Analyte,
    CarTInfusion,
    CoursePreparation,
    LabValue,
    PatientRecord,
    PlannedInfusion,
    TherapyTimeline,
)


def anc_course() -> tuple[LabValue, ...]:
    values = {0: 2000, **dict.fromkeys(range(1, 9), 300), 9: 1500, 10: 2500, 40: 2200, 60: 2400}
    return tuple(lab(d, v) for d, v in values.items())


def baseline_labs() -> tuple[LabValue, ...]:
    return (
        lab(-6, 60, Analyte.PLATELETS),  # 2 points
        lab(-6, 3000, Analyte.ANC),
        lab(-6, 12, Analyte.HEMOGLOBIN),
        lab(-6, 50, Analyte.CRP),  # 5 mg/dL: 1 point
        lab(-6, 300, Analyte.FERRITIN),
        lab(-6, 240, Analyte.LDH),
        lab(-6, 1.0, Analyte.CREATININE),
    )


def timeline(**kw: object) -> TherapyTimeline:
    return TherapyTimeline(infusions=(CarTInfusion(day0=DAY0, product="axi-cel"),), **kw)  # type: ignore[arg-type]


def test_no_infusion_means_no_grade_and_a_reason() -> None:
    result = assess(PatientRecord("p", anc_course()))
    assert result.neutropenia is None
    assert result.day0 is None
    assert any("day 0" in m for m in result.missing)
    assert result.rules_version == RULES_VERSION


def test_full_assessment() -> None:
    record = PatientRecord("p", anc_course() + baseline_labs(), timeline())
    result = assess(record)
    assert result.neutropenia is not None
    early = result.neutropenia.early
    assert (early.grade, early.days_anc_le_500, early.status) == (2, 8, "final")
    assert result.neutropenia.phenotype == "quick"
    assert result.hematotox is not None
    assert (result.hematotox.score, result.hematotox.risk) == (3, "high")
    assert result.easix is not None and result.easix.value == 4.0
    assert result.m_easix is not None and result.m_easix.value == 20.0
    assert result.baseline_neutropenia is False
    assert result.iec_hs is not None and result.iec_hs.positive is False
    assert result.product == "axi-cel"


def test_ctcae_of_latest_values_before_evaluation() -> None:
    record = PatientRecord("p", anc_course(), timeline())
    latest = assess(record, evaluation_date=on(5)).ctcae
    assert [(g.term, g.grade, g.day) for g in latest] == [("Neutrophil count decreased", 4, on(5))]


def test_censoring_is_earliest_event_after_day0() -> None:
    record = PatientRecord(
        "p",
        anc_course(),
        timeline(relapse_day=on(20), next_therapy_day=on(15), allo_hct_day=on(-30)),
    )
    result = assess(record)
    assert result.censoring is not None
    assert (result.censoring.day, result.censoring.reason) == (on(15), "next therapy")
    assert result.neutropenia is not None
    assert result.neutropenia.censor_day == 15
    assert result.neutropenia.late.grade is None  # late window never opens


def test_death_and_evaluation_reach_the_grader() -> None:
    record = PatientRecord("p", anc_course()[:3], timeline(death_day=on(3)))
    result = assess(record, evaluation_date=on(40))
    assert result.neutropenia is not None
    early = result.neutropenia.early
    assert (early.status, early.window_end_day, early.grade) == ("final", 3, 4)


def test_evaluation_before_day0() -> None:
    record = PatientRecord("p", anc_course(), timeline())
    result = assess(record, evaluation_date=DAY0 - timedelta(days=1))
    assert result.neutropenia is None
    assert any("before day 0" in m for m in result.missing)


def test_missing_baseline_items_are_listed() -> None:
    result = assess(PatientRecord("p", anc_course(), timeline()))
    assert result.hematotox is not None and result.hematotox.risk == "indeterminate"
    assert "CAR-HEMATOTOX: no baseline ferritin" in result.missing


def test_b_all_without_cutoffs_reports_missing() -> None:
    result = assess(PatientRecord("p", anc_course(), timeline(disease="B-ALL")))
    assert result.all_hematotox is None
    assert any("ALL-Hematotox" in m for m in result.missing)


def test_baseline_neutropenia_flag() -> None:
    record = PatientRecord("p", (lab(-3, 400), *anc_course()), timeline())
    assert assess(record).baseline_neutropenia is True


def test_options_reach_the_grader() -> None:
    record = PatientRecord("p", anc_course()[:9], timeline())
    default = assess(record, evaluation_date=on(8))
    liang = assess(record, evaluation_date=on(8), settings=GradingSettings.liang())
    assert default.neutropenia is not None and liang.neutropenia is not None
    assert (default.neutropenia.early.grade, liang.neutropenia.early.grade) == (2, 4)


def test_baseline_scores_use_no_value_collected_after_the_evaluation_date() -> None:
    """As-of grading: a value dated after the evaluation date does not exist yet."""
    labs = (
        lab(-8, 200, Analyte.PLATELETS),  # 0 points: known on day -7
        lab(-6, 60, Analyte.PLATELETS),  # 2 points, but collected after the evaluation date
    )
    record = PatientRecord("p", labs, timeline())
    as_of = assess(record, evaluation_date=on(-7))
    later = assess(record, evaluation_date=on(-5))
    assert as_of.hematotox is not None and later.hematotox is not None
    assert as_of.hematotox.points["platelets"] == 0
    assert later.hematotox.points["platelets"] == 2


# -- the course in preparation (issue 14, docs/decisions/0022) ----------------------------------


def _planned_record(**kw: object) -> PatientRecord:
    labs = (
        lab(-7, 60, Analyte.PLATELETS),  # 2 points: high risk on its own
        lab(-7, 3000, Analyte.ANC),
        lab(-7, 12, Analyte.HEMOGLOBIN),
        lab(-7, 10, Analyte.CRP),
        lab(-7, 300, Analyte.FERRITIN),
    )
    return PatientRecord("p", labs, TherapyTimeline(**kw))  # type: ignore[arg-type]


def test_planned_infusion_gives_planned_day0_and_a_pre_infusion_score_without_a_grade() -> None:
    record = _planned_record(planned_infusion=PlannedInfusion(on(0), "axi-cel", "ServiceRequest/1"))
    result = assess(record, evaluation_date=on(-3))
    assert result.day0 is None and result.neutropenia is None
    assert result.planned_day0 == on(0)
    assert result.planned_hematotox is not None and result.planned_hematotox.risk == "high"
    assert result.planned_baseline is not None
    assert (result.planned_baseline.window_start, result.planned_baseline.window_end) == (
        on(-10),
        on(-5),
    )
    assert result.hematotox == result.planned_hematotox  # the only course is the planned one


def test_planned_score_uses_the_lymphodepletion_window_of_the_preparation() -> None:
    prep = CoursePreparation(on(-4), "lymphodepletion", "MedicationAdministration/flu")
    result = assess(_planned_record(preparation=prep), evaluation_date=on(-3))
    assert result.planned_day0 is None
    assert result.planned_baseline is not None
    assert result.planned_baseline.window_start == on(-11)
    assert result.planned_baseline.window_end == on(-4)
    assert result.planned_hematotox is not None and result.planned_hematotox.score == 2


def test_planned_score_is_as_of_the_evaluation_day() -> None:
    record = _planned_record(planned_infusion=PlannedInfusion(on(0)))
    early = assess(record, evaluation_date=on(-8))
    assert early.planned_hematotox is not None and early.planned_hematotox.risk != "high"


def test_planned_infusion_before_the_last_infusion_is_no_planned_course() -> None:
    record = _planned_record(
        infusions=(CarTInfusion(on(0)),), planned_infusion=PlannedInfusion(on(-1))
    )
    result = assess(record, evaluation_date=on(5))
    assert result.planned_day0 is None and result.planned_hematotox is None


def test_reinfusion_planned_after_a_course_keeps_both_scores_apart() -> None:
    record = _planned_record(
        infusions=(CarTInfusion(on(-100)),), planned_infusion=PlannedInfusion(on(0))
    )
    result = assess(record, evaluation_date=on(-2))
    assert result.day0 == on(-100) and result.planned_day0 == on(0)
    assert result.planned_hematotox is not None and result.planned_hematotox.risk == "high"
    assert result.hematotox is not None and result.hematotox.risk == "indeterminate"


def test_apheresis_only_preparation_has_no_baseline_window() -> None:
    prep = CoursePreparation(on(-30), "apheresis")
    result = assess(_planned_record(preparation=prep), evaluation_date=on(-20))
    assert result.planned_hematotox is None
    assert any("baseline window unknown" in m for m in result.missing)


def test_hematotox_scope_note_outside_the_validated_diseases() -> None:
    for disease in ("LBCL", "MM", "MCL", None):
        record = PatientRecord("p", (), timeline(disease=disease))
        assert assess(record, evaluation_date=on(5)).hematotox_scope is None
    b_all = assess(PatientRecord("p", (), timeline(disease="B-ALL")), evaluation_date=on(5))
    assert b_all.hematotox_scope is not None and "ALL-Hematotox" in b_all.hematotox_scope
    fl = assess(PatientRecord("p", (), timeline(disease="FL")), evaluation_date=on(5))
    assert fl.hematotox_scope is not None and "follicular" in fl.hematotox_scope
