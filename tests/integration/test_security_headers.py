"""Security headers, 401 answers and CORS (issue 13, finding 13; docs/decisions/0019).

Through Flask's test client for each rule, then once over real HTTP against the service under
gunicorn (`icaht-cds serve`, as deployed), where a proxy or server could add or drop headers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask
from flask.testing import FlaskClient

from cds_service.app import create_app
from cds_service.settings import Settings, SettingsError
from cds_service.smart import STATIC_DIR
from icaht_demo.fhir_server import free_port

PUBLIC_URL = "https://cds.test.invalid"
EHR = "https://ehr.test.invalid"
OTHER = "https://elsewhere.test.invalid"
API = "/api/v1/assessment"
HOOK = "/cds-services/icaht-patient-view"
METRICS_TOKEN = "a-metrics-token-for-the-header-tests-0123456789"
ISSUER = "https://ehr.headers.invalid"


@pytest.fixture(scope="module")
def clients_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    key = ec.generate_private_key(ec.SECP384R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    clients = {
        "clients": [
            {
                "iss": ISSUER,
                "jwks": {"keys": [jwk | {"kid": "k1", "alg": "ES384"}]},
                "fhir_servers": [f"{EHR}/fhir"],
            }
        ]
    }
    path = tmp_path_factory.mktemp("headers") / "clients.json"
    path.write_text(json.dumps(clients))
    return path


def _app(clients_file: Path, **settings: object) -> Flask:
    store = clients_file.parent / f"{uuid.uuid4()}.sqlite3"
    defaults: dict[str, object] = {
        "public_url": PUBLIC_URL,
        "auth": "jwt",
        "clients_path": str(clients_file),
        "database_url": f"sqlite:///{store}",
        # the assessment API's SMART id_token check (finding 8) is tested in its own files;
        # here only the headers of its answers matter
        "assessment_auth": "none",
    }
    return create_app(Settings(**(defaults | settings)))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def client(clients_file: Path) -> FlaskClient:
    app = _app(clients_file, cors_origins=(EHR,), frame_ancestors=(EHR,))
    return app.test_client()


def _directives(policy: str) -> dict[str, str]:
    pairs = (part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    return {pair[0]: pair[1] if len(pair) > 1 else "" for pair in pairs}


# -- Flask's test client -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/smart/index.html"),
        ("GET", "/smart/app.js"),
        ("GET", "/smart/config.json"),
        ("GET", "/smart/missing.js"),
        ("GET", "/healthz"),
        ("GET", "/cds-services"),
        ("POST", HOOK),
        ("POST", API),
        ("GET", "/metrics"),
    ],
)
def test_finding_13_every_answer_says_nosniff_and_no_referrer(
    client: FlaskClient, method: str, path: str
) -> None:
    response = client.open(path, method=method, json={})
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "Content-Security-Policy" in response.headers


def test_finding_13_smart_pages_run_only_their_own_files_framed_by_the_configured_ehr(
    client: FlaskClient,
) -> None:
    for page in ("index.html", "launch.html"):
        response = client.get(f"/smart/{page}")
        assert response.status_code == 200
        policy = _directives(response.headers["Content-Security-Policy"])
        assert policy["script-src"] == "'self'"  # no 'unsafe-inline', no 'unsafe-eval'
        assert policy["style-src"] == "'self'"
        assert policy["default-src"] == "'none'" and policy["object-src"] == "'none'"
        assert policy["frame-ancestors"] == f"'self' {EHR}"


def test_finding_13_frame_ancestors_default_to_self(clients_file: Path) -> None:
    response = _app(clients_file).test_client().get("/smart/index.html")
    assert _directives(response.headers["Content-Security-Policy"])["frame-ancestors"] == "'self'"


def test_finding_13_the_app_pages_hold_no_inline_script() -> None:
    """script-src 'self' would block it: every <script> of the app's pages has a src."""
    for page in ("index.html", "launch.html"):
        html = (STATIC_DIR / page).read_text()
        scripts = html.split("<script")[1:]
        assert scripts, page
        for script in scripts:
            opening, _, rest = script.partition(">")
            assert " src=" in opening, f"{page}: inline script"
            assert rest.startswith("</script>"), f"{page}: a script with a body"


