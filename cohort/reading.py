"""Reading the input with DuckDB: validate it, then split it into patient buckets (Parquet).

One pass over the input writes `bucket=K/*.parquet` files of `(pid, payload)` rows, where the
bucket is a hash of the patient id: every row of a patient lands in one bucket, so a worker
grades a bucket without seeing the others, and memory stays bounded by the bucket size.
Payloads are JSON texts: a FHIR resource as exported, or a Liang CSV row as an object.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from cohort.errors import CohortInputError
from cohort.grading import InputKind

LIANG_COLUMNS = (
    "patient_id",
    "cart_date",
    "date",
    "anc",
    "progression_date",
    "subsequent_therapy_date",
    "last_fu_date",
)
LIANG_TYPES = {name: "DATE" for name in LIANG_COLUMNS if name.endswith("date")} | {
    "patient_id": "VARCHAR",
    "anc": "DOUBLE",
}
LIANG_MISSING = ["", "NA", "None"]  # how the Liang example writes a missing value
UNASSIGNED_CSV_ROW = "CSV row without patient_id"
BUCKET_BYTES = 32 * 1024 * 1024  # input bytes per bucket: bounds a worker's memory
MAX_BUCKETS = 1024
_MALFORMED = re.compile(
    r'Malformed JSON in file "(?P<file>[^"]+)", at byte \d+ in line (?P<line>\d+)'
)
# a resource's patient: its own id, else subject/patient reference "Patient/<id>"
_PATIENT_KEY = """
    nullif(CASE WHEN json->>'$.resourceType' = 'Patient' THEN json->>'$.id'
        ELSE regexp_extract(
            coalesce(json->>'$.subject.reference', json->>'$.patient.reference', ''),
            '(?:^|/)Patient/([^/]+)$', 1) END, '')
"""


@dataclass(frozen=True)
class CohortInput:
    kind: InputKind
    files: tuple[Path, ...]

    @property
    def size_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.files)


@dataclass(frozen=True)
class Partitioned:
    buckets: tuple[Path, ...]  # bucket directories with rows of known patients
    rows: int  # resources (FHIR) or CSV rows that belong to a patient
    patients: int
    unassigned: tuple[tuple[str, int], ...]  # resources without a patient, by type


def detect_input(path: Path) -> CohortInput:
    """A directory of Bulk Data NDJSON files, one .ndjson file, or a Liang-layout CSV."""
    if path.is_dir():
        files = tuple(sorted(p for p in path.iterdir() if p.name.endswith(".ndjson")))
        if not files:
            raise CohortInputError("no .ndjson files in this directory", path=path)
        return CohortInput("fhir", files)
    if not path.exists():
        raise CohortInputError("no such file or directory", path=path)
    if path.suffix.lower() == ".csv":
        return CohortInput("liang", (path,))
    if path.name.endswith(".ndjson"):
        return CohortInput("fhir", (path,))
    raise CohortInputError("expected a directory of .ndjson files or a .csv file", path=path)


def connect(threads: int | None = None, memory_limit: str = "1GB") -> duckdb.DuckDBPyConnection:
    # insertion order is not needed (rows are grouped by patient) and costs memory in COPY
    config: dict[str, Any] = {"memory_limit": memory_limit, "preserve_insertion_order": False}
    if threads is not None:
        config["threads"] = threads
    return duckdb.connect(config=config)


def bucket_count(source: CohortInput, workers: int) -> int:
    by_size = math.ceil(source.size_bytes / BUCKET_BYTES)
    return max(1, min(MAX_BUCKETS, max(4 * workers, by_size)))


def partition(
    con: duckdb.DuckDBPyConnection, source: CohortInput, workdir: Path, buckets: int
) -> Partitioned:
    """Validate and split the input into `buckets` Parquet partitions under `workdir`."""
    if source.kind == "liang":
        validate_liang_csv(con, source.files[0])
        rows = _liang_rows(source.files[0])
    else:
        rows = _fhir_rows()
    target = workdir / "buckets"
    query = f"""
        COPY (SELECT CASE WHEN pid IS NULL THEN {buckets} ELSE hash(pid) % {buckets} END
                     AS bucket, pid, payload
              FROM ({rows}))
        TO '{_sql_text(target)}' (FORMAT parquet, PARTITION_BY (bucket), COMPRESSION uncompressed)
    """
    params = [[str(f) for f in source.files]] if source.kind == "fhir" else []
    try:
        con.execute(query, params)
    except duckdb.InvalidInputException as error:
        raise _input_error(error) from error
    return _report(con, target, buckets)


def _fhir_rows() -> str:
    # resources without a patient keep only their type: they are counted, never graded.
    # maximum_object_size: DuckDB reads in buffers of twice this per thread; 64 MB fits any
    # resource the service reads while keeping the pass within its memory limit
    return f"""
        SELECT pid, CASE WHEN pid IS NULL THEN coalesce(json->>'$.resourceType', '(none)')
                    ELSE json::VARCHAR END AS payload
        FROM (SELECT json, {_PATIENT_KEY} AS pid
              FROM read_ndjson_objects($1, maximum_object_size = 67108864))
    """


def _liang_rows(path: Path) -> str:
    columns = ", ".join(LIANG_COLUMNS)
    return f"""
        SELECT pid, CASE WHEN pid IS NULL THEN '{UNASSIGNED_CSV_ROW}' ELSE payload END
                    AS payload
        FROM (SELECT nullif(trim(patient_id), '') AS pid, to_json(row)::VARCHAR AS payload
              FROM (SELECT {columns} FROM {_liang_reader(path)}) AS row)
    """


def _liang_reader(path: Path, store_rejects: bool = False) -> str:
    types = ", ".join(f"'{name}': '{kind}'" for name, kind in LIANG_TYPES.items())
    missing = ", ".join(f"'{text}'" for text in LIANG_MISSING)
    rejects = ", store_rejects = true" if store_rejects else ""
    return (
        f"read_csv('{_sql_text(path)}', header = true, types = {{{types}}}, "
        f"nullstr = [{missing}], dateformat = '%Y-%m-%d'{rejects})"
    )


def validate_liang_csv(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Every required column present, every date ISO (YYYY-MM-DD), every ANC a number."""
    header = con.execute(
        f"DESCRIBE SELECT * FROM read_csv('{_sql_text(path)}', header = true, all_varchar = true)"
    ).fetchall()
    present = {str(row[0]).strip() for row in header}
    for column in LIANG_COLUMNS:
        if column not in present:
            found = ", ".join(sorted(present))
            raise CohortInputError(
                f"missing column {column!r} (the Liang layout needs {', '.join(LIANG_COLUMNS)};"
                f" found {found})",
                path=path,
            )
    con.execute(f"SELECT * FROM {_liang_reader(path, store_rejects=True)}").fetchall()
    rejected = con.execute(
        "SELECT line, column_name, csv_line, error_message FROM reject_errors ORDER BY line LIMIT 1"
    ).fetchall()
    if rejected:
        line, column, text, message = rejected[0]
        value = _field_value(str(text), str(message))
        want = "a date YYYY-MM-DD" if LIANG_TYPES.get(str(column)) == "DATE" else "a number"
        raise CohortInputError(
            f"column {column!r}: {value!r} is not {want}", path=path, line=int(line)
        )


