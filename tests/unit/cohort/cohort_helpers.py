"""Shared helpers of the cohort tests: run the real CLI, read its tables."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from icaht_cli.main import main

LIANG_DIR = Path(__file__).resolve().parents[2] / "data" / "liang"
LIANG_CSV = LIANG_DIR / "synthetic_anc_dataset.csv"


def run_cli(*args: str | Path) -> int:
    return main(["cohort", *(str(a) for a in args), "--no-progress"])


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def by_patient(path: Path) -> dict[str, dict[str, str]]:
    return {row["patient_id"]: row for row in read_rows(path)}


def error_of(capsys: pytest.CaptureFixture[str], *args: str | Path) -> str:
    """Run the CLI on a bad input: exit code 2 and the message on stderr."""
    assert run_cli(*args) == 2
    return capsys.readouterr().err