def test_finding_13_data_answers_are_never_pages_and_never_cached(client: FlaskClient) -> None:
    for response in (
        client.post(API, json={"patientId": "p-1", "resources": []}),
        client.post(HOOK, json={}),
        client.get("/cds-services"),
    ):
        policy = _directives(response.headers["Content-Security-Policy"])
        assert policy == {"default-src": "'none'", "frame-ancestors": "'none'"}
        assert response.headers["Cache-Control"] == "no-store"


def test_finding_13_a_401_says_bearer_with_a_json_body_and_no_reason(
    client: FlaskClient,
) -> None:
    bodies = []
    for authorization in (None, "Bearer not-a-jwt", "Basic dXNlcjpwdw==", "Bearer a.b.c"):
        headers = {"Authorization": authorization} if authorization else {}
        response = client.post(HOOK, json={}, headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert response.mimetype == "application/json"
        bodies.append(response.get_json())
    assert bodies[0]["resourceType"] == "OperationOutcome"
    assert all(body == bodies[0] for body in bodies)  # one answer whatever the reason


def test_finding_13_cors_echoes_a_configured_origin_only(client: FlaskClient) -> None:
    preflight = {"Access-Control-Request-Method": "POST"}
    for path in (HOOK, API, "/cds-services"):
        allowed = client.options(path, headers={"Origin": EHR} | preflight)
        assert allowed.status_code == 204
        assert allowed.headers["Access-Control-Allow-Origin"] == EHR
        assert "Origin" in allowed.headers["Vary"]
        for origin in (OTHER, "null", f"{EHR}.evil.invalid", EHR.upper(), "*"):
            refused = client.options(path, headers={"Origin": origin} | preflight)
            assert "Access-Control-Allow-Origin" not in refused.headers, origin
            assert "Origin" in refused.headers["Vary"]
    answer = client.post(API, json={"patientId": "p-1", "resources": []}, headers={"Origin": EHR})
    assert answer.headers["Access-Control-Allow-Origin"] == EHR


def test_finding_13_cors_defaults_to_the_services_own_origin(clients_file: Path) -> None:
    client = _app(clients_file).test_client()
    own = client.options(API, headers={"Origin": PUBLIC_URL})
    assert own.headers["Access-Control-Allow-Origin"] == PUBLIC_URL
    assert "Access-Control-Allow-Origin" not in client.options(API, headers={"Origin": EHR}).headers


def test_finding_13_origin_settings_are_lists_of_origins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ICAHT_CDS_CORS_ORIGINS", "https://EHR.example:443, http://127.0.0.1:9000")
    monkeypatch.setenv("ICAHT_CDS_FRAME_ANCESTORS", "https://portal.example")
    settings = Settings.from_env()
    assert settings.cors_origins == ("https://ehr.example", "http://127.0.0.1:9000")
    assert settings.frame_ancestors == ("https://portal.example",)
    bad_values = ("*", "https://ehr.example/fhir", "ehr.example", "https://a.example;", "https://")
    for bad in bad_values:
        monkeypatch.setenv("ICAHT_CDS_CORS_ORIGINS", bad)
        with pytest.raises(SettingsError, match="ICAHT_CDS_CORS_ORIGINS"):
            Settings.from_env()


# -- over real HTTP, under gunicorn --------------------------------------------------------


@pytest.fixture(scope="module")
def served(clients_file: Path) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    workdir = clients_file.parent
    env = os.environ | {
        "ICAHT_CDS_PUBLIC_URL": url,
        "ICAHT_CDS_CLIENTS": str(clients_file),
        "ICAHT_CDS_DATABASE_URL": f"sqlite:///{workdir / 'served.sqlite3'}",
        "ICAHT_CDS_CORS_ORIGINS": EHR,
        "ICAHT_CDS_FRAME_ANCESTORS": EHR,
        "ICAHT_CDS_METRICS_TOKEN": METRICS_TOKEN,
        "ICAHT_CDS_ASSESSMENT_AUTH": "none",  # no SMART issuers here: finding 8 has its tests
    }
    command = [sys.executable, "-m", "icaht_cli", "serve", "--port", str(port)]
    log = (workdir / "service.log").open("ab")
    process = subprocess.Popen(
        [*command, "--workers", "2", "--state-dir", str(workdir)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(300):
            try:
                if requests.get(f"{url}/readyz", timeout=0.5).ok:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        else:
            raise AssertionError((workdir / "service.log").read_text()[-2000:])
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_finding_13_headers_over_http_under_gunicorn(served: str) -> None:
    page = requests.get(f"{served}/smart/index.html", timeout=10)
    assert page.status_code == 200
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    policy = _directives(page.headers["Content-Security-Policy"])
    assert policy["script-src"] == "'self'" and policy["frame-ancestors"] == f"'self' {EHR}"

    refused = requests.get(f"{served}/cds-services", timeout=10)
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == "Bearer"
    assert refused.headers["Content-Type"].startswith("application/json")
    assert refused.json()["resourceType"] == "OperationOutcome"

    preflight = {"Access-Control-Request-Method": "POST"}
    allowed = requests.options(f"{served}{API}", headers={"Origin": EHR} | preflight, timeout=10)
    assert allowed.headers["Access-Control-Allow-Origin"] == EHR
    assert "Origin" in allowed.headers["Vary"]
    other = requests.options(f"{served}{API}", headers={"Origin": OTHER} | preflight, timeout=10)
    assert "Access-Control-Allow-Origin" not in other.headers

    answer = requests.post(f"{served}{API}", json={"patientId": "p-1", "resources": []}, timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_finding_6_metrics_over_http_under_gunicorn_need_the_token(served: str) -> None:
    """The public port serves /metrics only with the token (gunicorn, multiprocess mode)."""
    for headers in ({}, {"Authorization": "Bearer " + "x" * 48}):
        refused = requests.get(f"{served}/metrics", headers=headers, timeout=10)
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"] == "Bearer"
        assert "icaht_" not in refused.text
    page = requests.get(
        f"{served}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10
    )
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/plain")


def test_issue_18_cors_answers_each_of_two_configured_origins_with_itself(
    clients_file: Path,
) -> None:
    """ICAHT_CDS_CORS_ORIGINS as a list (decision 0019): each configured origin is echoed (not
    the first, not a joined list), with `Vary: Origin`; a third origin gets no CORS header."""
    second = "http://127.0.0.1:8088"  # e.g. a CDS Hooks Sandbox served locally
    client = _app(clients_file, cors_origins=(EHR, second)).test_client()
    preflight = {"Access-Control-Request-Method": "POST"}
    for origin in (EHR, second):
        for response in (
            client.options(HOOK, headers={"Origin": origin} | preflight),
            client.get("/cds-services", headers={"Origin": origin}),  # a 401, still CORS
        ):
            assert response.headers["Access-Control-Allow-Origin"] == origin
            assert "Origin" in response.headers["Vary"]
    other = client.options(HOOK, headers={"Origin": OTHER} | preflight)
    assert "Access-Control-Allow-Origin" not in other.headers
    assert "Origin" in other.headers["Vary"]


def test_issue_18_discovery_without_a_jwt_when_configured(clients_file: Path) -> None:
    """ICAHT_CDS_DISCOVERY_AUTH=none: GET /cds-services answers bare (EHR set-up tools fetch it
    so); the hooks and feedback still need the JWT. Default (jwt): discovery needs it too."""
    open_discovery = _app(clients_file, discovery_auth="none").test_client()
    listed = open_discovery.get("/cds-services")
    assert listed.status_code == 200
    assert {s["id"] for s in listed.get_json()["services"]} == {
        "icaht-patient-view",
        "icaht-order-select",
        "icaht-order-sign",
    }
    assert open_discovery.post(HOOK, json={}).status_code == 401
    assert open_discovery.post(f"{HOOK}/feedback", json={}).status_code == 401
    closed = _app(clients_file).test_client()
    assert closed.get("/cds-services").status_code == 401


def test_issue_18_discovery_auth_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ICAHT_CDS_DISCOVERY_AUTH", raising=False)
    assert Settings.from_env().discovery_auth == "jwt"
    monkeypatch.setenv("ICAHT_CDS_DISCOVERY_AUTH", "None")
    assert Settings.from_env().discovery_auth == "none"
    monkeypatch.setenv("ICAHT_CDS_DISCOVERY_AUTH", "off")
    with pytest.raises(SettingsError, match="ICAHT_CDS_DISCOVERY_AUTH"):
        Settings.from_env()
