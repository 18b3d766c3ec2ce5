"""Property tests (hypothesis) for the T-ICAHT grader, as tests/unit/engine/test_properties.py
has them for N-ICAHT.

With all dates fixed (platelet days, evaluation, death, censoring, transfusions):
* lowering any one platelet value never lowers the early grade, days_below_50 or days_below_20:
  grid values are monotone in the measured values, and a new day below a threshold only adds
  days to the count (it joins runs, it never splits one);
* the same holds for the late grade in nadir mode (C8's band grade is monotone, as for N-ICAHT,
  and the grade 3 -> 4 step counts days < 20 on the same monotone grid);
* adding a platelet transfusion never makes the recovery earlier and changes no grade (a count
  after a transfusion counts as measured, §18);
* the window, status and lower bound are N-ICAHT's for the same dates and days (one machinery).
Recovery is not monotone in the values: a new early dip < 20 can start an earlier recovery (the
first recovery after the first day < 20), so that is not claimed.
"""

from __future__ import annotations

import random
from datetime import date

from engine_helpers import DAY0, grade, on, series
from hypothesis import given, settings
from hypothesis import strategies as st

from icaht import GradingSettings, ThrombocytopeniaResult, grade_thrombocytopenia
from icaht.record import Transfusion

OPTION_SETS = [
    GradingSettings(),
    GradingSettings.liang(),
    GradingSettings(late_max_days_between_confirming_values=14, max_interpolation_gap=3),
]
MONOTONE_LATE = [
    GradingSettings(),
    GradingSettings(late_max_days_between_confirming_values=14),
    GradingSettings(late_mode="strict", transient_needs_later_value=False),
]

platelet_value = st.one_of(
    st.floats(0, 300, allow_nan=False),
    st.sampled_from([0.0, 19.9, 20.0, 49.9, 50.0, 99.9, 100.0]),
)
points = st.lists(st.tuples(st.integers(-10, 110), platelet_value), min_size=1, max_size=60)
optional_day = st.one_of(st.none(), st.integers(0, 110))
transfusion_days = st.lists(st.integers(-10, 110), max_size=5)
SETTINGS = settings(max_examples=150, deadline=None)


def _date(day: int | None) -> date | None:
    return None if day is None else on(day)


def grade_plt(
    values: list[tuple[int, float]],
    *,
    evaluation_day: int | None = None,
    death_day: int | None = None,
    censor_day: int | None = None,
    transfused: list[int] | tuple[int, ...] = (),
    grading_settings: GradingSettings | None = None,
) -> ThrombocytopeniaResult:
    return grade_thrombocytopenia(
        series(values),
        DAY0,
        evaluation_date=_date(evaluation_day),
        death_date=_date(death_day),
        censor_date=_date(censor_day),
        transfusions=tuple(Transfusion(on(d), "platelets") for d in transfused),
        settings=grading_settings or GradingSettings(),
    )


def _lowered(values: list[tuple[int, float]], data: st.DataObject) -> list[tuple[int, float]]:
    index = data.draw(st.integers(0, len(values) - 1))
    lowered = list(values)
    day, value = lowered[index]
    lowered[index] = (day, data.draw(st.floats(0, value)))
    return lowered


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
    kw = {"evaluation_day": evaluation_day, "death_day": death_day, "censor_day": censor_day}
    grading_settings = OPTION_SETS[options_index]
    before = grade_plt(values, grading_settings=grading_settings, **kw).early
    after = grade_plt(_lowered(values, data), grading_settings=grading_settings, **kw).early
    assert (before.grade is None) == (after.grade is None)
    if before.grade is not None and after.grade is not None:
        assert after.grade >= before.grade
        assert after.days_below_50 >= before.days_below_50
        assert after.days_below_20 >= before.days_below_20
        assert set(before.below_50_days) <= set(after.below_50_days)


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
    kw = {"evaluation_day": evaluation_day, "censor_day": censor_day}
    grading_settings = MONOTONE_LATE[options_index]
    before = grade_plt(values, grading_settings=grading_settings, **kw).late
    after = grade_plt(_lowered(values, data), grading_settings=grading_settings, **kw).late
    assert (before.grade is None) == (after.grade is None)
    if before.grade is not None and after.grade is not None:
        assert after.grade >= before.grade
        assert after.days_below_20 >= before.days_below_20


@SETTINGS
@given(
    values=points,
    transfused=transfusion_days,
    added=st.integers(-10, 110),
    evaluation_day=optional_day,
)
def test_adding_a_transfusion_never_makes_recovery_earlier(
    values: list[tuple[int, float]],
    transfused: list[int],
    added: int,
    evaluation_day: int | None,
) -> None:
    before = grade_plt(values, transfused=transfused, evaluation_day=evaluation_day)
    after = grade_plt(values, transfused=[*transfused, added], evaluation_day=evaluation_day)
    if before.recovery_day is None:
        assert after.recovery_day is None
    else:
        assert after.recovery_day is None or after.recovery_day >= before.recovery_day
    assert (after.early, after.late) == (before.early, before.late)
    assert after.post_transfusion_values_used >= before.post_transfusion_values_used


@SETTINGS
@given(values=points, seed=st.integers(0, 2**32 - 1), transfused=transfusion_days)
def test_input_order_does_not_matter(
    values: list[tuple[int, float]], seed: int, transfused: list[int]
) -> None:
    shuffled = list(values)
    random.Random(seed).shuffle(shuffled)
    assert grade_plt(values, transfused=transfused) == grade_plt(
        shuffled, transfused=list(reversed(transfused))
    )


@SETTINGS
@given(values=points, dates=st.tuples(optional_day, optional_day, optional_day))
def test_window_status_and_lower_bound_are_those_of_n_icaht(
    values: list[tuple[int, float]], dates: tuple[int | None, int | None, int | None]
) -> None:
    evaluation_day, death_day, censor_day = dates
    kw = {"evaluation_day": evaluation_day, "death_day": death_day, "censor_day": censor_day}
    platelets = grade_plt(values, **kw)
    neutrophils = grade(values, **kw)
    t_early, n_early = platelets.early, neutrophils.early
    assert (t_early.status, t_early.window_end_day) == (n_early.status, n_early.window_end_day)
    assert (t_early.grade is None) == (n_early.grade is None)
    if t_early.grade is not None:
        assert t_early.lower_bound == n_early.lower_bound
    t_late, n_late = platelets.late, neutrophils.late
    assert (t_late.status, t_late.window_end_day) == (n_late.status, n_late.window_end_day)
    assert (t_late.grade is None) == (n_late.grade is None)
