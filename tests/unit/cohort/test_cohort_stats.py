"""Wilson intervals, quartiles and the Aalen-Johansen cumulative incidence, against values
computed by hand; the outcome's JSON form (the Spark transport) round-trips."""

from __future__ import annotations

import math
from datetime import date

import pytest

from cohort.model import EpisodeRow, PatientGrading, Recovery, grading_from_json, grading_to_json
from cohort.stats import cumulative_incidence, quartiles, wilson


@pytest.mark.parametrize(
    ("events", "total", "low", "high"),
    [
        (2, 10, 0.0567, 0.5098),  # Newcombe (1998) method 3 style worked example
        (0, 10, 0.0, 0.2775),  # Wald would give 0-0: Wilson does not collapse at 0 %
        (10, 10, 0.7225, 1.0),
        (50, 100, 0.4038, 0.5962),
    ],
)
def test_wilson_interval(events: int, total: int, low: float, high: float) -> None:
    share = wilson(events, total)
    assert share.value == events / total
    assert share.low == pytest.approx(low, abs=5e-5)
    assert share.high == pytest.approx(high, abs=5e-5)


def test_wilson_of_nobody_is_undefined() -> None:
    share = wilson(0, 0)
    assert math.isnan(share.value) and math.isnan(share.low)


def test_quartiles_inclusive() -> None:
    assert quartiles([1, 2, 3, 4, 5]) == (2, 3, 4)
    assert quartiles([7]) == (7, 7, 7)
    assert quartiles([]) is None


def test_cumulative_incidence_with_competing_death() -> None:
    # 4 patients: recovery on day 5, death on day 6, recovery on day 8, censored on day 7
    times = [(5, "recovered"), (6, "death"), (8, "recovered"), (7, "censored")]
    steps = {s.day: s for s in cumulative_incidence(times, "recovered", "death")}
    # day 5: 1 of 4 recovers -> 0.25; S = 0.75
    assert steps[5].incidence == pytest.approx(0.25)
    # day 6: a death (competing): incidence unchanged; S = 0.75 * 2/3 = 0.5
    assert steps[6].incidence == pytest.approx(0.25)
    # day 7: censored, nothing changes; day 8: the last one at risk recovers: + 0.5 * 1/1
    assert steps[7].incidence == pytest.approx(0.25)
    assert steps[8].incidence == pytest.approx(0.75)  # not 1: the death is not a recovery
    assert [steps[d].at_risk for d in (5, 6, 7, 8)] == [4, 3, 2, 1]


def test_outcome_json_round_trip() -> None:
    outcome = PatientGrading(
        "p1",
        date(2026, 1, 10),
        date(2026, 3, 1),
        50,
        early_grade=3,
        early_status="final",
        late_nadir_anc=420.5,
        left_out=(("duplicate", 2), ("unit-missing", 1)),
        episodes=(EpisodeRow("p1", 500, 2, 17), EpisodeRow("p1", 100, 4, 9)),
        anc_by_day=((0, 1200.0), (3, 80.0)),
        recovery=Recovery("recovered", 18),
    )
    assert grading_from_json(grading_to_json(outcome)) == outcome
    assert outcome.left_out_total == 3
    assert outcome.episodes[0].duration_days == 16
