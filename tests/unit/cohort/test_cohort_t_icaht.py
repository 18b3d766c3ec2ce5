"""T-ICAHT in the cohort outputs (issue 19): the columns of patients.csv/.parquet, the incidence
rows with Wilson intervals, the N-ICAHT x T-ICAHT concordance table and the platelet recovery
panel, from hand-built `ThrombocytopeniaResult` values (the engine's types, issue 19 contract).
"""

from __future__ import annotations

import csv
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import matplotlib.pyplot as plt
import pytest

from cohort.grading import grading_of, platelet_recovery, thrombocytopenia_values
from cohort.model import PatientGrading, Recovery, grading_from_json, grading_to_json
from cohort.outputs import write_patients_csv, write_patients_parquet
from cohort.plots import write_plots
from cohort.summary import SummaryContext, render_summary
from icaht import assess
from icaht.record import Analyte, CarTInfusion, LabValue, PatientRecord, TherapyTimeline
from icaht.thrombocytopenia import TEarlyResult, ThrombocytopeniaResult, TLateResult

DAY0 = date(2026, 1, 10)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _result(
    early_grade: int | None,
    late_grade: int | None,
    *,
    below_20: tuple[int, ...] = (),
    below_50: tuple[int, ...] = (),
    recovery_day: int | None = None,
    death_day: int | None = None,
    confirmed: bool = True,
) -> ThrombocytopeniaResult:
    early = TEarlyResult(
        grade=early_grade,
        status="final",
        lower_bound=False,
        days_below_50=len(below_50),
        days_below_20=len(below_20),
        window_end_day=30,
        below_50_days=below_50,
        below_20_days=below_20,
    )
    late = TLateResult(
        grade=late_grade,
        confirmed=confirmed,
        status="final",
        window_end_day=100,
        nadir=15.0 if late_grade else None,
        nadir_day=40 if late_grade else None,
        days_below_20=0,
    )
    return ThrombocytopeniaResult(
        early=early,
        late=late,
        recovery_day=recovery_day,
        infusion_date=DAY0,
        evaluation_date=None,
        death_day=death_day,
        censor_day=None,
        post_transfusion_values_used=False,
    )


def _outcome(
    pid: str, n_early: int | None, t_early: int | None, t_late: int | None
) -> PatientGrading:
    values: dict[str, Any] = {}
    if t_early is not None or t_late is not None:
        severe = (t_early or 0) >= 3
        result = _result(t_early, t_late, below_20=(5, 6) if severe else ())
        nadir = 12.0 if severe else 45.0
        values = thrombocytopenia_values(result, [(0, 150.0), (5, nadir), (40, 90.0)])
    return PatientGrading(
        pid, DAY0, None, None, early_grade=n_early, early_status="final", **values
    )


def test_t_icaht_values_are_copied_from_the_result() -> None:
    below_50 = tuple(range(3, 15))
    result = _result(3, 2, below_20=(5, 6, 7), below_50=below_50, recovery_day=18)
    values = thrombocytopenia_values(result, [(0, 140.0), (5, 15.0), (18, 25.0)])
    assert values == {
        "t_early_grade": 3,
        "t_early_status": "final",
        "t_early_lower_bound": False,
        "t_days_below_50": 12,
        "t_days_below_20": 3,
        "t_late_grade": 2,
        "t_late_confirmed": True,
        "platelet_recovery_day": 18,
        "platelet_recovery": Recovery("recovered", 18),
    }
    # no late grade: "confirmed" says nothing (as the N-ICAHT late_confirmed column)
    assert thrombocytopenia_values(_result(0, 0), [])["t_late_confirmed"] is None


@pytest.mark.parametrize(
    ("recovery_day", "death_day", "expected"),
    [
        (21, None, Recovery("recovered", 21)),
        (None, 25, Recovery("death", 25)),  # the competing event
        (None, None, Recovery("censored", 40)),  # the last platelet count
    ],
)
def test_platelet_recovery_event(
    recovery_day: int | None, death_day: int | None, expected: Recovery
) -> None:
    result = _result(3, None, below_20=(6, 7), recovery_day=recovery_day, death_day=death_day)
    daily = [(0, 150.0), (6, 12.0), (7, 14.0), (40, 30.0)]
    assert platelet_recovery(result, daily) == expected


