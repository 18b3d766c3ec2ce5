"""Every data file the packages read at run time ships in a built wheel.

The Docker image installs the project without -e (deploy/Dockerfile), so a file that no
package-data pattern of pyproject.toml matches is missing in production while every test here
passes from the source tree. This test keeps the patterns and the files in step.
"""

from __future__ import annotations

import fnmatch
import importlib
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# every top-level package (a directory with an __init__.py; tests/ has none)
PACKAGES = sorted(path.parent.name for path in ROOT.glob("*/__init__.py"))
CODE = {".py", ".pyc", ".pyi"}


def _patterns() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    data: dict[str, list[str]] = config["tool"]["setuptools"]["package-data"]
    return data["*"]


def _data_files() -> list[Path]:
    files = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*"):
            if path.is_file() and path.suffix not in CODE and "__pycache__" not in path.parts:
                files.append(path)
    return files


def test_there_are_data_files_to_check() -> None:
    names = {path.name for path in _data_files()}
    expected = {"app.js", "uPlot.iife.min.js", "LICENSE", "assessment-request.json", "alert.md.j2"}
    assert expected <= names


def test_every_data_file_matches_a_package_data_pattern() -> None:
    patterns = _patterns()
    unshipped = [
        str(path.relative_to(ROOT))
        for path in _data_files()
        if not any(fnmatch.fnmatch(path.name, pattern) for pattern in patterns)
    ]
    assert not unshipped, f"not in any package-data pattern of pyproject.toml: {unshipped}"


def test_the_licence_file_is_the_one_pyproject_names() -> None:
    """pyproject.toml says Apache-2.0; the repository carries that licence's text (issue 15)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert config["project"]["license"] == "Apache-2.0"
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_every_package_is_one_the_wheel_carries() -> None:
    """setuptools takes only the packages its `include` patterns name: a new top-level package
    (the demo kit, the command line) left out would be missing from an installed wheel."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include: list[str] = config["tool"]["setuptools"]["packages"]["find"]["include"]
    assert {"icaht", "cds_service", "icaht_cli", "icaht_demo"} <= set(PACKAGES)
    left_out = [p for p in PACKAGES if not any(fnmatch.fnmatch(p, i) for i in include)]
    assert not left_out, f"not in [tool.setuptools.packages.find] include: {left_out}"


def test_the_console_script_is_the_command_line_package() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    module, _, function = config["project"]["scripts"]["icaht-cds"].partition(":")
    assert module.split(".")[0] == "icaht_cli"
    loaded = importlib.import_module(module)
    assert callable(getattr(loaded, function))
