"""The official CDS Hooks Sandbox (the reference EHR client, cds-hooks/sandbox 3b7e255) driven in
Debian's Chromium against the service with JWT authentication on (issue 18).

Real parts: the Sandbox's own build (vendored in tests/e2e/vendor/cds-hooks-sandbox by
scripts/refresh_cds_hooks_sandbox.sh, checked against its sha256 manifest before it is served),
served from a static HTTP server on 127.0.0.1; the service (werkzeug, clock pinned to the
stories' date) whose clients file pins the Sandbox's published public key inline, for the
Sandbox's issuer, with the local FHIR server as its only FHIR server; the session's real FHIR
server (sekmet, which answers CORS itself) holding the demo's story patients. The Sandbox signs
its ES384 tokens in the browser with a `jku` that names sandbox.cds-hooks.org: the service
must verify them with the pinned key and fetch nothing.

The Sandbox is configured as its users do, through its query parameters (fhirServiceUrl,
patientId, serviceDiscoveryURL); it reads the FHIR server, prefetches and calls the hooks from
the browser. Every request to a host other than 127.0.0.1 is aborted (Playwright routing); the
only one the Sandbox makes is its default discovery endpoint, which the flow does not need.
Decision record: docs/decisions/0027.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

import jwt
import pytest
from integration.served import serve_pinned
from playwright.sync_api import Browser, Locator, Page, Response, Route, expect, sync_playwright
from smart_browser import BrowserMissingError, launch_chromium

from cds_service.cards import ASSESSMENT_KEY, RULE_KEY
from cds_service.concerns import CONCERN_KEY
from cds_service.settings import Settings
from cds_service.store import Store
from icaht_demo.fhir_server import LocalFhirServer, free_port
from icaht_demo.synthetic.loader import seed_cohort
from icaht_demo.synthetic.stories import story_patients

pytestmark = pytest.mark.fhir_server

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "tests" / "e2e" / "vendor" / "cds-hooks-sandbox"
REFRESH_SCRIPT = ROOT / "scripts" / "refresh_cds_hooks_sandbox.sh"
MANIFEST = "SHA256SUMS"
# the Sandbox's identity, from its source (src/retrieve-data-helpers/jwt-generator.js)
SANDBOX_ISS = "https://sandbox.cds-hooks.org"
SANDBOX_JKU = "https://sandbox.cds-hooks.org/.well-known/jwks.json"
# the discovery endpoint the Sandbox always asks as well (src/reducers/cds-services-reducers.js)
SANDBOX_DEFAULT_DISCOVERY = "https://sandbox-services.cds-hooks.org/cds-services"
SERVICES = ("icaht-patient-view", "icaht-order-select", "icaht-order-sign")
TZ = "Europe/Berlin"  # the demo's time zone (icaht_demo/runner.py DEMO_TIMEZONE)
ANCHOR = date(2026, 6, 1)  # the service's pinned date: every story is on its day
# the demo's order-sign story: day +40, platelets 8 x10^9/L today (M14, among others)
PATIENT = "icaht-story-transfusion-day40"
# RxNorm 855332, an entry of the Sandbox's static medication list (src/assets/medication-list.js)
WARFARIN = "Warfarin Sodium 5 MG Oral Tablet"
WARFARIN_RXNORM = "855332"


# --------------------------------------------------------------------- the vendored build


def manifest_mismatches(directory: Path) -> list[str]:
    """What differs between the vendored files and SHA256SUMS: a changed, missing or unlisted
    file (the manifest and VERSIONS.md themselves are not listed)."""
    listed: dict[str, str] = {}
    for line in (directory / MANIFEST).read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        listed[name] = digest
    problems = []
    for name, digest in listed.items():
        path = directory / name
        if not path.is_file():
            problems.append(f"missing: {name}")
        elif hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            problems.append(f"sha256 differs: {name}")
    present = {p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file()} - {
        MANIFEST,
        "VERSIONS.md",
    }
    problems += [f"not in {MANIFEST}: {name}" for name in sorted(present - set(listed))]
    return problems


def test_the_vendored_sandbox_is_the_pinned_build_with_its_licence() -> None:
    assert manifest_mismatches(VENDOR) == []
    assert {"LICENSE", "NOTICE", "app.bundle.js.LICENSE.txt"} <= {p.name for p in VENDOR.iterdir()}
    assert "Apache License" in (VENDOR / "LICENSE").read_text()
    pinned = re.search(r"^SANDBOX_COMMIT=([0-9a-f]{40})$", REFRESH_SCRIPT.read_text(), re.M)
    assert pinned is not None, "the refresh script pins no commit"
    assert f"commit `{pinned[1]}`" in (VENDOR / "VERSIONS.md").read_text()


def test_a_changed_vendored_file_is_reported(tmp_path: Path) -> None:
    copy = tmp_path / "sandbox"
    for name in ("SHA256SUMS", "index.html", "launch.html"):
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / name).write_bytes((VENDOR / name).read_bytes())
    (copy / "index.html").write_text("<script src='https://example.invalid/x.js'></script>")
    (copy / "extra.js").write_text("")
    problems = manifest_mismatches(copy)
    assert "sha256 differs: index.html" in problems
    assert "missing: app.bundle.js" in problems
    assert "not in SHA256SUMS: extra.js" in problems
    assert not any("launch.html" in p for p in problems)


# ------------------------------------------------------------------------------ fixtures


def pinned_clock(zone: ZoneInfo) -> datetime:
    return datetime.combine(ANCHOR, time(12), zone)


class _StaticFiles(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def sandbox_origin() -> Iterator[str]:
    """The vendored Sandbox on its own origin (as sandbox.cds-hooks.org is), once its files
    are checked against the manifest: a tampered or half-refreshed build fails here."""
    problems = manifest_mismatches(VENDOR)
    if problems:
        pytest.fail(f"the vendored Sandbox does not match {MANIFEST}: {problems}", pytrace=False)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_StaticFiles, directory=str(VENDOR)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def stories_server(fhir_server: LocalFhirServer) -> LocalFhirServer:
    """The demo's story patients, dated to ANCHOR, in the session's FHIR server."""
    seed_cohort(fhir_server.base_url, story_patients(ANCHOR))
    return fhir_server


@pytest.fixture(scope="module")
def sandbox_store_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A store of this module's own: the overrides the Sandbox records stay here."""
    return f"sqlite:///{tmp_path_factory.mktemp('sandbox-store') / 'icaht-cds.sqlite3'}"


