"""`--engine spark`: the same per-patient grading under PySpark `groupBy("pid").applyInPandas`.

For registries larger than one machine: Spark reads the input, keys each row by its patient
exactly as the local reader does (cohort/reading.py), and runs `grade_payloads`, the pure
function the local workers run, once per patient group. Only the grading of each patient comes
back to the driver (as JSON), where the same writers produce the same files. Here Spark runs in
`local[N]` mode; on a cluster, point `spark.master` at it (SPARK_MASTER / spark-submit).
Needs the extra `[spark]` (pyspark, pandas, pyarrow) and Java 17.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

from cohort.grading import CohortSettings, grade_payloads
from cohort.model import PatientGrading, grading_from_json, grading_to_json
from cohort.reading import (
    LIANG_COLUMNS,
    LIANG_MISSING,
    UNASSIGNED_CSV_ROW,
    CohortInput,
    connect,
    validate_liang_csv,
)

PATIENT_REFERENCE = r"(?:^|/)Patient/([^/]+)$"  # as cohort/reading.py: same patient keys
GRADING_SCHEMA = "pid string, grading string"


def grade_with_spark(
    source: CohortInput, settings: CohortSettings, workers: int
) -> tuple[list[PatientGrading], int, tuple[tuple[str, int], ...]]:
    """(gradings, rows of known patients, resources without a patient by type)."""
    from pyspark.sql import SparkSession  # noqa: PLC0415 (optional extra)

    if source.kind == "liang":
        con = connect()
        try:
            validate_liang_csv(con, source.files[0])  # file/line errors before Spark starts
        finally:
            con.close()
    # the Python workers must run this interpreter (the one with the project installed)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = (
        SparkSession.builder.master(os.environ.get("SPARK_MASTER", f"local[{workers}]"))
        .appName("icaht-cohort")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(max(2, 2 * workers)))
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    try:
        keyed = _fhir_rows(spark, source) if source.kind == "fhir" else _liang_rows(spark, source)
        return _grade(keyed, settings)
    finally:
        spark.stop()


def _fhir_rows(spark: Any, source: CohortInput) -> Any:
    from pyspark.sql import functions  # noqa: PLC0415

    lines = spark.read.text([str(f) for f in source.files]).withColumnRenamed("value", "payload")
    lines = lines.filter(functions.length(functions.trim("payload")) > 0)
    kind = functions.get_json_object("payload", "$.resourceType")
    reference = functions.coalesce(
        functions.get_json_object("payload", "$.subject.reference"),
        functions.get_json_object("payload", "$.patient.reference"),
        functions.lit(""),
    )
    pid = functions.when(kind == "Patient", functions.get_json_object("payload", "$.id")).otherwise(
        functions.regexp_extract(reference, PATIENT_REFERENCE, 1)
    )
    return lines.select(
        functions.when(pid != "", pid).alias("pid"),
        "payload",
        functions.coalesce(kind, functions.lit("(none)")).alias("kind"),
    )


def _liang_rows(spark: Any, source: CohortInput) -> Any:
    from pyspark.sql import functions  # noqa: PLC0415

    frame = spark.read.csv(str(source.files[0]), header=True)
    cleaned = []
    for column in LIANG_COLUMNS:
        value = functions.trim(functions.col(column))
        value = functions.when(value.isin(*LIANG_MISSING), functions.lit(None)).otherwise(value)
        cleaned.append((value.cast("double") if column == "anc" else value).alias(column))
    rows = frame.select(*cleaned)
    payload = functions.to_json(functions.struct(*LIANG_COLUMNS), {"ignoreNullFields": "false"})
    return rows.select(
        functions.col("patient_id").alias("pid"),
        payload.alias("payload"),
        functions.lit(UNASSIGNED_CSV_ROW).alias("kind"),
    )


def _grade(
    keyed: Any, settings: CohortSettings
) -> tuple[list[PatientGrading], int, tuple[tuple[str, int], ...]]:
    known = keyed.filter(keyed.pid.isNotNull())
    orphans = keyed.filter(keyed.pid.isNull()).groupBy("kind").count().collect()
    unassigned = tuple(sorted((str(r["kind"]), int(r["count"])) for r in orphans))
    rows = known.count()
    graded = (
        known.select("pid", "payload")
        .groupBy("pid")
        .applyInPandas(_group_grader(settings), schema=GRADING_SCHEMA)
    )
    gradings = [grading_from_json(row["grading"]) for row in graded.toLocalIterator()]
    return gradings, rows, unassigned


def _group_grader(settings: CohortSettings) -> Callable[[Any], Any]:
    def grade(frame):  # type: ignore[no-untyped-def]  # no hints: Spark reads them as UDF types
        return grade_group(settings, frame)

    return grade


def grade_group(settings: CohortSettings, frame: Any) -> Any:
    """One patient's rows (a pandas DataFrame `pid, payload`) -> one row `pid, grading`."""
    import pandas as pd  # noqa: PLC0415 (in the Spark Python worker)

    pid = str(frame["pid"].iloc[0])
    grading = grade_payloads(pid, _texts(frame["payload"]), settings)
    return pd.DataFrame({"pid": [pid], "grading": [grading_to_json(grading)]})


def _texts(column: Any) -> Iterator[str]:
    return (str(text) for text in column.tolist())
