"""The SMART app in a real browser: Debian's Chromium (Playwright), the service serving the app and
its assessment API, a test EHR (authlib authorization server + token-checking FHIR gateway,
tests/smart_auth_server.py) and the real FHIR server holding the synthetic cohort.

Every launch is a full SMART App Launch 2 round trip: launch.html -> discovery -> authorize (PKCE
S256) -> index.html -> token (with an RS256 id_token) -> FHIR reads with the bearer token -> POST
/api/v1/assessment with the id_token, which the service verifies against the test EHR's published
JWKS (issue 13, finding 8) -> chart. What the page shows is checked against the synthetic
patient's designed course and the service's answer; one screenshot per course goes to
.state/artefacts/smart/.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import pairwise
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlparse

import jwt
import pytest
import requests
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from playwright.sync_api import Browser, Page, Playwright, Request, Route, sync_playwright
from smart_auth_server import SmartTestEhr, authorize_url
from smart_browser import BrowserMissingError, launch_chromium
from werkzeug.serving import BaseWSGIServer, make_server

from cds_service.app import create_app
from cds_service.cards import ASSESSMENT_KEY
from cds_service.settings import Settings
from icaht_demo.fhir_server import LocalFhirServer, free_port
from icaht_demo.synthetic import SyntheticPatient
from icaht_demo.synthetic.generator import CENTRE_TZ
from icaht_demo.synthetic.loader import seed_cohort
from icaht_demo.synthetic.stories import story_patients

pytestmark = pytest.mark.fhir_server

CLIENT_ID = "icaht-cds-smart"
TEST_USER = "Practitioner/test-clinician"
EVALUATION_DATE = "2026-06-01"  # the cohort's anchor: every chosen course is complete by then
APP_CONTEXT = json.dumps({"evaluationDate": EVALUATION_DATE})
ANC_LOINC = "751-8"
# messy records that change which ANC days count as measured; the chosen patients have none
ANC_MESSY = {"anc-10*3/uL", "anc-less-than", "entered-in-error", "duplicate", "no-unit"}
ARTEFACTS = Path(__file__).resolve().parents[2] / ".state" / "artefacts" / "smart"
READY = "body[data-state='ready'], body[data-state='error']"


# ------------------------------------------------------------------------------- fixtures


class FramingPages:
    """An EHR's page showing the app in an iframe (CSP frame-ancestors, issue 13 finding 13),
    on loopback: Chromium's local network access checks refuse a public page framing a
    loopback app. Reached as 127.0.0.1 it is the EHR origin the service allows; as localhost,
    another origin."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                app_url = parse_qs(urlparse(self.path).query)["app"][0]
                page = f'<!doctype html><title>EHR</title><iframe src="{escape(app_url)}"></iframe>'
                body = page.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        port = self.server.server_address[1]
        self.ehr_origin = f"http://127.0.0.1:{port}"
        self.other_origin = f"http://localhost:{port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def chart(self, origin: str, app_url: str) -> str:
        return f"{origin}/chart?{urlencode({'app': app_url})}"


@pytest.fixture(scope="module")
def framing() -> Iterator[FramingPages]:
    pages = FramingPages()
    yield pages
    pages.server.shutdown()
    pages.server.server_close()


class ServedApp:
    """The service in a thread on a free port: the hooks without JWTs (the tests call them
    directly), the assessment API as configured (the test EHR's id_tokens, or open for the
    demo's open-server launch)."""

    def __init__(
        self,
        database_url: str,
        port: int,
        frame_ancestors: tuple[str, ...] = (),
        **assessment: Any,
    ) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{self.port}"
        settings = Settings(
            auth="none",
            public_url=self.url,
            database_url=database_url,
            timezone="Europe/Berlin",
            frame_ancestors=frame_ancestors,
            **assessment,
        )
        self.server: BaseWSGIServer = make_server(
            "127.0.0.1", self.port, create_app(settings), threaded=True
        )
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def launch_url(self, **params: str) -> str:
        return f"{self.url}/smart/launch.html?{urlencode(params)}"


@pytest.fixture(scope="module")
def service_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def ehr(seeded_fhir_server: LocalFhirServer, service_port: int) -> Iterator[SmartTestEhr]:
    redirect_prefix = f"http://127.0.0.1:{service_port}/smart/"
    test_ehr = SmartTestEhr(seeded_fhir_server.base_url, CLIENT_ID, redirect_prefix)
    test_ehr.start()
    yield test_ehr
    test_ehr.stop()


def _serve(served: ServedApp) -> Iterator[ServedApp]:
    served.thread.start()
    yield served
    served.server.shutdown()
    served.server.server_close()


@pytest.fixture(scope="module")
def service(
    database_url: str,
    service_port: int,
    ehr: SmartTestEhr,
    framing: FramingPages,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServedApp]:
    """The assessment API checks the test EHR's id_tokens against its published JWKS."""
    issuers = tmp_path_factory.mktemp("smart-issuers") / "smart-issuers.json"
    issuers.write_text(json.dumps({"issuers": [{"iss": ehr.url, "jwks_url": ehr.jwks_url}]}))
    yield from _serve(
        ServedApp(
            database_url,
            service_port,
            frame_ancestors=(framing.ehr_origin,),
            assessment_auth="smart",
            smart_issuers_path=str(issuers),
        )
    )


@pytest.fixture(scope="module")
def demo_service(database_url: str, framing: FramingPages) -> Iterator[ServedApp]:
    """As `icaht-cds demo` runs it: the open-server launch has no EHR and no id_token."""
    served = ServedApp(
        database_url, free_port(), frame_ancestors=(framing.ehr_origin,), assessment_auth="none"
    )
    yield from _serve(served)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        yield _chromium(playwright)


def _chromium(playwright: Playwright) -> Browser:
    try:
        return launch_chromium(playwright)
    except BrowserMissingError as error:
        pytest.fail(str(error), pytrace=False)


def _watch_csp(page: Page) -> list[str]:
    """Console messages of Content-Security-Policy violations (blocked scripts, styles, eval,
    frames): the app runs under the service's CSP and must cause none (issue 13 finding 13)."""
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    return violations


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    opened = context.new_page()
    violations = _watch_csp(opened)
    yield opened
    context.close()
    assert violations == [], "the app broke its Content-Security-Policy"


def _course(cohort: list[SyntheticPatient], course: str) -> SyntheticPatient:
    """The first completed course of this kind without edge cases or messy ANC records."""
    for patient in cohort:
        plan = patient.plan
        clean = not ANC_MESSY & set(plan.messy)
        if plan.course == course and plan.edge is None and not plan.ongoing and clean:
            return patient
    raise AssertionError(f"the test cohort has no clean {course} course")


