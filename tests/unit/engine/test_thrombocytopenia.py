"""T-ICAHT (docs/clinical §18): every row of the table at its boundaries, the window edges,
censoring, death, open windows, gaps, `<x` values, transfused counts, platelet recovery and the
worked examples of docs/clinical/18-t-icaht.md (each case derived by hand)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import pytest
from engine_helpers import DAY0, constant, lab, on, series

from icaht import GradingSettings, ThrombocytopeniaResult, assess, grade_thrombocytopenia
from icaht.explanations import t_early_text, t_late_text
from icaht.record import (
    Analyte,
    CarTInfusion,
    LabValue,
    PatientRecord,
    TherapyTimeline,
    Transfusion,
)

FINE = 150.0  # x10^9/L, above every T-ICAHT threshold
WEEKLY_LATE = (*range(31, 101, 7), 100)  # days 31, 38, ..., 94 and 100: gaps of 6 days


def grade_plt(
    values: Mapping[int, float] | list[LabValue],
    *,
    evaluation_day: int | None = None,
    death_day: int | None = None,
    censor_day: int | None = None,
    transfused: Iterable[int] = (),
    settings: GradingSettings | None = None,
) -> ThrombocytopeniaResult:
    items = values if isinstance(values, list) else series(values)
    return grade_thrombocytopenia(
        items,  # type: ignore[arg-type]
        DAY0,
        evaluation_date=None if evaluation_day is None else on(evaluation_day),
        death_date=None if death_day is None else on(death_day),
        censor_date=None if censor_day is None else on(censor_day),
        transfusions=tuple(Transfusion(on(d), "platelets") for d in transfused),
        settings=settings or GradingSettings(),
    )


def early_course(overrides: Mapping[int, float]) -> dict[int, float]:
    """A value on every day 0..30 (150 unless overridden): no unknown day."""
    days = constant(range(31), FINE)
    days.update(overrides)
    return days


def late_course(overrides: Mapping[int, float]) -> dict[int, float]:
    """Daily values on days 0..30, weekly on days 31..100 (150 unless overridden)."""
    days = constant([*range(31), *WEEKLY_LATE], FINE)
    days.update(overrides)
    return days


def plt(day: int, value: float, **kw: object) -> LabValue:
    return lab(day, value, Analyte.PLATELETS, **kw)


# ---- early thresholds: strict < 50, < 20 ----


def test_exactly_50_is_not_below_50() -> None:
    early = grade_plt(early_course({5: 50})).early
    assert (early.grade, early.days_below_50, early.lower_bound) == (0, 0, False)


def test_49_9_is_below_50_grade_1() -> None:
    early = grade_plt(early_course({5: 49.9})).early
    assert (early.grade, early.days_below_50, early.below_50_days) == (1, 1, (5,))


def test_exactly_20_is_below_50_only() -> None:
    early = grade_plt(early_course({5: 20})).early
    assert (early.grade, early.days_below_50, early.days_below_20) == (1, 1, 0)


def test_19_9_is_below_20_grade_3() -> None:
    early = grade_plt(early_course({5: 19.9})).early
    assert (early.grade, early.days_below_50, early.days_below_20) == (3, 1, 1)


def test_thresholds_stay_strict_when_neutrophil_thresholds_are_inclusive() -> None:
    # GradingSettings.threshold_inclusive is A1 of N-ICAHT; §18 fixes "<"
    early = grade_plt(early_course({5: 50, 6: 20}), settings=GradingSettings.liang()).early
    assert (early.days_below_50, early.days_below_20) == (1, 0)


def test_liang_rounding_to_10_is_never_applied_to_platelets() -> None:
    early = grade_plt(early_course({5: 46}), settings=GradingSettings.liang()).early
    assert early.days_below_50 == 1  # rounded to 50 it would not count


# ---- early durations: cumulative ----


@pytest.mark.parametrize(("days", "expected"), [(6, 1), (7, 2)])
def test_cumulative_days_below_50_boundary(days: int, expected: int) -> None:
    # two runs separated by a stable recovery (5 days): 3 + (days - 3) days, counted together
    low = {**constant(range(2, 5), 40), **constant(range(10, 10 + days - 3), 40)}
    early = grade_plt(early_course(low)).early
    assert (early.days_below_50, early.grade) == (days, expected)


@pytest.mark.parametrize(("days", "expected"), [(13, 3), (14, 4)])
def test_cumulative_days_below_20_boundary(days: int, expected: int) -> None:
    low = {**constant(range(1, 8), 10), **constant(range(12, 12 + days - 7), 10)}
    early = grade_plt(early_course(low)).early
    assert (early.days_below_20, early.grade) == (days, expected)


def test_non_stable_recovery_days_are_counted() -> None:
    # < 50 on days 5-7 and 10-12, 60 on days 8-9 (< 3 days above): 8 days counted
    low = {**constant(range(5, 8), 40), 8: 60, 9: 60, **constant(range(10, 13), 40)}
    early = grade_plt(early_course(low)).early
    assert early.below_50_days == tuple(range(5, 13))
    assert (early.days_below_50, early.grade) == (8, 2)


def test_stable_recovery_of_3_days_is_not_counted() -> None:
    low = {**constant(range(5, 8), 40), **constant(range(8, 11), 60), **constant(range(11, 14), 40)}
    early = grade_plt(early_course(low)).early
    assert (early.days_below_50, early.grade) == (6, 1)


def test_recovery_at_the_window_end_is_not_counted() -> None:
    low = {**constant(range(20, 29), 40), 29: 60, 30: 60}
    early = grade_plt(early_course(low)).early
    assert early.below_50_days == tuple(range(20, 29))


# ---- window edges ----


def test_day_30_is_early_and_day_31_is_late() -> None:
    result = grade_plt(late_course({30: 10, 31: 10}))
    assert result.early.below_20_days == (30,)
    assert result.late.nadir_day == 31 and result.late.days_below_20 >= 1


def test_day_31_is_not_early() -> None:
    early = grade_plt(late_course({31: 10})).early
    # day 31 is only the right anchor: days 0-30 are measured and fine
    assert (early.grade, early.days_below_50) == (0, 0)


def test_day_100_is_late_and_day_101_is_not() -> None:
    in_window = grade_plt({**late_course({}), 94: 10, 100: 10}).late
    assert (in_window.grade, in_window.nadir_day, in_window.confirmed) == (3, 94, True)
    outside = grade_plt({**late_course({}), 101: 10}).late
    assert (outside.grade, outside.nadir, outside.window_end_day) == (0, FINE, 100)


# ---- late thresholds ----


@pytest.mark.parametrize(
    ("value", "expected"),
    [(100, 0), (99.9, 1), (50, 1), (49.9, 2), (20, 2), (19.9, 3)],
)
def test_late_band_edges_confirmed_by_a_second_value(value: float, expected: int) -> None:
    # two weekly values at `value` (days 45 and 52): confirmed; < 20 on 2 measured days
    late = grade_plt(late_course({45: value, 52: value})).late
    assert late.grade == expected
    assert late.confirmed


@pytest.mark.parametrize(("days", "expected"), [(13, 3), (14, 4)])
def test_late_days_below_20_boundary(days: int, expected: int) -> None:
    values = {**constant(range(101), FINE), **constant(range(40, 40 + days), 10)}
    late = grade_plt(values).late
    assert (late.days_below_20, late.grade) == (days, expected)


def test_late_single_low_value_is_unconfirmed() -> None:
    late = grade_plt({**constant(range(31), FINE), 45: 40}).late
    assert (late.grade, late.confirmed) == (2, False)
    assert "unconfirmed: one count, 40 x10^9/L on day 45" in t_late_text(late)


def test_late_dip_followed_by_100_or_more_is_transient() -> None:
    late = grade_plt(late_course({45: 90})).late
    assert (late.grade, late.transient, late.confirmed) == (0, True, True)


def test_late_strict_mode_needs_both_values_in_the_band() -> None:
    late = grade_plt(
        late_course({45: 40, 52: 80}), settings=GradingSettings(late_mode="strict")
    ).late
    assert late.grade == 1


# ---- censoring, death, open windows, gaps ----


def test_censored_course() -> None:
    result = grade_plt(early_course(constant(range(3, 30), 10)), censor_day=10)
    early, late = result.early, result.late
    assert (early.status, early.window_end_day, early.days_below_20, early.grade) == (
        "censored",
        10,
        8,
        3,
    )
    assert (late.grade, late.status) == (None, "censored")


def test_death_closes_the_window_final_without_override() -> None:
    values = {0: FINE, 1: FINE, **constant(range(2, 6), 10)}
    early = grade_plt(values, death_day=8).early
    # days 6-8 carried forward to the death day (closed window): 7 days < 20
    assert (early.status, early.lower_bound, early.days_below_20, early.grade) == (
        "final",
        False,
        7,
        3,
    )


def test_open_window_is_provisional_lower_bound() -> None:
    values = {0: FINE, **constant(range(1, 8), 10)}
    early = grade_plt(values, evaluation_day=12).early
    assert (early.status, early.lower_bound, early.days_below_20, early.grade) == (
        "provisional",
        True,
        7,
        3,
    )


def test_gap_of_7_days_is_interpolated_and_of_8_is_not() -> None:
    fine = constant([*range(5), *range(15, 31)], FINE)
    seven = grade_plt({**fine, 5: 10, 13: 10, 14: FINE}).early  # days 6-12 missing
    assert (seven.days_below_20, seven.lower_bound, seven.grade) == (9, False, 3)
    eight = grade_plt({**fine, 5: 10, 14: 10}).early  # days 6-13 missing: unknown
    assert (eight.below_20_days, eight.lower_bound, eight.grade) == ((5, 14), True, 3)


def test_interpolated_days_count() -> None:
    early = grade_plt({0: FINE, 4: 10, 8: 10, 12: FINE, **constant(range(13, 31), FINE)}).early
    # days 4-8 are 10 (measured and interpolated); days 1-3 and 9-11 interpolated from 150
    assert early.below_20_days == (4, 5, 6, 7, 8)
    assert not early.lower_bound


# ---- `<x` values (C6) ----


def test_less_than_20_counts_for_both_thresholds() -> None:
    values = [plt(d, FINE) for d in range(31) if d != 5] + [plt(5, 20, comparator="<")]
    early = grade_plt(values).early
    assert (early.days_below_20, early.days_below_50, early.grade, early.lower_bound) == (
        1,
        1,
        3,
        False,
    )


def test_less_than_50_is_unknown_for_20() -> None:
    values = [plt(d, FINE) for d in range(31) if d != 5] + [plt(5, 50, comparator="<")]
    early = grade_plt(values).early
    assert (early.days_below_20, early.days_below_50, early.grade, early.lower_bound) == (
        0,
        1,
        1,
        True,
    )


def test_late_less_than_value_ranks_below_the_number() -> None:
    values = [plt(d, FINE) for d in range(31)] + [plt(45, 50, comparator="<"), plt(52, 50)]
    late = grade_plt(values).late
    assert (late.grade, late.nadir_day, late.nadir_below) == (2, 45, True)
    assert "lowest <50 x10^9/L on day 45" in t_late_text(late)


def test_an_anc_value_is_refused() -> None:
    with pytest.raises(ValueError, match="expected a platelets value, got anc"):
        grade_plt([lab(3, 400)])


# ---- transfused counts ----


def test_count_the_day_after_a_transfusion_is_used_and_flagged() -> None:
    values = early_course(constant(range(5, 12), 10) | {12: 45})
    result = grade_plt(values, transfused=[11])
    assert result.post_transfusion_values_used
    assert result.early.days_below_20 == 7  # counted as measured: the grade is unchanged
    assert result.early == grade_plt(values).early


def test_no_flag_without_a_count_within_a_day_after_the_transfusion() -> None:
    values = {0: FINE, 5: 10, 9: 45, **constant(range(10, 31), FINE)}
    assert not grade_plt(values, transfused=[6]).post_transfusion_values_used


def test_other_products_are_not_platelet_transfusions() -> None:
    values = early_course({5: 10})
    result = grade_thrombocytopenia(series(values), DAY0, transfusions=(Transfusion(on(5), "rbc"),))
    assert not result.post_transfusion_values_used


def test_preliminary_values_only_in_real_time_grading() -> None:
    values = [plt(d, FINE) for d in range(10)] + [plt(10, 10, preliminary=True)]
    real_time = grade_plt(values, evaluation_day=10)
    assert (real_time.preliminary_values_used, real_time.early.days_below_20) == (True, 1)
    retrospective = grade_plt(values)
    assert (retrospective.preliminary_values_used, retrospective.early.days_below_20) == (False, 0)


# ---- platelet recovery ----


def test_recovery_is_first_of_3_days_at_20_or_more_after_the_nadir() -> None:
    values = early_course(constant(range(5, 12), 10) | {12: 19.9, 13: 20})
    assert grade_plt(values).recovery_day == 13


def test_recovery_needs_no_platelet_transfusion_in_the_7_days_before() -> None:
    values = early_course(constant(range(5, 12), 10))
    # CIBMTR's worked example: 7 transfusion-free days ending on the recovery day (d-6..d)
    assert grade_plt(values).recovery_day == 12
    assert grade_plt(values, transfused=[5]).recovery_day == 12  # days 6-12 free
    assert grade_plt(values, transfused=[6]).recovery_day == 13
    assert grade_plt(values, transfused=[11]).recovery_day == 18  # days 12-17 follow it
    assert grade_plt(values, transfused=[12]).recovery_day == 19  # on the day itself


def test_recovery_as_in_the_cibmtr_worked_example() -> None:
    # CIBMTR forms manual, initial platelet recovery, example 2 (x10^9/L): last platelet
    # transfusion on day 0; days 6 (23) and 7 (25) start runs of 3 values >= 20; day 7 reported
    counts = [10, 30, 25, 10, 15, 19, 23, 25, 40, 50, 56, 65, 72]
    result = grade_plt(dict(enumerate(counts)), transfused=[0], evaluation_day=12)
    assert result.recovery_day == 7


def test_no_recovery_while_below_20() -> None:
    values = {0: FINE, **constant(range(1, 11), 10)}
    assert grade_plt(values, evaluation_day=10).recovery_day is None


def test_never_below_20_recovers_on_day_0() -> None:
    assert grade_plt(early_course({5: 30})).recovery_day == 0


# ---- explanations ----


def test_early_explanation() -> None:
    low = constant(range(3, 19), 40) | constant(range(5, 14), 10)
    early = grade_plt(early_course(low)).early
    assert t_early_text(early) == (
        "early 3 (final): platelets < 50 x10^9/L on 16 days, < 20 x10^9/L on 9 days "
        "(cumulative, days 0-30)"
    )


def test_explanations_without_values() -> None:
    result = grade_plt([])
    assert t_early_text(result.early).startswith("early not graded")
    assert t_late_text(result.late) == "late not graded (no platelet value in the late window)"


# ---- worked examples of docs/clinical/18-t-icaht.md ----


def test_worked_example_early_grade_0() -> None:
    early = grade_plt(early_course(constant(range(8, 11), 60))).early
    assert (early.grade, early.days_below_50) == (0, 0)


def test_worked_example_early_grade_1() -> None:
    early = grade_plt(early_course(constant(range(6, 11), 40))).early
    assert (early.grade, early.below_50_days) == (1, (6, 7, 8, 9, 10))


def test_worked_example_early_grade_2() -> None:
    # 5 days < 50, and the 2 days of non-stable recovery between them count: 7 days
    low = constant(range(5, 8), 35) | {8: 80, 9: 80, 10: 30, 11: 30}
    early = grade_plt(early_course(low)).early
    assert (early.grade, early.days_below_50, early.below_50_days) == (2, 7, tuple(range(5, 12)))


def test_worked_example_early_grade_3() -> None:
    low = constant(range(4, 7), 45) | constant(range(7, 12), 15) | constant(range(12, 16), 40)
    early = grade_plt(early_course(low)).early
    assert (early.grade, early.days_below_50, early.days_below_20) == (3, 12, 5)


def test_worked_example_early_grade_4() -> None:
    low = constant(range(3, 19), 10) | constant(range(19, 23), 30)
    early = grade_plt(early_course(low)).early
    assert (early.grade, early.days_below_50, early.days_below_20) == (4, 20, 16)


def test_worked_example_late_grade_0() -> None:
    late = grade_plt(late_course({45: 90})).late
    assert (late.grade, late.transient) == (0, True)


def test_worked_example_late_grade_1() -> None:
    late = grade_plt(late_course({45: 85, 52: 90})).late
    assert (late.grade, late.confirmed, late.nadir, late.nadir_day) == (1, True, 85, 45)


def test_worked_example_late_grade_2() -> None:
    late = grade_plt(late_course({38: 45, 45: 70})).late
    assert (late.grade, late.confirmed, late.nadir) == (2, True, 45)


def test_worked_example_late_grade_3() -> None:
    late = grade_plt(late_course({38: 15, 45: 30})).late
    # day 39 = 17.1, day 40 = 19.3 (interpolated towards 30), day 41 = 21.4
    assert (late.grade, late.below_20_days) == (3, (38, 39, 40))


def test_worked_example_late_grade_4() -> None:
    late = grade_plt(late_course({38: 12, 45: 12, 52: 12})).late
    # days 38-52 < 20 (weekly values, interpolated between); day 37 = 31.7, day 53 = 31.7
    assert (late.grade, late.days_below_20, late.below_20_days) == (4, 15, tuple(range(38, 53)))


# ---- assess() ----


def _record(labs: tuple[LabValue, ...], **timeline: object) -> PatientRecord:
    return PatientRecord(
        "p",
        labs,
        TherapyTimeline(infusions=(CarTInfusion(day0=DAY0),), **timeline),  # type: ignore[arg-type]
    )


def test_assess_grades_platelets_on_the_neutropenia_dates() -> None:
    labs = (
        *(lab(d, 2000) for d in range(31)),
        *(plt(d, FINE) for d in range(31) if not 5 <= d <= 11),
        *(plt(d, 10) for d in range(5, 12)),
        plt(-2, 10),  # before day 0: never counted
        plt(27, 5),  # after the evaluation date: not known yet (C5)
    )
    record = _record(
        labs,
        next_therapy_day=on(25),
        transfusions=(Transfusion(on(11), "platelets"), Transfusion(on(11), "rbc")),
    )
    result = assess(record, evaluation_date=on(26))
    assert result.neutropenia is not None and result.thrombocytopenia is not None
    early = result.thrombocytopenia.early
    assert (early.grade, early.days_below_20, early.status, early.window_end_day) == (
        3,
        7,
        "censored",
        result.neutropenia.early.window_end_day,
    )
    assert result.thrombocytopenia.censor_day == result.neutropenia.censor_day == 25
    assert result.thrombocytopenia.post_transfusion_values_used
    assert result.thrombocytopenia.recovery_day == 18  # transfusion on day 11 + 7 days


def test_assess_without_platelets_gives_an_ungraded_result() -> None:
    result = assess(_record(tuple(lab(d, 2000) for d in range(5))), evaluation_date=on(4))
    assert result.thrombocytopenia is not None
    assert result.thrombocytopenia.early.grade is None
    assert result.thrombocytopenia.early.reason == "no usable platelet value on days 0-4"


def test_a_one_day_window_without_platelets_is_said_on_day_0() -> None:
    """Issue 16: assessed on day 0, the window is one day: "on day 0", not "days 0-0"."""
    result = assess(_record((lab(0, 2000),)), evaluation_date=on(0))
    assert result.thrombocytopenia is not None
    assert result.thrombocytopenia.early.reason == "no usable platelet value on day 0"


def test_assess_without_day0_grades_neither() -> None:
    result = assess(PatientRecord("p", (plt(3, 10),)))
    assert result.neutropenia is None and result.thrombocytopenia is None


def test_a_one_day_window_without_an_anc_is_said_on_day_0() -> None:
    """Issue 16, the ANC's twin of the platelet case above: assessed on day 0 with only a
    platelet count, the early N-ICAHT reason says "on day 0", not "days 0-0"."""
    result = assess(_record((plt(0, 30),)), evaluation_date=on(0))
    assert result.neutropenia is not None
    assert result.neutropenia.early.reason == "no usable ANC value on day 0"
