"""The checked-in per-rule request fixtures are exactly what their generator writes.

Re-runs tests/data/requests/generate.py into a temporary directory (as a command, the way a
developer regenerates them) and compares file names and bytes, so the fixtures cannot drift
from the script, and the README states the evaluation date the script uses.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "requests"
GENERATOR = FIXTURES / "generate.py"


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("request_fixtures_generator", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def test_generator_output_equals_the_checked_in_fixtures(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(GENERATOR), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    generated = {p.name: p.read_bytes() for p in tmp_path.glob("request-*.json")}
    checked_in = {p.name: p.read_bytes() for p in FIXTURES.glob("request-*.json")}
    assert sorted(generated) == sorted(checked_in), "regenerate: see tests/data/requests/README.md"
    stale = [name for name, data in generated.items() if checked_in[name] != data]
    assert stale == [], f"fixtures differ from the generator's output: {stale}"


def test_generator_is_deterministic(tmp_path: Path) -> None:
    generator = load_generator()
    first = [p.read_bytes() for p in generator.write_all(tmp_path / "a")]
    again = [p.read_bytes() for p in generator.write_all(tmp_path / "b")]
    assert first == again
    names = [s.name for s in generator.SCENARIOS]
    assert len(names) == len(set(names))


def test_readme_states_the_generators_evaluation_date() -> None:
    generator = load_generator()
    readme = (FIXTURES / "README.md").read_text(encoding="utf-8")
    stated = (
        f"Evaluation date: {generator.EVALUATION_DATE.isoformat()}, time zone {generator.TIMEZONE}"
    )
    assert stated in readme
