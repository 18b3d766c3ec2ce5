"""The routes with EHR authentication on: JWTs signed with real keys, the store for replays,
feedback and audit. The unit-level JWT matrix is in tests/unit/service/test_security.py; here
each route is checked end to end (cds-hooks_2.0@176 @195 @201 @203 @148)."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from flask import Flask
from flask.testing import FlaskClient

from cds_service.app import create_app
from cds_service.settings import Settings
from cds_service.store import AuditRecord
from icaht_demo.fhir_server import LocalFhirServer
from icaht_demo.synthetic import SyntheticPatient

PUBLIC_URL = "https://cds.test.invalid"
ISSUER = "https://ehr.test.invalid"
OTHER_FHIR = "https://other-ehr.test.invalid/fhir"


class Signer:
    def __init__(self) -> None:
        self.ec_key = ec.generate_private_key(ec.SECP384R1())
        self.rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwks(self) -> dict[str, Any]:
        ec_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.ec_key.public_key()))
        rsa_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.rsa_key.public_key()))
        return {
            "keys": [
                ec_jwk | {"kid": "ec-1", "alg": "ES384", "use": "sig"},
                rsa_jwk | {"kid": "rsa-1", "alg": "RS384", "use": "sig"},
            ]
        }

    def token(self, path: str, *, alg: str = "ES384", **claims: Any) -> str:
        now = int(time.time())
        body = {
            "iss": ISSUER,
            "sub": "ehr-client",
            "aud": PUBLIC_URL + path,
            "iat": now,
            "exp": now + 300,
            "jti": str(uuid.uuid4()),
        } | claims
        key, kid = (self.ec_key, "ec-1") if alg == "ES384" else (self.rsa_key, "rsa-1")
        return jwt.encode(body, key, alg, headers={"kid": kid})

    def headers(self, path: str, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(path, **claims)}"}


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer()


@pytest.fixture(scope="module")
def app(
    signer: Signer,
    seeded_fhir_server: LocalFhirServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Flask:
    workdir = tmp_path_factory.mktemp("secure")
    clients = {
        "clients": [
            {"iss": ISSUER, "jwks": signer.jwks(), "fhir_servers": [seeded_fhir_server.base_url]}
        ]
    }
    (workdir / "clients.json").write_text(json.dumps(clients))
    # the assessment API's SMART id_tokens (finding 8): the same EHR's keys, pinned
    issuers = {"issuers": [{"iss": ISSUER, "jwks": signer.jwks()}]}
    (workdir / "smart-issuers.json").write_text(json.dumps(issuers))
    settings = Settings(
        public_url=PUBLIC_URL,
        auth="jwt",
        clients_path=str(workdir / "clients.json"),
        smart_issuers_path=str(workdir / "smart-issuers.json"),
        database_url=f"sqlite:///{workdir / 'store.sqlite3'}",
        timezone="Europe/Berlin",
        metrics_token=METRICS_TOKEN,
    )
    return create_app(settings)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def hook_body(server_url: str, patient_id: str) -> dict[str, Any]:
    return {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "fhirServer": server_url,
        "context": {"userId": "Practitioner/dr-1", "patientId": patient_id},
    }


HOOK = "/cds-services/icaht-patient-view"
METRICS_TOKEN = "metrics-token-of-the-security-tests-0123456789"
UNAUTHORIZED = {
    "resourceType": "OperationOutcome",
    "issue": [{"severity": "error", "code": "login", "diagnostics": "authentication required"}],
}
FEEDBACK = "/cds-services/icaht-patient-view/feedback"


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/cds-services"), ("POST", HOOK), ("POST", FEEDBACK)],
)
def test_every_cds_route_needs_a_jwt_and_failure_is_one_401_for_every_reason(
    client: FlaskClient, method: str, path: str
) -> None:
    """Issue 13 finding 13: a 401 says `WWW-Authenticate: Bearer` with a JSON body that gives
    no reason (the reason is logged)."""
    response = client.open(path, method=method, json={})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.mimetype == "application/json"
    assert response.get_json() == UNAUTHORIZED


def test_discovery_with_es384_and_rs384(client: FlaskClient, signer: Signer) -> None:
    for alg in ("ES384", "RS384"):
        headers = {"Authorization": f"Bearer {signer.token('/cds-services', alg=alg)}"}
        assert client.get("/cds-services", headers=headers).status_code == 200


def test_a_replayed_token_is_refused(client: FlaskClient, signer: Signer) -> None:
    headers = signer.headers("/cds-services")
    assert client.get("/cds-services", headers=headers).status_code == 200
    assert client.get("/cds-services", headers=headers).status_code == 401


def test_a_token_for_another_endpoint_is_refused(client: FlaskClient, signer: Signer) -> None:
    """`aud` is the endpoint's own URL: a discovery token cannot call a hook."""
    response = client.post(
        HOOK, json=hook_body(OTHER_FHIR, "p-1"), headers=signer.headers("/cds-services")
    )
    assert response.status_code == 401