def _launch(page: Page, service: ServedApp, ehr: SmartTestEhr, launch: str) -> dict[str, Any]:
    """An EHR launch in the browser; returns the service's assessment as the page received it."""
    with page.expect_response(f"{service.url}/api/v1/assessment") as answer:
        page.goto(service.launch_url(iss=ehr.fhir_base, launch=launch))
    page.wait_for_selector("body[data-state='ready']")
    assessment: dict[str, Any] = answer.value.json()
    return assessment


def _measured_anc_days(patient: SyntheticPatient) -> int:
    """Days -7..+100 with an ANC result, counted from the FHIR resources (not from the app)."""
    day0 = patient.plan.day0
    days = set()
    for resource in patient.resources():
        codes = [c.get("code") for c in resource.get("code", {}).get("coding", [])]
        if resource["resourceType"] != "Observation" or ANC_LOINC not in codes:
            continue
        taken = datetime.fromisoformat(resource["effectiveDateTime"]).astimezone(CENTRE_TZ)
        day = (taken.date() - day0).days
        if -7 <= day <= 100 and taken.date() <= date.fromisoformat(EVALUATION_DATE):
            days.add(day)
    return len(days)


def _patient_view_cards(
    service: ServedApp, server: LocalFhirServer, patient_id: str
) -> list[dict[str, Any]]:
    """The cards of a patient-view call that names the FHIR server (auth off in this service)."""
    hook = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "fhirServer": server.base_url,
        "context": {"userId": TEST_USER, "patientId": patient_id},
    }
    answer = requests.post(f"{service.url}/cds-services/icaht-patient-view", json=hook, timeout=30)
    assert answer.status_code == 200, answer.text
    cards: list[dict[str, Any]] = answer.json()["cards"]
    return cards


def _pixel(page: Page, series: str, day: float, height_share: float) -> list[int]:
    """RGBA of the chart's canvas at a day, a share of the plot height below its top."""
    pixel: list[int] = page.eval_on_selector(
        f"figure[data-series='{series}']",
        """(figure, [day, share]) => {
            const u = figure.plot;
            const x = Math.round(u.valToPos(day, "x", true));
            const y = Math.round(u.bbox.top + u.bbox.height * share);
            return Array.from(u.ctx.getImageData(x, y, 1, 1).data);
        }""",
        [day, height_share],
    )
    return pixel


def _platelets_shaded(page: Page, day: float) -> bool:
    """Whether the platelet chart is shaded at a day: any of nine points down the plot is reddish
    (the curve may cross some of them); points within 3 px of the red 50, 20 and 10 x10^9/L
    lines are not sampled."""
    pixels: list[list[int]] = page.eval_on_selector(
        "figure[data-series='platelets']",
        """(figure, day) => {
            const u = figure.plot;
            const x = Math.round(u.valToPos(day, "x", true));
            const lines = [50, 20, 10].map((v) => u.valToPos(v, "y", true));
            const out = [];
            for (let i = 1; i < 10; i++) {
                const y = Math.round(u.bbox.top + u.bbox.height * i / 10);
                if (lines.some((l) => Math.abs(l - y) <= 3 * devicePixelRatio)) continue;
                out.push(Array.from(u.ctx.getImageData(x, y, 1, 1).data));
            }
            return out;
        }""",
        day,
    )
    return any(_reddish(p) for p in pixels)


def _reddish(rgba: list[int]) -> bool:
    red, _, blue, alpha = rgba
    return alpha > 0 and red > blue + 40


def _screenshot(page: Page, name: str) -> Path:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTEFACTS / name
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


# ------------------------------------------------------------------------------------ tests


@pytest.mark.parametrize("course", ["quick", "intermittent", "aplastic"])
def test_ehr_launch_draws_the_course(
    page: Page,
    service: ServedApp,
    ehr: SmartTestEhr,
    synthetic_cohort: list[SyntheticPatient],
    course: str,
) -> None:
    patient = _course(synthetic_cohort, course)
    plan = patient.plan
    launch = ehr.register_launch(patient.patient_id, app_context=APP_CONTEXT)

    assessment = _launch(page, service, ehr, launch)

    # the grade the design implies, written in the summary and on the chart
    early = page.locator("#early-grade")
    assert early.get_attribute("data-grade") == str(plan.expected_early_grade)
    assert early.get_attribute("data-status") == plan.expected_early_status
    assert f"grade {plan.expected_early_grade}" in early.inner_text()
    assert assessment["evaluationDate"] == EVALUATION_DATE  # the appContext reached the API
    assert assessment["infusionDate"] == plan.day0.isoformat()
    # one point per day the engine used, and every point in the accessible table
    for series in ("anc", "platelets", "hemoglobin"):
        figure = page.locator(f"figure[data-series='{series}']")
        points = assessment["series"][series]["points"]
        assert points, f"{series}: no points"
        assert figure.get_attribute("data-points") == str(len(points))
        assert figure.locator("tbody tr").count() == len(points)
        filled = [p for p in points if p["kind"] != "measured"]
        assert figure.locator("tbody tr:not([data-kind='measured'])").count() == len(filled)
    anc = page.locator("figure[data-series='anc']")
    assert anc.get_attribute("data-measured") == str(_measured_anc_days(patient))
    # the severe episode of the design is shaded where it lies, and nothing after it
    severe = [e for e in assessment["episodes"] if e["threshold"] == 500]
    assert severe, "the course has a severe episode by design"
    longest = max(severe, key=lambda e: e["endDay"] - e["startDay"])
    assert longest["endDay"] - longest["startDay"] + 1 >= plan.severe_days
    shown = json.loads(page.locator("#episodes").get_attribute("data-episodes") or "[]")
    assert shown == [[e["threshold"], e["startDay"], e["endDay"]] for e in assessment["episodes"]]
    middle = (longest["startDay"] + longest["endDay"]) / 2
    assert _reddish(_pixel(page, "anc", middle, 0.2)), "the episode is not shaded"
    after = max(e["endDay"] for e in assessment["episodes"]) + 20.5
    assert not _reddish(_pixel(page, "anc", after, 0.2)), "shading outside the episodes"
    # alerts with their sources, the observations left out
    assert page.locator("#alerts li.alert").count() == len(assessment["alerts"])
    for alert in assessment["alerts"]:
        assert (
            alert["source"]
            in page.locator(f"#alerts li[data-rule='{alert['ruleId']}']").first.inner_text()
        )
    assert page.locator("#left-out li").count() == max(1, len(assessment["leftOut"]))
    assert "fhir-401" not in ehr.events
    _screenshot(page, f"smart-app-{course}.png")


def _t_icaht_patient(
    service: ServedApp, server: LocalFhirServer, cohort: list[SyntheticPatient]
) -> tuple[SyntheticPatient, dict[str, Any]]:
    """The first patient whose patient-view card grades early T-ICAHT >= 2 (days < 50 x10^9/L
    to shade), with the card's facts (issue 19)."""
    for patient in cohort[:40]:
        for card in _patient_view_cards(service, server, patient.patient_id):
            facts: dict[str, Any] = card["extension"].get(ASSESSMENT_KEY, {})
            if "t_early_grade" in facts and facts["t_early_grade"] >= 2:
                return patient, facts
    raise AssertionError("no patient of the test cohort has early T-ICAHT >= 2")


