"""Property tests (hypothesis) for the neutropenia grader.

Monotonicity, stated exactly: with all dates fixed (ANC days, evaluation, death, censoring),
lowering any one ANC value never lowers
* the early grade, days_anc_le_500 or days_anc_le_100 (any options: interpolation, rounding and
  constant fills are monotone in the values, and more severe days only merge episodes);
* the late grade in nadir mode (with or without C8 and a confirmation interval): the grade is
  the larger of the best confirmed pair and the best value <= 1500 with no value > 1500 after
  it; lowering a value only adds pairs and removes "> 1500 afterwards" witnesses;
* the late grade in strict mode without C8 (band of the second-lowest value).
Strict mode WITH C8 is not monotone (a dip on the last day is graded unconfirmed until an
earlier value falls to <= 1500 and the pair decides), so it is not claimed.
"""

from __future__ import annotations

import random

from engine_helpers import grade
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from icaht import GradingSettings

OPTION_SETS = [
    GradingSettings(),
    GradingSettings.liang(),
    GradingSettings(duration_mode="cumulative", threshold_inclusive=False),
    GradingSettings(late_max_days_between_confirming_values=14, absorb_trailing_gaps=True),
]
MONOTONE_LATE = [
    GradingSettings(),
    GradingSettings.liang(),
    GradingSettings(late_max_days_between_confirming_values=14),
    GradingSettings(late_mode="strict", transient_needs_later_value=False),
]

anc_value = st.one_of(
    st.integers(0, 3000).map(float),
    st.sampled_from([0.0, 100.0, 101.0, 500.0, 505.0, 1000.0, 1500.0, 1501.0]),
)
points = st.lists(st.tuples(st.integers(-10, 110), anc_value), min_size=1, max_size=60)
optional_day = st.one_of(st.none(), st.integers(0, 110))
SETTINGS = settings(max_examples=150, deadline=None)


@SETTINGS
@given(
    values=points,
    data=st.data(),
    options_index=st.integers(0, len(OPTION_SETS) - 1),
    dates=st.tuples(optional_day, optional_day, optional_day),
)
def test_lowering_a_value_never_lowers_the_early_grade(
    values: list[tuple[int, float]],
    data: st.DataObject,
    options_index: int,
    dates: tuple[int | None, int | None, int | None],
) -> None:
    evaluation_day, death_day, censor_day = dates
    index = data.draw(st.integers(0, len(values) - 1))
    lowered = list(values)
    day, value = lowered[index]
    lowered[index] = (day, data.draw(st.floats(0, value)))
    kw = {"evaluation_day": evaluation_day, "death_day": death_day, "censor_day": censor_day}
    grading_settings = OPTION_SETS[options_index]
    before = grade(values, settings=grading_settings, **kw).early
    after = grade(lowered, settings=grading_settings, **kw).early
    assert (before.grade is None) == (after.grade is None)
    if before.grade is not None and after.grade is not None:
        assert after.grade >= before.grade
        assert after.days_anc_le_500 >= before.days_anc_le_500
        assert after.days_anc_le_100 >= before.days_anc_le_100


@SETTINGS
@given(
    values=points,
    data=st.data(),
    options_index=st.integers(0, len(MONOTONE_LATE) - 1),
    evaluation_day=optional_day,
    censor_day=optional_day,
)
def test_lowering_a_value_never_lowers_the_late_grade(
    values: list[tuple[int, float]],
    data: st.DataObject,
    options_index: int,
    evaluation_day: int | None,
    censor_day: int | None,
) -> None:
    index = data.draw(st.integers(0, len(values) - 1))
    lowered = list(values)
    day, value = lowered[index]
    lowered[index] = (day, data.draw(st.floats(0, value)))
    kw = {"evaluation_day": evaluation_day, "censor_day": censor_day}
    grading_settings = MONOTONE_LATE[options_index]
    before = grade(values, settings=grading_settings, **kw).late
    after = grade(lowered, settings=grading_settings, **kw).late
    assert (before.grade is None) == (after.grade is None)
    if before.grade is not None and after.grade is not None:
        assert after.grade >= before.grade


@SETTINGS
@given(values=points, seed=st.integers(0, 2**32 - 1), options_index=st.integers(0, 3))
def test_input_order_does_not_matter(
    values: list[tuple[int, float]], seed: int, options_index: int
) -> None:
    shuffled = list(values)
    random.Random(seed).shuffle(shuffled)
    grading_settings = OPTION_SETS[options_index]
    assert grade(values, settings=grading_settings) == grade(shuffled, settings=grading_settings)


@SETTINGS
@given(values=points, options_index=st.integers(0, 3), evaluation_day=optional_day)
def test_results_are_deterministic(
    values: list[tuple[int, float]], options_index: int, evaluation_day: int | None
) -> None:
    grading_settings = OPTION_SETS[options_index]
    first = grade(values, settings=grading_settings, evaluation_day=evaluation_day)
    assert first == grade(values, settings=grading_settings, evaluation_day=evaluation_day)


@SETTINGS
@given(
    values=points,
    data=st.data(),
    added=st.integers(1501, 10000).map(float),
    options_index=st.integers(0, 3),
)
def test_adding_high_value_between_high_neighbours_changes_no_episode(
    values: list[tuple[int, float]], data: st.DataObject, added: float, options_index: int
) -> None:
    """A value > 1500 on a day whose nearest measured neighbours (days 0..30) are both > 1500
    cannot create, lengthen or shorten an episode: the days around it are interpolated between
    values > 1500 or stay unknown, and unknown and recovered days bridge alike."""
    before_day = data.draw(st.integers(0, 28))
    after_day = data.draw(st.integers(before_day + 2, 30))
    day = data.draw(st.integers(before_day + 1, after_day - 1))
    high = st.integers(1501, 10000).map(float)
    kept = [(d, v) for d, v in values if not before_day <= d <= after_day]
    kept += [(before_day, data.draw(high)), (after_day, data.draw(high))]
    grading_settings = OPTION_SETS[options_index]
    before = grade(kept, settings=grading_settings).early
    after = grade([*kept, (day, added)], settings=grading_settings).early
    assert after.episodes_500 == before.episodes_500
    assert after.episodes_100 == before.episodes_100
    assert (after.grade, after.never_above_500) == (before.grade, before.never_above_500)


@SETTINGS
@given(values=points, data=st.data(), added=st.integers(1501, 10000).map(float))
def test_adding_high_late_value_before_the_nadir_changes_no_late_grade(
    values: list[tuple[int, float]], data: st.DataObject, added: float
) -> None:
    """Default options: a value > 1500 added on a late day before the nadir (and after the
    day-31..37 anchor range) changes neither the early nor the late grade."""
    before = grade(values)
    assume(before.late.nadir is not None and before.late.nadir.day > 38)
    assert before.late.nadir is not None
    day = data.draw(st.integers(38, before.late.nadir.day - 1))
    after = grade([*values, (day, added)])
    assert after.late.grade == before.late.grade
    assert after.early == before.early
