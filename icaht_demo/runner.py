"""The embedded default (`icaht-cds demo`): FHIR server, synthetic cohort, service, on loopback.

The service runs as in production (gunicorn, JWT authentication on) with a generated demo EHR
client: a real ES384 key pair in the state dir, its public key in the clients file. The printed
curl commands sign a fresh token per call (`icaht-cds demo-token PATH`), because the service
refuses a replayed token.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

import requests

from icaht_demo.ehr_client import create_demo_client, sign_demo_jwt
from icaht_demo.fhir_server import DEFAULT_STATE_DIR, LocalFhirServer, is_fhir_server
from icaht_demo.synthetic import SyntheticPatient, generate_cohort
from icaht_demo.synthetic.loader import Seedable, seed_cohort
from icaht_demo.synthetic.stories import StoryPatient, story_patients, with_prophylaxis

DEMO_TIMEZONE = "Europe/Berlin"  # the synthetic cohort's centre
SERVICE_FILE = "service.json"  # what `demo-token` needs: public URL, issuer, key id
# Bump when a story patient changes: the next demo run loads the stories again.
STORIES_VERSION = 2
# The service tells its starter apart from another process on the same port by this id, which
# its /healthz echoes (cds_service/routes/operations.py).
INSTANCE_ENV = "ICAHT_CDS_INSTANCE_ID"
# The story patient of the order-sign and feedback examples: transfusion-dependent on day +40,
# inside the irradiated-products window (docs/clinical/10-management-rules.md §10 M01).
ORDER_SIGN_STORY = "icaht-story-transfusion-day40"


@dataclass(frozen=True)
class DemoSettings:
    state_dir: Path
    port: int = 8080
    fhir_port: int = 8090
    patients: int = 24
    seed: int = 1
    reset: bool = False
    wait: bool = True


class DemoStartError(RuntimeError):
    """The demo cannot start: a port is taken, or the service died while starting."""


class _StopRequestedError(Exception):
    """SIGTERM: stop the demo as Ctrl-C does."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _StopRequestedError


