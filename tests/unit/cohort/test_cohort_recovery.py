"""Issue 16: recovery.png's ANC recovery comes from the engine's own episodes. Before, the cohort
took "the first value > 500 after the first value <= 500": Liang example patient 7 (aplastic,
<= 500/µL on days 0-17 by the engine, day 2 measured at 940/µL and bridged) was counted as
recovered on day 2. The expected days here come from the reference exceedances
(tests/data/liang/expected_exceedances_anc_le500.csv), not from the code under test."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from datetime import date, timedelta

import matplotlib.pyplot as plt
import pytest
from cohort_helpers import LIANG_CSV, LIANG_DIR, read_rows

from cohort.grading import CohortSettings, anc_recovery, grade_liang_patient
from cohort.model import PatientGrading, Recovery
from cohort.plots import recovery_figure, recovery_times
from icaht import GradingSettings, grade_neutropenia
from icaht.early import EarlyResult

MISSING = ("", "NA", "None")  # how the Liang example writes a missing value
DAY0 = date(2026, 3, 2)


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    plt.close("all")  # the figures built here are inspected, never saved


def _liang_rows() -> dict[str, list[dict[str, str | None]]]:
    """The example CSV's rows per patient, as the reader hands them to the grading."""
    rows: dict[str, list[dict[str, str | None]]] = defaultdict(list)
    for row in read_rows(LIANG_CSV):
        rows[row["patient_id"]].append({k: None if v in MISSING else v for k, v in row.items()})
    return rows


def _graded(liang: bool) -> dict[str, PatientGrading]:
    settings = CohortSettings("liang", None, liang=liang)
    return {pid: grade_liang_patient(pid, rows, settings) for pid, rows in _liang_rows().items()}


def _reference_recovery() -> dict[str, Recovery]:
    """From the reference exceedances: recovered the day after the first exceedance ends,
    unless it ends on the patient's last lab date (the data end first: not recovered)."""
    first: dict[str, Mapping[str, str]] = {}
    for row in read_rows(LIANG_DIR / "expected_exceedances_anc_le500.csv"):
        if row["exceedance_no"] == "1":
            first[row["patient_id"]] = row
    expected = {}
    for pid, row in first.items():
        end = (date.fromisoformat(row["date_end"]) - date.fromisoformat(row["cart_date"])).days
        recovered = row["date_end"] != row["last_lab_date"]
        expected[pid] = Recovery("recovered", end + 1) if recovered else Recovery("censored", end)
    return expected


@pytest.mark.parametrize("liang", [True, False], ids=["liang-preset", "proposed-reading"])
def test_recovery_is_the_engines_episode_end_for_every_liang_patient(liang: bool) -> None:
    outcomes = _graded(liang)
    expected = _reference_recovery()
    assert len(outcomes) == 10 and len(expected) == 7  # 3 patients never <= 500/µL
    for pid, outcome in outcomes.items():
        assert outcome.recovery == expected.get(pid), pid
        if outcome.recovery is not None and outcome.recovery.event == "recovered":
            # the engine's own first episode (copied into episodes.csv) ends the day before
            first = min(
                (e for e in outcome.episodes if e.threshold == 500), key=lambda e: e.start_day
            )
            assert outcome.recovery.day == first.end_day + 1, pid


def test_patient_7_recovers_on_day_18_not_on_the_bridged_day_2() -> None:
    outcome = _graded(liang=True)["7"]
    assert dict(outcome.anc_by_day)[2] == 940  # measured above 500, bridged by the engine
    assert outcome.recovery == Recovery("recovered", 18)
    assert "day 2 at 940/µL bridged as a transient rise" in outcome.early_explanation


def test_patient_8_never_recovers_and_is_not_counted_as_recovered() -> None:
    # <= 500/µL from day 0 to the last lab on day 16 (reference: exceedance to the last lab)
    outcome = _graded(liang=True)["8"]
    assert outcome.recovery == Recovery("censored", 16)


def test_recovery_plot_draws_the_engines_recovery_days() -> None:
    graded = list(_graded(liang=True).values())
    assert sorted(recovery_times(graded, "aplastic")) == [(16, "censored"), (18, "recovered")]
    fig = recovery_figure(graded)
    ax = fig.axes[0]
    assert "after the first severe episode, days 0-30" in ax.get_title()
    [aplastic] = [line for line in ax.get_lines() if line.get_label() == "aplastic (n = 2)"]
    days = list(aplastic.get_xdata())
    assert 18 in days and 2 not in days  # the step is on day 18, none on the bridged day 2


# ---- anc_recovery on the engine's results (hand-derived) ----


def _early(
    values: Mapping[int, float],
    *,
    death_day: int | None = None,
    censor_day: int | None = None,
    evaluation_day: int | None = None,
) -> EarlyResult:
    def on(day: int | None) -> date | None:
        return None if day is None else DAY0 + timedelta(days=day)

    series = [(DAY0 + timedelta(days=d), float(v)) for d, v in values.items()]
    return grade_neutropenia(
        series,
        DAY0,
        evaluation_date=on(evaluation_day),
        death_date=on(death_day),
        censor_date=on(censor_day),
        settings=GradingSettings(),
    ).early


def _daily(first: int, last: int, value: float) -> dict[int, float]:
    return dict.fromkeys(range(first, last + 1), value)


def test_no_severe_day_no_recovery_event() -> None:
    assert anc_recovery(_early(_daily(0, 30, 2000)), None) is None


def test_bridged_rise_is_no_recovery() -> None:
    # 300 on days 2-12 but 900 on days 5-6 (2 days, bridged): recovered on day 13
    early = _early({**_daily(0, 30, 2000), **_daily(2, 12, 300), 5: 900, 6: 900})
    assert anc_recovery(early, None) == Recovery("recovered", 13)


def test_a_stable_rise_of_three_days_is_the_recovery() -> None:
    # 900 on days 5-7: the first episode ends on day 4, recovered on day 5
    early = _early({**_daily(0, 30, 2000), **_daily(2, 12, 300), 5: 900, 6: 900, 7: 900})
    assert anc_recovery(early, None) == Recovery("recovered", 5)


def test_death_with_an_ongoing_episode_is_the_competing_event() -> None:
    early = _early({0: 2000, **_daily(1, 12, 300)}, death_day=12)
    assert anc_recovery(early, 12) == Recovery("death", 12)


def test_censoring_with_an_ongoing_episode_is_censored_not_recovered() -> None:
    # relapse on day 12, a value > 500 on day 14 is after the censoring: not read
    early = _early({0: 2000, **_daily(1, 12, 300), 14: 2000}, censor_day=12)
    assert early.status == "censored"
    assert anc_recovery(early, None) == Recovery("censored", 12)


def test_open_window_with_an_ongoing_episode_is_censored_at_the_last_known_day() -> None:
    early = _early({0: 2000, **_daily(1, 9, 300)}, evaluation_day=12)
    assert anc_recovery(early, None) == Recovery("censored", 9)


def test_unknown_days_after_the_episode_recover_on_the_first_known_day() -> None:
    # 300 on days 1-5, nothing on days 6-14 (9 days > 7: unknown), 2000 from day 15
    early = _early({0: 2000, **_daily(1, 5, 300), **_daily(15, 30, 2000)})
    assert early.grid.kinds[6] == "unknown"
    assert anc_recovery(early, None) == Recovery("recovered", 15)