def test_t_icaht_tiles_and_platelet_shading_follow_the_card(
    page: Page,
    service: ServedApp,
    ehr: SmartTestEhr,
    seeded_fhir_server: LocalFhirServer,
    synthetic_cohort: list[SyntheticPatient],
) -> None:
    """Issue 19: the header tiles show the T-ICAHT grades the status card names, and the platelet
    chart shades the days < 50 and < 20 x10^9/L as the ANC chart shades its episodes."""
    patient, facts = _t_icaht_patient(service, seeded_fhir_server, synthetic_cohort)
    assessment = _launch(page, service, ehr, ehr.register_launch(patient.patient_id))

    t_icaht = assessment["tIcaht"]
    assert t_icaht["early"]["grade"] == facts["t_early_grade"]
    assert t_icaht["late"]["grade"] == facts.get("t_late_grade")
    tile = page.locator("#t-early-grade")
    assert tile.get_attribute("data-grade") == str(facts["t_early_grade"])
    assert tile.get_attribute("data-status") == facts["t_early_status"]
    assert f"grade {facts['t_early_grade']}" in tile.inner_text()
    late_tile = page.locator("#t-late-grade")
    if "t_late_grade" in facts:
        assert late_tile.get_attribute("data-grade") == str(facts["t_late_grade"])
    else:
        assert late_tile.get_attribute("data-grade") is None
    assert "N-ICAHT" in page.locator("#summary").inner_text()
    assert page.locator("#t-icaht-text").inner_text() == f"T-ICAHT: {t_icaht['text']}"

    bands = assessment["plateletBands"]
    shown = json.loads(page.locator("#platelet-bands").get_attribute("data-bands") or "[]")
    assert shown == [[b["threshold"], b["startDay"], b["endDay"]] for b in bands]
    early = [b for b in bands if b["window"] == "early" and b["threshold"] == 50]
    assert sum(b["endDay"] - b["startDay"] + 1 for b in early) == t_icaht["early"]["daysBelow50"]
    banded = {d for b in bands for d in range(b["startDay"], b["endDay"] + 1)}
    # inside a band (off the dashed day-0/day-30 markers) shaded; far from every band not
    inside = next(
        d for d in sorted(banded) if d not in (0, assessment["thresholds"]["earlyEndDay"])
    )
    assert _platelets_shaded(page, inside + 0.3), "the band is not shaded"
    clear = [d for d in range(1, 100) if not banded & {d - 1, d, d + 1} and d != 30]
    assert clear, "the course has platelets < 50 x10^9/L on every day"
    assert not _platelets_shaded(page, clear[0] + 0.3), "shading outside the bands"
    _screenshot(page, "smart-app-t-icaht.png")


HAND_BUILT_T_ICAHT = {  # issue 19: as the API answers it, independent of the engine's grading
    "early": {
        "grade": 4,
        "status": "final",
        "lowerBound": False,
        "daysBelow50": 20,
        "daysBelow20": 15,
    },
    "late": {
        "grade": 3,
        "confirmed": True,
        "status": "final",
        "nadir": 12.0,
        "nadirDay": 45,
        "daysBelow20": 5,
    },
    "recoveryDay": None,
    "postTransfusionValuesUsed": False,
    "text": "early 4 (final): platelets < 50 x10^9/L on 20 days, < 20 x10^9/L on 15 days",
}
HAND_BUILT_BANDS = [
    {"threshold": 50, "window": "early", "startDay": 3, "endDay": 22},
    {"threshold": 20, "window": "early", "startDay": 6, "endDay": 20},
    {"threshold": 50, "window": "late", "startDay": 42, "endDay": 48},
    {"threshold": 20, "window": "late", "startDay": 43, "endDay": 47},
]


def test_the_app_draws_a_t_icaht_answer(
    page: Page, service: ServedApp, ehr: SmartTestEhr, synthetic_cohort: list[SyntheticPatient]
) -> None:
    """The app's side of issue 19 with the service's answer given T-ICAHT by hand (the route
    adds it): tiles, text, the band list and the shading of the platelet chart."""
    patient = _course(synthetic_cohort, "quick")

    def with_t_icaht(route: Route) -> None:
        answer = route.fetch().json()
        answer["tIcaht"] = HAND_BUILT_T_ICAHT
        answer["plateletBands"] = HAND_BUILT_BANDS
        answer["thresholds"] |= {"plateletModerate": 50, "plateletSevere": 20}
        route.fulfill(json=answer)

    page.route(f"{service.url}/api/v1/assessment", with_t_icaht)
    page.goto(service.launch_url(iss=ehr.fhir_base, launch=ehr.register_launch(patient.patient_id)))
    page.wait_for_selector("body[data-state='ready']")

    early, late = page.locator("#t-early-grade"), page.locator("#t-late-grade")
    assert (early.get_attribute("data-grade"), early.inner_text()) == ("4", "grade 4 (final)")
    assert (late.get_attribute("data-grade"), late.inner_text()) == ("3", "grade 3 (confirmed)")
    assert page.locator("#t-icaht-text").inner_text() == f"T-ICAHT: {HAND_BUILT_T_ICAHT['text']}"
    assert "Early N-ICAHT" in page.locator("#summary").inner_text()
    bands = page.locator("#platelet-bands")
    assert json.loads(bands.get_attribute("data-bands") or "[]") == [
        [50, 3, 22],
        [20, 6, 20],
        [50, 42, 48],
        [20, 43, 47],
    ]
    assert "< 20 x10^9/L on days +6 to +20, days +43 to +47" in bands.inner_text()
    for day in (4.3, 12.3, 45.3):
        assert _platelets_shaded(page, day), f"day {day} is not shaded"
    for day in (-3.3, 26.3, 60.3):
        assert not _platelets_shaded(page, day), f"day {day} is shaded"
    # the ANC chart keeps its own shading only: no platelet band on it
    assert not _reddish(_pixel(page, "anc", 45.3, 0.2))
    _screenshot(page, "smart-app-t-icaht-hand-built.png")


def test_side_panel_400px_and_keyboard(
    browser: Browser,
    service: ServedApp,
    ehr: SmartTestEhr,
    synthetic_cohort: list[SyntheticPatient],
) -> None:
    patient = _course(synthetic_cohort, "aplastic")
    context = browser.new_context(viewport={"width": 400, "height": 800})
    page = context.new_page()
    violations = _watch_csp(page)
    try:
        _launch(page, service, ehr, ehr.register_launch(patient.patient_id, APP_CONTEXT))
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 400, f"the page is {width} px wide in a 400 px panel"
        for canvas_width in page.eval_on_selector_all("canvas", "cs => cs.map(c => c.width)"):
            assert canvas_width <= 400
        # keyboard only: the skip link first, then into the chart's value table
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.className") == "skip"
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "charts"
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.tagName")
        assert focused == "SUMMARY"
        page.keyboard.press("Enter")
        assert page.locator("figure[data-series='anc'] details").get_attribute("open") is not None
        _screenshot(page, "smart-app-aplastic-400px.png")
    finally:
        context.close()
    assert violations == []


