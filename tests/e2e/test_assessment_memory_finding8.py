"""Issue 13, finding 8, as served: gunicorn (1 worker), configured as in production (EHR JWTs for
the hooks, SMART id_tokens for the assessment API). The finding's body, a 16 MiB Bundle of 381,124
minimal Observations, is refused without mapping it, so the worker's peak memory stays near its
size at rest; before the fix each such call was mapped (worker peak 98 -> 447 MB measured here
with 2 workers and 8 calls at concurrency 4, 55 s)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from icaht_demo.fhir_server import free_port

EHR = "https://ehr.e2e.invalid"
OIDC = "https://ehr.e2e.invalid/oauth2"
# the worker reads the 16 MiB body (and werkzeug may hold a copy or two of it) before refusing;
# mapping it cost about 350 MB more, so 150 MB over the worker's size at rest tells them apart
# with room for the allocator's noise
MAX_GROWTH_KB = 150 * 1024


class Served:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.id_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        hook_key = ec.generate_private_key(ec.SECP384R1())
        hook_jwk = jwt.algorithms.ECAlgorithm.to_jwk(hook_key.public_key(), as_dict=True)
        id_jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.id_key.public_key(), as_dict=True)
        clients = {
            "clients": [
                {
                    "iss": EHR,
                    "jwks": {"keys": [hook_jwk | {"kid": "hooks", "alg": "ES384"}]},
                    "fhir_servers": ["https://ehr.e2e.invalid/fhir"],
                }
            ]
        }
        issuers = {"issuers": [{"iss": OIDC, "jwks": {"keys": [id_jwk | {"kid": "oidc"}]}}]}
        (workdir / "clients.json").write_text(json.dumps(clients))
        (workdir / "smart-issuers.json").write_text(json.dumps(issuers))
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = os.environ | {
            "ICAHT_CDS_PUBLIC_URL": self.url,
            "ICAHT_CDS_CLIENTS": str(self.workdir / "clients.json"),
            "ICAHT_CDS_SMART_ISSUERS": str(self.workdir / "smart-issuers.json"),
            "ICAHT_CDS_ASSESSMENT_RATE": "off",  # the cap is under test here, not the rate
            "ICAHT_CDS_DATABASE_URL": f"sqlite:///{self.workdir / 'store.sqlite3'}",
        }
        for name in ("ICAHT_CDS_AUTH", "ICAHT_CDS_ASSESSMENT_AUTH"):
            env.pop(name, None)  # the defaults: both on
        command = [sys.executable, "-m", "icaht_cli", "serve", "--port", str(self.port)]
        log = (self.workdir / "service.log").open("ab")
        self.process = subprocess.Popen(
            [*command, "--workers", "1", "--state-dir", str(self.workdir)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        for _ in range(300):
            try:
                if requests.get(f"{self.url}/readyz", timeout=0.5).ok:
                    return
            except requests.RequestException:
                time.sleep(0.1)
        raise AssertionError((self.workdir / "service.log").read_text()[-2000:])

    def worker(self) -> int:
        assert self.process is not None
        out = subprocess.check_output(["ps", "--ppid", str(self.process.pid), "-o", "pid="])
        pids = [int(pid) for pid in out.split()]
        assert len(pids) == 1, pids
        return pids[0]

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=20)

    def id_token(self) -> str:
        now = int(time.time())
        claims = {
            "iss": OIDC,
            "sub": "dr-1",
            "aud": "icaht-cds-smart",
            "iat": now,
            "exp": now + 300,
        }
        return jwt.encode(claims, self.id_key, "RS256", headers={"kid": "oidc"})


def _memory_kb(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak) of a process, in kB (Linux /proc)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    service = Served(tmp_path)
    service.start()
    yield service
    service.stop()


def test_finding8_the_finding_s_body_is_refused_without_growing_the_worker(served: Served) -> None:
    body = json.dumps(
        {
            "patientId": "p-1",
            "resources": [
                {
                    "resourceType": "Bundle",
                    "entry": [{"resource": {"resourceType": "Observation"}}] * 381_124,
                }
            ],
        },
        separators=(",", ":"),
    ).encode()
    worker = served.worker()
    at_rest = _memory_kb(worker)["VmRSS"]

    def post(authorization: str | None) -> Any:
        headers = {"Content-Type": "application/json"}
        if authorization:
            headers["Authorization"] = authorization
        url = f"{served.url}/api/v1/assessment"
        return requests.post(url, data=body, headers=headers, timeout=120)

    tokens = [f"Bearer {served.id_token()}"] * 4 + [None] * 4
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(post, tokens))

    assert [a.status_code for a in answers] == [413] * 4 + [401] * 4
    assert "at most 20000" in answers[0].json()["issue"][0]["diagnostics"]
    assert answers[-1].headers["WWW-Authenticate"].startswith("Bearer")
    peak = _memory_kb(worker)["VmHWM"]
    assert peak - at_rest < MAX_GROWTH_KB, f"worker grew from {at_rest} to {peak} kB"
