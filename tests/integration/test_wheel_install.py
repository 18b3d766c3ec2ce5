"""A plain install of the built wheel renders cards (issue 15's packaging item, issue 17's image).

The Docker image installs the wheel, not the source tree: a template or data file that the wheel
does not carry is missing in production while every other test passes from the source. Here the
wheel is built from this tree and installed (without its dependencies) into a fresh venv whose
dependencies come from the project's venv by a path entry, so nothing is downloaded but the
build backend. The check then runs in isolated mode from an empty directory: `cds_service` and
`cards_templates` can only come from the installed wheel.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PIP = [sys.executable, "-m", "pip"]
NOT_SOURCE = (".git", ".venv", ".state", "build", "dist", "*.egg-info", "__pycache__", ".*_cache")

RENDER_ONE_CARD = """
import json, sys
from datetime import date, timedelta
import cards_templates, cds_service
from cds_service.cards import CardInputs, status_card
from icaht import assess
from icaht.record import Analyte, CarTInfusion, LabValue, PatientRecord, TherapyTimeline

day0 = date(2026, 6, 1)
labs = [LabValue(Analyte.ANC, 2000 if d in (0, 12) else 300, day0 + timedelta(d))
        for d in range(13)]
record = PatientRecord("p1", tuple(labs), TherapyTimeline(infusions=(CarTInfusion(day0),)))
today = day0 + timedelta(12)
card = status_card(CardInputs("icaht-patient-view", "p1", assess(record, evaluation_date=today),
                              (), (), today)).as_json()
print(json.dumps({"card": card, "files": [cds_service.__file__, cards_templates.__file__]}))
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a fresh venv holding the wheel built from this tree."""
    work = tmp_path_factory.mktemp("wheel")
    # a clean copy of the tree: setuptools would reuse a stale build/ of an earlier build
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    build = subprocess.run(
        [*PIP, "wheel", "--no-deps", "--wheel-dir", str(work), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if build.returncode != 0:
        pytest.fail(f"the wheel did not build:\n{build.stderr[-3000:]}", pytrace=False)
    (wheel,) = work.glob("icaht_cds-*.whl")
    target = work / "venv"
    venv.create(target, with_pip=False)
    python = target / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    install = subprocess.run(
        # --ignore-installed: the source tree's icaht_cds.egg-info, seen through PYTHONPATH or
        # the working directory, must not pass for an installed icaht-cds
        [*PIP, "--python", str(python), "install", "--no-deps", "--ignore-installed", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if install.returncode != 0:
        pytest.fail(f"the wheel did not install:\n{install.stderr[-3000:]}", pytrace=False)
    # then the project's dependencies by a plain path entry (after the install: pip would take
    # the editable icaht-cds found there for installed). Its .pth files, the editable finder of
    # the source tree among them, are not processed, so the source tree stays out of reach
    (Path(site) / "project-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def test_the_installed_wheel_renders_a_status_card(installed: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [str(installed), "-I", "-c", RENDER_ONE_CARD],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout)
    venv_dir = str(installed.parent.parent)
    assert all(path.startswith(venv_dir) for path in answer["files"]), answer["files"]
    card = answer["card"]
    assert card["summary"].startswith("ICAHT day +12")
    assert "**Early N-ICAHT (days 0-30)" in card["detail"]


GENERATE_ONE_PATIENT = """
import json
from datetime import date
import icaht_cli, icaht_demo
from icaht_demo.synthetic import generate_patient
patient = generate_patient(0, seed=1, anchor=date(2026, 6, 1))
print(json.dumps({"type": patient.bundle["type"], "files": [icaht_cli.__file__,
                                                           icaht_demo.__file__]}))
"""


def test_the_installed_wheel_carries_the_command_line_and_the_demo_kit(
    installed: Path, tmp_path: Path
) -> None:
    """`icaht-cds` (the console script of the wheel) starts and offers every command, and the
    demo kit it imports comes from the wheel, not from the source tree."""
    script = installed.parent / "icaht-cds"
    done = subprocess.run(
        [str(script), "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": str(installed.parent), "PYTHONSAFEPATH": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    commands = ("serve", "migrate", "demo", "demo-token", "demo-feedback", "rules", "seed")
    for command in (*commands, "check-config", "purge", "report", "cohort"):
        assert command in done.stdout, command
    generated = subprocess.run(
        [str(installed), "-I", "-c", GENERATE_ONE_PATIENT],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert generated.returncode == 0, generated.stderr[-3000:]
    answer = json.loads(generated.stdout)
    assert answer["type"] == "transaction"
    venv_dir = str(installed.parent.parent)
    assert all(path.startswith(venv_dir) for path in answer["files"]), answer["files"]