@pytest.fixture(scope="module")
def service_url(
    stories_server: LocalFhirServer,
    sandbox_origin: str,
    sandbox_store_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """The service with JWT authentication on: one client, the Sandbox, its published public
    key pinned inline (no jwks_url: nothing to fetch), the local FHIR server its only one; the
    Sandbox's origin allowed by CORS."""
    jwks = json.loads((VENDOR / ".well-known" / "jwks.json").read_text())
    client = {"iss": SANDBOX_ISS, "jwks": jwks, "fhir_servers": [stories_server.base_url]}
    clients = tmp_path_factory.mktemp("sandbox-client") / "clients.json"
    clients.write_text(json.dumps({"clients": [client]}))
    port = free_port()
    settings = Settings(
        auth="jwt",
        public_url=f"http://127.0.0.1:{port}",
        clients_path=str(clients),
        database_url=sandbox_store_url,
        timezone=TZ,
        cors_origins=(sandbox_origin,),
        assessment_auth="none",  # the Sandbox calls no assessment API
    )
    with serve_pinned(settings, pinned_clock, port) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        try:
            chromium = launch_chromium(playwright)
        except BrowserMissingError as error:
            pytest.fail(str(error), pytrace=False)
        yield chromium
        chromium.close()


@dataclass
class Traffic:
    """What the page asked for: the requests aborted because they left 127.0.0.1, and the
    service's answers that were not 200."""

    blocked: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


@pytest.fixture
def sandbox(browser: Browser, service_url: str) -> Iterator[tuple[Page, Traffic]]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    traffic = Traffic()

    def local_only(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            traffic.blocked.append(route.request.url)
            route.abort()

    context.route("**/*", local_only)
    page = context.new_page()
    page.on(
        "response",
        lambda r: (
            traffic.refused.append(f"{r.status} {r.url}")
            if r.url.startswith(service_url) and r.status != 200
            else None
        ),
    )
    yield page, traffic
    context.close()
    # the Sandbox's default discovery endpoint is the only outside call, and no step needed it
    assert set(traffic.blocked) <= {SANDBOX_DEFAULT_DISCOVERY}, traffic.blocked
    assert traffic.refused == [], "the service refused a call of the Sandbox"


def _hook_call(service_url: str, service: str) -> Callable[[Response], bool]:
    url = f"{service_url}/cds-services/{service}"
    return lambda r: r.url == url and r.request.method == "POST"


def _open(page: Page, sandbox_origin: str, service_url: str, fhir_url: str) -> Response:
    """The Sandbox on the local FHIR server, patient and discovery endpoint; the answer of its
    first patient-view call."""
    query = urlencode(
        {
            "fhirServiceUrl": fhir_url,
            "patientId": PATIENT,
            "serviceDiscoveryURL": f"{service_url}/cds-services",
            "hook": "patient-view",
        }
    )
    with page.expect_response(_hook_call(service_url, "icaht-patient-view")) as answer:
        page.goto(f"{sandbox_origin}/index.html?{query}")
    return answer.value


def _card(page: Page, summary: str) -> Locator:
    return page.locator(".MuiCard-root", has_text=summary)


def _rules(cards: list[dict[str, Any]]) -> list[str]:
    return [c["extension"][RULE_KEY] for c in cards if RULE_KEY in c["extension"]]


# --------------------------------------------------------------------------------- tests


def test_discovery_lists_the_three_services(
    sandbox: tuple[Page, Traffic],
    sandbox_origin: str,
    service_url: str,
    stories_server: LocalFhirServer,
) -> None:
    page, _ = sandbox
    discovery_url = f"{service_url}/cds-services"
    with page.expect_response(lambda r: r.url == discovery_url) as discovered:
        _open(page, sandbox_origin, service_url, stories_server.base_url)
    answer = discovered.value
    assert answer.status == 200
    assert answer.headers["access-control-allow-origin"] == sandbox_origin
    # the token as the Sandbox signs it: ES384, its kid, a jku the service must not fetch
    header = jwt.get_unverified_header(answer.request.headers["authorization"].split()[1])
    assert (header["alg"], header["jku"]) == ("ES384", SANDBOX_JKU)
    assert [s["id"] for s in answer.json()["services"]] == list(SERVICES)

    page.locator("header button").last.click()  # the settings gear
    page.get_by_role("menuitem", name="Configure CDS Services").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_role("button", name="Delete")).to_have_count(len(SERVICES))
    listed = dialog.inner_text()
    for service in SERVICES:
        assert f"{service_url}/cds-services/{service}" in listed


def test_patient_view_cards_and_an_override_withheld_on_reload(
    sandbox: tuple[Page, Traffic],
    sandbox_origin: str,
    service_url: str,
    stories_server: LocalFhirServer,
    sandbox_store_url: str,
) -> None:
    page, _ = sandbox
    cards = _open(page, sandbox_origin, service_url, stories_server.base_url).json()["cards"]
    [status] = [c for c in cards if RULE_KEY not in c["extension"]]
    assert ASSESSMENT_KEY in status["extension"]
    assert "M14" in _rules(cards)  # platelets 8 x10^9/L today: below the transfusion threshold
    for card in cards:  # every card rendered by the Sandbox
        expect(_card(page, card["summary"])).to_have_count(1)

    # dismiss the M14 card with its first override reason, from the card's dismiss menu
    [alert] = [c for c in cards if c["extension"].get(RULE_KEY) == "M14"]
    reason = alert["overrideReasons"][0]
    _card(page, alert["summary"]).get_by_role("button", name="select dismiss reason").click()
    feedback_url = f"{service_url}/cds-services/icaht-patient-view/feedback"
    with page.expect_response(feedback_url) as sent:
        page.get_by_role("menuitem", name=f"Override: {reason['display']}").click()
    assert sent.value.status == 200
    [entry] = json.loads(sent.value.request.post_data or "{}")["feedback"]
    assert entry["card"] == alert["uuid"] and entry["outcome"] == "overridden"
    assert entry["overrideReason"]["reason"]["code"] == reason["code"]
    expect(_card(page, alert["summary"])).to_have_count(0)

    # the store has the feedback and the override of this client, for this patient
    store = Store(sandbox_store_url)
    try:
        [row] = store.feedback_rows(alert["uuid"])
        assert (row["outcome"], row["override_reason_code"]) == ("overridden", reason["code"])
        overridden = store.overridden_concerns("icaht-patient-view", PATIENT, client=SANDBOX_ISS)
        assert alert["extension"][CONCERN_KEY] in overridden
    finally:
        store.close()

    # on reload the service withholds the overridden card; the others are shown again
    with page.expect_response(_hook_call(service_url, "icaht-patient-view")) as again:
        page.reload()
    shown = again.value.json()["cards"]
    concerns = [c["extension"].get(CONCERN_KEY) for c in shown]
    assert alert["extension"][CONCERN_KEY] not in concerns
    assert "M14" not in _rules(shown)
    assert [c["summary"] for c in shown if RULE_KEY not in c["extension"]] == [status["summary"]]
    assert sorted(_rules(shown)) == sorted(r for r in _rules(cards) if r != "M14")
    for card in shown:
        expect(_card(page, card["summary"])).to_have_count(1)
    expect(_card(page, alert["summary"])).to_have_count(0)
    store = Store(sandbox_store_url)
    try:
        withheld = [
            r
            for r in store.audit_rows()
            if r["concern_key"] == alert["extension"][CONCERN_KEY] and r["withheld"]
        ]
    finally:
        store.close()
    assert withheld, "the service did not record the withheld card"


def _draft_medication(request_body: str | None) -> dict[str, Any]:
    [entry] = json.loads(request_body or "{}")["context"]["draftOrders"]["entry"]
    resource: dict[str, Any] = entry["resource"]
    return resource


def test_order_select_and_order_sign_warn_of_warfarin_with_low_platelets(
    sandbox: tuple[Page, Traffic],
    sandbox_origin: str,
    service_url: str,
    stories_server: LocalFhirServer,
) -> None:
    page, _ = sandbox
    _open(page, sandbox_origin, service_url, stories_server.base_url)

    # Rx View (order-select): warfarin from the Sandbox's own medication list
    page.get_by_role("button", name="Rx View").click()
    page.locator("input[name=medication-input]").fill("warfarin")

    def warfarin_call(service: str) -> Callable[[Response], bool]:
        hook = _hook_call(service_url, service)
        return lambda r: hook(r) and WARFARIN_RXNORM in (r.request.post_data or "")

    with page.expect_response(warfarin_call("icaht-order-select")) as selected:
        page.get_by_role("button", name=WARFARIN, exact=True).click()
    order = _draft_medication(selected.value.request.post_data)
    [coding] = order["medicationCodeableConcept"]["coding"]
    assert (coding["system"], coding["code"]) == (
        "http://www.nlm.nih.gov/research/umls/rxnorm",
        WARFARIN_RXNORM,
    )
    [m21] = [c for c in selected.value.json()["cards"] if c["extension"].get(RULE_KEY) == "M21"]
    assert "platelets 8 x10^9/L (< 50)" in m21["summary"]
    expect(_card(page, m21["summary"])).to_have_count(1)

    # Rx Sign (order-sign): the same order, signed
    page.get_by_role("button", name="Rx Sign").click()
    with page.expect_response(warfarin_call("icaht-order-sign")) as signed:
        page.get_by_role("button", name="Sign Order").click()
    assert (
        _draft_medication(signed.value.request.post_data)["medicationCodeableConcept"]
        == (order["medicationCodeableConcept"])
    )
    [m21] = [c for c in signed.value.json()["cards"] if c["extension"].get(RULE_KEY) == "M21"]
    assert "platelets 8 x10^9/L (< 50)" in m21["summary"]
    expect(_card(page, m21["summary"])).to_have_count(1)
