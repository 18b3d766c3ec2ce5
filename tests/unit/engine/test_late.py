"""Late ICAHT (docs/clinical §3, §4.4, §16 C6, C8, C11d): bands, gating, windows."""

from __future__ import annotations

import pytest
from engine_helpers import grade, lab

from icaht import GradingSettings


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1500, 1), (1001, 1), (1000, 2), (501, 2), (500, 3), (101, 3), (100, 4), (0, 4)],
)
def test_late_band_edges_confirmed_by_second_value(value: float, expected: int) -> None:
    late = grade({40: value, 60: 1500}).late
    assert (late.grade, late.confirmed) == (expected, True)
    assert late.nadir is not None and late.nadir.day == 40


@pytest.mark.parametrize(("value", "expected"), [(1500, 0), (1000, 1), (500, 2), (100, 3)])
def test_late_band_edges_with_strict_thresholds(value: float, expected: int) -> None:
    late = grade({40: value, 60: value}, settings=GradingSettings(threshold_inclusive=False)).late
    assert late.grade == expected


def test_second_lowest_above_1500_with_later_value_is_transient() -> None:
    late = grade({40: 800, 50: 2000}).late
    assert (late.grade, late.transient, late.confirmed) == (0, True, True)


def test_second_lowest_exactly_1500_confirms() -> None:
    late = grade({40: 800, 50: 1500}).late
    assert (late.grade, late.confirmed) == (2, True)


def test_c8_nadir_without_later_value_is_unconfirmed() -> None:
    # C8: only value after the nadir missing -> the nadir's band, confirmed = false
    late = grade({40: 2000, 50: 800}).late
    assert (late.grade, late.confirmed, late.transient) == (2, False, False)
    assert "repeat the ANC to confirm" in late.explanation()


def test_c8_liang_ignores_order() -> None:
    late = grade({40: 2000, 50: 800}, settings=GradingSettings.liang()).late
    assert (late.grade, late.transient) == (0, True)


def test_c8_open_window_nadir_on_last_day() -> None:
    late = grade({35: 2000, 50: 800}, evaluation_day=55).late
    assert (late.grade, late.confirmed, late.status) == (2, False, "provisional")


def test_c8_transient_switch_off_gives_grade_0() -> None:
    settings = GradingSettings(transient_needs_later_value=False)
    assert grade({40: 2000, 50: 800}, settings=settings).late.grade == 0


def test_single_late_value_graded_unconfirmed() -> None:
    # A11
    late = grade({45: 900}).late
    assert (late.grade, late.confirmed, late.second_lowest) == (2, False, None)


def test_single_late_value_above_1500_is_grade_0() -> None:
    late = grade({45: 1600}).late
    assert (late.grade, late.confirmed, late.transient) == (0, True, False)


def test_tied_lowest_values_nadir_is_earliest() -> None:
    # C11d
    late = grade({40: 800, 50: 800}).late
    assert late.nadir is not None and late.second_lowest is not None
    assert (late.nadir.day, late.second_lowest.day) == (40, 50)


def test_below_value_ranks_just_below_equal_number() -> None:
    # C6: `<500` ranks below a numeric 500 and takes the band of 500 (grade 3)
    late = grade([lab(40, 500), lab(45, 500, comparator="<")]).late
    assert late.nadir is not None
    assert (late.nadir.day, late.nadir.below, late.grade) == (45, True, 3)


def test_below_1500_confirms() -> None:
    late = grade([lab(40, 700), lab(45, 1500, comparator="<")]).late
    assert (late.grade, late.confirmed) == (2, True)


def test_day_100_in_window_day_101_not() -> None:
    assert grade({100: 300}).late.grade == 3
    outside = grade({101: 300}).late
    assert outside.grade is None and outside.window_end_day == 100


def test_day_31_is_first_late_day_day_30_is_not() -> None:
    assert grade({30: 2000, 31: 300}).late.grade == 3
    assert grade({30: 300}).late.grade is None


def test_extended_window_end() -> None:
    assert grade({101: 300}, settings=GradingSettings(late_window_end=180)).late.grade == 3


def test_strict_mode_grades_second_lowest() -> None:
    # A10: nadir 300 (G3) and 1200 (G1): nadir mode 3, strict mode 1
    values = {40: 300, 50: 1200}
    assert grade(values).late.grade == 3
    strict = grade(values, settings=GradingSettings(late_mode="strict")).late
    assert (strict.grade, strict.confirmed) == (1, True)


def test_max_days_between_confirming_values() -> None:
    # A13: 300 on day 35, 1200 on day 90: 55 days apart
    values = {35: 300, 90: 1200}
    assert (grade(values).late.grade, grade(values).late.confirmed) == (3, True)
    settings = GradingSettings(late_max_days_between_confirming_values=28)
    late = grade(values, settings=settings).late
    assert (late.grade, late.confirmed) == (3, False)  # nothing > 1500 after day 35


def test_max_days_with_recovery_between_unconfirmed_values() -> None:
    values = {35: 300, 60: 2000, 90: 1200}
    settings = GradingSettings(late_max_days_between_confirming_values=28)
    late = grade(values, settings=settings).late
    assert (late.grade, late.confirmed) == (1, False)  # only 1200 lacks a later value > 1500


def test_max_days_pair_within_interval_confirms() -> None:
    values = {35: 300, 60: 2000, 80: 1200, 90: 1400}
    settings = GradingSettings(late_max_days_between_confirming_values=28)
    late = grade(values, settings=settings).late
    assert (late.grade, late.confirmed) == (1, True)


def test_censoring_ends_late_window() -> None:
    late = grade({40: 2000, 55: 300}, censor_day=49).late
    assert (late.status, late.window_end_day, late.grade) == ("censored", 49, 0)


def test_death_ends_late_window_final() -> None:
    late = grade({40: 300, 50: 400}, death_day=60).late
    assert (late.status, late.window_end_day, late.grade) == ("final", 60, 3)


def test_no_late_value_is_not_evaluable() -> None:
    late = grade({10: 300}).late
    assert late.grade is None and late.reason is not None


def test_strict_mode_single_dip_without_later_value_is_unconfirmed() -> None:
    late = grade({40: 2000, 50: 300}, settings=GradingSettings(late_mode="strict")).late
    assert (late.grade, late.confirmed) == (3, False)


def test_below_value_above_1500_is_not_a_recovery_witness() -> None:
    # C6/C8: `<2000` after the nadir is not known to be > 1500 -> not transient, unconfirmed
    late = grade([lab(40, 800), lab(50, 2000, comparator="<")]).late
    assert (late.grade, late.confirmed, late.transient) == (2, False, False)
