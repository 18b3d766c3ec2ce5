"""`icaht-cds cohort --engine spark` (PySpark `local[2]`, `groupBy().applyInPandas`) writes the
same patients.csv and episodes.csv as the local engine, for NDJSON and for the Liang CSV.

Needs the extra `[spark]` (./dev and CI install it: EXTRAS in ./dev) and Java 17 (.ci/run
installs it): when either is missing the test FAILS with the reason, it never skips.
"""

from __future__ import annotations

import importlib
import shutil
from datetime import date
from pathlib import Path

import pytest

from cohort.ndjson import write_ndjson
from icaht_cli.main import main
from icaht_demo.synthetic import generate_cohort

LIANG_CSV = Path(__file__).resolve().parents[1] / "data" / "liang" / "synthetic_anc_dataset.csv"
COMPARED = ("patients.csv", "episodes.csv")


def grade(engine: str, source: Path, out: Path, *extra: str) -> None:
    args = ["cohort", str(source), "--out", str(out), "--engine", engine, "--workers", "2"]
    assert main([*args, "--no-progress", *extra]) == 0


@pytest.fixture(scope="module")
def pyspark() -> None:
    try:
        importlib.import_module("pyspark")
    except ImportError as error:
        pytest.fail(
            f"the extra [spark] is needed ({error}): ./dev setup installs it", pytrace=False
        )


@pytest.fixture(scope="module")
def java() -> None:
    if shutil.which("java") is None:
        pytest.fail("PySpark needs Java 17: .ci/run installs openjdk-17-jre-headless")


def test_spark_and_local_write_identical_tables(pyspark: None, java: None, tmp_path: Path) -> None:
    export = tmp_path / "export"
    write_ndjson((r for p in generate_cohort(6, seed=5) for r in p.resources()), export)
    options = ("--as-of", date(2026, 6, 1).isoformat(), "--timezone", "Europe/Berlin")
    grade("local", export, tmp_path / "local", *options)
    grade("spark", export, tmp_path / "spark", *options)
    for name in COMPARED:
        local = (tmp_path / "local" / name).read_bytes()
        assert local == (tmp_path / "spark" / name).read_bytes(), name
    assert len(local.splitlines()) > 1  # episodes.csv has rows: not two empty tables

    grade("local", LIANG_CSV, tmp_path / "liang-local", "--liang")
    grade("spark", LIANG_CSV, tmp_path / "liang-spark", "--liang")
    for name in COMPARED:
        local = (tmp_path / "liang-local" / name).read_bytes()
        assert local == (tmp_path / "liang-spark" / name).read_bytes(), name
    summary = (tmp_path / "liang-spark" / "summary.md").read_text()
    assert "engine spark" in summary
    assert "| early N-ICAHT grade >= 3 | 2 / 10 |" in summary
