"""Early ICAHT boundaries named in docs/clinical §2 and §16 (each case derived by hand)."""

from __future__ import annotations

import pytest
from engine_helpers import constant, grade, lab

from icaht import GradingSettings
from icaht.record import Analyte

HIGH = 2000.0  # clearly above every ICAHT threshold


def full(overrides: dict[int, float], last: int = 30) -> dict[int, float]:
    """A value on every day 0..last (2000/uL unless overridden): no unknown day."""
    days = constant(range(last + 1), HIGH)
    days.update(overrides)
    return days


# ---- thresholds (A1, §2.2) ----


def test_exactly_500_is_severe() -> None:
    early = grade(full({5: 500})).early
    assert (early.grade, early.days_anc_le_500, early.lower_bound) == (1, 1, False)


def test_510_is_not_severe() -> None:
    early = grade(full({5: 510})).early
    assert (early.grade, early.days_anc_le_500) == (0, 0)


def test_exactly_500_not_severe_when_thresholds_strict() -> None:
    early = grade(full({5: 500}), settings=GradingSettings(threshold_inclusive=False)).early
    assert (early.grade, early.days_anc_le_500) == (0, 0)


def test_exactly_100_for_7_days_is_profound_grade_3() -> None:
    early = grade(full(constant(range(5, 12), 100))).early
    assert (early.days_anc_le_500, early.days_anc_le_100, early.grade) == (7, 7, 3)


def test_101_for_7_days_is_severe_only_grade_2() -> None:
    early = grade(full(constant(range(5, 12), 101))).early
    assert (early.days_anc_le_500, early.days_anc_le_100, early.grade) == (7, 0, 2)


def test_interpolated_value_of_exactly_500_counts() -> None:
    # C10: day 4 = 400, day 5 missing, day 6 = 600 -> day 5 interpolated to exactly 500
    values = full({4: 400, 6: 600})
    del values[5]
    early = grade(values).early
    assert early.grid.values[5] == 500 and early.grid.kinds[5] == "interpolated"
    assert early.days_anc_le_500 == 2


# ---- durations (§2.1) ----


@pytest.mark.parametrize(("days", "expected"), [(6, 1), (7, 2), (13, 2), (14, 3)])
def test_severe_duration_boundaries(days: int, expected: int) -> None:
    early = grade(full(constant(range(5, 5 + days), 300))).early
    assert (early.days_anc_le_500, early.grade) == (days, expected)


@pytest.mark.parametrize(("days", "expected"), [(6, 1), (7, 3), (13, 3), (14, 4)])
def test_profound_duration_boundaries(days: int, expected: int) -> None:
    early = grade(full(constant(range(5, 5 + days), 50))).early
    assert (early.days_anc_le_100, early.grade) == (days, expected)


def test_no_severe_day_is_grade_0() -> None:
    early = grade(full({})).early
    assert (early.grade, early.status, early.lower_bound) == (0, "final", False)


# ---- bridging (A4, §2.4) ----


@pytest.mark.parametrize(("gap", "duration", "expected"), [(1, 14, 3), (2, 15, 3), (3, 7, 2)])
def test_gap_between_runs(gap: int, duration: int, expected: int) -> None:
    # 6 severe days (5-10), `gap` days at 2000, then 7 severe days
    second = 11 + gap
    values = full({**constant(range(5, 11), 300), **constant(range(second, second + 7), 300)})
    early = grade(values).early
    assert (early.days_anc_le_500, early.grade) == (duration, expected)
    assert len(early.episodes_500) == (1 if gap <= 2 else 2)


def test_cumulative_mode_adds_separate_episodes() -> None:
    # A3: 6 + 8 days separated by a 3-day recovery: longest 8 (G2), cumulative 14 (G3)
    values = full({**constant(range(2, 8), 300), **constant(range(11, 19), 300)})
    assert grade(values).early.grade == 2
    cumulative = grade(values, settings=GradingSettings(duration_mode="cumulative")).early
    assert (cumulative.days_anc_le_500, cumulative.grade) == (14, 3)


def test_unknown_days_are_bridged_like_recovered_days() -> None:
    # §2.4: a 2-day gap of unknown (unmeasured, 8-day hole makes them unknown) is still bridged
    values = {0: HIGH, **constant(range(1, 6), 300), 14: 300, **constant(range(15, 31), HIGH)}
    early = grade(values).early
    assert early.grid.kinds[6:14] == ("unknown",) * 8
    assert [(e.start_day, e.end_day) for e in early.episodes_500] == [(1, 5), (14, 14)]


