"""Recovery phenotypes (docs/clinical §5.2, §16 C7, C11b, C11c, C11e), hand-derived cases."""

from __future__ import annotations

from engine_helpers import constant, grade, lab

LATE_HIGH = {20: 2000.0, 30: 2000.0, 45: 2000.0, 60: 2000.0}


def test_quick_dip_then_sustained_recovery() -> None:
    values = {0: 2000, **constant(range(2, 9), 300), 9: 1200, 10: 1300, **LATE_HIGH}
    result = grade(values)
    assert result.phenotype == "quick"
    assert result.phenotype_detail.sustained_recovery_day == 9


def test_quick_without_any_value_below_1000() -> None:
    assert grade({0: 2000, 10: 1800, **LATE_HIGH}).phenotype == "quick"


def test_intermittent_dip_recovery_above_1500_second_dip() -> None:
    values = {0: 2000, **constant(range(2, 7), 300), 10: 2000, 40: 800, 50: 2000, 60: 2000}
    detail = grade(values).phenotype_detail
    assert detail.phenotype == "intermittent"
    assert (detail.dip_day, detail.recovery_day, detail.second_dip_day) == (2, 10, 40)


def test_recovery_to_exactly_1500_is_not_intermittent() -> None:
    # §5.1: recovery means ANC > 1500 (strict); 1500 then a re-dip -> unclassified (P1, C39)
    values = {0: 2000, **constant(range(2, 7), 300), 10: 1500, 12: 1500, 40: 800, 60: 1200}
    assert grade(values).phenotype == "unclassified"


def test_second_dip_exactly_1000_is_not_a_dip() -> None:
    values = {0: 2000, **constant(range(2, 7), 300), 10: 2000, 12: 2000, 40: 1000, 60: 1200}
    assert grade(values).phenotype == "quick"


def test_aplastic_14_days() -> None:
    values = {0: 2000, **constant(range(1, 15), 300), 15: 2000, 16: 2000, **LATE_HIGH}
    assert grade(values).phenotype == "aplastic"


def test_13_days_is_not_aplastic() -> None:
    values = {0: 2000, **constant(range(1, 14), 300), 14: 2000, 15: 2000, **LATE_HIGH}
    assert grade(values).phenotype == "quick"


def test_aplastic_takes_precedence_over_intermittent() -> None:
    values = {0: 2000, **constant(range(1, 15), 300), 20: 2000, 40: 800, 50: 2000, 60: 2000}
    assert grade(values).phenotype == "aplastic"


def test_unclassified_recovery_below_1500_then_redip() -> None:
    # P1 / C39: sustained recovery to 1200/1300, re-dip to 800, never > 1500, day 60 reached
    values = {0: 2000, **constant(range(2, 7), 300), 9: 1200, 10: 1300, 30: 800, 45: 1200}
    values[60] = 1200
    assert grade(values).phenotype == "unclassified"


def test_indeterminate_when_window_ends_before_day_60() -> None:
    values = {0: 2000, **constant(range(2, 7), 300), 9: 1200, 10: 1300, 30: 800, 35: 1200}
    assert grade(values, evaluation_day=40).phenotype == "indeterminate"


def test_indeterminate_real_time_during_first_episode() -> None:
    values = {0: 2000, **constant(range(1, 10), 300)}
    assert grade(values, evaluation_day=10).phenotype == "indeterminate"


def test_aplastic_grid_uses_no_fill_to_open_end() -> None:
    # C11b: neutropenic days 1-10 measured, evaluated day 20 -> not 14+ days (no carry forward)
    values = {0: 2000, **constant(range(1, 11), 300)}
    assert grade(values, evaluation_day=20).phenotype == "indeterminate"


def test_aplastic_grid_carries_forward_to_a_censoring_day_before_the_evaluation_day() -> None:
    # C12 on the phenotype grid: censoring on day 17, evaluated on day 20 closes the window, so
    # days 11-17 are carried forward (17 severe days); censored on the evaluation day, they are not
    values = {0: 2000, **constant(range(1, 11), 300)}
    closed = grade(values, censor_day=17, evaluation_day=20).phenotype_detail
    assert (closed.phenotype, closed.longest_severe_days) == ("aplastic", 17)
    assert grade(values, censor_day=17, evaluation_day=17).phenotype == "indeterminate"


def test_value_above_1000_on_last_measured_day_is_not_sustained() -> None:
    # C11c: 1200 on day 60 is the last measured value in the window (day 61 is outside)
    values = {0: 2000, **constant(range(2, 6), 300), 20: 800, 60: 1200, 61: 2000}
    detail = grade(values).phenotype_detail
    assert detail.sustained_recovery_day is None
    assert detail.phenotype == "unclassified"


def test_dip_after_day_60_is_outside_the_window() -> None:
    values = {0: 2000, **constant(range(2, 6), 300), 10: 2000, 12: 2000, 60: 2000, 62: 500}
    assert grade(values).phenotype == "quick"


def test_below_value_above_1000_is_ignored_for_dip_tests() -> None:
    # C11e: `<1500` says nothing for the 1000 test; read as < 1000 it would make intermittent
    values = [lab(0, 2000), lab(2, 300), lab(10, 2000), lab(20, 1500, comparator="<")]
    values += [lab(d, 2000) for d in (30, 45, 60)]
    assert grade(values).phenotype == "quick"


def test_below_1000_value_is_a_dip() -> None:
    values = [lab(0, 2000), lab(2, 300), lab(10, 2000), lab(20, 1000, comparator="<")]
    values += [lab(d, 2000) for d in (30, 45, 60)]
    assert grade(values).phenotype == "intermittent"


def test_no_value_is_indeterminate() -> None:
    assert grade({}).phenotype == "indeterminate"


def test_quick_in_an_open_window_is_marked_incomplete() -> None:
    # C7(b): rules 1-3 apply before day 60 too; the result says the window is not complete
    detail = grade({0: 2000, 2: 1800}, evaluation_day=2).phenotype_detail
    assert (detail.phenotype, detail.window_complete) == ("quick", False)
    assert grade({0: 2000, 60: 1800}).phenotype_detail.window_complete is True
