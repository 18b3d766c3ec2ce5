"""Synthetic cohort: generation time and load time into a fresh embedded FHIR server.

Run: .venv/bin/python benchmarks/cohort_load.py [--patients 24 100]
Prints, per cohort size: generation (ms/patient), transactions into sekmet (s, resources/s).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from icaht_demo.fhir_server import LocalFhirServer, free_port
from icaht_demo.synthetic import generate_cohort
from icaht_demo.synthetic.loader import seed_cohort


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, nargs="+", default=[24, 100])
    args = parser.parse_args()
    for size in args.patients:
        started = time.perf_counter()
        cohort = generate_cohort(size, seed=1)
        generated = time.perf_counter() - started
        with tempfile.TemporaryDirectory() as workdir:
            server = LocalFhirServer(workdir=Path(workdir), port=free_port())
            started = time.perf_counter()
            server.start()
            startup = time.perf_counter() - started
            try:
                report = seed_cohort(server.base_url, cohort)
            finally:
                server.stop()
        print(
            f"{size:5d} patients  {report.resources:7d} resources  "
            f"generate {generated * 1000 / size:6.2f} ms/patient  "
            f"server start {startup:4.2f} s  load {report.seconds:6.1f} s  "
            f"({report.resources / report.seconds:5.0f} resources/s)"
        )


if __name__ == "__main__":
    main()