def _field_value(csv_line: str, message: str) -> str:
    """The offending value, from DuckDB's message ('Could not convert string "x"')."""
    found = re.search(r'convert string "([^"]*)"', message)
    return found.group(1) if found else csv_line.strip()


def _report(con: duckdb.DuckDBPyConnection, target: Path, buckets: int) -> Partitioned:
    if not target.exists():  # an empty input writes no partition
        return Partitioned((), 0, 0, ())
    stored = sorted(p for p in target.iterdir() if p.name.startswith("bucket="))
    known = tuple(p for p in stored if p.name != f"bucket={buckets}")
    rows = patients = 0
    if known:
        counts = con.execute(
            "SELECT count(*), count(DISTINCT pid) FROM read_parquet($1)",
            [[str(p / "*.parquet") for p in known]],
        ).fetchall()
        rows, patients = int(counts[0][0]), int(counts[0][1])
    unassigned: tuple[tuple[str, int], ...] = ()
    orphans = target / f"bucket={buckets}"
    if orphans.exists():
        counted = con.execute(
            "SELECT payload, count(*) FROM read_parquet($1) GROUP BY payload ORDER BY payload",
            [str(orphans / "*.parquet")],
        ).fetchall()
        unassigned = tuple((str(kind), int(count)) for kind, count in counted)
    return Partitioned(known, rows, patients, unassigned)


def read_bucket(con: duckdb.DuckDBPyConnection, bucket: Path) -> Iterator[tuple[str, list[str]]]:
    """(patient id, payloads) for every patient of one bucket."""
    result = con.execute(
        "SELECT pid, payload FROM read_parquet($1) WHERE pid IS NOT NULL ORDER BY pid",
        [str(bucket / "*.parquet")],
    )
    current: str | None = None
    payloads: list[str] = []
    while batch := result.fetchmany(10_000):
        for pid, payload in batch:
            if pid != current:
                if current is not None:
                    yield current, payloads
                current, payloads = pid, []
            payloads.append(payload)
    if current is not None:
        yield current, payloads


def _input_error(error: duckdb.InvalidInputException) -> CohortInputError:
    found = _MALFORMED.search(str(error))
    if found:
        path = Path(found.group("file"))
        line = _first_bad_line(path) or int(found.group("line"))
        return CohortInputError(
            "not a valid JSON resource (NDJSON needs one resource per line)", path=path, line=line
        )
    return CohortInputError(str(error).splitlines()[0])


def _first_bad_line(path: Path) -> int | None:
    """The first line that is not JSON: DuckDB names the line where its parser stopped, which
    for an unterminated object is a later one (only run when the file is known to be bad)."""
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                json.loads(line)
            except ValueError:
                return number
    return None


def _sql_text(path: Path) -> str:
    return str(path).replace("'", "''")
