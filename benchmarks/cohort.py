"""`icaht-cds cohort` end to end on a large synthetic Bulk export: patients/s and peak memory.

Writes 10,000 synthetic CAR-T patients (about 3 million Observations) as Bulk Data NDJSON files
straight from the generator (no FHIR server), then times the real command, as a subprocess,
with --workers 1 and 2. Peak memory is the largest sum of the RSS of the command and its
worker processes (sampled from /proc every 0.1 s). Target (issue 8): under 120 s and 4 GB on
2 cores. Not part of the tests.

Run: .venv/bin/python benchmarks/cohort.py [--patients 10000] [--workers 1 2] [--keep DIR]
     [--out DIR]
With --out, the outputs of the last run (patients.csv/.parquet, summary.md with the N-ICAHT and
T-ICAHT incidences and the N-ICAHT x T-ICAHT concordance table, the plots) stay in DIR.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

# this script is named like the `cohort` package: drop its own directory from the import path
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from cohort.ndjson import write_ndjson  # noqa: E402
from icaht_demo.synthetic import generate_patient  # noqa: E402

ANCHOR = date(2026, 6, 1)
SEED = 3
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


def _resources(patients: int) -> Iterator[dict[str, Any]]:
    for index in range(patients):
        yield from generate_patient(index, SEED, ANCHOR).resources()


def write_export(directory: Path, patients: int) -> int:
    started = time.perf_counter()
    counts = write_ndjson(_resources(patients), directory)
    size = sum(f.stat().st_size for f in directory.iterdir()) / 1e9
    print(
        f"wrote {patients} patients, "
        f"{sum(counts.values())} resources "
        f"({counts['Observation']} Observations, {size:.2f} GB) "
        f"in {time.perf_counter() - started:.0f} s"
    )
    return counts["Observation"]


def _tree_rss(root: int) -> int:
    """Bytes resident in `root` and all its descendants (from /proc)."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            statm = Path(f"/proc/{entry}/statm").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry)] = int(fields[1])
        rss[int(entry)] = int(statm.split()[1]) * PAGE_BYTES
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        children = [child for child, parent in parents.items() if parent == pid]
        tree.update(children)
        frontier.extend(children)
    return sum(rss.get(pid, 0) for pid in tree)


def run(export: Path, workers: int, patients: int, keep_out: Path | None = None) -> None:
    with tempfile.TemporaryDirectory(prefix="icaht-bench-out-") as scratch:
        out = str(keep_out or scratch)
        command = [
            str(Path(sys.executable).parent / "icaht-cds"),
            "cohort",
            str(export),
            "--out",
            out,
            "--as-of",
            ANCHOR.isoformat(),
            "--timezone",
            "Europe/Berlin",
            "--workers",
            str(workers),
            "--no-progress",
        ]
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        peak = 0
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, _tree_rss(process.pid))
                time.sleep(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        output, _ = process.communicate()
        seconds = time.perf_counter() - started
        done.set()
        sampler.join()
        if process.returncode != 0:
            raise SystemExit(f"icaht-cds cohort failed ({process.returncode})")
        print(f"  {output.strip()}")
        print(
            f"workers {workers}: {seconds:.1f} s end to end, {patients / seconds:.0f} patients/s, "
            f"peak memory {peak / 1e9:.2f} GB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--keep", type=Path, help="write (or reuse) the export in this directory")
    parser.add_argument("--out", type=Path, help="keep the last run's outputs (summary.md ...)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="icaht-bench-export-") as scratch:
        export = args.keep or Path(scratch)
        if not any(export.glob("*.ndjson")):
            write_export(export, args.patients)
        for index, workers in enumerate(args.workers):
            last = index == len(args.workers) - 1
            run(export, workers, args.patients, args.out if last else None)


if __name__ == "__main__":
    main()
