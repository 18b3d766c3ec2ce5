"""`icaht-cds cohort`: read, grade in parallel, write the tables, summary and plots.

Local engine: DuckDB splits the input into patient buckets (cohort/reading.py), a pool of
`--workers` processes grades whole buckets (each opens its bucket with its own one-thread
DuckDB connection), the parent collects the gradings. Only gradings cross process boundaries,
never the input rows, and a worker holds one bucket at a time.
"""

from __future__ import annotations

import multiprocessing
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cohort.errors import CohortInputError
from cohort.grading import CohortSettings, grade_payloads
from cohort.model import PatientGrading
from cohort.outputs import write_episodes_csv, write_patients_csv, write_patients_parquet
from cohort.plots import write_plots
from cohort.reading import (
    CohortInput,
    bucket_count,
    connect,
    detect_input,
    partition,
    read_bucket,
)
from cohort.summary import SummaryContext, render_summary
from cohort.trajectories import trajectories
from fhir_mappings import warm_up

Engine = Literal["local", "spark"]
Progress = Callable[[int], None]


@dataclass(frozen=True)
class CohortReport:
    patients: int
    graded: int
    without_day0: int
    rows: int
    out: Path
    # what the plots leave out, e.g. "anc_trajectories.png: not drawn: aplastic (n=2, ...)"
    notes: tuple[str, ...] = ()


def run_cohort(
    source: Path,
    out: Path,
    settings: CohortSettings,
    *,
    workers: int = 1,
    engine: Engine = "local",
    progress: bool | None = None,
) -> CohortReport:
    """Grade every patient of `source` and write the outputs into `out`."""
    cohort_input = detect_input(source)
    if cohort_input.kind != settings.kind:
        raise CohortInputError(f"expected {settings.kind} input, found {cohort_input.kind}")
    out.mkdir(parents=True, exist_ok=True)
    show = sys.stderr.isatty() if progress is None else progress
    if engine == "spark":
        from cohort.spark import grade_with_spark  # noqa: PLC0415 (optional extra)

        gradings, rows, unassigned = grade_with_spark(cohort_input, settings, workers)
    else:
        gradings, rows, unassigned = _grade_local(cohort_input, out, settings, workers, show)
    gradings = sorted(gradings, key=lambda o: o.patient_id)
    context = SummaryContext(
        source=str(source),
        kind=cohort_input.kind,
        evaluation=_evaluation_text(settings),
        reading="Liang et al. preset (--liang)" if settings.liang else "proposed reading",
        timezone=settings.timezone,
        engine=engine,
        rows=rows,
        unassigned=unassigned,
    )
    write_outputs(out, gradings, context)
    graded = [o for o in gradings if o.day0 is not None]
    notes = tuple(f"anc_trajectories.png: {n}" for n in trajectories(graded).not_drawn)
    return CohortReport(len(gradings), len(graded), len(gradings) - len(graded), rows, out, notes)


def _grade_local(
    cohort_input: CohortInput, out: Path, settings: CohortSettings, workers: int, show: bool
) -> tuple[list[PatientGrading], int, tuple[tuple[str, int], ...]]:
    """DuckDB buckets in a scratch directory inside `out`, graded by worker processes."""
    with tempfile.TemporaryDirectory(prefix="icaht-cohort-", dir=out) as workdir:
        con = connect()
        try:
            buckets = bucket_count(cohort_input, workers)
            parts = partition(con, cohort_input, Path(workdir), buckets)
        finally:
            con.close()
        with _progress_bar(show, parts.patients) as advance:
            gradings = grade_buckets(parts.buckets, settings, workers, advance)
    return gradings, parts.rows, parts.unassigned


def _evaluation_text(settings: CohortSettings) -> str:
    if settings.kind == "liang":
        last = "each patient's last follow-up"
        return last if settings.as_of is None else f"{settings.as_of} or {last} when earlier"
    return "retrospective (all data)" if settings.as_of is None else str(settings.as_of)


def write_outputs(out: Path, gradings: Sequence[PatientGrading], context: SummaryContext) -> None:
    columns = write_patients_csv(out / "patients.csv", gradings)
    write_patients_parquet(out / "patients.csv", out / "patients.parquet", columns)
    write_episodes_csv(out / "episodes.csv", gradings)
    (out / "summary.md").write_text(render_summary(gradings, context), encoding="utf-8")
    write_plots(out, gradings)


def grade_buckets(
    buckets: Sequence[Path], settings: CohortSettings, workers: int, advance: Progress
) -> list[PatientGrading]:
    gradings: list[PatientGrading] = []
    tasks = [(str(bucket), settings) for bucket in buckets]
    if workers <= 1 or len(tasks) <= 1:
        warm_up()
        for task in tasks:
            graded = grade_bucket(task)
            gradings.extend(graded)
            advance(len(graded))
        return gradings
    # spawn, not fork: the parent has run DuckDB's threads, which a fork must not inherit
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=warm_up) as pool:
        for graded in pool.imap_unordered(grade_bucket, tasks):
            gradings.extend(graded)
            advance(len(graded))
    return gradings


def grade_bucket(task: tuple[str, CohortSettings]) -> list[PatientGrading]:
    """One bucket, in a worker: every patient of it, graded by the pure function."""
    bucket, settings = task
    con = connect(threads=1, memory_limit="512MB")  # one bucket: ~32 MB of input
    try:
        return [
            grade_payloads(pid, payloads, settings)
            for pid, payloads in read_bucket(con, Path(bucket))
        ]
    finally:
        con.close()


@contextmanager
def _progress_bar(show: bool, total: int) -> Iterator[Progress]:
    if not show:
        yield lambda _n: None
        return
    from rich.console import Console  # noqa: PLC0415 (only on a terminal)
    from rich.progress import (  # noqa: PLC0415
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TimeRemainingColumn,
    )

    columns = (BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress("grading patients", *columns, console=Console(stderr=True)) as bar:
        task = bar.add_task("grading", total=total)
        yield lambda n: bar.advance(task, n)
