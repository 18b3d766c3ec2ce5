"""Issue 13, finding 8: the unauthenticated assessment API amplified memory and CPU.

A 16 MiB Bundle of 381,124 minimal Observations was accepted and mapped (a worker went from 115
to 409 MB). Now: resources are counted inside Bundles against a cap (413 before mapping, and for
a body like the finding's before parsing); the API takes only a SMART launch id_token signed by
a configured EHR (real RSA and EC keys here, one EHR's keys pinned, another's served as a JWKS
over HTTP on 127.0.0.1); and each client has a rate limit (429 with Retry-After).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from flask import Flask
from flask.testing import FlaskClient

from cds_service import assessment_api
from cds_service.app import Services, create_app, default_services
from cds_service.assessment_api import MAX_RESOURCES
from cds_service.rate_limit import RateLimiter
from cds_service.security.keys import KeySetError, parse_jwks
from cds_service.security.launch_tokens import IssuersFileError, issuers_from_document
from cds_service.settings import Settings, SettingsError
from icaht_cli.main import configuration_problem

API = "/api/v1/assessment"
CLIENT_ID = "icaht-cds-smart"
PINNED_ISS = "https://ehr-a.test.invalid/oauth2"
FETCHED_ISS = "https://ehr-b.test.invalid/oauth2"
OBSERVATION = {"resourceType": "Observation"}
SMALL_BODY = {"patientId": "p-1", "resources": [{"resourceType": "Patient", "id": "p-1"}]}


class Ehr:
    """An EHR's OpenID provider: a real key pair and id_tokens signed with it."""

    def __init__(self, iss: str, kid: str, *, rsa_key: bool = True) -> None:
        self.iss = iss
        self.kid = kid
        self.alg = "RS256" if rsa_key else "ES384"
        self.key: Any = (
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
            if rsa_key
            else ec.generate_private_key(ec.SECP384R1())
        )

    def jwks(self) -> dict[str, Any]:
        algorithm = (
            jwt.algorithms.RSAAlgorithm if self.alg == "RS256" else jwt.algorithms.ECAlgorithm
        )
        jwk = json.loads(algorithm.to_jwk(self.key.public_key()))
        return {"keys": [jwk | {"kid": self.kid, "alg": self.alg, "use": "sig"}]}

    def id_token(self, **claims: Any) -> str:
        now = int(time.time())
        body = {
            "iss": self.iss,
            "sub": "clinician-7",
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "fhirUser": "https://ehr.test.invalid/fhir/Practitioner/clinician-7",
        } | claims
        return jwt.encode(
            {k: v for k, v in body.items() if v is not None},
            self.key,
            self.alg,
            headers={"kid": self.kid},
        )

    def headers(self, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.id_token(**claims)}"}


@pytest.fixture(scope="module")
def pinned() -> Ehr:
    return Ehr(PINNED_ISS, "a-1")


@pytest.fixture(scope="module")
def fetched() -> Ehr:
    return Ehr(FETCHED_ISS, "b-1", rsa_key=False)


@pytest.fixture(scope="module")
def jwks_url(fetched: Ehr) -> Iterator[str]:
    """EHR B publishes its JWKS over HTTP (loopback), as an EHR's jwks_uri does."""
    document = json.dumps(fetched.jwks()).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(document)))
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/jwks"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def secured(
    pinned: Ehr, jwks_url: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Flask, Services]:
    """The API as in production: hooks' auth off here, the assessment API's auth explicitly on."""
    workdir = tmp_path_factory.mktemp("finding8")
    issuers = {
        "issuers": [
            {"iss": PINNED_ISS, "jwks": pinned.jwks()},
            {"iss": FETCHED_ISS, "jwks_url": jwks_url},
        ]
    }
    (workdir / "smart-issuers.json").write_text(json.dumps(issuers))
    settings = Settings(
        auth="none",
        assessment_auth="smart",
        smart_issuers_path=str(workdir / "smart-issuers.json"),
        timezone="Europe/Berlin",
        database_url=f"sqlite:///{workdir / 'store.sqlite3'}",
        assessment_rate=None,
    )
    services = default_services(settings)
    return create_app(settings, services), services


