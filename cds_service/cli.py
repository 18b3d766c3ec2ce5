"""`icaht-cds`: serve the CDS service, run the demo (embedded default), seed a FHIR server."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from types import FrameType
from typing import Any

import requests

from cds_service.fhir_server import (
    DEFAULT_STATE_DIR,
    FhirServerError,
    LocalFhirServer,
    is_fhir_server,
)
from cds_service.synthetic import SyntheticPatient, generate_cohort
from cds_service.synthetic.loader import SeedError, seed_cohort

DEMO_PATIENTS = 24
DEMO_SEED = 1


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        result: int = args.func(args)
    except (FhirServerError, SeedError, requests.RequestException) as error:
        print(f"icaht-cds: {error}", file=sys.stderr)
        return 1
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="icaht-cds", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the CDS Hooks service")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--fhir-url", help="default FHIR server (else ICAHT_CDS_FHIR_URL)")
    serve.add_argument("--workers", type=int, default=2)
    serve.add_argument("--threads", type=int, default=8)
    serve.add_argument("--dev", action="store_true", help="Flask's development server")
    serve.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    serve.set_defaults(func=_serve)

    demo = commands.add_parser("demo", help="embedded default: FHIR server + cohort + service")
    demo.add_argument("--port", type=int, default=8080, help="service port")
    demo.add_argument("--fhir-port", type=int, default=8090)
    demo.add_argument("--patients", type=int, default=DEMO_PATIENTS)
    demo.add_argument("--seed", type=int, default=DEMO_SEED)
    demo.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    demo.add_argument("--reset", action="store_true", help="start from an empty FHIR database")
    demo.add_argument("--no-wait", action="store_true", help="print, then stop (for scripts)")
    demo.set_defaults(func=_demo)

    seed = commands.add_parser("seed", help="load the synthetic cohort into a FHIR server")
    seed.add_argument("--fhir-url", required=True)
    seed.add_argument("--patients", type=int, default=DEMO_PATIENTS)
    seed.add_argument("--seed", type=int, default=DEMO_SEED)
    seed.add_argument("--anchor", type=date.fromisoformat, help="the cohort's today (ISO date)")
    seed.set_defaults(func=_seed)
    return parser


# -- serve ---------------------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    if args.fhir_url:
        os.environ["ICAHT_CDS_FHIR_URL"] = args.fhir_url
    if not args.dev:
        # before prometheus_client is first imported: it picks its mode at import time
        metrics_dir = args.state_dir / "metrics"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    from cds_service.app import create_app  # noqa: PLC0415 (after the metrics mode is set)
    from cds_service.wsgi import run_gunicorn  # noqa: PLC0415

    if args.dev:
        create_app().run(host=args.host, port=args.port)
        return 0
    run_gunicorn(f"{args.host}:{args.port}", workers=args.workers, threads=args.threads)
    return 0


# -- seed ----------------------------------------------------------------------------------


def _seed(args: argparse.Namespace) -> int:
    anchor = args.anchor or date.today()
    cohort = generate_cohort(args.patients, seed=args.seed, anchor=anchor)
    report = seed_cohort(args.fhir_url.rstrip("/"), cohort)
    print(
        f"loaded {report.patients} patients ({report.resources} resources) "
        f"into {args.fhir_url} in {report.seconds:.1f} s (seed {args.seed}, anchor {anchor})"
    )
    return 0


# -- demo ----------------------------------------------------------------------------------


class _StopRequestedError(Exception):
    """SIGTERM: stop the demo as Ctrl-C does."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _StopRequestedError


def _demo(args: argparse.Namespace) -> int:
    workdir = args.state_dir / "demo"
    fhir = LocalFhirServer(workdir=workdir, port=args.fhir_port, state_dir=args.state_dir)
    service: subprocess.Popen[bytes] | None = None
    started_fhir = False
    signal.signal(signal.SIGTERM, _raise_stop)
    try:
        if args.reset:
            _reset(fhir, workdir)
        if is_fhir_server(fhir.base_url):
            print(f"FHIR server already running at {fhir.base_url}: reusing it")
        else:
            fhir.start()
            started_fhir = True
        cohort, anchor = _demo_cohort(fhir.base_url, workdir, args.patients, args.seed)
        service = _start_service(args.port, fhir.base_url, workdir)
        _print_demo(args.port, fhir.base_url, cohort, anchor)
        if not args.no_wait:
            print("Ctrl-C stops the service and the FHIR server.")
            while service.poll() is None:
                time.sleep(0.5)
            print("the service exited", file=sys.stderr)
            return 1
    except (KeyboardInterrupt, _StopRequestedError):
        print("\nstopping")
    finally:
        _stop_process(service)
        if started_fhir:
            fhir.stop()
    return 0


