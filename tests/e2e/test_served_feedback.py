"""The service under gunicorn (2 gevent worker processes), as deployed: 100 concurrent
feedback posts are all stored, a token replayed to another worker is refused, and the data
survive a restart of the service."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec

from cds_service.store import AuditRecord, Store
from icaht_demo.fhir_server import free_port

ISSUER = "https://ehr.e2e.invalid"
PATH = "/cds-services/icaht-order-sign/feedback"


class Served:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.key = ec.generate_private_key(ec.SECP384R1())
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database_url = f"sqlite:///{workdir / 'store.sqlite3'}"
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.key.public_key()))
        jwk |= {"kid": "e2e", "alg": "ES384"}
        fhir = ["https://ehr.e2e.invalid/fhir"]
        clients = {"clients": [{"iss": ISSUER, "jwks": {"keys": [jwk]}, "fhir_servers": fhir}]}
        (workdir / "clients.json").write_text(json.dumps(clients))
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = os.environ | {
            "ICAHT_CDS_PUBLIC_URL": self.url,
            "ICAHT_CDS_CLIENTS": str(self.workdir / "clients.json"),
            "ICAHT_CDS_DATABASE_URL": self.database_url,
            "ICAHT_CDS_ASSESSMENT_AUTH": "none",  # this test calls no assessment API
        }
        command = [sys.executable, "-m", "icaht_cli", "serve", "--port", str(self.port)]
        log = (self.workdir / "service.log").open("ab")
        self.process = subprocess.Popen(
            [*command, "--workers", "2", "--state-dir", str(self.workdir)],
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

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=20)

    def token(self) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": self.url + PATH,
            "iat": now,
            "exp": now + 120,
            "jti": str(uuid.uuid4()),
        }
        return jwt.encode(claims, self.key, "ES384", headers={"kid": "e2e"})


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    service = Served(tmp_path)
    service.start()
    yield service
    service.stop()


def _issued_card(served: Served) -> str:
    """A card the service issued to the client: feedback on any other is refused (0017)."""
    card = str(uuid.uuid4())
    store = Store(served.database_url)
    store.record_audit(
        AuditRecord("h-e2e", "icaht-order-sign", "order-sign", "v1", card, client=ISSUER)
    )
    store.close()
    return card


def _post(served: Served, token: str, card: str) -> int:
    body = {
        "feedback": [
            {
                "card": card,
                "outcome": "overridden",
                "outcomeTimestamp": datetime.now(UTC).isoformat(),
            }
        ]
    }
    response = requests.post(
        served.url + PATH, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    return response.status_code


def test_concurrent_feedback_is_all_stored_and_survives_a_restart(served: Served) -> None:
    tokens = [served.token() for _ in range(100)]
    cards = [_issued_card(served) for _ in range(101)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(lambda t, c: _post(served, t, c), tokens, cards))
    assert statuses == [200] * 100
    assert Store(served.database_url).counts()["feedback"] == 100

    # the replay cache is shared by the workers: every reuse is refused, whichever worker
    assert {_post(served, tokens[i], cards[i]) for i in range(10)} == {401}

    served.stop()
    served.start()
    assert Store(served.database_url).counts()["feedback"] == 100
    assert _post(served, served.token(), cards[100]) == 200
    assert Store(served.database_url).counts()["feedback"] == 101
