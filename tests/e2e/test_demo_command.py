"""`icaht-cds demo`: the README's first command, run for real (FHIR server, cohort, gunicorn)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from icaht_demo.fhir_server import free_port
from icaht_demo.runner import DemoStartError, ServiceProcess, wait_until_started
from icaht_demo.synthetic.stories import STORIES

pytestmark = pytest.mark.fhir_server


def _demo_command(state_dir: Path, port: int, fhir_port: int, *extra: str) -> list[str]:
    return [
        *(sys.executable, "-u", "-m", "icaht_cli", "demo", "--patients", "6"),
        *("--port", str(port), "--fhir-port", str(fhir_port), "--state-dir", str(state_dir)),
        *extra,
    ]


def _read_until(process: subprocess.Popen[str], marker: str, timeout: float = 120) -> str:
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        lines.append(line)
        if marker in line:
            return "".join(lines)
    raise AssertionError(f"demo never printed {marker!r}; output:\n{''.join(lines)}")


def _rules(answer: dict[str, Any]) -> set[str]:
    return {
        c["extension"]["org.icaht.rule"]
        for c in answer["cards"]
        if "org.icaht.rule" in c["extension"]
    }


def _closed(url: str) -> bool:
    try:
        requests.get(url, timeout=2)
    except requests.ConnectionError:
        return True
    return False


@pytest.fixture
def state_dir(tmp_path: Path, project_root: Path) -> Path:
    # reuse the installed FHIR server venv; everything else (database, logs) is fresh
    (tmp_path / "fhir-venv").symlink_to(project_root / ".state/fhir-venv")
    return tmp_path


def test_demo_serves_what_it_prints_and_stops_cleanly_on_ctrl_c(state_dir: Path) -> None:
    port, fhir_port = free_port(), free_port()
    process = subprocess.Popen(
        _demo_command(state_dir, port, fhir_port),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        output = _read_until(process, "Ctrl-C stops")
        assert "loading 6 synthetic patients" in output
        assert f"loading {len(STORIES)} story patients" in output
        for patient in range(6):
            assert f"icaht-s1-p00{patient}" in output
        commands = [line.strip() for line in output.splitlines() if line.strip().startswith("curl")]
        # patient-view of a cohort patient and of a story patient, discovery (all signed), FHIR
        # search; then order-sign (its answer saved with tee) and feedback on that answer
        [order_sign] = [c for c in commands if "/icaht-order-sign " in c]
        [feedback] = [c for c in commands if "/icaht-order-sign/feedback " in c]
        simple = [c for c in commands if c not in (order_sign, feedback)]
        assert len(simple) == 4
        for command in simple:  # exactly as a user pastes them, twice (fresh JWT per call)
            for _ in range(2):
                shell = ["bash", "-c", f"{command} -o /dev/null -w '%{{http_code}}'"]
                status = subprocess.run(shell, capture_output=True, text=True, check=False)
                assert status.stdout == "200", (command, status.stdout, status.stderr)
        hook = next(c for c in commands if "icaht-patient-view" in c)
        answer = subprocess.run(["bash", "-c", hook], capture_output=True, text=True, check=True)
        [card] = json.loads(answer.stdout)["cards"]
        assert card["extension"]["org.icaht.assessment"]["early_grade"] in (3, 4)
        story_view = next(c for c in commands if "patient-view-icaht-story-" in c)
        story = subprocess.run(
            ["bash", "-c", story_view], capture_output=True, text=True, check=True
        )
        # the day +40 story: platelets 8 (M14) after 2 platelet units in 7 days (M15)
        assert {"M14", "M15"} <= _rules(json.loads(story.stdout))
        signed = subprocess.run(
            ["bash", "-c", order_sign], capture_output=True, text=True, check=True
        )
        assert "M01" in _rules(json.loads(signed.stdout))  # the non-irradiated platelet order
        saved = order_sign.rsplit("| tee ", 1)[1]
        assert json.loads(Path(saved).read_text()) == json.loads(signed.stdout)
        answer = subprocess.run(
            ["bash", "-c", feedback], capture_output=True, text=True, check=True
        )
        assert answer.stdout.strip() == "HTTP 200", answer.stderr
        service = f"http://127.0.0.1:{port}"
        assert card["links"][0]["url"] == f"{service}/smart/launch.html"
        launches = [w for w in output.split() if w.startswith(f"{service}/smart/launch.html?")]
        assert len(launches) == 6 + len(STORIES)  # one per patient, each reading the FHIR server
        assert all(f"fhirServiceUrl=http%3A%2F%2F127.0.0.1%3A{fhir_port}" in u for u in launches)
        page = requests.get(launches[0], timeout=10)
        assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
        # a bare 401, its reason in the service log the banner names
        bare = requests.get(f"{service}/cds-services", timeout=10)
        assert bare.status_code == 401
        log = state_dir / "demo" / "service.log"
        assert f"service log     {log}" in output
        refusals = [
            json.loads(line) for line in log.read_text().splitlines() if '"refused"' in line
        ]
        assert {(r["event"], r["status"], r["reason"]) for r in refusals} == {
            ("refused", 401, "missing_token")
        }
        # a second demo on the same ports: one line, a non-zero status, and the first one serves
        second = subprocess.run(
            _demo_command(state_dir, port, fhir_port, "--no-wait"),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert second.returncode == 1
        assert second.stderr == _taken(port, "--port") + "\n"
        assert second.stdout == ""
        assert requests.get(f"{service}/healthz", timeout=10).ok
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    assert process.returncode == 0
    assert _closed(f"http://127.0.0.1:{port}/healthz")
    assert _closed(f"http://127.0.0.1:{fhir_port}/fhir/metadata")


def test_a_second_run_reuses_the_loaded_cohort(state_dir: Path) -> None:
    port, fhir_port = free_port(), free_port()
    first = subprocess.run(
        _demo_command(state_dir, port, fhir_port, "--no-wait"),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert first.returncode == 0, first.stdout + first.stderr
    assert "loading 6 synthetic patients" in first.stdout
    second = subprocess.run(
        _demo_command(state_dir, port, fhir_port, "--no-wait"),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert second.returncode == 0, second.stdout + second.stderr
    assert "already loaded" in second.stdout and "loading" not in second.stdout


def _taken(port: int, option: str) -> str:
    return (
        f"icaht-cds demo: port {port} is in use (by another demo?): stop it, or choose another"
        f" with {option}"
    )


@contextmanager
def _held_port() -> Iterator[int]:
    """A port held by a listening socket that is not the demo's."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize("option", ["--port", "--fhir-port"])