def test_no_platelet_recovery_event_without_a_count_below_20() -> None:
    result = _result(2, 0, below_50=tuple(range(4, 12)), recovery_day=0)
    assert platelet_recovery(result, [(0, 150.0), (5, 30.0), (12, 80.0)]) is None


class _WithPlatelets:
    """A real `Assessment` plus the T-ICAHT field the issue-19 engine adds (until it lands)."""

    def __init__(self, assessment: Any, thrombocytopenia: ThrombocytopeniaResult) -> None:
        self._assessment = assessment
        self.thrombocytopenia = thrombocytopenia

    def __getattr__(self, name: str) -> Any:
        return getattr(self._assessment, name)


def _record() -> PatientRecord:
    labs = [
        LabValue(Analyte.ANC, 2000.0 if d < 3 else 300.0, date.fromordinal(DAY0.toordinal() + d))
        for d in range(0, 31)
    ]
    labs += [
        LabValue(
            Analyte.PLATELETS, 150.0 if d < 4 else 12.0, date.fromordinal(DAY0.toordinal() + d)
        )
        for d in range(0, 31)
    ]
    timeline = TherapyTimeline(infusions=(CarTInfusion(day0=DAY0),))
    return PatientRecord("p1", tuple(labs), timeline)


def test_outcome_of_reads_the_assessment_and_leaves_liang_empty() -> None:
    record = _record()
    assessment = _WithPlatelets(assess(record), _result(4, None, below_20=tuple(range(4, 31))))
    outcome = grading_of(assessment, record, Counter())  # type: ignore[arg-type]
    assert (outcome.t_early_grade, outcome.t_days_below_20) == (4, 27)
    assert outcome.platelet_recovery == Recovery("censored", 30)
    assert outcome.early_grade is not None  # the N-ICAHT columns are unchanged
    liang = grading_of(assessment, record, Counter(), platelets=False)  # type: ignore[arg-type]
    assert (liang.t_early_grade, liang.platelet_recovery) == (None, None)
    assert liang.early_grade == outcome.early_grade


def test_patients_csv_and_parquet_hold_the_t_icaht_columns(tmp_path: Path) -> None:
    outcomes = [_outcome("a", 1, 4, 3), _outcome("b", 3, 0, None), _outcome("c", 0, None, None)]
    columns = write_patients_csv(tmp_path / "patients.csv", outcomes)
    write_patients_parquet(tmp_path / "patients.csv", tmp_path / "patients.parquet", columns)
    with (tmp_path / "patients.csv").open(newline="") as handle:
        rows = {row["patient_id"]: row for row in csv.DictReader(handle)}
    assert columns.index("early_grade") < columns.index("t_early_grade")
    assert "platelet_recovery" not in columns  # an event for the plot, not a column
    assert (rows["a"]["early_grade"], rows["a"]["t_early_grade"]) == ("1", "4")
    assert (rows["a"]["t_late_grade"], rows["a"]["t_late_confirmed"]) == ("3", "true")
    assert (rows["b"]["t_early_grade"], rows["b"]["t_late_grade"]) == ("0", "")
    assert rows["c"]["t_early_grade"] == rows["c"]["t_days_below_20"] == ""
    con = duckdb.connect()
    parquet = str(tmp_path / "patients.parquet")
    types = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM '{parquet}'").fetchall()}
    assert types["t_early_grade"] == types["platelet_recovery_day"] == "BIGINT"
    assert types["t_early_lower_bound"] == types["t_late_confirmed"] == "BOOLEAN"
    assert types["t_early_status"] == "VARCHAR"
    grades = con.execute(f"SELECT patient_id, t_early_grade FROM '{parquet}' ORDER BY 1").fetchall()
    assert grades == [("a", 4), ("b", 0), ("c", None)]


def test_outcome_json_round_trip_keeps_t_icaht() -> None:
    outcome = _outcome("a", 1, 4, 3)
    assert outcome.platelet_recovery is not None
    assert grading_from_json(grading_to_json(outcome)) == outcome