# ---- interpolation (A2, §2.3, C4) ----


def test_interior_gap_of_7_days_is_interpolated() -> None:
    values = {**constant(range(5), HIGH), 5: 300, 13: 300, **constant(range(14, 31), HIGH)}
    early = grade(values).early
    assert early.grid.days_of("interpolated") == tuple(range(6, 13))
    assert (early.days_anc_le_500, early.grade, early.lower_bound) == (9, 2, False)


def test_interior_gap_of_8_days_stays_unknown() -> None:
    values = {**constant(range(5), HIGH), 5: 300, 14: 300, **constant(range(15, 31), HIGH)}
    early = grade(values).early
    assert early.grid.days_of("unknown") == tuple(range(6, 14))
    assert (early.days_anc_le_500, early.grade, early.lower_bound) == (1, 1, True)


def test_interpolation_is_linear_without_rounding() -> None:
    values = full({4: 410, 6: 600})
    del values[5]
    assert grade(values).early.grid.values[5] == pytest.approx(505.0)


def test_rounding_to_10_half_even_moves_505_onto_500() -> None:
    # A14 / C42: days 1-6 at 300, day 7 interpolated (300 + 710) / 2 = 505
    values = full({**constant(range(1, 7), 300), 8: 710})
    del values[7]
    assert grade(values).early.grade == 1
    rounded = grade(values, settings=GradingSettings(round_to_10=True)).early
    assert rounded.grid.values[7] == 500
    assert (rounded.days_anc_le_500, rounded.grade) == (7, 2)


def test_pre_infusion_value_anchors_leading_gap() -> None:
    # §2.3 step 4 (C23): anchor 2000 on day -2, first value 200 on day 3: days 0-2 interpolated
    # (1280, 920, 560) and not severe -> 6 days (3-8) G1; constant back-fill gives 9 days G2.
    values = {-2: HIGH, **constant(range(3, 9), 200), **constant(range(9, 31), HIGH)}
    early = grade(values).early
    assert early.grid.values[:3] == pytest.approx((1280.0, 920.0, 560.0))
    assert early.grid.left_anchor_day == -2
    assert (early.days_anc_le_500, early.grade) == (6, 1)
    no_anchor = grade(values, settings=GradingSettings(edge_anchors=False)).early
    assert no_anchor.grid.kinds[:3] == ("filled",) * 3
    assert (no_anchor.days_anc_le_500, no_anchor.grade) == (9, 2)


def test_value_on_day_minus_8_is_not_an_anchor() -> None:
    values = {-8: HIGH, **constant(range(3, 9), 200), **constant(range(9, 31), HIGH)}
    early = grade(values).early
    assert early.grid.left_anchor_day is None
    assert (early.days_anc_le_500, early.grade) == (9, 2)


def test_pre_infusion_values_never_counted() -> None:
    values = {**constant(range(-7, 0), 50), **full({})}
    early = grade(values).early
    assert (early.grade, early.days_anc_le_500) == (0, 0)


def test_leading_gap_of_8_days_stays_unknown() -> None:
    values = constant(range(8, 31), HIGH)
    early = grade(values).early
    assert early.grid.days_of("unknown") == tuple(range(8))
    assert (early.grade, early.lower_bound) == (0, True)


def test_leading_gap_limit_counts_window_days_only() -> None:
    # C4: anchor on day -7, first value day 7: 7 missing days (0-6) -> filled by interpolation
    values = {-7: 1000, 7: 300, **constant(range(8, 31), HIGH)}
    early = grade(values).early
    assert early.grid.days_of("interpolated") == tuple(range(7))
    assert early.grid.values[0] == pytest.approx(650.0)


def test_recovery_seen_on_day_33_anchors_trailing_days() -> None:
    # §2.3 step 5 (C48): 300 on days 2-26, nothing on 27-32, 2000 on day 33
    values = {0: HIGH, 1: HIGH, **constant(range(2, 27), 300), 33: HIGH}
    early = grade(values).early
    assert early.grid.right_anchor_day == 33
    assert early.grid.values[27] == pytest.approx(300 + 1700 / 7)
    assert (early.days_anc_le_500, early.never_above_500, early.grade) == (25, False, 3)
    liang_like = grade(values, settings=GradingSettings(edge_anchors=False)).early
    assert (liang_like.never_above_500, liang_like.grade) == (True, 4)