def test_fhir_server_of_another_issuer_is_403_and_never_contacted(
    client: FlaskClient, signer: Signer
) -> None:
    services = client.application.extensions["icaht"]
    before = len(services.fhir.timings)
    response = client.post(HOOK, json=hook_body(OTHER_FHIR, "p-1"), headers=signer.headers(HOOK))
    assert response.status_code == 403
    assert services.fhir.timings[before:] == []


def test_an_authenticated_hook_call_is_answered_and_audited(
    client: FlaskClient,
    signer: Signer,
    seeded_fhir_server: LocalFhirServer,
    synthetic_cohort: list[SyntheticPatient],
    wal_syncs: list[str],
) -> None:
    patient = next(p for p in synthetic_cohort if p.plan.course == "aplastic")
    body = hook_body(seeded_fhir_server.base_url, patient.patient_id)
    response = client.post(HOOK, json=body, headers=signer.headers(HOOK))
    assert response.status_code == 200
    [card] = response.get_json()["cards"]
    store = client.application.extensions["icaht"].store
    [row] = store.audit_rows(card["uuid"])
    assert row["hook_instance"] == body["hookInstance"]
    assert row["service_id"] == "icaht-patient-view"
    assert row["early_grade"] == str(patient.plan.expected_early_grade)
    dumped = json.dumps(row, default=str)
    assert patient.patient_id not in dumped
    assert row["patient_hash"] == store.patient_hash(patient.patient_id)
    # one fsync for the call: the audit rows' commit, which covered the token's replay claim
    # too, so the store added none of its own (decision 0035, third amendment)
    assert wal_syncs == []


def test_an_answer_without_a_commit_after_its_claim_waits_for_the_claim_on_disk(
    client: FlaskClient, signer: Signer, wal_syncs: list[str]
) -> None:
    """Decision 0035, third amendment: the replay claim commits without its own fsync; an
    answer that no later commit covered (discovery, a refused body, a 403) syncs the WAL
    before it leaves, once; a replay, which claims nothing, does not."""
    headers = signer.headers("/cds-services")
    assert client.get("/cds-services", headers=headers).status_code == 200
    assert wal_syncs == ["store.sqlite3-wal"]
    assert client.get("/cds-services", headers=headers).status_code == 401  # the replay
    assert wal_syncs == ["store.sqlite3-wal"]
    response = client.post(HOOK, json={"hook": "patient-view"}, headers=signer.headers(HOOK))
    assert response.status_code == 400
    response = client.post(HOOK, json=hook_body(OTHER_FHIR, "p-1"), headers=signer.headers(HOOK))
    assert response.status_code == 403
    assert wal_syncs == ["store.sqlite3-wal"] * 3


