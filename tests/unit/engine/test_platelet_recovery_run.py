"""T-ICAHT platelet recovery needs 3 consecutive days >= 20 x10^9/L (docs/clinical §18; issue 21).

§18 (Rejeski et al., Blood 2025; CIBMTR "initial platelet recovery"): recovery is the first of
3 consecutive days with platelets >= 20 x10^9/L (and no platelet transfusion in the 7 days
before). Before issue 21 no test held a run of exactly 2 days >= 20 broken by a dip, so a
2-day run passed every test.
"""

from __future__ import annotations

from engine_helpers import DAY0, constant, on, series

from icaht import GradingSettings, grade_thrombocytopenia

FINE = 150.0  # x10^9/L, above every T-ICAHT threshold


def recovery_day(overrides: dict[int, float]) -> int | None:
    values = constant(range(31), FINE)
    values.update(overrides)
    result = grade_thrombocytopenia(
        series(values), DAY0, evaluation_date=on(30), settings=GradingSettings()
    )
    return result.recovery_day


NADIR = constant(range(5, 12), 10)  # days 5-11 at 10 x10^9/L


def test_two_days_at_20_then_a_dip_are_no_recovery() -> None:
    # days 12-13 at 25, day 14 back at 15: recovery only from day 15 (15, 16, 17 >= 20)
    assert recovery_day(NADIR | {12: 25, 13: 25, 14: 15}) == 15


def test_three_days_at_20_then_a_dip_are_a_recovery() -> None:
    # days 12-14 at exactly 20 (>= 20 counts), day 15 back at 15: recovered on day 12
    assert recovery_day(NADIR | {12: 20, 13: 20, 14: 20, 15: 15}) == 12


def test_a_run_broken_by_19_9_starts_again() -> None:
    assert recovery_day(NADIR | {12: 30, 13: 19.9, 14: 30, 15: 30, 16: 30}) == 14
