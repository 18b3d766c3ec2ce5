"""Issue 16: the early explanation names the measured days above the threshold that an episode
bridges (docs/clinical §2.4, reading A4: a rise of 1-2 days does not end an episode), so "on
days 0-17" is not read as "every day was <= 500/µL". Each case derived by hand."""

from __future__ import annotations

from engine_helpers import constant, grade

from icaht import GradingSettings
from icaht.early import BridgedDay

HIGH = 2000.0  # clearly above every ICAHT threshold


def full(overrides: dict[int, float], last: int = 30) -> dict[int, float]:
    """A value on every day 0..last (2000/uL unless overridden): no unknown day."""
    days = constant(range(last + 1), HIGH)
    days.update(overrides)
    return days


def test_one_measured_rise_is_carried_and_said() -> None:
    # 300 on days 2-17, 940 on day 8: gap of 1 day, bridged -> one episode of 16 days
    early = grade(full({**constant(range(2, 18), 300), 8: 940})).early
    assert early.episodes_500[0].start_day == 2 and early.episodes_500[0].end_day == 17
    assert early.bridged_days == (BridgedDay(500, 8, 940.0),)
    assert (
        "because ANC <=500/µL on days 2-17 (16 days; day 8 at 940/µL bridged as a transient rise)"
        in early.explanation()
    )


def test_no_bridged_clause_without_a_rise() -> None:
    early = grade(full(constant(range(2, 18), 300))).early
    assert early.bridged_days == ()
    assert early.explanation().endswith("on days 2-17 (16 days)")


def test_a_rise_of_three_days_ends_the_episode_and_is_not_bridged() -> None:
    # days 8-10 above 500: a stable recovery (A4), two episodes, nothing bridged
    early = grade(full({**constant(range(2, 18), 300), 8: 940, 9: 900, 10: 800})).early
    assert [(e.start_day, e.end_day) for e in early.episodes_500] == [(2, 7), (11, 17)]
    assert early.bridged_days == ()
    assert "bridged" not in early.explanation()


def test_interpolated_days_are_not_listed_only_the_measured_one() -> None:
    # Liang patient 7's shape: 300 on day 0, day 1 missing (interpolated 620), 940 on day 2
    values = full({**constant(range(0, 18), 300), 2: 940})
    del values[1]
    early = grade(values).early
    assert early.grid.kinds[1] == "interpolated" and early.grid.values[1] == 620
    assert early.bridged_days == (BridgedDay(500, 2, 940.0),)
    assert "on days 0-17 (18 days; day 2 at 940/µL bridged as a transient rise)" in (
        early.explanation()
    )


def test_two_rises_are_both_named() -> None:
    early = grade(full({**constant(range(2, 18), 300), 4: 600, 7: 700})).early
    assert [b.day for b in early.bridged_days] == [4, 7]
    assert (
        "(16 days; day 4 at 600/µL and day 7 at 700/µL bridged as transient rises)"
        in early.explanation()
    )


def test_more_than_three_rises_list_three_and_count_the_rest() -> None:
    rises = {4: 600, 7: 700, 10: 800, 13: 900, 16: 1000}
    early = grade(full({**constant(range(2, 21), 300), **rises})).early
    assert [(b.day, b.anc) for b in early.bridged_days] == sorted(rises.items())
    assert (
        "(19 days; day 4 at 600/µL, day 7 at 700/µL, day 10 at 800/µL and 2 more "
        "bridged as transient rises)" in early.explanation()
    )
    assert "day 13" not in early.explanation()


def test_profound_episode_names_its_own_bridged_day() -> None:
    # 50 on days 5-15, 300 on day 8: severe throughout, profound bridged over day 8
    early = grade(full({**constant(range(5, 16), 50), 8: 300})).early
    assert early.bridged_days == (BridgedDay(100, 8, 300.0),)
    text = early.explanation()
    assert "<=500/µL on days 5-15 (11 days), " in text
    assert "<=100/µL on days 5-15 (11 days; day 8 at 300/µL bridged as a transient rise)" in text


def test_exactly_500_is_bridged_only_when_thresholds_are_strict() -> None:
    values = full({**constant(range(2, 11), 300), 5: 500})
    assert grade(values).early.bridged_days == ()  # A1 inclusive: 500 is severe
    strict = grade(values, settings=GradingSettings(threshold_inclusive=False)).early
    assert strict.bridged_days == (BridgedDay(500, 5, 500.0),)
    assert "day 5 at 500/µL bridged as a transient rise" in strict.explanation()


def test_never_above_500_names_the_bridged_rise() -> None:
    # 300 on every day 0-30 but 940 on day 2: grade 4 by the override, which rests on the bridge
    early = grade({**constant(range(31), 300), 2: 940}).early
    assert (early.grade, early.never_above_500) == (4, True)
    assert early.explanation() == (
        "early ICAHT grade 4 (final) because ANC never rose above 500/µL after the nadir "
        "(day 2 at 940/µL bridged as a transient rise)"
    )


def test_not_evaluable_has_no_bridged_days() -> None:
    early = grade({40: 300}).early
    assert early.grade is None and early.bridged_days == ()