def _context(kind: str = "fhir") -> SummaryContext:
    return SummaryContext("in", kind, "2026-06-01", "proposed reading", "UTC", "local", 10, ())


def _cohort() -> list[PatientGrading]:
    """10 patients with both early grades; late T-ICAHT on 8 of them."""
    pairs = [
        (1, 4, 3),
        (4, 1, 0),
        (0, 0, 0),
        (0, 0, 1),
        (1, 1, 1),
        (2, 3, 2),
        (3, 3, 4),
        (0, 2, 0),
        (1, 0, None),
        (2, 2, None),
    ]
    return [_outcome(f"p{i}", n, t, late) for i, (n, t, late) in enumerate(pairs)]


def test_summary_has_t_icaht_incidences_with_wilson_intervals() -> None:
    summary = render_summary(_cohort(), _context())
    # early any grade: 7 of 10 (Wilson 39.7-89.2 %); grade >= 3: 3 of 10 (10.8-60.3 %)
    assert "| early T-ICAHT any grade (>= 1) | 7 / 10 | 70.0 % | 39.7 % - 89.2 % |" in summary
    assert "| early T-ICAHT grade >= 3 | 3 / 10 | 30.0 % | 10.8 % - 60.3 % |" in summary
    # late: 8 graded; any grade 5 (30.6-86.3 %); grade >= 3: 2 (7.1-59.1 %)
    assert "| late T-ICAHT any grade (>= 1) | 5 / 8 | 62.5 % | 30.6 % - 86.3 % |" in summary
    assert "| late T-ICAHT grade >= 3 | 2 / 8 | 25.0 % | 7.1 % - 59.1 % |" in summary
    # the neutrophil rows are labelled N-ICAHT where both are shown
    assert "| early N-ICAHT grade >= 3 | 2 / 10 |" in summary
    assert "| grade | early N-ICAHT | late N-ICAHT | early T-ICAHT | late T-ICAHT |" in summary


def test_summary_concordance_table_counts_each_pair() -> None:
    summary = render_summary(_cohort(), _context())
    lines = summary.splitlines()
    start = lines.index("## Concordance: early N-ICAHT x early T-ICAHT")
    table = [line for line in lines[start:] if line.startswith("| N-ICAHT")][:5]
    cells = [[int(c) for c in line.strip("|").split("|")[1:]] for line in table]
    expected = [[0] * 5 for _ in range(5)]
    for outcome in _cohort():
        assert outcome.early_grade is not None and outcome.t_early_grade is not None
        expected[outcome.early_grade][outcome.t_early_grade] += 1
    assert cells == expected
    assert cells[1][4] == 1 and cells[4][1] == 1  # discordant both ways
    assert "Same grade: 5 of 10 (50.0 %)." in summary


def test_summary_of_a_liang_csv_says_t_icaht_is_not_graded() -> None:
    summary = render_summary(_cohort(), _context("liang"))
    assert summary.count("has no platelet counts") == 2  # incidence and concordance
    assert "T-ICAHT 4 |" not in summary


def test_recovery_plot_has_a_platelet_recovery_panel(tmp_path: Path) -> None:
    calls: list[str] = []
    original = plt.Axes.step

    def step(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(str(kwargs.get("label")))
        return original(self, *args, **kwargs)

    plt.Axes.step = step  # type: ignore[method-assign]
    try:
        paths = write_plots(tmp_path, _cohort())
    finally:
        plt.Axes.step = original  # type: ignore[method-assign]
    assert tmp_path / "recovery.png" in paths
    data = (tmp_path / "recovery.png").read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 5_000
    platelet = [c for c in calls if c.startswith("platelet recovery (>= 20 x10^9/L")]
    assert platelet == ["platelet recovery (>= 20 x10^9/L, transfusion-independent) (n = 3)"]


def test_summary_says_when_no_patient_has_a_t_icaht_grade() -> None:
    summary = render_summary([_outcome("a", 1, None, None)], _context())
    assert "No patient has a T-ICAHT grade." in summary
    assert "| early T-ICAHT grade >= 3 | 0 / 0 | - | - |" in summary
    assert "No patient has a T-ICAHT grade." not in render_summary(_cohort(), _context())