def _reset(fhir: LocalFhirServer, workdir: Path) -> None:
    if is_fhir_server(fhir.base_url):
        fhir.stop()
    for name in ("fhir.db", "fhir.db-wal", "fhir.db-shm", "seeded.json"):
        (workdir / name).unlink(missing_ok=True)


def _demo_cohort(
    base_url: str, workdir: Path, patients: int, seed: int
) -> tuple[list[SyntheticPatient], date]:
    """Seed once; later runs reuse the data (and the anchor date) recorded in seeded.json."""
    marker = workdir / "seeded.json"
    wanted = {"patients": patients, "seed": seed}
    if marker.exists():
        recorded = json.loads(marker.read_text())
        anchor = date.fromisoformat(recorded["anchor"])
        cohort = generate_cohort(patients, seed=seed, anchor=anchor)
        first = requests.get(f"{base_url}/Patient/{cohort[0].patient_id}", timeout=5)
        if {k: recorded.get(k) for k in wanted} == wanted and first.ok:
            print(f"synthetic cohort already loaded ({patients} patients, anchor {anchor})")
            return cohort, anchor
    anchor = date.today()
    cohort = generate_cohort(patients, seed=seed, anchor=anchor)
    print(f"loading {patients} synthetic patients into {base_url} ...", flush=True)
    report = seed_cohort(base_url, cohort)
    print(f"loaded {report.resources} resources in {report.seconds:.1f} s")
    marker.write_text(json.dumps({**wanted, "anchor": anchor.isoformat()}))
    return cohort, anchor


def _start_service(port: int, fhir_url: str, workdir: Path) -> subprocess.Popen[bytes]:
    log = (workdir / "service.log").open("ab")
    command = [sys.executable, "-m", "cds_service.cli", "serve", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--fhir-url", fhir_url], stdout=log, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise FhirServerError(
                f"the service exited with code {process.returncode}; see {workdir}/service.log"
            )
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5).ok:
                return process
        except requests.RequestException:
            time.sleep(0.1)
    _stop_process(process)
    raise FhirServerError(f"the service did not answer on port {port}; see {workdir}/service.log")


def _stop_process(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


def _print_demo(port: int, fhir_url: str, cohort: list[SyntheticPatient], anchor: date) -> None:
    service = f"http://127.0.0.1:{port}"
    print()
    print(f"CDS service     {service}/cds-services   (health: {service}/healthz)")
    print(f"FHIR server     {fhir_url}   (sekmet-fhir, SQLite, loopback only)")
    print(f"cohort          {len(cohort)} synthetic patients, anchor (cohort's today) {anchor}")
    print()
    print(_patient_table(cohort))
    print()
    print("Try it:")
    print(f"  curl -s {service}/cds-services")
    first = cohort[0].patient_id
    print(f"  curl -s '{fhir_url}/Observation?patient={first}&code=http://loinc.org|751-8'")
    print()


def _patient_table(cohort: list[SyntheticPatient]) -> str:
    rows = [("patient", "day 0", "course", "edge case", "expected early grade", "messy records")]
    for patient in cohort:
        plan = patient.plan
        grade = _expected(plan.expected_early_grade, plan.expected_early_status)
        rows.append(
            (
                plan.patient_id,
                plan.day0.isoformat(),
                plan.course + (" (ongoing)" if plan.ongoing else ""),
                plan.edge or "",
                grade,
                ", ".join(plan.messy),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows
    )


def _expected(grade: int | None, status: str) -> str:
    return status if grade is None else f"{grade} ({status})"


def _json(value: Any) -> str:
    return json.dumps(value, indent=2)


if __name__ == "__main__":
    sys.exit(main())
