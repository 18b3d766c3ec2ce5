"""Cohort grading: a Bulk Data export (NDJSON) or a Liang-layout CSV -> tables, summary, plots.

`icaht-cds cohort INPUT --out DIR` grades every patient with the service's own code
(`fhir_mappings.map_patient` + `icaht.assess`, as the patient-view hook does), so a registry and
the bedside never disagree. Layers (docs/decisions/0011-cohort-grading.md):

    grading.py   pure: one patient's rows -> PatientGrading (no I/O, no clock)
    reading.py   DuckDB: validate the input, split it into patient buckets (Parquet)
    runner.py    the local engine: buckets graded in parallel processes, progress bar
    spark.py     the same grading under PySpark `groupBy(...).applyInPandas` (extra `[spark]`)
    outputs.py, summary.py, plots.py, stats.py   patients.csv/.parquet, episodes.csv,
                 summary.md and the PNG plots

The `cohort` subcommand of `icaht-cds` lives above this package, in icaht_cli/cohort.py.
Runtime dependencies are the optional extra `[cohort]` (duckdb, matplotlib, rich), so the
service image does not carry them. Nothing is imported here: `icaht-cds` loads
`icaht_cli.cohort` (standard library only) for every command.
"""