def test_a_taken_port_is_said_in_one_line_before_anything_starts(
    state_dir: Path, option: str
) -> None:
    with _held_port() as held:
        port, fhir_port = (held, free_port()) if option == "--port" else (free_port(), held)
        demo = subprocess.run(
            _demo_command(state_dir, port, fhir_port, "--no-wait"),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert demo.returncode == 1
    assert demo.stderr == _taken(held, option) + "\n"
    assert "CDS service" not in demo.stdout and "loading" not in demo.stdout
    assert _closed(f"http://127.0.0.1:{port}/healthz")
    assert _closed(f"http://127.0.0.1:{fhir_port}/fhir/metadata")


def test_a_service_dying_at_start_up_shows_its_own_error(state_dir: Path) -> None:
    log = state_dir / "demo" / "service.log"
    log.parent.mkdir()
    log.write_text("a line of an earlier run\n")
    port, fhir_port = free_port(), free_port()
    demo = subprocess.run(
        _demo_command(state_dir, port, fhir_port, "--no-wait"),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        # a configuration the service refuses at start (the demo leaves this variable alone)
        env={**os.environ, "ICAHT_CDS_DISCOVERY_AUTH": "sometimes"},
    )
    assert demo.returncode == 1
    assert "loading 6 synthetic patients" in demo.stdout  # it got as far as starting the service
    assert "CDS service" not in demo.stdout  # no banner
    assert demo.stderr.startswith(
        f"icaht-cds demo: the service exited while starting with code 2; the end of its log"
        f" ({log}):\n"
    )
    assert (
        "icaht-cds: configuration error: ICAHT_CDS_DISCOVERY_AUTH must be 'jwt' or 'none'"
        in demo.stderr
    )
    assert "an earlier run" not in demo.stderr  # only this start's lines
    assert _closed(f"http://127.0.0.1:{fhir_port}/fhir/metadata")


@contextmanager
def _health_server(body: dict[str, str]) -> Iterator[str]:
    """An HTTP server whose /healthz answers `body`: an older process holding the port."""

    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            payload = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def child(tmp_path: Path) -> Iterator[ServiceProcess]:
    """A started process that stays up without answering: the demo's just-started service
    before it listens."""
    log = tmp_path / "service.log"
    log.write_text("")
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield ServiceProcess(process, log, 0)
    finally:
        process.kill()
        process.wait()


@pytest.mark.parametrize("answer", [{"status": "ok"}, {"status": "ok", "instance": "older"}])
def test_a_health_answer_of_another_process_is_not_taken_for_the_started_service(
    child: ServiceProcess, answer: dict[str, str]
) -> None:
    with _health_server(answer) as url, pytest.raises(DemoStartError) as raised:
        wait_until_started(child, url, "this-start")
    port = url.rsplit(":", 1)[1]
    assert str(raised.value) == _taken(int(port), "--port").removeprefix("icaht-cds demo: ")


def test_the_started_service_is_known_by_its_instance_id(child: ServiceProcess) -> None:
    with _health_server({"status": "ok", "instance": "this-start"}) as url:
        wait_until_started(child, url, "this-start")  # returns: its own answer
