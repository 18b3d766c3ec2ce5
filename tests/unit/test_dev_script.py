"""`./dev`'s set-up: the demo installs the service alone, the tests add their extras to the same
venv, and neither reinstalls what is there (issue 16).

A real install takes minutes and 1.4 GB, so the Python given to `./dev` (PYTHON) is a stub
that records its calls: `-m venv DIR` makes DIR/bin/* point back to the stub, `-c` runs the
real interpreter (the version check). The script under test is the real `dev`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

_STUB = """#!/usr/bin/env bash
echo "$(basename "$0") $*" >> "$DEV_LOG"
if [[ $1 == -c ]]; then exec "$REAL_PYTHON" "$@"; fi
if [[ $1 == -m && $2 == venv ]]; then
  mkdir -p "$3/bin"
  for tool in python icaht-cds ruff mypy pytest sekmet checkov; do
    ln -sf "$STUB" "$3/bin/$tool"
  done
fi
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name in ("dev", "pyproject.toml", "requirements/constraints.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, tmp_path / name)
    (tmp_path / "requirements/fhir-server.txt").write_text("sekmet-fhir==0.1.1\n")
    (tmp_path / "requirements/deploy-tools.txt").write_text("checkov==3.3.30\n")
    stub = tmp_path / "stub-python"
    stub.write_text(_STUB)
    stub.chmod(0o755)
    return tmp_path


def _dev(project: Path, *args: str) -> list[str]:
    """What `./dev ARGS` ran, one line per call of the stub."""
    log = project / "calls.log"
    log.write_text("")
    env = os.environ | {
        "PYTHON": str(project / "stub-python"),
        "STUB": str(project / "stub-python"),
        "REAL_PYTHON": sys.executable,
        "DEV_LOG": str(log),
    }
    subprocess.run([str(project / "dev"), *args], env=env, check=True, capture_output=True)
    return log.read_text().splitlines()


def _tool_installs(calls: list[str]) -> list[str]:
    """The deploy validators' installs (the tools venv: tests only)."""
    return [c for c in calls if "requirements/deploy-tools.txt" in c]


def _installs(calls: list[str]) -> list[str]:
    """The service's pip installs: what follows `-e`."""
    return [c.split(" -e ", 1)[1] for c in calls if " -e " in c and c.startswith("python -m pip")]


def test_the_demo_installs_the_service_alone_and_the_tests_add_their_extras(
    project: Path,
) -> None:
    first_demo = _dev(project, "demo", "--port", "8081")
    assert _installs(first_demo) == ["."]
    assert _tool_installs(first_demo) == []  # the demo needs no deploy validators
    assert first_demo[-1] == "icaht-cds demo --port 8081"
    first_test = _dev(project, "test", "-q")
    assert _installs(first_test) == [".[cohort,dev,otel,spark]"]
    assert len(_tool_installs(first_test)) == 1
    again = _dev(project, "demo")  # the extras stay; no venv is made, nothing installed
    assert not [c for c in again if " -m " in c]
    assert again[-1] == "icaht-cds demo"
    second_test = _dev(project, "test")
    assert _installs(second_test) == [] and _tool_installs(second_test) == []


def test_changed_pins_reinstall_what_the_command_needs(project: Path) -> None:
    assert _installs(_dev(project, "test")) == [".[cohort,dev,otel,spark]"]
    with (project / "pyproject.toml").open("a") as pyproject:
        pyproject.write("# a change\n")
    assert _installs(_dev(project, "demo")) == ["."]
    assert _installs(_dev(project, "test")) == [".[cohort,dev,otel,spark]"]