def test_finding_13_the_app_runs_in_the_configured_ehr_frame_and_in_no_other(
    browser: Browser,
    demo_service: ServedApp,
    framing: FramingPages,
    seeded_fhir_server: LocalFhirServer,
    synthetic_cohort: list[SyntheticPatient],
) -> None:
    # the open-server launch (no EHR login): what is tested here is the frame, not the token
    patient = _course(synthetic_cohort, "aplastic")
    app_url = demo_service.launch_url(
        fhirServiceUrl=seeded_fhir_server.base_url, patient=patient.patient_id
    )
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        allowed = context.new_page()
        allowed_violations = _watch_csp(allowed)
        allowed.goto(framing.chart(framing.ehr_origin, app_url))
        frame = allowed.frame_locator("iframe")
        frame.locator("body[data-state='ready']").wait_for()
        grade = frame.locator("#early-grade").get_attribute("data-grade")
        assert grade == str(patient.plan.expected_early_grade)
        assert allowed_violations == []

        refused = context.new_page()
        refused_violations = _watch_csp(refused)
        with refused.expect_console_message(
            lambda message: "frame-ancestors" in message.text
        ) as blocked:
            refused.goto(framing.chart(framing.other_origin, app_url))
        assert "Content Security Policy" in blocked.value.text
        assert refused.frame_locator("iframe").locator("body[data-state]").count() == 0
        assert refused_violations  # the refusal itself is the one violation
    finally:
        context.close()


def test_tampered_pkce_verifier_is_refused(
    page: Page, service: ServedApp, ehr: SmartTestEhr, synthetic_cohort: list[SyntheticPatient]
) -> None:
    """Someone replaying the code without the app's verifier gets no token and no data."""
    patient = _course(synthetic_cohort, "quick")
    assessments: list[Request] = []
    page.on("request", lambda r: assessments.append(r) if "/api/v1/" in r.url else None)

    def swap_verifier(route: Route) -> None:
        form = parse_qs(route.request.post_data or "")
        form["code_verifier"] = ["x" * 64]  # well-formed, but not the one behind the challenge
        route.continue_(post_data=urlencode({k: v[0] for k, v in form.items()}))

    page.route(f"{ehr.url}/auth/token", swap_verifier)
    before = ehr.events.count("token-refused")
    page.goto(service.launch_url(iss=ehr.fhir_base, launch=ehr.register_launch(patient.patient_id)))
    page.wait_for_selector(READY)

    status = page.locator("#status").inner_text()
    assert page.locator("body").get_attribute("data-state") == "error"
    assert "authorization with the EHR failed" in status
    assert ehr.events.count("token-refused") == before + 1
    assert not assessments


def test_pkce_is_required_and_s256_only(service: ServedApp, ehr: SmartTestEhr) -> None:
    """The test EHR refuses what a real one must: no challenge, plain, a wrong or no verifier."""
    launch = ehr.register_launch("icaht-s7-p000")
    redirect = f"{service.url}/smart/index.html"
    base = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": redirect,
        "scope": "launch patient/Observation.rs",
        "aud": ehr.fhir_base,
        "state": "s1",
        "launch": launch,
    }
    verifier = "v" * 50
    s256 = create_s256_code_challenge(verifier)

    def authorize(**extra: str) -> dict[str, list[str]]:
        answer = requests.get(authorize_url(ehr, **(base | extra)), allow_redirects=False)
        assert answer.status_code == 302
        location = answer.headers["Location"]
        assert location.startswith(redirect)
        return parse_qs(urlparse(location).query)

    assert authorize()["error"] == ["invalid_request"]
    assert authorize(code_challenge=verifier, code_challenge_method="plain")["error"] == [
        "invalid_request"
    ]
    assert authorize(code_challenge=s256)["error"] == ["invalid_request"]  # method omitted

    def token(code: str, **extra: str) -> requests.Response:
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect}
        return requests.post(f"{ehr.url}/auth/token", data=form | {"client_id": CLIENT_ID} | extra)

    granted = authorize(code_challenge=s256, code_challenge_method="S256")
    assert granted["state"] == ["s1"]
    code = granted["code"][0]
    assert token(code).json()["error"] == "invalid_request"  # no verifier
    assert token(code, code_verifier="w" * 50).json()["error"] == "invalid_grant"
    answer = token(code, code_verifier=verifier)
    assert answer.status_code == 200
    assert answer.json()["patient"] == "icaht-s7-p000"


def test_expired_token_is_said_in_words(
    page: Page, service: ServedApp, ehr: SmartTestEhr, synthetic_cohort: list[SyntheticPatient]
) -> None:
    patient = _course(synthetic_cohort, "quick")
    launch = ehr.register_launch(patient.patient_id, token_seconds=0)  # expired when issued
    before = ehr.events.count("fhir-401")
    page.goto(service.launch_url(iss=ehr.fhir_base, launch=launch))
    page.wait_for_selector(READY)

    assert page.locator("body").get_attribute("data-state") == "error"
    assert "session has expired" in page.locator("#status").inner_text()
    assert ehr.events.count("fhir-401") > before


def test_fhir_error_is_said_in_words(page: Page, service: ServedApp, ehr: SmartTestEhr) -> None:
    launch = ehr.register_launch("no-such-patient")
    page.goto(service.launch_url(iss=ehr.fhir_base, launch=launch))
    page.wait_for_selector(READY)

    assert page.locator("body").get_attribute("data-state") == "error"
    # the FHIR server's 404 for the launch's patient (issue 16: with what to do next)
    assert "FHIR server does not know this patient" in page.locator("#status").inner_text()


def test_patient_without_infusion_is_said_in_words(
    page: Page, service: ServedApp, ehr: SmartTestEhr, seeded_fhir_server: LocalFhirServer
) -> None:
    patient_id = "smart-no-infusion"
    record = {"resourceType": "Patient", "id": patient_id, "gender": "female"}
    stored = requests.put(
        f"{seeded_fhir_server.base_url}/Patient/{patient_id}",
        json=record,
        headers={"Content-Type": "application/fhir+json"},
        timeout=10,
    )
    assert stored.status_code in (200, 201), stored.text

    _launch(page, service, ehr, ehr.register_launch(patient_id))

    assert "No CAR-T infusion on record" in page.locator("#status").inner_text()
    assert page.locator("#charts").is_hidden()


