"""What the benchmark scripts share: signed tokens, the client entry that trusts them, searchset
Bundles for a prefetch, and one wrk run with its Lua script.

Not a benchmark itself (`./dev bench` skips files that start with an underscore). The scripts
import it as a sibling module (`python benchmarks/x.py` puts benchmarks/ first on sys.path).
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

# wrk: every call carries its own pre-signed token (the replay cache refuses a reused jti).
# Thread i of n takes tokens i, i+n, i+2n, ... of the file named by the first script argument;
# the second argument is n. A run without tokens passes a file holding "-".
WRK_LUA = r"""
local tokens = {}
local index = 0
local thread_count = 1
local counter = 1
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end
function init(args)
  thread_count = tonumber(args[2])
  for line in io.lines(args[1]) do table.insert(tokens, line) end
  index = tonumber(id or 1) - 1
end
function request()
  index = index + thread_count
  wrk.headers["Authorization"] = "Bearer " .. tokens[(index % #tokens) + 1]
  return wrk.format(nil, nil, nil, wrk.body)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %f %f %f %f %f %d %d %d\n",
    latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    summary.requests / (summary.duration / 1e6), e.status,
    e.connect + e.read + e.write + e.timeout, summary.requests))
end
"""


@dataclass(frozen=True)
class WrkFigures:
    """One wrk run: latency percentiles and max (ms), requests/s, non-2xx answers, socket
    errors (connect, read, write, timeout) and requests."""

    p50: float
    p95: float
    p99: float
    max: float
    rps: float
    non2xx: int
    errors: int
    requests: int


def run_wrk(
    workdir: Path,
    url: str,
    body: str | None,
    tokens: list[str],
    *,
    connections: int,
    seconds: int,
    timeout_seconds: int = 30,
) -> WrkFigures:
    """POST `body` (GET when None) to `url` for `seconds` over `connections` connections, each
    call with the next token. A generous client timeout by default, so that a stalled request
    shows in max rather than as a socket error."""
    (workdir / "tokens.txt").write_text("\n".join(tokens or ["-"]))
    script = WRK_LUA
    if body is not None:
        script = (
            f"wrk.method = 'POST'\nwrk.body = {json.dumps(body)}\n"
            "wrk.headers['Content-Type'] = 'application/json'\n" + WRK_LUA
        )
    (workdir / "bench.lua").write_text(script)
    threads = 1 if connections == 1 else 2
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s"]
    command += ["--timeout", f"{timeout_seconds}s", "-s", str(workdir / "bench.lua"), url]
    command += ["--", str(workdir / "tokens.txt"), str(threads)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT"))
    p50, p95, p99, top, rps, non2xx, errors, total = line.split()[1:]
    return WrkFigures(
        float(p50), float(p95), float(p99), float(top), float(rps), int(non2xx), int(errors),
        int(total),
    )  # fmt: skip


def signed_tokens(
    key: Any, *, issuer: str, kid: str, audience: str, count: int, lifetime_seconds: int = 900
) -> list[str]:
    """`count` ES384 JWTs of one EHR client for one audience, each with its own jti."""
    import jwt  # noqa: PLC0415 (the benchmarks' venv has it; this module is imported early)

    now = int(time.time())
    claims = {"iss": issuer, "sub": "bench", "aud": audience, "iat": now}
    claims["exp"] = now + lifetime_seconds
    return [
        jwt.encode(claims | {"jti": str(uuid.uuid4())}, key, "ES384", headers={"kid": kid})
        for _ in range(count)
    ]


def clients_file(path: Path, key: Any, *, issuer: str, kid: str, fhir_servers: list[str]) -> Path:
    """An ICAHT_CDS_CLIENTS file that trusts `key`'s public half (pinned, ES384) for `issuer`."""
    import jwt  # noqa: PLC0415

    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    jwk |= {"kid": kid, "alg": "ES384", "use": "sig"}
    entry = {"iss": issuer, "jwks": {"keys": [jwk]}, "fhir_servers": fhir_servers}
    path.write_text(json.dumps({"clients": [entry]}))
    return path


def searchset(resources: list[dict[str, Any]], base_url: str) -> dict[str, Any]:
    """The resources as a FHIR server answers a search: a searchset Bundle, every entry a
    match with its full URL."""
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [
            {
                "fullUrl": f"{base_url}/{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in resources
        ],
    }


def benchmark_patient() -> Any:
    """The patient of every hook benchmark: a synthetic aplastic course still under way, 10
    days after its CAR-T infusion (seed 4, anchored today). 134 lab Observations; its
    management rules run (two alert cards beside the status card), so a benchmark of it
    measures every phase of a call."""
    from icaht_demo.synthetic import generate_cohort  # noqa: PLC0415 (only where it is used)

    return generate_cohort(8, seed=4, anchor=date.today())[7]


def patient_view_body(
    patient_id: str, fhir_url: str, prefetch: dict[str, Any] | None
) -> dict[str, Any]:
    """A patient-view request for `patient_id`, with `prefetch` when given (else the service
    fetches from `fhir_url`)."""
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "fhirServer": fhir_url,
        "context": {"userId": "Practitioner/bench", "patientId": patient_id},
    }
    if prefetch is not None:
        body["prefetch"] = prefetch
    return body
