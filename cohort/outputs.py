"""patients.csv, patients.parquet and episodes.csv from the per-patient gradings.

The CSV text is a pure function of the gradings (sorted by patient, fixed number format), so
the local and the Spark engine write byte-identical files for the same input.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import fields
from datetime import date, timedelta
from pathlib import Path

import duckdb

from cohort.model import SCALAR_COLUMNS, PatientGrading

_SQL_TYPES = {
    "int": "BIGINT",
    "float": "DOUBLE",
    "bool": "BOOLEAN",
    "date": "DATE",
    "str": "VARCHAR",
}
EPISODE_COLUMNS = (
    "patient_id",
    "threshold",
    "start_day",
    "end_day",
    "duration_days",
    "start_date",
    "end_date",
)


def left_out_reasons(gradings: Sequence[PatientGrading]) -> list[str]:
    return sorted({reason for o in gradings for reason, _ in o.left_out})


def patient_columns(reasons: Sequence[str]) -> list[str]:
    columns = [*SCALAR_COLUMNS, "left_out_total"]
    return columns + [_reason_column(r) for r in reasons]


def _reason_column(reason: str) -> str:
    return "left_out_" + reason.replace("-", "_")


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def write_patients_csv(path: Path, gradings: Sequence[PatientGrading]) -> list[str]:
    """One row per patient; returns the columns written."""
    reasons = left_out_reasons(gradings)
    columns = patient_columns(reasons)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        for grading in gradings:
            counts = dict(grading.left_out)
            row = [_text(getattr(grading, name)) for name in SCALAR_COLUMNS]
            row.append(str(grading.left_out_total))
            row += [str(counts.get(reason, 0)) for reason in reasons]
            writer.writerow(row)
    return columns


def write_patients_parquet(csv_path: Path, parquet_path: Path, columns: Sequence[str]) -> None:
    """The same table with column types (DuckDB reads our CSV with explicit types)."""
    types = {name: _sql_type(name) for name in columns}
    spec = ", ".join(f"'{name}': '{kind}'" for name, kind in types.items())
    con = duckdb.connect()
    try:
        con.execute(
            f"COPY (SELECT * FROM read_csv('{_sql_text(csv_path)}', header = true, "
            f"columns = {{{spec}}}, nullstr = '')) TO '{_sql_text(parquet_path)}' "
            "(FORMAT parquet)"
        )
    finally:
        con.close()


def _sql_type(column: str) -> str:
    if column.startswith("left_out_"):
        return "BIGINT"
    annotation = {f.name: str(f.type) for f in fields(PatientGrading)}[column]
    base = annotation.split("|")[0].strip()
    return _SQL_TYPES[base]


def write_episodes_csv(path: Path, gradings: Sequence[PatientGrading]) -> int:
    """Every early severe / profound episode with its days and dates; returns the count."""
    count = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(EPISODE_COLUMNS)
        for grading in gradings:
            day0 = grading.day0
            for e in sorted(grading.episodes, key=lambda e: (-e.threshold, e.start_day)):
                start = _text(day0 + timedelta(days=e.start_day)) if day0 else ""
                end = _text(day0 + timedelta(days=e.end_day)) if day0 else ""
                writer.writerow(
                    [e.patient_id, e.threshold, e.start_day, e.end_day, e.duration_days, start, end]
                )
                count += 1
    return count


def _sql_text(path: Path) -> str:
    return str(path).replace("'", "''")