def test_a_failed_sync_of_the_claim_is_a_503_not_an_answer(
    client: FlaskClient, signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disk that fails the fsync (injected: a real failing disk cannot be had here) gives
    what a failed commit of the claim gave before: 503, no answer, and the usual headers."""
    import cds_service.store.engine as store_engine  # noqa: PLC0415

    def failing_fsync(descriptor: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(store_engine.os, "fsync", failing_fsync)
    response = client.get("/cds-services", headers=signer.headers("/cds-services"))
    assert response.status_code == 503
    assert response.get_json()["resourceType"] == "OperationOutcome"
    assert "services" not in response.get_json()
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def _feedback(card: str, outcome: str, **extra: Any) -> dict[str, Any]:
    entry = {"card": card, "outcome": outcome, "outcomeTimestamp": datetime.now(UTC).isoformat()}
    return {"feedback": [entry | extra]}


def test_feedback_accepted_and_overridden_are_stored(client: FlaskClient, signer: Signer) -> None:
    store = client.application.extensions["icaht"].store
    card = str(uuid.uuid4())
    # feedback counts only on a card issued to this client (issue 13 finding 7, decision 0017)
    hook = "patient-view"
    store.record_audit(AuditRecord("h-1", "icaht-patient-view", hook, "v1", card, client=ISSUER))
    accepted = _feedback(card, "accepted", acceptedSuggestions=[{"id": str(uuid.uuid4())}])
    reason = {
        "reason": {"system": "https://icaht.invalid/override", "code": "not-relevant"},
        "userComment": "seen by the team",
    }
    overridden = _feedback(card, "overridden", overrideReason=reason)
    for body in (accepted, overridden):
        assert client.post(FEEDBACK, json=body, headers=signer.headers(FEEDBACK)).status_code == 200
    rows = store.feedback_rows(card)
    assert [r["outcome"] for r in rows] == ["accepted", "overridden"]
    assert rows[1]["override_reason_code"] == "not-relevant"


def test_malformed_feedback_is_a_400_naming_the_field(client: FlaskClient, signer: Signer) -> None:
    body = _feedback(str(uuid.uuid4()), "ignored")
    response = client.post(FEEDBACK, json=body, headers=signer.headers(FEEDBACK))
    assert response.status_code == 400
    assert response.get_json()["issue"][0]["expression"] == ["feedback[0].outcome"]


def test_feedback_for_an_unknown_service_is_404(client: FlaskClient, signer: Signer) -> None:
    path = "/cds-services/nope/feedback"
    body = _feedback(str(uuid.uuid4()), "overridden")
    assert client.post(path, json=body, headers=signer.headers(path)).status_code == 404


def test_readyz_checks_the_database(client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["checks"] == {"config": True, "database": True, "schema": True}
    assert "warnings" not in body


def test_metrics_count_hook_calls(client: FlaskClient) -> None:
    headers = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    text = client.get("/metrics", headers=headers).get_data(as_text=True)
    assert "icaht_hook_requests_total" in text
    assert "icaht_fhir_request_duration_seconds" in text


def test_auth_none_is_loud_on_readyz(database_url: str, tmp_path: Path) -> None:
    app = create_app(Settings(auth="none", database_url=database_url))
    body = app.test_client().get("/readyz").get_json()
    assert any("authentication is OFF" in w for w in body["warnings"])


# -- operators can diagnose a refused call (issue 18) --------------------------------------


def _sample(client: FlaskClient, name: str, **labels: str) -> float:
    """One sample of /metrics (0 when the labelled series is not there yet)."""
    headers = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    text = client.get("/metrics", headers=headers).get_data(as_text=True)
    wanted = name + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"
    for line in text.splitlines():
        if line.startswith(wanted + " "):
            return float(line.split()[-1])
    return 0.0


def _refusals(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    return [
        dict(record.fields)  # type: ignore[attr-defined]
        for record in caplog.records
        if getattr(record, "event", None) == "refused"
    ]


def test_a_401_is_logged_and_counted_with_its_reason_class(
    client: FlaskClient, signer: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    """An expired token on a hook: a bare 401 for the caller; for the operator a log event
    `refused` (route, status, reason `expired`) and both counters by service and status."""
    now = int(time.time())
    token = signer.token(HOOK, exp=now - 120, iat=now - 400)
    refused = {"service": "icaht-patient-view", "reason": "expired"}
    hooks = {"service": "icaht-patient-view", "status": "401"}
    before = (_sample(client, "icaht_auth_refused_total", **refused),)
    before += (_sample(client, "icaht_hook_requests_total", **hooks),)
    caplog.clear()
    response = client.post(
        HOOK, json=hook_body(OTHER_FHIR, "p-1"), headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401
    assert response.get_json() == UNAUTHORIZED  # the reason is not the caller's business
    assert _refusals(caplog) == [
        {"route": "icaht-patient-view", "status": 401, "reason": "expired"}
    ]
    after = (_sample(client, "icaht_auth_refused_total", **refused),)
    after += (_sample(client, "icaht_hook_requests_total", **hooks),)
    assert after == (before[0] + 1, before[1] + 1)
    assert token not in caplog.text and token.split(".")[2] not in caplog.text


def test_discovery_and_feedback_refusals_have_their_own_route_label(
    client: FlaskClient, signer: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    missing = {"service": "discovery", "reason": "missing_token"}
    replayed = {"service": "feedback", "reason": "replayed"}
    before = _sample(client, "icaht_auth_refused_total", **missing)
    before_replayed = _sample(client, "icaht_auth_refused_total", **replayed)
    caplog.clear()
    assert client.get("/cds-services").status_code == 401
    headers = signer.headers(FEEDBACK)
    body = _feedback(str(uuid.uuid4()), "ignored")
    assert client.post(FEEDBACK, json=body, headers=headers).status_code == 400  # authenticated
    assert client.post(FEEDBACK, json=body, headers=headers).status_code == 401  # replayed
    assert _refusals(caplog) == [
        {"route": "discovery", "status": 401, "reason": "missing_token"},
        {"route": "feedback", "status": 401, "reason": "replayed"},
    ]
    assert _sample(client, "icaht_auth_refused_total", **missing) == before + 1
    assert _sample(client, "icaht_auth_refused_total", **replayed) == before_replayed + 1
    assert _sample(client, "icaht_hook_requests_total", service="discovery", status="401") >= 1


def test_a_403_for_a_foreign_fhir_server_is_logged_and_counted(
    client: FlaskClient, signer: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    refused = {"service": "icaht-patient-view", "reason": "fhir_server_not_allowed"}
    hooks = {"service": "icaht-patient-view", "status": "403"}
    before = (_sample(client, "icaht_auth_refused_total", **refused),)
    before += (_sample(client, "icaht_hook_requests_total", **hooks),)
    caplog.clear()
    body = hook_body(OTHER_FHIR, "patient-4711")
    response = client.post(HOOK, json=body, headers=signer.headers(HOOK))
    assert response.status_code == 403
    assert _refusals(caplog) == [
        {"route": "icaht-patient-view", "status": 403, "reason": "fhir_server_not_allowed"}
    ]
    assert "patient-4711" not in caplog.text  # no patient id in the log
    after = (_sample(client, "icaht_auth_refused_total", **refused),)
    after += (_sample(client, "icaht_hook_requests_total", **hooks),)
    assert after == (before[0] + 1, before[1] + 1)


# -- EHRs as they sign: the CDS Hooks Sandbox and Epic (issue 18) ---------------------------

SANDBOX_ISS = "https://sandbox.cds-hooks.org"
SANDBOX_JKU = "https://sandbox.cds-hooks.org/.well-known/jwks.json"
EPIC_ISS = "https://epic.test.invalid/interconnect/api/FHIR/R4"
EPIC_KID = "d3bmo5HzW61TUgikHZH+A8Tx4UOXz2iOs4KvVU4eLY0="  # base64, as Epic's kids are
SITE_AUDIENCE = "urn:test-hospital:icaht-cds"


def test_sandbox_and_epic_style_tokens_are_accepted_through_the_clients_file(
    tmp_path: Path,
) -> None:
    """Through the routes, with keys pinned in a clients file: the Sandbox's ES384 token with
    its own jku (no jwks_url: nothing to fetch, and no network here), and an Epic-style RS384
    token (kid with + / =, sub, nbf 5 minutes back, a site-configured aud)."""
    sandbox_key = ec.generate_private_key(ec.SECP384R1())
    epic_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sandbox_kid = str(uuid.uuid4())
    sandbox_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(sandbox_key.public_key()))
    epic_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(epic_key.public_key()))
    clients = {
        "clients": [
            {
                "iss": SANDBOX_ISS,
                "jwks": {"keys": [sandbox_jwk | {"kid": sandbox_kid}]},
                "fhir_servers": [OTHER_FHIR],
            },
            {
                "iss": EPIC_ISS,
                "jwks": {"keys": [epic_jwk | {"kid": EPIC_KID, "alg": "RS384"}]},
                "fhir_servers": ["https://epic.test.invalid/api/FHIR/R4"],
                "audience": SITE_AUDIENCE,
            },
        ]
    }
    (tmp_path / "clients.json").write_text(json.dumps(clients))
    settings = Settings(
        public_url=PUBLIC_URL,
        auth="jwt",
        clients_path=str(tmp_path / "clients.json"),
        database_url=f"sqlite:///{tmp_path / 'store.sqlite3'}",
        assessment_auth="none",
    )
    client = create_app(settings).test_client()
    now = int(time.time())
    sandbox = jwt.encode(
        {
            "iss": SANDBOX_ISS,
            "aud": PUBLIC_URL + "/cds-services",
            "exp": now + 300,
            "iat": now,
            "jti": str(uuid.uuid4()),
        },
        sandbox_key,
        "ES384",
        headers={"typ": "JWT", "kid": sandbox_kid, "jku": SANDBOX_JKU},
    )
    epic_claims = {
        "iss": EPIC_ISS,
        "sub": "epic-cds-client-id",
        "aud": SITE_AUDIENCE,
        "exp": now + 300,
        "iat": now,
        "nbf": now - 300,
        "jti": str(uuid.uuid4()),
    }
    epic = jwt.encode(
        epic_claims,
        epic_key,
        "RS384",
        headers={"typ": "JWT", "kid": EPIC_KID, "jku": "https://epic.test.invalid/keys"},
    )
    for token in (sandbox, epic):
        response = client.get("/cds-services", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, token
    # the site audience is Epic's client's, not the Sandbox's
    sandbox_with_site_aud = jwt.encode(
        {
            "iss": SANDBOX_ISS,
            "aud": SITE_AUDIENCE,
            "exp": now + 300,
            "iat": now,
            "jti": str(uuid.uuid4()),
        },
        sandbox_key,
        "ES384",
        headers={"typ": "JWT", "kid": sandbox_kid, "jku": SANDBOX_JKU},
    )
    refused = client.get(
        "/cds-services", headers={"Authorization": f"Bearer {sandbox_with_site_aud}"}
    )
    assert refused.status_code == 401