def run_demo(settings: DemoSettings) -> int:
    workdir = settings.state_dir / "demo"
    workdir.mkdir(parents=True, exist_ok=True)
    fhir = LocalFhirServer(workdir=workdir, port=settings.fhir_port, state_dir=settings.state_dir)
    service: ServiceProcess | None = None
    started_fhir = False
    signal.signal(signal.SIGTERM, _raise_stop)
    # Ctrl-C stops the demo even when started from a shell that ignores SIGINT in the background
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        # before anything is loaded: a second demo on the same ports fails at once, in one line
        _check_port(settings.port, "--port")
        if settings.reset:
            _reset(fhir, workdir)
        if is_fhir_server(fhir.base_url):
            print(f"FHIR server already running at {fhir.base_url}: reusing it")
        else:
            _check_port(settings.fhir_port, "--fhir-port")
            fhir.start()
            started_fhir = True
        cohort, anchor = _demo_cohort(fhir.base_url, workdir, settings.patients, settings.seed)
        stories = _demo_stories(fhir.base_url, workdir)
        service = _start_service(settings.port, fhir.base_url, workdir)
        _print_demo(settings, fhir.base_url, cohort, anchor, stories)
        if settings.wait:
            print("Ctrl-C stops the service and the FHIR server.", flush=True)
            while service.process.poll() is None:
                time.sleep(0.5)
            print(service.exit_report("exited"), file=sys.stderr)
            return 1
    except DemoStartError as error:
        print(f"icaht-cds demo: {error}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, _StopRequestedError):
        print("\nstopping")
    finally:
        _stop_process(service.process if service else None)
        if started_fhir:
            fhir.stop()
    return 0


def demo_token(state_dir: Path, path: str) -> str:
    """A fresh JWT of the demo EHR for one endpoint path of the running demo service."""
    workdir = state_dir / "demo"
    service = json.loads((workdir / SERVICE_FILE).read_text())
    audience = service["public_url"] + "/" + path.lstrip("/")
    return sign_demo_jwt(service["key_path"], service["iss"], audience, service["kid"])


def _reset(fhir: LocalFhirServer, workdir: Path) -> None:
    if is_fhir_server(fhir.base_url):
        fhir.stop()
    for name in ("fhir.db", "fhir.db-wal", "fhir.db-shm", "seeded.json"):
        (workdir / name).unlink(missing_ok=True)


def _demo_cohort(
    base_url: str, workdir: Path, patients: int, seed: int
) -> tuple[list[SyntheticPatient], date]:
    """Seed once; later runs reuse the data (and the anchor date) recorded in seeded.json.
    The demo's cohort has the usual prophylaxis orders (stories.with_prophylaxis)."""
    marker = workdir / "seeded.json"
    wanted: dict[str, object] = {"patients": patients, "seed": seed, "prophylaxis": True}
    if marker.exists():
        recorded = json.loads(marker.read_text())
        anchor = date.fromisoformat(recorded["anchor"])
        cohort = _cohort(patients, seed, anchor)
        first = requests.get(f"{base_url}/Patient/{cohort[0].patient_id}", timeout=5)
        if {k: recorded.get(k) for k in wanted} == wanted and first.ok:
            print(f"synthetic cohort already loaded ({patients} patients, anchor {anchor})")
            return cohort, anchor
    anchor = date.today()
    cohort = _cohort(patients, seed, anchor)
    print(f"loading {patients} synthetic patients into {base_url} ...", flush=True)
    report = seed_cohort(base_url, cohort)
    print(f"loaded {report.resources} resources in {report.seconds:.1f} s")
    marker.write_text(json.dumps({**wanted, "anchor": anchor.isoformat()}))
    return cohort, anchor


def _cohort(patients: int, seed: int, anchor: date) -> list[SyntheticPatient]:
    return [with_prophylaxis(p) for p in generate_cohort(patients, seed=seed, anchor=anchor)]


def _demo_stories(base_url: str, workdir: Path) -> list[StoryPatient]:
    """The story patients, dated to today in the demo's time zone (the service's evaluation
    date, so each story is on its day): loaded on the first run of a day; a run on a later day
    re-dates them in place (the same resource ids)."""
    marker = workdir / "seeded.json"
    recorded = json.loads(marker.read_text()) if marker.exists() else {}
    today = datetime.now(ZoneInfo(DEMO_TIMEZONE)).date()
    stories = story_patients(today)
    wanted = {"anchor": today.isoformat(), "version": STORIES_VERSION}
    first = requests.get(f"{base_url}/Patient/{stories[0].patient_id}", timeout=5)
    if recorded.get("stories") == wanted and first.ok:
        print(f"story patients already loaded ({len(stories)} patients, dated to {today})")
        return stories
    print(f"loading {len(stories)} story patients (dated to {today}) ...", flush=True)
    report = seed_cohort(base_url, stories)
    print(f"loaded {report.resources} resources in {report.seconds:.1f} s")
    marker.write_text(json.dumps({**recorded, "stories": wanted}))
    return stories


def _check_port(port: int, option: str) -> None:
    """Bind the port as gunicorn and sekmet will (SO_REUSEADDR: a stopped demo's connections
    in TIME_WAIT do not count), so that a taken port is said before anything starts."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise DemoStartError(_port_taken(port, option)) from error
            raise DemoStartError(f"port {port} cannot be used ({error.strerror})") from error


def _port_taken(port: int, option: str) -> str:
    return f"port {port} is in use (by another demo?): stop it, or choose another with {option}"


@dataclass(frozen=True)
class ServiceProcess:
    """The started service process and where its own log lines begin in the shared log."""

    process: subprocess.Popen[bytes]
    log_path: Path
    log_start: int

    def exit_report(self, what: str) -> str:
        return (
            f"the service {what} with code {self.process.returncode}; the end of its log"
            f" ({self.log_path}):\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 15) -> str:
        with self.log_path.open("rb") as log:
            log.seek(self.log_start)
            text = log.read().decode("utf-8", "replace")
        return "\n".join(text.splitlines()[-lines:]) or "(nothing logged)"


def _start_service(port: int, fhir_url: str, workdir: Path) -> ServiceProcess:
    public_url = f"http://127.0.0.1:{port}"
    client = create_demo_client(workdir, [fhir_url])
    service_file = {
        "public_url": public_url,
        "iss": client.iss,
        "kid": client.kid,
        "key_path": str(client.private_key_path),
    }
    (workdir / SERVICE_FILE).write_text(json.dumps(service_file, indent=2))
    instance = uuid.uuid4().hex
    env = os.environ | {
        "ICAHT_CDS_PUBLIC_URL": public_url,
        "ICAHT_CDS_CLIENTS": str(client.clients_path),
        "ICAHT_CDS_AUTH": "jwt",
        # the demo's SMART launch is the open-server one: no EHR, no id_token (decision 0009)
        "ICAHT_CDS_ASSESSMENT_AUTH": "none",
        "ICAHT_CDS_DATABASE_URL": f"sqlite:///{workdir / 'icaht-cds.sqlite3'}",
        "ICAHT_CDS_TIMEZONE": DEMO_TIMEZONE,
        INSTANCE_ENV: instance,
    }
    command = [sys.executable, "-m", "icaht_cli", "serve", "--port", str(port)]
    log_path = workdir / "service.log"
    with log_path.open("ab") as log:
        start = log.tell()  # before the child shares (and moves) this file offset
        process = subprocess.Popen(
            [*command, "--state-dir", str(workdir)], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    service = ServiceProcess(process, log_path, start)
    try:
        wait_until_started(service, public_url, instance)
    except BaseException:
        _stop_process(service.process)
        raise
    return service


def wait_until_started(
    service: ServiceProcess, public_url: str, instance: str, timeout: float = 30.0
) -> None:
    """Until the service's /healthz answers with this start's instance id: an older process
    on the same port answers without it (or with its own), and is said as such at once."""
    port = urlsplit(public_url).port
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            raise DemoStartError(service.exit_report("exited while starting"))
        answered = _health_instance(public_url)
        if answered == instance:
            return
        if answered is not None:
            raise DemoStartError(_port_taken(port or 0, "--port"))
        time.sleep(0.1)
    raise DemoStartError(
        f"the service did not answer on port {port} within {timeout:.0f} s; the end of its log"
        f" ({service.log_path}):\n{service.log_tail()}"
    )


def _health_instance(public_url: str) -> str | None:
    """The instance id /healthz answers with; "" for an answer without one; None when nothing
    answers (yet)."""
    try:
        response = requests.get(f"{public_url}/healthz", timeout=0.5)
    except requests.RequestException:
        return None
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("instance", "")) if response.ok and isinstance(body, dict) else ""


def _stop_process(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


def _hook_body(hook: str, fhir_url: str, context: dict[str, Any]) -> dict[str, Any]:
    return {
        "hook": hook,
        "hookInstance": str(uuid.uuid4()),
        "fhirServer": fhir_url,
        "fhirAuthorization": {
            "access_token": "demo-fhir-token",  # sekmet's demo server needs none
            "token_type": "Bearer",
            "expires_in": 3600,
            "scope": "patient/Patient.rs patient/Observation.rs patient/Procedure.rs",
            "subject": "icaht-cds",
        },
        "context": {"userId": "Practitioner/demo-clinician", **context},
    }


def _write_request(workdir: Path, fhir_url: str, patient: Seedable) -> Path:
    body = _hook_body("patient-view", fhir_url, {"patientId": patient.patient_id})
    path = workdir / "requests" / f"patient-view-{patient.patient_id}.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(body, indent=2))
    return path


def platelet_order(patient_id: str) -> dict[str, Any]:
    """A draft platelet order that says it is not irradiated (docs/clinical §17
    C14: an explicit negation in the product's name)."""
    return {
        "resourceType": "ServiceRequest",
        "id": "demo-platelets-1",
        "status": "draft",
        "intent": "order",
        "code": {"text": "Platelets, apheresis, 1 adult dose, non-irradiated"},
        "subject": {"reference": f"Patient/{patient_id}"},
    }


def _write_order_sign_request(workdir: Path, fhir_url: str, patient_id: str) -> Path:
    drafts = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": platelet_order(patient_id)}],
    }
    context = {"patientId": patient_id, "draftOrders": drafts}
    body = _hook_body("order-sign", fhir_url, context)
    path = workdir / "requests" / f"order-sign-{patient_id}.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(body, indent=2))
    return path


class DemoFeedbackError(ValueError):
    """A saved hook answer that has no card to give feedback on."""


def feedback_body(
    answer: Mapping[str, Any], now: datetime, outcome: str | None = None
) -> dict[str, Any]:
    """A CDS Hooks feedback body for the first card of a saved hook answer (the card's uuid):
    accepted with its first suggestion when it has one, else overridden with its first
    override reason."""
    cards = answer.get("cards") or []
    if not cards:
        raise DemoFeedbackError("the saved answer has no card to give feedback on")
    card = cards[0]
    suggestions = card.get("suggestions") or []
    chosen = outcome or ("accepted" if suggestions else "overridden")
    entry: dict[str, Any] = {
        "card": card["uuid"],
        "outcome": chosen,
        "outcomeTimestamp": now.isoformat(timespec="seconds"),
    }
    if chosen == "accepted":
        if not suggestions:
            raise DemoFeedbackError("the card has no suggestion to accept")
        entry["acceptedSuggestions"] = [{"id": suggestions[0]["uuid"]}]
    else:
        reasons = card.get("overrideReasons") or []
        reason = {"reason": reasons[0]} if reasons else {}
        entry["overrideReason"] = {**reason, "userComment": "demo feedback"}
    return {"feedback": [entry]}


def _print_demo(
    settings: DemoSettings,
    fhir_url: str,
    cohort: list[SyntheticPatient],
    anchor: date,
    stories: list[StoryPatient],
) -> None:
    workdir = settings.state_dir / "demo"
    service = f"http://127.0.0.1:{settings.port}"
    cli = Path(sys.executable).parent / "icaht-cds"
    state = f" --state-dir {settings.state_dir}" if settings.state_dir != DEFAULT_STATE_DIR else ""
    everyone: list[Seedable] = [*cohort, *stories]
    for patient in everyone:
        _write_request(workdir, fhir_url, patient)
    example = next(
        (p for p in cohort if p.plan.course == "aplastic" and not p.plan.ongoing), cohort[0]
    )
    request_file = workdir / "requests" / f"patient-view-{example.patient_id}.json"
    print()
    print(f"CDS service     {service}/cds-services   (health: {service}/healthz)")
    print(f"FHIR server     {fhir_url}   (sekmet-fhir, SQLite, loopback only)")
    print(f"cohort          {len(cohort)} synthetic patients, anchor (cohort's today) {anchor}")
    print(f"EHR client      {workdir / 'clients.json'} (demo ES384 key, JWT required)")
    print(f"requests        {workdir / 'requests'}/patient-view-<patient>.json")
    print(
        f"service log     {workdir / 'service.log'} (a 401/403 is bare by design: its reason is"
        ' logged there, event "refused")'
    )
    print()
    print(_patient_table(cohort))
    print()
    print(
        f"story patients  dated to {stories[0].anchor} (patient-view on that date shows at least"
        " the rules listed)"
    )
    print(_story_table(stories))
    print()
    print(f"Try it (each call signs a fresh JWT; patient {example.patient_id}):")
    print(
        f"  {_signed_curl(service, '/cds-services/icaht-patient-view', cli, state)}"
        f" -d @{request_file}"
    )
    print(
        f'  curl -s {service}/cds-services -H "Authorization: Bearer'
        f' $({cli} demo-token{state} /cds-services)"'
    )
    first = cohort[0].patient_id
    print(f"  curl -s '{fhir_url}/Observation?patient={first}&code=http://loinc.org|751-8'")
    print()
    _print_story_calls(workdir, service, fhir_url, cli=cli, state=state, stories=stories)
    print()
    print("SMART app (open-server demo launch, no OAuth), one URL per patient:")
    for patient in everyone:
        print(f"  {patient.patient_id}  {smart_demo_launch_url(service, fhir_url, patient)}")
    print()


def _signed_curl(service: str, path: str, cli: Path, state: str) -> str:
    return (
        f"curl -s {service}{path} -H 'Content-Type: application/json'"
        f' -H "Authorization: Bearer $({cli} demo-token{state} {path})"'
    )


def _print_story_calls(
    workdir: Path,
    service: str,
    fhir_url: str,
    *,
    cli: Path,
    state: str,
    stories: list[StoryPatient],
) -> None:
    """A story patient on patient-view, a non-irradiated platelet order for the same patient on
    order-sign (its answer saved), and feedback on that answer's first card."""
    story = next(s for s in stories if s.patient_id == ORDER_SIGN_STORY)
    view = workdir / "requests" / f"patient-view-{story.patient_id}.json"
    order = _write_order_sign_request(workdir, fhir_url, story.patient_id)
    answer = workdir / "answers" / f"order-sign-{story.patient_id}.json"
    answer.parent.mkdir(exist_ok=True)
    print(f"A story patient on patient-view ({story.patient_id}: {story.story}):")
    print(f"  {_signed_curl(service, '/cds-services/icaht-patient-view', cli, state)} -d @{view}")
    print(
        f"Order-sign: a non-irradiated platelet order for {story.patient_id} (day +{story.day},"
        " inside the irradiated-products window); the answer is saved for the feedback call:"
    )
    sign = _signed_curl(service, "/cds-services/icaht-order-sign", cli, state)
    print(f"  {sign} -d @{order} | tee {answer}")
    print(
        "Feedback on that answer's first card (its uuid is read from the saved answer; accepts"
        " its first suggestion, or overrides a card without one; --outcome overridden to"
        " override):"
    )
    path = "/cds-services/icaht-order-sign/feedback"
    print(
        f"  {_signed_curl(service, path, cli, state)} -w 'HTTP %{{http_code}}\\n'"
        f' -d "$({cli} demo-feedback {answer})"'
    )


def smart_demo_launch_url(service: str, fhir_url: str, patient: Seedable) -> str:
    """The app's launch page in fhirclient's fhirServiceUrl mode: reads the open local FHIR
    server directly, as an EHR launch would with a token (docs/decisions/0009)."""
    query = urlencode({"fhirServiceUrl": fhir_url, "patient": patient.patient_id})
    return f"{service}/smart/launch.html?{query}"


def _patient_table(cohort: list[SyntheticPatient]) -> str:
    rows = [("patient", "day 0", "course", "edge case", "expected early grade", "messy records")]
    for patient in cohort:
        plan = patient.plan
        grade = _expected(plan.expected_early_grade, plan.expected_early_status)
        rows.append(
            (
                plan.patient_id,
                plan.day0.isoformat(),
                plan.course + (" (ongoing)" if plan.ongoing else ""),
                plan.edge or "",
                grade,
                ", ".join(plan.messy),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows
    )


def _expected(grade: int | None, status: str) -> str:
    return status if grade is None else f"{grade} ({status})"


def _story_table(stories: Sequence[StoryPatient]) -> str:
    rows = [("story patient", "name", "day", "expected on patient-view", "story")]
    for story in stories:
        day = f"{story.day:+d}"
        rows.append(
            (story.patient_id, story.name, day, " ".join(story.expected_rules), story.story)
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
