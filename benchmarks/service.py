"""Service latency and throughput under gunicorn, as deployed (deploy/ settings), with wrk.

Run: .venv/bin/python benchmarks/service.py [--seconds 10] [--concurrency 1 8 32]
Needs `wrk` (Debian package). Starts on 127.0.0.1: the embedded FHIR server with a seeded
synthetic cohort and `icaht-cds serve` (gunicorn as `icaht-cds serve` runs it) with JWT
authentication on, SQLite store and audit. Every request carries its own signed ES384 JWT
(unique jti, pre-signed: the replay cache would refuse a reused one).

Prints p50/p95/p99 (ms) and requests/s for: patient-view with full prefetch, patient-view
with FHIR fallback (no prefetch), and GET /healthz on the same server in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import _load
import requests
from cryptography.hazmat.primitives.asymmetric import ec

from cds_service.cpus import default_workers
from cds_service.discovery import PREFETCH
from icaht_demo.fhir_server import LocalFhirServer, free_port
from icaht_demo.synthetic import generate_cohort
from icaht_demo.synthetic.loader import seed_cohort

ISSUER = "https://ehr.bench.invalid"
KID = "bench-key-1"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument(
        "--scenarios",
        nargs="+",
        default=["prefetch", "fallback", "healthz"],
        choices=["prefetch", "fallback", "healthz"],
    )
    # icaht-cds serve's default: ICAHT_CDS_WORKERS, else one per usable CPU
    parser.add_argument("--workers", type=int, default=default_workers())
    args = parser.parse_args()
    os.environ["ICAHT_BENCH_GUNICORN"] = str(args.workers)
    if shutil.which("wrk") is None:
        sys.exit("benchmarks/service.py needs wrk: apt-get install wrk")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        fhir = LocalFhirServer(workdir=workdir / "fhir", port=free_port())
        fhir.start()
        try:
            run(workdir, fhir, args.seconds, args.concurrency, args.scenarios)
        finally:
            fhir.stop()


def run(
    workdir: Path, fhir: LocalFhirServer, seconds: int, concurrency: list[int], scenarios: list[str]
) -> None:
    cohort = generate_cohort(6, seed=1, anchor=date.today())
    seed_cohort(fhir.base_url, cohort)
    patient = next(p for p in cohort if p.plan.course == "aplastic" and not p.plan.ongoing)
    key = ec.generate_private_key(ec.SECP384R1())
    port = free_port()
    public_url = f"http://127.0.0.1:{port}"
    service = start_service(workdir, key, port, public_url, fhir.base_url)
    try:
        prefetch = {t.key: fetch(fhir.base_url, t.query, patient.patient_id) for t in PREFETCH}
        observations = len(prefetch["labs"].get("entry", []))
        bodies = {
            "patient-view, full prefetch": hook_body(patient.patient_id, fhir.base_url, prefetch),
            "patient-view, FHIR fallback": hook_body(patient.patient_id, fhir.base_url, None),
        }
        wanted = {
            "prefetch": "patient-view, full prefetch",
            "fallback": "patient-view, FHIR fallback",
        }
        bodies = {wanted[s]: bodies[wanted[s]] for s in scenarios if s in wanted}
        print(f"patient {patient.patient_id}: {observations} Observations in the prefetch")
        print(
            f"{'scenario':32s} {'conc':>4s} {'p50 ms':>8s} {'p95 ms':>8s} {'p99 ms':>8s}"
            f" {'req/s':>8s} {'non-2xx':>8s}"
        )
        hook_url = f"{public_url}/cds-services/icaht-patient-view"
        for label, body in bodies.items():
            for c in concurrency:
                tokens = sign_tokens(key, hook_url, count=seconds * 1500 + 500)
                result = wrk(workdir, hook_url, body, tokens, connections=c, seconds=seconds)
                print(f"{label:32s} {c:4d} {result}")
        for c in concurrency if "healthz" in scenarios else []:
            result = wrk(
                workdir, f"{public_url}/healthz", None, ["-"], connections=c, seconds=seconds
            )
            print(f"{'GET /healthz':32s} {c:4d} {result}")
    finally:
        service.terminate()
        service.wait(timeout=20)


def start_service(
    workdir: Path, key: ec.EllipticCurvePrivateKey, port: int, public_url: str, fhir_url: str
) -> subprocess.Popen[bytes]:
    _load.clients_file(
        workdir / "clients.json", key, issuer=ISSUER, kid=KID, fhir_servers=[fhir_url]
    )
    env = os.environ | {
        "ICAHT_CDS_PUBLIC_URL": public_url,
        "ICAHT_CDS_CLIENTS": str(workdir / "clients.json"),
        "ICAHT_CDS_DATABASE_URL": os.environ.get("ICAHT_BENCH_DATABASE_URL")
        or f"sqlite:///{workdir / 'store.sqlite3'}",
        "ICAHT_CDS_TIMEZONE": "Europe/Berlin",
        "ICAHT_CDS_ASSESSMENT_AUTH": "none",  # the benchmark calls the hooks only
    }
    command = [sys.executable, "-m", "icaht_cli", "serve", "--port", str(port)]
    command += ["--workers", os.environ["ICAHT_BENCH_GUNICORN"]]
    log = (workdir / "service.log").open("wb")
    process = subprocess.Popen(
        [*command, "--state-dir", str(workdir)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    for _ in range(200):
        try:
            if requests.get(f"{public_url}/healthz", timeout=0.5).ok:
                return process
        except requests.RequestException:
            time.sleep(0.1)
    process.terminate()
    sys.exit(f"service did not start; see {workdir / 'service.log'}")


def fetch(base_url: str, query: str, patient_id: str) -> dict[str, Any]:
    url = f"{base_url}/{query.replace('{{context.patientId}}', patient_id)}"
    result: dict[str, Any] = requests.get(url, timeout=60).json()
    return result


def hook_body(patient_id: str, fhir_url: str, prefetch: dict[str, Any] | None) -> str:
    return json.dumps(_load.patient_view_body(patient_id, fhir_url, prefetch))


def sign_tokens(key: ec.EllipticCurvePrivateKey, audience: str, count: int) -> list[str]:
    return _load.signed_tokens(key, issuer=ISSUER, kid=KID, audience=audience, count=count)


def wrk(
    workdir: Path, url: str, body: str | None, tokens: list[str], *, connections: int, seconds: int
) -> str:
    """One wrk run as a table row; a request over 5 s counts as a socket error."""
    figures = _load.run_wrk(
        workdir, url, body, tokens, connections=connections, seconds=seconds, timeout_seconds=5
    )
    return (
        f"{figures.p50:8.1f} {figures.p95:8.1f} {figures.p99:8.1f} {figures.rps:8.1f}"
        f" {figures.non2xx:8d}  ({figures.requests} requests)"
    )


if __name__ == "__main__":
    main()