def test_same_day_duplicates_use_the_minimum() -> None:
    values = [*full({}).items(), (5, 800.0), (5, 400.0)]
    early = grade(values).early
    assert early.grid.values[5] == 400
    assert early.days_anc_le_500 == 1


def test_same_day_duplicates_order_irrelevant() -> None:
    a = grade([*full({}).items(), (5, 400.0), (5, 800.0)])
    b = grade([(5, 800.0), (5, 400.0), *full({}).items()])
    assert a == b


# ---- never above 500 (A6, A7, §2.5, C2, C3) ----


def test_c2_carry_forward_counts_for_never_above() -> None:
    # §16 C2: 300 on days 1-26, no value on days 27-37 -> days 27-30 carried forward -> G4 final
    early = grade(constant(range(1, 27), 300)).early
    assert early.grid.kinds[27:31] == ("filled",) * 4
    assert (early.grade, early.status, early.never_above_500) == (4, "final", True)


def test_episode_starting_day_3_to_day_30_is_grade_4() -> None:
    early = grade(full(constant(range(3, 31), 300))).early
    assert (early.never_above_500, early.grade) == (True, 4)


def test_episode_starting_day_4_to_day_30_is_grade_3() -> None:
    early = grade(full(constant(range(4, 31), 300))).early
    assert (early.never_above_500, early.days_anc_le_500, early.grade) == (False, 27, 3)


def test_trailing_two_day_recovery_not_absorbed() -> None:
    # A5 (C40): <= 500 on days 2-28, 600 on days 29-30 -> G3; heatwaveR absorption -> G4
    values = full({**constant(range(2, 29), 300), 29: 600, 30: 600})
    early = grade(values).early
    assert (early.days_anc_le_500, early.grade) == (27, 3)
    absorbed = grade(values, settings=GradingSettings(absorb_trailing_gaps=True)).early
    assert (absorbed.days_anc_le_500, absorbed.never_above_500, absorbed.grade) == (29, True, 4)


def test_death_on_day_2_without_recovery_is_grade_4() -> None:
    # C45 / A7: ANC <= 500 from day 1, death on day 2 -> carried forward to the death day -> G4
    early = grade({0: HIGH, 1: 300}, death_day=2).early
    assert early.grid.kinds == ("measured", "measured", "filled")
    assert (early.grade, early.status, early.driven_by_death) == (4, "final", True)
    assert "death" in early.explanation()


def test_death_on_day_2_after_recovery_is_not_grade_4() -> None:
    early = grade({0: HIGH, 1: 300, 2: 800}, death_day=2).early
    assert (early.grade, early.status, early.never_above_500) == (1, "final", False)


# ---- censoring (A12, C3, C11a) ----


def test_relapse_while_neutropenic_censors_without_override() -> None:
    values = {0: HIGH, **constant(range(1, 31), 300)}
    early = grade(values, censor_day=12).early
    assert (early.status, early.window_end_day, early.days_anc_le_500) == ("censored", 12, 12)
    assert (early.never_above_500, early.grade) == (False, 2)
    uncensored = grade(values).early
    assert (uncensored.grade, uncensored.status) == (4, "final")


def test_censoring_ignored_for_early_when_switched_off() -> None:
    values = {0: HIGH, **constant(range(1, 31), 300)}
    early = grade(values, censor_day=12, settings=GradingSettings(early_censoring=False)).early
    assert (early.status, early.grade) == ("final", 4)


def test_censoring_on_day_30_and_death_on_day_30_is_censored() -> None:
    # C3: censoring wins also when c = 30 and death falls on the same day
    values = {0: HIGH, **constant(range(1, 31), 300)}
    early = grade(values, censor_day=30, death_day=30).early
    assert (early.status, early.never_above_500, early.grade) == ("censored", False, 3)


def test_death_before_censoring_is_final() -> None:
    values = {0: HIGH, **constant(range(1, 16), 300)}
    early = grade(values, censor_day=20, death_day=15).early
    assert (early.status, early.window_end_day, early.grade) == ("final", 15, 4)


def test_censoring_closes_the_window_and_carries_forward_to_the_censoring_day() -> None:
    # C12 (amends C11a): censoring before the evaluation day (here: no evaluation day) closes
    # the window; the <= 7-day carry-forward fills days 3-6 as at day 30
    early = grade({0: HIGH, 1: 300, 2: 300}, censor_day=6).early
    assert early.grid.kinds[3:] == ("filled",) * 4
    assert (early.days_anc_le_500, early.lower_bound, early.status) == (6, False, "censored")