def test_a_course_in_preparation_shows_its_alerts_before_day_0(
    page: Page, service: ServedApp, ehr: SmartTestEhr, seeded_fhir_server: LocalFhirServer
) -> None:
    """Issue 14: the demo's patient in preparation (lymphodepletion running, infusion ordered
    for day 0 in 3 days, CAR-HEMATOTOX high) has no grade yet, but the app lists the alert the
    hook shows (M24) and says when the infusion is planned."""
    today = datetime.now(CENTRE_TZ).date()
    story = next(s for s in story_patients(today) if s.patient_id == "icaht-story-preparation")
    seed_cohort(seeded_fhir_server.base_url, [story])

    assessment = _launch(page, service, ehr, ehr.register_launch(story.patient_id))

    planned = assessment["plannedInfusionDate"]
    assert assessment["infusionDate"] is None and planned is not None
    assert f"infusion planned on {planned}" in page.locator("#status").inner_text()
    assert page.locator("#charts").is_hidden()
    rules = [a["ruleId"] for a in assessment["alerts"]]
    assert "M24" in rules
    assert page.locator("#alerts li.alert").count() == len(rules)
    assert "CAR-HEMATOTOX" in page.locator("#alerts li[data-rule='M24']").inner_text()


def test_standalone_launch_asks_for_a_patient(
    page: Page, service: ServedApp, ehr: SmartTestEhr, synthetic_cohort: list[SyntheticPatient]
) -> None:
    patient = _course(synthetic_cohort, "intermittent")
    ehr.standalone_patient = patient.patient_id
    try:
        with page.expect_request(f"{ehr.url}/auth/authorize*") as authorization:
            page.goto(service.launch_url(iss=ehr.fhir_base))
        page.wait_for_selector("body[data-state='ready']")
    finally:
        ehr.standalone_patient = None
    query = parse_qs(urlparse(authorization.value.url).query)
    assert "launch/patient" in query["scope"][0].split()
    assert "launch" not in query
    assert query["code_challenge_method"] == ["S256"]
    assert page.locator("#early-grade").get_attribute("data-grade") is not None


def test_open_server_demo_launch(
    page: Page,
    demo_service: ServedApp,
    seeded_fhir_server: LocalFhirServer,
    synthetic_cohort: list[SyntheticPatient],
) -> None:
    """The demo's launch: an open FHIR server, no OAuth (fhirclient's fhirServiceUrl mode), and
    the assessment API open (ICAHT_CDS_ASSESSMENT_AUTH=none, as `icaht-cds demo` sets it)."""
    patient = _course(synthetic_cohort, "aplastic")
    url = demo_service.launch_url(
        fhirServiceUrl=seeded_fhir_server.base_url, patient=patient.patient_id
    )
    page.goto(url)
    page.wait_for_selector(READY)

    assert page.locator("body").get_attribute("data-state") == "ready"
    grade = page.locator("#early-grade").get_attribute("data-grade")
    assert grade == str(patient.plan.expected_early_grade)


def test_status_card_link_launches_the_app(
    page: Page,
    service: ServedApp,
    ehr: SmartTestEhr,
    seeded_fhir_server: LocalFhirServer,
    synthetic_cohort: list[SyntheticPatient],
) -> None:
    """The EHR follows the status card's smart link, adding iss and launch (CDS Hooks 2.0), and
    hands the app the link's appContext in the token response (issue 18): the app assesses on
    the card's evaluation date and says so."""
    patient = _course(synthetic_cohort, "aplastic")
    cards = _patient_view_cards(service, seeded_fhir_server, patient.patient_id)
    links = [
        link for card in cards for link in card.get("links", []) if link.get("type") == "smart"
    ]
    assert len(links) == 1, links
    link = links[0]
    assert link["url"] == f"{service.url}/smart/launch.html"
    context = json.loads(link["appContext"])
    card_date = context["evaluationDate"]
    assert context["hookInstance"] and date.fromisoformat(card_date)

    launch = ehr.register_launch(patient.patient_id, app_context=link["appContext"])
    with page.expect_request(f"{service.url}/api/v1/assessment") as sent:
        page.goto(f"{link['url']}?{urlencode({'iss': ehr.fhir_base, 'launch': launch})}")
    page.wait_for_selector("body[data-state='ready']")

    # without an appContext the app sends no evaluationDate (the API's default is its today)
    assert json.loads(sent.value.post_data or "{}")["evaluationDate"] == card_date
    assert f"Assessed on {card_date} (the card's date)" in page.locator("#status").inner_text()
    grade = page.locator("#early-grade").get_attribute("data-grade")
    assert grade == str(patient.plan.expected_early_grade)


@pytest.mark.parametrize("app_context", ["{not json", '{"evaluationDate": "05/12/2026"}'])
def test_an_unreadable_app_context_is_ignored(
    page: Page,
    service: ServedApp,
    ehr: SmartTestEhr,
    synthetic_cohort: list[SyntheticPatient],
    app_context: str,
) -> None:
    """appContext is the EHR's string: bad JSON or a date in another form is ignored, the app
    assesses on the service's today (no evaluationDate sent) and does not claim the card's."""
    patient = _course(synthetic_cohort, "quick")
    with page.expect_request(f"{service.url}/api/v1/assessment") as sent:
        _launch(page, service, ehr, ehr.register_launch(patient.patient_id, app_context))
    assert "evaluationDate" not in json.loads(sent.value.post_data or "{}")
    assert "the card's date" not in page.locator("#status").inner_text()


def test_relapse_in_conditions_censors_the_chart_like_the_card(
    page: Page,
    service: ServedApp,
    ehr: SmartTestEhr,
    seeded_fhir_server: LocalFhirServer,
    synthetic_cohort: list[SyntheticPatient],
) -> None:
    """Relapse is a Condition: without it the app graded late ICAHT the card had censored."""
    patient = next(p for p in synthetic_cohort if p.plan.edge == "relapse")
    cards = _patient_view_cards(service, seeded_fhir_server, patient.patient_id)
    card = next(c for c in cards if ASSESSMENT_KEY in c["extension"])
    facts = card["extension"][ASSESSMENT_KEY]
    assert facts["early_status"] == "censored"

    with page.expect_request(f"{service.url}/api/v1/assessment") as sent:
        assessment = _launch(page, service, ehr, ehr.register_launch(patient.patient_id))

    kinds = {r["resourceType"] for r in json.loads(sent.value.post_data or "{}")["resources"]}
    assert "Condition" in kinds
    assert assessment["early"]["status"] == facts["early_status"]
    assert assessment["early"]["grade"] == facts["early_grade"]
    assert assessment["late"]["grade"] == facts.get("late_grade")
    assert page.locator("#early-grade").get_attribute("data-status") == "censored"


