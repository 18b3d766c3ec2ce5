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
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric import ec

from cds_service.discovery import PREFETCH
from icaht_demo.fhir_server import LocalFhirServer, free_port
from icaht_demo.synthetic import generate_cohort
from icaht_demo.synthetic.loader import seed_cohort

ISSUER = "https://ehr.bench.invalid"
KID = "bench-key-1"

LUA = r"""
local tokens = {}
local index = 0
local thread_id = 0
local thread_count = 1
local counter = 1
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end
function init(args)
  thread_id = tonumber(id or 1) - 1
  thread_count = tonumber(args[2])
  for line in io.lines(args[1]) do table.insert(tokens, line) end
  index = thread_id
end
function request()
  index = index + thread_count
  local token = tokens[(index % #tokens) + 1]
  wrk.headers["Authorization"] = "Bearer " .. token
  return wrk.format(nil, nil, nil, wrk.body)
end
function done(summary, latency, requests)
  io.write(string.format("RESULT %f %f %f %f %d %d\n",
    latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, summary.requests / (summary.duration / 1e6),
    summary.errors.status, summary.requests))
end
"""


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
    parser.add_argument("--workers", type=int, default=4)  # icaht-cds serve's default
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
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    jwk |= {"kid": KID, "alg": "ES384", "use": "sig"}
    clients = {"clients": [{"iss": ISSUER, "jwks": {"keys": [jwk]}, "fhir_servers": [fhir_url]}]}
    (workdir / "clients.json").write_text(json.dumps(clients))
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
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "fhirServer": fhir_url,
        "context": {"userId": "Practitioner/bench", "patientId": patient_id},
    }
    if prefetch is not None:
        body["prefetch"] = prefetch
    return json.dumps(body)


def sign_tokens(key: ec.EllipticCurvePrivateKey, audience: str, count: int) -> list[str]:
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": "bench", "aud": audience, "iat": now, "exp": now + 600}
    return [
        jwt.encode(claims | {"jti": str(uuid.uuid4())}, key, "ES384", headers={"kid": KID})
        for _ in range(count)
    ]


def wrk(
    workdir: Path, url: str, body: str | None, tokens: list[str], *, connections: int, seconds: int
) -> str:
    (workdir / "tokens.txt").write_text("\n".join(tokens))
    (workdir / "bench.lua").write_text(
        LUA
        if body is None
        else f"wrk.method = 'POST'\nwrk.body = {json.dumps(body)}\n"
        "wrk.headers['Content-Type'] = 'application/json'\n" + LUA
    )
    threads = 1 if connections == 1 else 2
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s"]
    script = ["-s", str(workdir / "bench.lua"), url, "--", str(workdir / "tokens.txt")]
    done = subprocess.run(
        [*command, *script, str(threads)], capture_output=True, text=True, check=True
    )
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT"))
    p50, p95, p99, rps, errors, total = line.split()[1:]
    return (
        f"{float(p50):8.1f} {float(p95):8.1f} {float(p99):8.1f} {float(rps):8.1f}"
        f" {int(errors):8d}  ({total} requests)"
    )


if __name__ == "__main__":
    main()