def test_c12_example_censored_before_the_evaluation_day() -> None:
    # §17 C12: 3380 on day 0, 10 on day 6, censoring day 8, evaluated day 9 -> days 6-8 severe
    # and profound (3 days each), censored, not a lower bound
    early = grade({0: 3380, 6: 10}, censor_day=8, evaluation_day=9).early
    assert (early.days_anc_le_500, early.days_anc_le_100) == (3, 3)
    assert (early.status, early.lower_bound, early.window_end_day) == ("censored", False, 8)
    assert early.grid.days_of("filled") == (7, 8)


def test_c12_censoring_on_the_evaluation_day_leaves_the_window_open() -> None:
    # §17 C12: a censoring day equal to the evaluation day counts as the evaluation day (C1)
    early = grade({0: 3380, 6: 10}, censor_day=8, evaluation_day=8).early
    assert (early.days_anc_le_500, early.days_anc_le_100) == (1, 1)
    assert (early.status, early.lower_bound) == ("censored", True)
    assert early.grid.days_of("unknown") == (7, 8)


def test_c12_carry_forward_to_the_censoring_day_keeps_the_7_day_limit() -> None:
    # §2.3 step 5 limit (C4): 7 missing days after the last value are filled, an 8th is not
    seven = grade({0: HIGH, 1: 300}, censor_day=8, evaluation_day=20).early
    assert (seven.days_anc_le_500, seven.lower_bound) == (8, False)
    eight = grade({0: HIGH, 1: 300}, censor_day=9, evaluation_day=20).early
    assert eight.lower_bound is True


# ---- real-time grading (A15, C1) ----


def test_c1_example_open_window_no_fill() -> None:
    # §16 C1: 2000 on day 0, 300 on days 1-3, evaluated on day 10 -> 3 days, provisional G1, LB
    early = grade({0: 2000, 1: 300, 2: 300, 3: 300}, evaluation_day=10).early
    assert (early.days_anc_le_500, early.grade, early.status, early.lower_bound) == (
        3,
        1,
        "provisional",
        True,
    )
    assert early.grid.days_of("unknown") == tuple(range(4, 11))
    assert early.episode_ongoing is True
    assert early.next_grade is not None
    assert (early.next_grade.grade, early.next_grade.day) == (2, 7)


def test_mid_episode_real_time_grade_has_no_override() -> None:
    # A15 (C43): neutropenic since day 1, evaluated day 12 -> provisional G2; Liang: G4
    values = {0: HIGH, **constant(range(1, 13), 300)}
    early = grade(values, evaluation_day=12).early
    assert (early.grade, early.status, early.never_above_500, early.lower_bound) == (
        2,
        "provisional",
        False,
        False,
    )
    assert early.next_grade is not None
    assert (early.next_grade.grade, early.next_grade.day, early.next_grade.threshold) == (
        3,
        14,
        500,
    )
    liang = grade(values, evaluation_day=12, settings=GradingSettings.liang()).early
    assert liang.grade == 4


def test_values_after_evaluation_day_are_ignored() -> None:
    # C5
    values = full(constant(range(12, 20), 300))
    early = grade(values, evaluation_day=10).early
    assert (early.grade, early.window_end_day) == (0, 10)


def test_death_after_evaluation_day_is_not_known_yet() -> None:
    result = grade({0: HIGH, 1: 300, 2: 300}, evaluation_day=2, death_day=3)
    assert result.death_day is None
    assert result.early.status == "provisional"


def test_evaluation_on_day_30_is_final() -> None:
    early = grade(full({5: 300}), evaluation_day=30).early
    assert (early.status, early.grade) == ("final", 1)


# ---- day 30 / 31 edges ----


def test_severe_value_on_day_30_counts() -> None:
    early = grade(full({30: 300})).early
    assert (early.days_anc_le_500, early.grade) == (1, 1)


def test_severe_value_on_day_31_is_late_not_early() -> None:
    result = grade({**full({}), 31: 300})
    assert result.early.grade == 0
    assert result.late.grade == 3


# ---- comparators and derived bounds (C6, C11f) ----


def test_below_100_counts_as_severe_and_profound() -> None:
    values = [lab(d, v) for d, v in full({}).items() if d != 5] + [lab(5, 100, comparator="<")]
    early = grade(values).early
    assert early.grid.kinds[5] == "below"
    assert (early.days_anc_le_500, early.days_anc_le_100, early.lower_bound) == (1, 1, False)