def test_refused_condition_scope_is_said_not_fatal(
    page: Page, service: ServedApp, ehr: SmartTestEhr, synthetic_cohort: list[SyntheticPatient]
) -> None:
    """An EHR that will not grant Condition: the app grades without and lists what is missing."""
    patient = _course(synthetic_cohort, "quick")

    def without_conditions(route: Route) -> None:
        config = route.fetch().json()
        config["scope"] = " ".join(s for s in config["scope"].split() if "Condition" not in s)
        route.fulfill(json=config)

    page.route(f"{service.url}/smart/config.json", without_conditions)
    before = ehr.events.count("fhir-403")
    _launch(page, service, ehr, ehr.register_launch(patient.patient_id, APP_CONTEXT))

    assert ehr.events.count("fhir-403") == before + 1
    missing = page.locator("#gaps").inner_text()
    assert "did not grant patient/Condition.rs" in missing
    grade = page.locator("#early-grade").get_attribute("data-grade")
    assert grade == str(patient.plan.expected_early_grade)


def test_planned_infusion_reads_and_their_refusal_are_said_not_fatal(
    page: Page, service: ServedApp, ehr: SmartTestEhr, synthetic_cohort: list[SyntheticPatient]
) -> None:
    """Issue 14: the app reads ServiceRequests and Appointments (a planned CAR-T infusion);
    an EHR that grants neither refuses both reads (403), and the app grades without them and
    says which are missing and why."""
    patient = _course(synthetic_cohort, "quick")
    asked: list[str] = []

    def without_planned_infusions(route: Route) -> None:
        config = route.fetch().json()
        refused = ("ServiceRequest", "Appointment")
        scopes = config["scope"].split()
        assert {f"patient/{r}.rs" for r in refused} <= set(scopes)  # asked for by default
        config["scope"] = " ".join(s for s in scopes if not any(r in s for r in refused))
        route.fulfill(json=config)

    page.route(f"{service.url}/smart/config.json", without_planned_infusions)
    page.on("request", lambda r: asked.append(r.url) if r.url.startswith(ehr.fhir_base) else None)
    before = ehr.events.count("fhir-403")
    _launch(page, service, ehr, ehr.register_launch(patient.patient_id, APP_CONTEXT))

    assert ehr.events.count("fhir-403") == before + 2
    searches = [unquote(url.split(ehr.fhir_base, 1)[1]) for url in asked]
    assert any(q.startswith("/ServiceRequest?") and "status=active,draft" in q for q in searches)
    assert any(
        q.startswith("/Appointment?")
        and "status=proposed,pending,booked,arrived,checked-in,waitlist" in q
        for q in searches
    )
    missing = page.locator("#gaps").inner_text()
    assert "did not grant patient/ServiceRequest.rs" in missing
    assert "did not grant patient/Appointment.rs" in missing
    grade = page.locator("#early-grade").get_attribute("data-grade")
    assert grade == str(patient.plan.expected_early_grade)


def test_finding8_the_app_sends_the_launch_id_token_and_the_service_checks_it(
    page: Page, service: ServedApp, ehr: SmartTestEhr, synthetic_cohort: list[SyntheticPatient]
) -> None:
    """The assessment call carries the EHR's id_token; the service verified it (200)."""
    patient = _course(synthetic_cohort, "quick")
    with page.expect_request(f"{service.url}/api/v1/assessment") as sent:
        _launch(page, service, ehr, ehr.register_launch(patient.patient_id, APP_CONTEXT))

    scheme, _, token = (sent.value.headers.get("authorization") or "").partition(" ")
    assert scheme == "Bearer"
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["iss"], claims["aud"]) == (ehr.url, CLIENT_ID)
    assert jwt.get_unverified_header(token)["alg"] == "RS256"


def test_finding8_an_assessment_call_without_the_token_is_refused_in_words(
    page: Page, service: ServedApp, ehr: SmartTestEhr, synthetic_cohort: list[SyntheticPatient]
) -> None:
    """Someone calling the API without the launch's id_token gets a 401, and the page says so."""
    patient = _course(synthetic_cohort, "quick")
    statuses: list[int] = []

    def strip_token(route: Route) -> None:
        headers = {k: v for k, v in route.request.headers.items() if k != "authorization"}
        route.continue_(headers=headers)

    page.route(f"{service.url}/api/v1/assessment", strip_token)
    page.on("response", lambda r: statuses.append(r.status) if "/api/v1/" in r.url else None)
    page.goto(service.launch_url(iss=ehr.fhir_base, launch=ehr.register_launch(patient.patient_id)))
    page.wait_for_selector(READY)

    assert statuses == [401]
    assert page.locator("body").get_attribute("data-state") == "error"
    assert "did not accept the launch's sign-in" in page.locator("#status").inner_text()


# ------------------------------------------------------------------ issue 16: the chart's layout

UCUM_SPELLINGS = ("10*9/L", "10*3/uL", "10*3/µL", "/uL", "10*")
POINT_RADIUS = 4  # CSS px: the drawn markers are 6-7 px wide


def _open_window_context(patient: SyntheticPatient, day: int) -> str:
    """An appContext that assesses a completed course on an earlier day: its windows still open."""
    return json.dumps({"evaluationDate": (patient.plan.day0 + timedelta(days=day)).isoformat()})


def _chart_geometry(page: Page, series: str) -> dict[str, Any]:
    """Page CSS pixel positions of a chart's plotted points, curve segments, marker labels and
    plot box, computed from uPlot's own valToPos (canvas pixels scaled to the canvas' box)."""
    geometry: dict[str, Any] = page.eval_on_selector(
        f"figure[data-series='{series}']",
        """(figure) => {
            const u = figure.plot;
            const box = u.ctx.canvas.getBoundingClientRect();
            const scale = box.width / u.ctx.canvas.width;
            const at = (x, y) => [box.left + x * scale, box.top + y * scale];
            const points = [];
            const days = u.data[0];
            for (let i = 0; i < days.length; i++) {
                const value = u.data[1][i];
                if (value === null || value === undefined) continue;
                points.push(at(u.valToPos(days[i], "x", true), u.valToPos(value, "y", true)));
            }
            const labels = (figure.markerLabels || []).map((l) => {
                const [left, top] = at(l.left, l.top);
                return { text: l.text, left, top, right: left + l.width * scale,
                         bottom: top + l.height * scale };
            });
            const [left, top] = at(u.bbox.left, u.bbox.top);
            return {
                points, labels,
                plot: { left, top, right: left + u.bbox.width * scale,
                        bottom: top + u.bbox.height * scale },
                earlyWidth: (u.valToPos(30, "x", true) - u.valToPos(0, "x", true)) * scale,
                dayAxis: figure.dataset.dayAxis,
                // the day range's ends and the plot's width, CSS px from the plot's left
                xEnds: [u.valToPos(-8, "x"), u.valToPos(101, "x"), u.bbox.width / devicePixelRatio],
            };
        }""",
    )
    return geometry


def _rect_hits_point(rect: dict[str, float], point: list[float], radius: float) -> bool:
    x, y = point
    return (
        rect["left"] - radius <= x <= rect["right"] + radius
        and rect["top"] - radius <= y <= rect["bottom"] + radius
    )


