"""Malformed inputs give errors that say what to fix (file, line, column); a patient without
day 0 is listed, not fatal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cohort_helpers import LIANG_CSV, by_patient, error_of, run_cli

HEADER = "patient_id,cart_date,date,anc,progression_date,subsequent_therapy_date,last_fu_date"


def write_csv(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_missing_column_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    header = HEADER.replace(",last_fu_date", "")
    bad = write_csv(tmp_path / "in.csv", header, "1,2024-01-01,2024-01-02,300,,")
    message = error_of(capsys, bad, "--out", tmp_path / "out")
    assert "missing column 'last_fu_date'" in message
    assert str(bad) in message
    assert not (tmp_path / "out" / "patients.csv").exists()


def test_unparseable_date_names_file_line_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = LIANG_CSV.read_text().splitlines()
    lines[4] = lines[4].replace("2017-03-08", "2017-13-45")  # line 5 of the file
    bad = write_csv(tmp_path / "in.csv", *lines)
    message = error_of(capsys, bad, "--out", tmp_path / "out", "--liang")
    assert f"{bad}, line 5: column 'date': '2017-13-45' is not a date YYYY-MM-DD" in message


def test_day_first_date_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = write_csv(
        tmp_path / "in.csv",
        HEADER,
        "1,2024-01-01,2024-01-02,300,,,2024-03-01",
        "1,02/01/2024,2024-01-03,250,,,2024-03-01",
    )
    message = error_of(capsys, bad, "--out", tmp_path / "out")
    assert "line 3: column 'cart_date': '02/01/2024' is not a date" in message


def test_anc_that_is_not_a_number(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = write_csv(tmp_path / "in.csv", HEADER, "1,2024-01-01,2024-01-02,low,,,2024-03-01")
    message = error_of(capsys, bad, "--out", tmp_path / "out")
    assert "line 2: column 'anc': 'low' is not a number" in message


def test_malformed_ndjson_line_names_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = tmp_path / "export"
    export.mkdir()
    patient = {"resourceType": "Patient", "id": "p1"}
    text = json.dumps(patient) + "\n" + json.dumps(patient | {"id": "p2"}) + "\n{not json\n"
    (export / "Patient.ndjson").write_text(text)
    message = error_of(capsys, export, "--out", tmp_path / "out")
    assert f"{export / 'Patient.ndjson'}, line 3: not a valid JSON resource" in message


def test_directory_without_ndjson(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    message = error_of(capsys, tmp_path, "--out", tmp_path / "out")
    assert "no .ndjson files in this directory" in message


def test_missing_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    message = error_of(capsys, tmp_path / "nowhere.csv", "--out", tmp_path / "out")
    assert "no such file or directory" in message


def test_bad_as_of_date_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_cli(LIANG_CSV, "--out", tmp_path, "--as-of", "01.06.2026")
    assert exit_info.value.code == 2
    assert "'01.06.2026' is not a date YYYY-MM-DD" in capsys.readouterr().err


def test_csv_patient_without_day0_is_listed(tmp_path: Path) -> None:
    csv_in = write_csv(
        tmp_path / "in.csv",
        HEADER,
        "a,2024-01-01,2024-01-01,1200,,,2024-04-01",
        "a,2024-01-01,2024-01-05,300,,,2024-04-01",
        "b,NA,2024-01-05,300,,,2024-04-01",
        "b,,2024-01-09,900,,,2024-04-01",
    )
    out = tmp_path / "out"
    assert run_cli(csv_in, "--out", out) == 0
    rows = by_patient(out / "patients.csv")
    assert rows["a"]["early_grade"] != ""
    assert (rows["b"]["day0"], rows["b"]["early_grade"]) == ("", "")
    assert "no CAR-T infusion on record" in rows["b"]["not_computed"]
    summary = (out / "summary.md").read_text()
    assert "Patients without day 0 (no CAR-T infusion on record): 1: `b`." in summary


def test_empty_values_are_counted_not_fatal(tmp_path: Path) -> None:
    csv_in = write_csv(
        tmp_path / "in.csv",
        HEADER,
        "a,2024-01-01,2024-01-01,1200,,,2024-04-01",
        "a,2024-01-01,,300,,,2024-04-01",
        "a,2024-01-01,2024-01-03,NA,,,2024-04-01",
        ",2024-01-01,2024-01-04,400,,,2024-04-01",
    )
    out = tmp_path / "out"
    assert run_cli(csv_in, "--out", out) == 0
    assert "- CSV row without patient_id: 1" in (out / "summary.md").read_text()
    row = by_patient(out / "patients.csv")["a"]
    assert (row["left_out_no_time"], row["left_out_no_value"], row["left_out_total"]) == (
        "1",
        "1",
        "2",
    )
    assert row["anc_values"] == "1"
