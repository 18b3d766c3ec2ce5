"""`icaht-cds demo`: the README's first command, run for real (FHIR server, cohort, gunicorn)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from cds_service.fhir_server import free_port
from cds_service.synthetic.stories import STORIES

pytestmark = pytest.mark.fhir_server


def _demo_command(state_dir: Path, port: int, fhir_port: int, *extra: str) -> list[str]:
    return [
        *(sys.executable, "-u", "-m", "cds_service.cli", "demo", "--patients", "6"),
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
