"""The service runs on its runtime dependencies alone: `./dev demo` and the container image
install no extra (issue 16), so every distribution the serving code imports must be reachable
from pyproject's [project].dependencies (with the extras they name, e.g. gunicorn[gevent])."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]

# What `icaht-cds serve` and `icaht-cds demo` load (the CLI, the app with its store and
# warm-up, gunicorn's settings and the gevent worker class it loads by name), with every module
# of a distribution outside ALLOWED unimportable, as in a venv without the extras: optional
# imports (pint's numpy, mako's pygments) fall back as they would there.
_IMPORT_THE_SERVICE = """
import json, re, sys
from importlib import metadata

ALLOWED = set(json.loads(sys.argv[1]))
OWNERS = metadata.packages_distributions()

class NotInstalled:
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        owners = {re.sub(r"[-_.]+", "-", d).lower() for d in OWNERS.get(top, [])}
        if owners and not owners & ALLOWED:
            raise ModuleNotFoundError(f"No module named {name!r} (not a runtime dependency)")
        return None

sys.meta_path.insert(0, NotInstalled())
import icaht_cli.main, icaht_demo.runner, cds_service.wsgi, cds_service.gunicorn_conf
import cds_service.gevent_worker
from cds_service.app import create_app
create_app()
print("gunicorn.workers.ggevent" in sys.modules and "gevent" in sys.modules)
"""


def _runtime_closure(roots: list[str]) -> set[str]:
    """The distributions `pip install .` brings: the roots and, recursively, their
    requirements whose markers hold for the extras asked of them."""
    found: set[str] = set()
    seen: set[tuple[str, frozenset[str]]] = set()
    pending = [Requirement(text) for text in roots]
    while pending:
        requirement = pending.pop()
        key = (canonicalize_name(requirement.name), frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        found.add(key[0])
        extras = requirement.extras or {""}
        for text in metadata.requires(requirement.name) or []:
            dependency = Requirement(text)
            marker = dependency.marker
            if marker is None or any(marker.evaluate({"extra": extra}) for extra in extras):
                pending.append(dependency)
    return found


def test_the_serving_code_needs_only_runtime_dependencies(tmp_path: Path) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    allowed = _runtime_closure(project["dependencies"]) | {canonicalize_name(project["name"])}
    env = os.environ | {
        "ICAHT_CDS_AUTH": "none",
        "ICAHT_CDS_DATABASE_URL": f"sqlite:///{tmp_path / 'store.sqlite3'}",
    }
    run = subprocess.run(
        [sys.executable, "-c", _IMPORT_THE_SERVICE, json.dumps(sorted(allowed))],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env=env,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[-1] == "True"  # it did load the serving stack