@pytest.fixture
def client(secured: tuple[Flask, Services]) -> FlaskClient:
    return secured[0].test_client()


@pytest.fixture(scope="module")
def open_app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    workdir = tmp_path_factory.mktemp("finding8-open")
    settings = Settings(
        auth="none",
        timezone="Europe/Berlin",
        database_url=f"sqlite:///{workdir / 'store.sqlite3'}",
        assessment_rate=None,
    )
    return create_app(settings, default_services(settings))


def _bundle_of(count: int) -> dict[str, Any]:
    entries = [{"resource": OBSERVATION}] * count
    return {"patientId": "p-1", "resources": [{"resourceType": "Bundle", "entry": entries}]}


@pytest.fixture
def no_mapping(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Records every evaluation the API starts (the mapping and grading of a body)."""
    started: list[int] = []
    real = assessment_api.evaluate

    def recording(resources: Any, **kwargs: Any) -> Any:
        started.append(len(resources))
        return real(resources, **kwargs)

    monkeypatch.setattr(assessment_api, "evaluate", recording)
    return started


# ----------------------------------------------------------------------- the resource cap


def test_finding8_the_finding_s_bundle_of_381124_observations_is_413_before_parsing(
    open_app: Flask, no_mapping: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: list[int] = []
    monkeypatch.setattr(
        assessment_api, "parse_json", lambda raw: parsed.append(len(raw)) or json.loads(raw)
    )
    body = json.dumps(_bundle_of(381_124), separators=(",", ":")).encode()
    assert len(body) < assessment_api.MAX_BODY_BYTES  # under the byte cap, as in the finding

    response = open_app.test_client().post(API, data=body, content_type="application/json")

    assert response.status_code == 413
    issue = response.get_json()["issue"][0]
    assert issue["code"] == "too-costly" and issue["expression"] == ["resources"]
    assert f"at most {MAX_RESOURCES}" in issue["diagnostics"]
    assert parsed == [] and no_mapping == []


def test_finding8_a_bundle_one_over_the_cap_is_413_without_mapping(
    open_app: Flask, no_mapping: list[int]
) -> None:
    response = open_app.test_client().post(API, json=_bundle_of(MAX_RESOURCES + 1))

    assert response.status_code == 413
    diagnostics = response.get_json()["issue"][0]["diagnostics"]
    assert diagnostics.startswith(f"{MAX_RESOURCES + 1} resources (Bundle entries counted")
    assert no_mapping == []


def test_finding8_resources_and_bundle_entries_are_counted_together(
    open_app: Flask, no_mapping: list[int]
) -> None:
    half = MAX_RESOURCES // 2
    body = _bundle_of(half)
    body["resources"] += [OBSERVATION] * (half + 1)  # top-level ones count too
    response = open_app.test_client().post(API, json=body)
    assert response.status_code == 413
    assert no_mapping == []


def test_finding8_a_bundle_at_the_cap_is_graded(open_app: Flask, no_mapping: list[int]) -> None:
    response = open_app.test_client().post(API, json=_bundle_of(MAX_RESOURCES))
    assert response.status_code == 200
    assert no_mapping == [MAX_RESOURCES]


def test_finding8_a_bundle_inside_a_bundle_is_refused(open_app: Flask) -> None:
    inner = {"resourceType": "Bundle", "entry": [{"resource": OBSERVATION}]}
    body = {
        "patientId": "p-1",
        "resources": [{"resourceType": "Bundle", "entry": [{"resource": inner}]}],
    }
    response = open_app.test_client().post(API, json=body)
    assert response.status_code == 400
    assert response.get_json()["issue"][0]["expression"] == ["resources[0].entry[0].resource"]


# ------------------------------------------------------------------------ authentication


def _assert_401(response: Any) -> None:
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert response.mimetype == "application/json"
    assert response.get_json()["issue"][0]["code"] == "login"
    assert response.headers["Cache-Control"] == "no-store"


def test_finding8_a_call_without_a_token_is_401(client: FlaskClient, no_mapping: list[int]) -> None:
    _assert_401(client.post(API, json=SMALL_BODY))
    _assert_401(client.post(API, json=SMALL_BODY, headers={"Authorization": "Basic dXNlcg=="}))
    assert no_mapping == []


def test_finding8_a_token_signed_by_another_key_is_401(client: FlaskClient) -> None:
    impostor = Ehr(PINNED_ISS, "a-1")  # same issuer and kid, another private key
    _assert_401(client.post(API, json=SMALL_BODY, headers=impostor.headers()))


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": int(time.time()) - 120},  # expired beyond the 60 s leeway
        {"iat": int(time.time()) + 600},  # issued in the future
        {"nbf": int(time.time()) + 600},  # not yet valid
        {"aud": "another-app"},  # an id_token issued to another client
        {"aud": [CLIENT_ID, "another-app"], "azp": "another-app"},
        {"iss": "https://unknown-ehr.test.invalid"},
        {"sub": None},
    ],
    ids=["expired", "iat-future", "nbf-future", "wrong-audience", "azp", "unknown-iss", "no-sub"],
)
def test_finding8_an_expired_or_misaddressed_token_is_401(
    client: FlaskClient, pinned: Ehr, claims: dict[str, Any]
) -> None:
    _assert_401(client.post(API, json=SMALL_BODY, headers=pinned.headers(**claims)))


def test_finding8_an_hmac_or_unsigned_token_is_401(client: FlaskClient, pinned: Ehr) -> None:
    claims = {"iss": PINNED_ISS, "sub": "x", "aud": CLIENT_ID, "iat": 0, "exp": 2**33}
    hmac = jwt.encode(claims, "s" * 32, "HS256", headers={"kid": "a-1"})
    unsigned = jwt.encode(claims, None, "none", headers={"kid": "a-1"})
    for token in (hmac, unsigned):
        headers = {"Authorization": f"Bearer {token}"}
        _assert_401(client.post(API, json=SMALL_BODY, headers=headers))


def test_finding8_a_valid_id_token_is_200(client: FlaskClient, pinned: Ehr) -> None:
    response = client.post(API, json=SMALL_BODY, headers=pinned.headers())
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["patientId"] == "p-1"


def test_finding8_a_token_checked_against_the_ehr_s_published_jwks_is_200(
    client: FlaskClient, fetched: Ehr
) -> None:
    response = client.post(API, json=SMALL_BODY, headers=fetched.headers())
    assert response.status_code == 200, response.get_json()
    other_key = Ehr(FETCHED_ISS, "b-1", rsa_key=False)
    _assert_401(client.post(API, json=SMALL_BODY, headers=other_key.headers()))


def test_finding8_a_token_naming_another_patient_is_403(client: FlaskClient, pinned: Ehr) -> None:
    for claims in ({"patient": "p-2"}, {"fhirUser": "https://ehr/fhir/Patient/p-2"}):
        response = client.post(API, json=SMALL_BODY, headers=pinned.headers(**claims))
        assert response.status_code == 403
        assert response.get_json()["issue"][0]["expression"] == ["patientId"]
    same = client.post(API, json=SMALL_BODY, headers=pinned.headers(patient="p-1"))
    assert same.status_code == 200


# ------------------------------------------------------------------------- rate limiting


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_finding8_the_rate_limit_answers_429_after_n_calls_and_recovers(
    secured: tuple[Flask, Services], pinned: Ehr
) -> None:
    app, services = secured
    clock = FakeClock()
    services.assessment_limiter = RateLimiter(3, 60, clock=clock)
    client = app.test_client()
    try:
        answers = [client.post(API, json=SMALL_BODY, headers=pinned.headers()) for _ in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        throttled = answers[-1]
        assert throttled.headers["Retry-After"] == "20"  # one call per 20 s at 3 per 60 s
        assert throttled.get_json()["issue"][0]["code"] == "throttled"
        # another user of the same EHR has a bucket of their own
        other = pinned.headers(sub="clinician-8")
        assert client.post(API, json=SMALL_BODY, headers=other).status_code == 200
        clock.now += 20
        assert client.post(API, json=SMALL_BODY, headers=pinned.headers()).status_code == 200
        assert client.post(API, json=SMALL_BODY, headers=pinned.headers()).status_code == 429
    finally:
        services.assessment_limiter = None


def test_finding8_without_auth_the_rate_limit_is_per_address(tmp_path: Path) -> None:
    settings = Settings(
        auth="none",
        assessment_rate=(2, 60.0),
        database_url=f"sqlite:///{tmp_path / 'store.sqlite3'}",
    )
    client = create_app(settings, default_services(settings)).test_client()
    here = {"REMOTE_ADDR": "10.0.0.1"}
    there = {"REMOTE_ADDR": "10.0.0.2"}
    codes = [client.post(API, json=SMALL_BODY, environ_base=here).status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    assert client.post(API, json=SMALL_BODY, environ_base=there).status_code == 200


def test_rate_limiter_forgets_idle_clients_at_its_bound() -> None:
    clock = FakeClock()
    limiter = RateLimiter(1, 10, clock=clock, max_clients=2)
    assert limiter.take("a") is None and limiter.take("b") is None
    assert limiter.take("a") == pytest.approx(10)
    clock.now += 5
    assert limiter.take("c") is None  # room made by dropping the oldest ("a" or "b")
    assert len(limiter._buckets) == 2


# ------------------------------------------------------------------------- configuration


def test_finding8_assessment_auth_follows_the_hooks_unless_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("ICAHT_CDS_AUTH", "ICAHT_CDS_ASSESSMENT_AUTH", "ICAHT_CDS_ASSESSMENT_RATE"):
        monkeypatch.delenv(name, raising=False)
    assert Settings.from_env().assessment_auth_mode == "smart"
    monkeypatch.setenv("ICAHT_CDS_AUTH", "none")
    assert Settings.from_env().assessment_auth_mode == "none"
    monkeypatch.setenv("ICAHT_CDS_ASSESSMENT_AUTH", "smart")
    assert Settings.from_env().assessment_auth_mode == "smart"
    monkeypatch.setenv("ICAHT_CDS_ASSESSMENT_AUTH", "jwt")
    with pytest.raises(SettingsError, match="ICAHT_CDS_ASSESSMENT_AUTH"):
        Settings.from_env()
    monkeypatch.delenv("ICAHT_CDS_ASSESSMENT_AUTH")
    assert Settings.from_env().assessment_rate == (30, 60.0)
    monkeypatch.setenv("ICAHT_CDS_ASSESSMENT_RATE", "off")
    assert Settings.from_env().assessment_rate is None
    monkeypatch.setenv("ICAHT_CDS_ASSESSMENT_RATE", "10/0")
    with pytest.raises(SettingsError, match="ICAHT_CDS_ASSESSMENT_RATE"):
        Settings.from_env()


def test_finding8_smart_auth_without_issuers_does_not_start(tmp_path: Path) -> None:
    settings = Settings(
        auth="none", assessment_auth="smart", database_url=f"sqlite:///{tmp_path / 's.sqlite3'}"
    )
    with pytest.raises(SettingsError, match="ICAHT_CDS_SMART_ISSUERS"):
        default_services(settings)


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"issuers": []}, "issuers"),
        ({"issuers": [{"iss": "https://a"}]}, "issuers[0].jwks_url|jwks"),
        (
            {"issuers": [{"iss": "https://a", "jwks_url": "http://ehr.example/jwks"}]},
            "issuers[0].jwks_url[0]",
        ),
        ({"issuers": [{"iss": "https://a", "jwks_url": "https://a/j", "x": 1}]}, "issuers[0].x"),
        (
            {"issuers": [{"iss": "https://a", "jwks": {"keys": [{"kty": "oct", "kid": "k"}]}}]},
            "issuers[0].jwks.keys[0]",
        ),
    ],
)
def test_the_issuers_file_names_the_bad_field(document: Any, field: str) -> None:
    with pytest.raises(IssuersFileError) as raised:
        issuers_from_document(document)
    assert raised.value.field == field


def test_finding8_readyz_warns_when_the_assessment_api_is_open(open_app: Flask) -> None:
    warnings = open_app.test_client().get("/readyz").get_json()["warnings"]
    assert any("ICAHT_CDS_ASSESSMENT_AUTH=none" in w for w in warnings)


def test_finding8_readyz_is_quiet_about_the_api_when_it_checks_tokens(
    secured: tuple[Flask, Services],
) -> None:
    warnings = secured[0].test_client().get("/readyz").get_json().get("warnings", [])
    assert not any("ASSESSMENT_AUTH" in w for w in warnings)


def test_finding8_a_jku_off_the_allow_list_is_401_before_any_fetch(
    client: FlaskClient, fetched: Ehr
) -> None:
    token = jwt.encode(
        {"iss": FETCHED_ISS, "sub": "x", "aud": CLIENT_ID, "iat": int(time.time()), "exp": 2**33},
        fetched.key,
        "ES384",
        headers={"kid": "b-1", "jku": "http://127.0.0.1:9/attacker-jwks"},
    )
    _assert_401(client.post(API, json=SMALL_BODY, headers={"Authorization": f"Bearer {token}"}))


def test_finding8_an_rsa_key_declared_rs256_verifies_only_rs256(
    client: FlaskClient, pinned: Ehr
) -> None:
    claims = {"iss": PINNED_ISS, "sub": "x", "aud": CLIENT_ID, "iat": int(time.time())}
    token = jwt.encode(claims | {"exp": 2**33}, pinned.key, "RS384", headers={"kid": "a-1"})
    _assert_401(client.post(API, json=SMALL_BODY, headers={"Authorization": f"Bearer {token}"}))


def test_hook_keys_still_refuse_an_rsa_key_declared_rs256(pinned: Ehr) -> None:
    """The hooks keep RS384/ES384 only (CDS Hooks); RS256 is the id_tokens' alone."""
    with pytest.raises(KeySetError, match="RS384"):
        parse_jwks(pinned.jwks(), strict=True)
    assert parse_jwks(pinned.jwks(), strict=True, rsa_algs=("RS256", "RS384")).get("a-1")


def test_finding8_serve_refuses_to_start_without_smart_issuers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pinned: Ehr
) -> None:
    """`icaht-cds serve` checks the configuration once, before forking workers."""
    clients = {
        "clients": [
            {
                "iss": PINNED_ISS,
                "jwks": Ehr(PINNED_ISS, "h", rsa_key=False).jwks(),
                "fhir_servers": ["https://ehr.test.invalid/fhir"],
            }
        ]
    }
    (tmp_path / "clients.json").write_text(json.dumps(clients))
    for name in ("ICAHT_CDS_AUTH", "ICAHT_CDS_ASSESSMENT_AUTH", "ICAHT_CDS_SMART_ISSUERS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ICAHT_CDS_CLIENTS", str(tmp_path / "clients.json"))
    assert "ICAHT_CDS_SMART_ISSUERS is not set" in (configuration_problem() or "")
    (tmp_path / "issuers.json").write_text(json.dumps({"issuers": [{"iss": PINNED_ISS}]}))
    monkeypatch.setenv("ICAHT_CDS_SMART_ISSUERS", str(tmp_path / "issuers.json"))
    assert "issuers[0].jwks_url|jwks" in (configuration_problem() or "")
    issuers = {"issuers": [{"iss": PINNED_ISS, "jwks": pinned.jwks()}]}
    (tmp_path / "issuers.json").write_text(json.dumps(issuers))
    assert configuration_problem() is None
    monkeypatch.setenv("ICAHT_CDS_ASSESSMENT_AUTH", "none")
    monkeypatch.delenv("ICAHT_CDS_SMART_ISSUERS")
    assert configuration_problem() is None


def test_issue_18_assessment_refusals_are_logged_with_their_reason_class(
    client: FlaskClient, pinned: Ehr, caplog: pytest.LogCaptureFixture
) -> None:
    """The assessment API's 401 and 403 reach the operators' log like the hooks' (issue 18)."""
    caplog.clear()
    expired = pinned.headers(exp=int(time.time()) - 120)
    assert client.post(API, json=SMALL_BODY, headers=expired).status_code == 401
    other = pinned.headers(patient="p-2")
    assert client.post(API, json=SMALL_BODY, headers=other).status_code == 403
    events = [
        dict(record.fields)  # type: ignore[attr-defined]
        for record in caplog.records
        if getattr(record, "event", None) == "refused"
    ]
    assert events == [
        {"route": "assessment", "status": 401, "reason": "expired"},
        {"route": "assessment", "status": 403, "reason": "patient_not_allowed"},
    ]
