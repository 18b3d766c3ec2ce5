"""`icaht-cds cohort LIANG.csv --liang` reproduces the Liang et al. reference grades, and writes
every output (patients.csv/.parquet, episodes.csv, summary.md, the plots)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from pathlib import Path

import duckdb
import pytest
from cohort_helpers import LIANG_CSV, LIANG_DIR, by_patient, read_rows, run_cli

from icaht_cli.main import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def liang_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("liang")
    assert run_cli(LIANG_CSV, "--out", out, "--liang", "--workers", "2") == 0
    return out


def test_reference_grades_of_every_patient(liang_out: Path) -> None:
    rows = by_patient(liang_out / "patients.csv")
    expected = read_rows(LIANG_DIR / "expected_grades.csv")
    assert sorted(rows) == sorted(r["patient_id"] for r in expected)
    for ref in expected:
        row = rows[ref["patient_id"]]
        assert row["early_grade"] == ref["early_icaht_grade"], ref
        assert row["days_anc_le_500"] == ref["duration_anc_le500_max_days"], ref
        assert row["days_anc_le_100"] == ref["duration_anc_le100_max_days"], ref
        late = "" if ref["late_icaht_grade"] == "NA" else ref["late_icaht_grade"]
        assert row["late_grade"] == late, ref
        nadir = "" if ref["late_icaht_grade"] == "NA" else str(float(ref["late_anc_1"]))
        assert row["late_nadir_anc"] == nadir, ref


def test_grades_come_with_the_engines_explanation(liang_out: Path) -> None:
    rows = by_patient(liang_out / "patients.csv")
    # patient 7: 18 days <= 500/uL (reference duration), 9 days <= 100/uL; day 2 was measured
    # at 940/uL inside the episode and bridged (A4): the sentence says so (issue 16)
    assert rows["7"]["early_explanation"] == (
        "early ICAHT grade 3 (final) because ANC <=500/µL on days 0-17 (18 days; day 2 at "
        "940/µL bridged as a transient rise), <=100/µL on days 6-14 (9 days)"
    )
    assert rows["8"]["late_explanation"].startswith("late ICAHT not graded")


def test_early_grade_4_override_flag(liang_out: Path) -> None:
    rows = by_patient(liang_out / "patients.csv")
    for ref in read_rows(LIANG_DIR / "expected_grades.csv"):
        override = ref["early_grade_4_override"] == "Yes"
        assert rows[ref["patient_id"]]["never_above_500"] == ("true" if override else "false")


def test_episodes_are_the_reference_exceedances(liang_out: Path) -> None:
    found = {
        (r["patient_id"], r["start_date"], r["end_date"])
        for r in read_rows(liang_out / "episodes.csv")
        if r["threshold"] == "500"
    }
    expected = {
        (r["patient_id"], r["date_start"], r["date_end"])
        for r in read_rows(LIANG_DIR / "expected_exceedances_anc_le500.csv")
    }
    assert found == expected


def test_episode_days_count_from_day0(liang_out: Path) -> None:
    patients = by_patient(liang_out / "patients.csv")
    for episode in read_rows(liang_out / "episodes.csv"):
        day0 = date.fromisoformat(patients[episode["patient_id"]]["day0"])
        start = date.fromisoformat(episode["start_date"])
        assert (start - day0).days == int(episode["start_day"])
        span = int(episode["end_day"]) - int(episode["start_day"]) + 1
        assert int(episode["duration_days"]) == span


def test_evaluation_date_is_each_last_follow_up(liang_out: Path) -> None:
    follow_up: dict[str, set[str]] = defaultdict(set)
    for row in read_rows(LIANG_CSV):
        follow_up[row["patient_id"]].add(row["last_fu_date"])
    for pid, row in by_patient(liang_out / "patients.csv").items():
        assert {row["evaluation_date"]} == follow_up[pid]


def test_as_of_before_follow_up_makes_grades_provisional(tmp_path: Path) -> None:
    # patient 8: CAR-T 2023-09-28; on day +10 the early window is still open
    assert run_cli(LIANG_CSV, "--out", tmp_path, "--liang", "--as-of", "2023-10-08") == 0
    row = by_patient(tmp_path / "patients.csv")["8"]
    assert (row["evaluation_date"], row["day"]) == ("2023-10-08", "10")
    assert row["early_status"] == "provisional"
    assert row["late_grade"] == ""


def test_default_reading_differs_from_liang_only_where_documented(tmp_path: Path) -> None:
    """Without --liang the proposed reading grades; the grades stay in 0..4."""
    assert run_cli(LIANG_CSV, "--out", tmp_path) == 0
    rows = by_patient(tmp_path / "patients.csv")
    assert len(rows) == 10
    assert all(r["early_grade"] in {"0", "1", "2", "3", "4"} for r in rows.values())
    assert "proposed reading" in (tmp_path / "summary.md").read_text()


def test_parquet_has_the_same_rows_with_types(liang_out: Path) -> None:
    con = duckdb.connect()
    parquet = str(liang_out / "patients.parquet")
    described = con.execute(f"DESCRIBE SELECT * FROM '{parquet}'").fetchall()
    types = {row[0]: row[1] for row in described}
    assert types["early_grade"] == "BIGINT"
    assert types["day0"] == "DATE"
    assert types["never_above_500"] == "BOOLEAN"
    assert types["late_nadir_anc"] == "DOUBLE"
    grades = dict(con.execute(f"SELECT patient_id, early_grade FROM '{parquet}'").fetchall())
    csv_rows = by_patient(liang_out / "patients.csv")
    assert {pid: str(g) for pid, g in grades.items()} == {
        pid: r["early_grade"] for pid, r in csv_rows.items()
    }


def test_summary_reports_incidence_with_wilson_interval(liang_out: Path) -> None:
    summary = (liang_out / "summary.md").read_text()
    # early grade >= 3: patients 7 (grade 3) and 8 (grade 4) of 10; Wilson 95 %: 5.7-51.0 %
    assert "| early N-ICAHT grade >= 3 | 2 / 10 | 20.0 % | 5.7 % - 51.0 % |" in summary
    # late grade >= 3: patient 5 of the 9 with a late grade (patient 8 has none)
    assert "| late N-ICAHT grade >= 3 | 1 / 9 | 11.1 % | 2.0 % - 43.5 % |" in summary
    assert "| in the input | 10 |" in summary
    assert "Patients without day 0 (no CAR-T infusion on record): 0." in summary


def test_plots_are_png_files(liang_out: Path) -> None:
    for name in ("grades.png", "anc_trajectories.png", "recovery.png"):
        data = (liang_out / name).read_bytes()
        assert data.startswith(PNG_SIGNATURE), name
        assert len(data) > 5_000, name  # axes, labels and data, not an empty canvas


def test_progress_bar_only_on_a_terminal_or_when_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["cohort", str(LIANG_CSV), "--workers", "1", "--out"]
    assert main([*args, str(tmp_path / "quiet")]) == 0  # captured stderr is not a terminal
    quiet = capsys.readouterr()
    assert quiet.err == ""
    assert "graded 10 of 10 patients" in quiet.out
    assert main([*args, str(tmp_path / "shown"), "--progress"]) == 0
    assert "grading patients" in capsys.readouterr().err


T_ICAHT_COLUMNS = (
    "t_early_grade",
    "t_early_status",
    "t_early_lower_bound",
    "t_days_below_50",
    "t_days_below_20",
    "t_late_grade",
    "t_late_confirmed",
    "platelet_recovery_day",
)


def test_liang_csv_has_empty_t_icaht_columns_and_the_summary_says_why(liang_out: Path) -> None:
    """The Liang et al. layout has no platelet counts: the T-ICAHT columns exist, empty."""
    rows = by_patient(liang_out / "patients.csv")
    for row in rows.values():
        assert {column: row[column] for column in T_ICAHT_COLUMNS} == dict.fromkeys(
            T_ICAHT_COLUMNS, ""
        )
    summary = (liang_out / "summary.md").read_text()
    assert "Liang et al. CSV layout has no platelet counts" in summary
    assert "| early T-ICAHT grade >= 3 |" not in summary
