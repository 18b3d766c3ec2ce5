"""The `cohort` subcommand of `icaht-cds` (wired in icaht_cli/main.py).

Only the standard library is imported here: the extras `[cohort]` / `[spark]` are loaded when
the command runs, so `icaht-cds serve` works without them.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

EXIT_INPUT_ERROR = 2
MISSING_EXTRA = (
    "icaht-cds cohort needs the optional dependencies: pip install 'icaht-cds[cohort]' "
    "(and '[spark]' for --engine spark)"
)


def add_cohort_command(commands: Any) -> None:
    """Register `cohort` on the subparsers of `icaht-cds`."""
    cohort = commands.add_parser(
        "cohort",
        help="grade a cohort: Bulk Data NDJSON directory or Liang-layout CSV -> tables, plots",
        description="Grade every patient of a FHIR Bulk Data export ($export NDJSON files) or "
        "of a CSV in the Liang et al. layout with the service's own engine; writes "
        "patients.csv/.parquet, episodes.csv, summary.md and PNG plots into --out.",
    )
    cohort.add_argument("input", type=Path, help="directory of .ndjson files, or a .csv file")
    cohort.add_argument("--out", type=Path, required=True, help="output directory")
    cohort.add_argument(
        "--as-of",
        type=_iso_date,
        help="evaluation date (YYYY-MM-DD), as the bedside would grade on that day; default: "
        "today in --timezone (NDJSON) or each patient's last follow-up (CSV)",
    )
    cohort.add_argument("--liang", action="store_true", help="the Liang et al. reference preset")
    cohort.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    cohort.add_argument("--engine", choices=("local", "spark"), default="local")
    cohort.add_argument(
        "--timezone",
        default=os.environ.get("ICAHT_CDS_TIMEZONE", "UTC"),
        help="the centre's IANA time zone: calendar days of lab results (ICAHT_CDS_TIMEZONE)",
    )
    progress = cohort.add_mutually_exclusive_group()
    progress.add_argument("--progress", dest="progress", action="store_true", default=None)
    progress.add_argument("--no-progress", dest="progress", action="store_false")
    cohort.set_defaults(func=run_command)


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None


def run_command(args: argparse.Namespace) -> int:
    try:
        from cohort.errors import CohortInputError  # noqa: PLC0415 (optional extra)
        from cohort.grading import CohortSettings  # noqa: PLC0415
        from cohort.reading import detect_input  # noqa: PLC0415
        from cohort.runner import run_cohort  # noqa: PLC0415
    except ImportError as error:
        print(f"icaht-cds: {MISSING_EXTRA} ({error})", file=sys.stderr)
        return 1
    if args.workers < 1:
        print("icaht-cds: --workers must be at least 1", file=sys.stderr)
        return EXIT_INPUT_ERROR
    try:
        zone = ZoneInfo(args.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        print(f"icaht-cds: --timezone {args.timezone!r} is not an IANA zone", file=sys.stderr)
        return EXIT_INPUT_ERROR
    started = time.perf_counter()
    try:
        kind = detect_input(args.input).kind
        as_of = args.as_of
        if as_of is None and kind == "fhir":
            as_of = datetime.now(zone).date()  # what the bedside would say today
        settings = CohortSettings(kind, as_of, args.timezone, args.liang)
        report = run_cohort(
            args.input,
            args.out,
            settings,
            workers=args.workers,
            engine=args.engine,
            progress=args.progress,
        )
    except CohortInputError as error:
        print(f"icaht-cds cohort: {error}", file=sys.stderr)
        return EXIT_INPUT_ERROR
    except ModuleNotFoundError as error:  # --engine spark without the extra
        print(f"icaht-cds: {MISSING_EXTRA} ({error})", file=sys.stderr)
        return 1
    seconds = time.perf_counter() - started
    print(
        f"graded {report.graded} of {report.patients} patients ({report.without_day0} without "
        f"day 0, {report.rows} rows) in {seconds:.1f} s -> {report.out}"
    )
    for note in report.notes:  # a plot never leaves something out silently (issue 16)
        print(note)
    return 0