def _segment_hits_rect(a: list[float], b: list[float], rect: dict[str, float]) -> bool:
    """Whether the straight segment a-b passes through the rectangle (sampled every 0.5 px)."""
    steps = max(1, int(max(abs(b[0] - a[0]), abs(b[1] - a[1])) * 2))
    for i in range(steps + 1):
        x = a[0] + (b[0] - a[0]) * i / steps
        y = a[1] + (b[1] - a[1]) * i / steps
        if rect["left"] <= x <= rect["right"] and rect["top"] <= y <= rect["bottom"]:
            return True
    return False


def _overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return not (
        a["right"] <= b["left"]
        or b["right"] <= a["left"]
        or a["bottom"] <= b["top"]
        or b["bottom"] <= a["top"]
    )


def _console_errors(page: Page) -> list[str]:
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


@pytest.mark.parametrize(
    "case", [(1280, "complete"), (400, "complete"), (1280, "open"), (400, "open")]
)
def test_issue16_labels_cover_no_point_and_no_curve(
    browser: Browser,
    service: ServedApp,
    ehr: SmartTestEhr,
    synthetic_cohort: list[SyntheticPatient],
    case: tuple[int, str],
) -> None:
    """The grade label box overlaps no plotted ANC point; the day 0, day 30 and today labels
    are crossed by no curve and no point, and overlap no other label, at 1280 and 400 px. An
    open window (assessed on day +20) gets its today line; at 400 px days 0-30 keep a readable
    width (the later days compressed)."""
    width, window = case
    patient = _course(synthetic_cohort, "aplastic")
    context_json = APP_CONTEXT if window == "complete" else _open_window_context(patient, 20)
    context = browser.new_context(viewport={"width": width, "height": 800})
    page = context.new_page()
    errors = _console_errors(page)
    try:
        _launch(page, service, ehr, ehr.register_launch(patient.patient_id, context_json))
        label = page.locator("figure[data-series='anc'] .grade-label")
        assert "N-ICAHT grade" in label.inner_text()
        box = label.bounding_box()
        assert box is not None
        label_rect = {
            "left": box["x"],
            "top": box["y"],
            "right": box["x"] + box["width"],
            "bottom": box["y"] + box["height"],
        }
        for series in ("anc", "platelets", "hemoglobin"):
            geometry = _chart_geometry(page, series)
            points = geometry["points"]
            assert points, f"{series}: nothing plotted"
            if series == "anc":
                covered = [p for p in points if _rect_hits_point(label_rect, p, POINT_RADIUS)]
                assert not covered, f"the grade label covers ANC points at {covered}"
            labels = geometry["labels"]
            texts = [lab["text"] for lab in labels]
            assert "day 0" in texts and "day 30" in texts, texts
            today = [t for t in texts if t == "today" or t.startswith("as of day")]
            assert today == (["as of day +20"] if window == "open" else []), texts
            for lab in labels:
                assert _overlap(lab, geometry["plot"]) is False, f"{lab['text']} lies in the plot"
                assert not _overlap(lab, label_rect), f"{lab['text']} under the grade label"
                hits = [p for p in points if _rect_hits_point(lab, p, POINT_RADIUS)]
                assert not hits, f"{series}: points on the {lab['text']!r} label"
                for a, b in pairwise(points):
                    assert not _segment_hits_rect(a, b, lab), f"{series}: a curve crosses {lab}"
            for first, second in pairwise(labels):
                assert not _overlap(first, second), f"{first['text']} over {second['text']}"
            _assert_day_axis(geometry, width)
        if window == "open":
            x = _pixel(page, "anc", 20, 0.05)  # the today line, near the top of the plot
            assert x[1] > x[0] + 30 and x[1] > x[2], f"no green today line at day +20: {x}"
        _screenshot(page, f"smart-app-layout-{window}-{width}px.png")
        # the panel resized to the other width and back: the day axis follows, days -8..+101
        # still span the whole plot
        for size in ({1280: 400, 400: 1280}[width], width):
            page.set_viewport_size({"width": size, "height": 800})
            axis = "compressed" if size == 400 else "linear"
            page.wait_for_selector(f"figure[data-series='platelets'][data-day-axis='{axis}']")
            page.wait_for_timeout(200)  # the ResizeObserver's redraw of the other charts
            for series in ("anc", "platelets", "hemoglobin"):
                _assert_day_axis(_chart_geometry(page, series), size)
    finally:
        context.close()
    assert errors == [], f"console errors: {errors}"


def _assert_day_axis(geometry: dict[str, Any], width: int) -> None:
    """Days -8..+101 span the plot; at 400 px compressed with days 0-30 >= 150 px wide."""
    first, last, plot_width = geometry["xEnds"]
    assert abs(first) < 1 and abs(last - plot_width) < 1, geometry["xEnds"]
    if width == 400:
        assert geometry["dayAxis"] == "compressed"
        assert geometry["earlyWidth"] >= 150, geometry["earlyWidth"]
    else:
        assert geometry["dayAxis"] == "linear"
        assert geometry["earlyWidth"] < 0.35 * plot_width  # 30 of 109 days


def _threshold_row_red(page: Page, series: str, level: float) -> float:
    """Share of the sampled days -7..+100 where the row of `level` is redder than the rows 4 px
    above and below it: a red line, not the shading (as red a row higher and lower) nor the
    curve (purple or blue)."""
    share: float = page.eval_on_selector(
        f"figure[data-series='{series}']",
        """(figure, level) => {
            const u = figure.plot;
            const y = Math.round(u.valToPos(level, "y", true));
            const far = Math.round(4 * devicePixelRatio);
            const redness = (x, row) => {
                const [r, g, b] = u.ctx.getImageData(x, row, 1, 1).data;
                return r - (g + b) / 2;
            };
            let red = 0, sampled = 0;
            for (let day = -7; day <= 100; day += 0.25) {
                const x = Math.round(u.valToPos(day, "x", true));
                const row = Math.max(redness(x, y - 1), redness(x, y), redness(x, y + 1));
                const around = Math.max(redness(x, y - far), redness(x, y + far));
                sampled++;
                if (row - around > 25) red++;
            }
            return red / sampled;
        }""",
        level,
    )
    return share