def test_below_300_is_unknown_for_100_and_makes_a_lower_bound() -> None:
    values = [lab(d, v) for d, v in full({}).items() if d != 5] + [lab(5, 300, comparator="<")]
    early = grade(values).early
    assert (early.days_anc_le_500, early.days_anc_le_100, early.lower_bound) == (1, 0, True)


def test_below_1000_is_unknown_for_both_thresholds() -> None:
    values = [lab(d, v) for d, v in full({}).items() if d != 5] + [lab(5, 1000, comparator="<")]
    early = grade(values).early
    assert (early.grade, early.days_anc_le_500, early.lower_bound) == (0, 0, True)


def test_below_value_is_not_an_interpolation_end_point() -> None:
    # C6: neighbours interpolated as if day 4 were missing: 2000 on 0 and 8 -> 2000 on 1-7
    values = [lab(0, HIGH), lab(4, 100, comparator="<"), lab(8, HIGH)]
    values += [lab(d, HIGH) for d in range(9, 31)]
    early = grade(values).early
    assert early.grid.values[3] == HIGH and early.grid.values[5] == HIGH
    assert early.grid.kinds[4] == "below"
    assert (early.days_anc_le_500, early.grade) == (1, 1)


def test_derived_bound_at_500_is_severe_inclusive_only() -> None:
    bound = lab(5, 500, comparator="<=", provenance="derived-bound")
    values = [lab(d, v) for d, v in full({}).items() if d != 5] + [bound]
    assert grade(values).early.days_anc_le_500 == 1
    strict = grade(values, settings=GradingSettings(threshold_inclusive=False)).early
    assert (strict.days_anc_le_500, strict.lower_bound) == (0, True)


def test_labvalue_of_other_analyte_is_rejected() -> None:
    with pytest.raises(ValueError, match="ANC"):
        grade([lab(1, 300, analyte=Analyte.WBC)])


def test_negative_anc_is_rejected() -> None:
    with pytest.raises(ValueError):
        grade({1: -5})


# ---- not evaluable ----


def test_no_value_in_days_0_to_30_is_not_evaluable() -> None:
    early = grade({40: 300}).early
    assert early.grade is None and early.reason is not None


def test_evaluation_before_day_0_is_not_evaluable() -> None:
    result = grade({-3: 300}, evaluation_day=-1)
    assert result.early.grade is None
    assert result.late.grade is None
    assert result.phenotype == "indeterminate"


def test_explanation_names_days_and_duration() -> None:
    # grade 3 because ANC <= 500 on days 2-17 (16 days)
    early = grade(full(constant(range(2, 18), 300))).early
    assert "days 2-17 (16 days)" in early.explanation()
    assert early.explanation().startswith("early ICAHT grade 3")


def test_explanation_of_a_one_day_episode_says_day() -> None:
    early = grade(full(constant([4], 300))).early
    assert "ANC <=500/µL on day 4 (1 day)" in early.explanation()


# ---- option switches ----


def test_liang_fills_nothing_with_fewer_than_two_values() -> None:
    # C10: zoo::na.approx needs two points; in Liang mode the other days stay unknown
    liang = grade({3: 300}, settings=GradingSettings.liang()).early
    assert liang.grid.days_of("measured") == (3,)
    assert liang.grid.days_of("unknown") == tuple(d for d in range(31) if d != 3)
    default = grade({3: 300}).early
    assert default.grid.days_of("filled") == (0, 1, 2)  # constant back-fill, <= 7 days


def test_max_interpolation_gap_switch() -> None:
    values = {**constant(range(5), HIGH), 5: 300, 10: 300, **constant(range(11, 31), HIGH)}
    assert grade(values).early.days_anc_le_500 == 6  # days 6-9 interpolated at 300
    short = grade(values, settings=GradingSettings(max_interpolation_gap=3)).early
    assert short.grid.days_of("unknown") == (6, 7, 8, 9)
    assert (short.days_anc_le_500, short.lower_bound) == (1, True)


def test_bridging_gap_switch() -> None:
    values = full({**constant(range(5, 11), 300), **constant(range(12, 19), 300)})
    assert grade(values).early.days_anc_le_500 == 14
    unbridged = grade(values, settings=GradingSettings(bridging_gap=0)).early
    assert (unbridged.days_anc_le_500, unbridged.grade) == (7, 2)


def test_options_are_frozen() -> None:
    settings = GradingSettings()
    with pytest.raises(AttributeError):
        settings.round_to_10 = True  # type: ignore[misc]
    assert settings.with_changes(round_to_10=True).round_to_10 is True