def test_issue16_platelet_and_hemoglobin_threshold_lines(
    page: Page, service: ServedApp, ehr: SmartTestEhr, synthetic_cohort: list[SyntheticPatient]
) -> None:
    """Platelets: dashed lines at 10, 20 and 50 x10^9/L with their values on the right, on an
    axis where a nadir of 9 lies well apart from one of 17; Hb: lines at 7 and 8 g/dL."""
    patient = _course(synthetic_cohort, "aplastic")
    _launch(page, service, ehr, ehr.register_launch(patient.patient_id, APP_CONTEXT))

    for series, levels in (("platelets", (10, 20, 50)), ("hemoglobin", (7, 8))):
        for level in levels:
            share = _threshold_row_red(page, series, level)
            assert share > 0.3, f"{series}: no dashed line at {level} ({share:.0%} red)"
        labels = page.eval_on_selector(
            f"figure[data-series='{series}']",
            "(f) => f.plot.axes[2]._values",  # the right axis: the lines' values
        )
        assert [float(v) for v in labels] == [float(v) for v in sorted(levels, reverse=True)]
        rows = page.eval_on_selector(
            f"figure[data-series='{series}']",
            "(f, levels) => levels.map((v) => f.plot.valToPos(v, 'y'))",
            list(levels),
        )
        gaps = [a - b for a, b in pairwise(rows)]
        assert min(gaps) >= 13, f"{series}: the lines' labels overlap ({gaps} px apart)"
        note = page.locator(f"figure[data-series='{series}'] .lines-note").inner_text()
        for level in levels:
            assert f"{level} " in note
    # the rows of 9 and 17 x10^9/L lie apart by more than a marker's width
    apart = page.eval_on_selector(
        "figure[data-series='platelets']",
        """(f) => (f.plot.valToPos(9, "y") - f.plot.valToPos(17, "y"))""",
    )
    assert apart >= 10, f"9 and 17 x10^9/L only {apart:.1f} px apart"
    ticks = page.eval_on_selector(
        "figure[data-series='platelets']", "(f) => f.plot.axes[1]._splits"
    )
    assert {10, 20, 50} <= set(ticks)
    # a flat row far from every line: no red there (the check can fail)
    assert _threshold_row_red(page, "platelets", 35) < 0.1


def _page_text(page: Page) -> str:
    """Every text of the page, hidden tables and aria-labels included."""
    text: str = page.evaluate(
        """() => document.body.textContent + " " +
            Array.from(document.querySelectorAll("[aria-label], [title]"))
                .map((e) => `${e.getAttribute("aria-label") || ""} ${e.title || ""}`).join(" ")"""
    )
    return text


def _signed(day: int) -> str:
    return f"+{day}" if day > 0 else str(day)


def _messy_patient(cohort: list[SyntheticPatient], kinds: set[str]) -> SyntheticPatient:
    for patient in cohort:
        if kinds <= set(patient.plan.messy) and patient.plan.edge is None:
            return patient
    raise AssertionError(f"the test cohort has no patient with messy records {kinds}")


@pytest.mark.parametrize("kind", ["clean", "no-unit", "anc-10*3/uL", "anc-less-than"])
def test_issue16_no_ucum_code_in_the_page_and_left_out_in_words(
    page: Page,
    service: ServedApp,
    ehr: SmartTestEhr,
    synthetic_cohort: list[SyntheticPatient],
    kind: str,
) -> None:
    """Units as clinicians write them, never UCUM codes; left-out items counted in words."""
    patient = (
        _course(synthetic_cohort, "aplastic")
        if kind == "clean"
        else _messy_patient(synthetic_cohort, {kind})
    )
    errors = _console_errors(page)
    assessment = _launch(page, service, ehr, ehr.register_launch(patient.patient_id))

    text = _page_text(page)
    for ucum in UCUM_SPELLINGS:
        assert ucum not in text, (
            f"UCUM {ucum!r} in the page: ...{text[text.find(ucum) - 60 :][:120]}"
        )
    assert "x10^9/L" in text and "/µL" in text and "g/dL" in text
    left_out = page.locator("#left-out").inner_text()
    assert "Observation/" not in left_out and "unit-missing" not in left_out
    summary = assessment["leftOutSummary"]
    assert sum(s["count"] for s in summary) == len(assessment["leftOut"])
    assert page.locator("#left-out li").count() == max(1, len(summary))
    if kind == "no-unit":
        assert any(s["reason"] == "no unit" for s in summary), summary
        assert "left out: no unit" in left_out
    if kind == "anc-less-than":
        # the course's lowest ANC is a "<0.1" x10^9/L result: said as the bound it is
        lowest = min(assessment["series"]["anc"]["points"], key=lambda p: p["value"])
        assert (lowest["comparator"], lowest["value"]) == ("<", 100), lowest
        caption = page.locator("figure[data-series='anc'] figcaption").inner_text()
        assert f"lowest < 100/µL on day {_signed(lowest['day'])}." in caption, caption
    # each CTCAE line names its term once: no "Anemia: grade 2. Anemia grade 2"
    for line_text in page.locator("#ctcae li").all_inner_texts():
        term = line_text.split(":")[0]
        assert line_text.count(term) == 1, line_text
    assert errors == [], f"console errors: {errors}"


def test_issue16_texts_in_words(
    page: Page, service: ServedApp, ehr: SmartTestEhr, synthetic_cohort: list[SyntheticPatient]
) -> None:
    """The app's side, on the service's answer with three cases set by hand (the route changes
    them): a one-day episode said "on day +3", a "<0.1" x10^9/L ANC (< 100/µL) as the lowest
    value said "< 100/µL", and a CTCAE value without a lower limit of normal."""
    patient = _course(synthetic_cohort, "aplastic")

    def edited(route: Route) -> None:
        answer = route.fetch().json()
        answer["episodes"] = [{"threshold": 100, "startDay": 3, "endDay": 3}]
        points = answer["series"]["anc"]["points"]
        lowest = min(points, key=lambda p: p["value"])
        lowest |= {"value": 100, "comparator": "<"}
        for point in points:
            if point is not lowest:
                point["value"] = max(point["value"], 150)
        route.fulfill(json=answer)

    page.route(f"{service.url}/api/v1/assessment", edited)
    page.goto(service.launch_url(iss=ehr.fhir_base, launch=ehr.register_launch(patient.patient_id)))
    page.wait_for_selector("body[data-state='ready']")

    assert "ANC ≤ 100/µL on day +3" in page.locator("#episodes").inner_text()
    caption = page.locator("figure[data-series='anc'] figcaption").inner_text()
    assert "lowest < 100/µL on day" in caption, caption
    assert "lowest 100" not in caption
    # the aplastic course's last counts come without a lower limit of normal
    ctcae = page.locator("#ctcae").inner_text()
    assert "grade 1 not assessable (no lower limit of normal" in ctcae, ctcae
    assert "None." not in ctcae


def test_issue16_error_pages_say_what_to_do_next(
    page: Page, service: ServedApp, ehr: SmartTestEhr, synthetic_cohort: list[SyntheticPatient]
) -> None:
    """An unknown patient and an expired session each end in an instruction."""
    page.goto(service.launch_url(iss=ehr.fhir_base, launch=ehr.register_launch("no-such-patient")))
    page.wait_for_selector(READY)
    status = page.locator("#status").inner_text()
    assert "does not know this patient" in status, status
    assert "launch it again" in status

    patient = _course(synthetic_cohort, "quick")
    expired = ehr.register_launch(patient.patient_id, token_seconds=0)
    page.goto(service.launch_url(iss=ehr.fhir_base, launch=expired))
    page.wait_for_selector(READY)
    assert "Launch the app again from the patient's chart" in page.locator("#status").inner_text()
