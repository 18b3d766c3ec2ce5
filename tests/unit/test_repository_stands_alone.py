"""The repository stands on its own (issue 15): its code, tests, data and docs cite the
project's own clinical specification (docs/clinical/) and design (docs/design.md), never the
team's texts outside the repository, and every docs/ path they cite exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEXT_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".j2", ".toml", ".cfg", ".sh", ".txt", ".json"}
SKIPPED_DIRS = {".git", ".venv", ".state", "build", "node_modules", "vendor", "__pycache__"}
# the team's shared texts, and paths of one machine's checkout (/work/main, /work/wt/...)
OUTSIDE_TEXTS = re.compile(
    r"clinical-rules|DESIGN\.md|DEVELOPERS\.md|\.\./shared|/work/(?:shared|main|wt)\b"
)
# a decision record's heading that tells where a reading came from (history, not a citation)
ALLOWED = {
    "docs/decisions/0002-icaht-grading-readings.md": (
        "## Found wrong or unclear in the shared clinical-rules.md (corrected in docs/clinical/)"
    ),
}
DOC_PATH = re.compile(r"docs/(?:clinical/[\w.-]+\.md|design\.md)")
THIS_FILE = Path(__file__).resolve()


def _text_files() -> list[Path]:
    found = []
    for path in ROOT.rglob("*"):
        parts = set(path.relative_to(ROOT).parts)
        if parts & SKIPPED_DIRS or any(part.endswith(".egg-info") for part in parts):
            continue
        wanted = path.suffix in TEXT_SUFFIXES or path.name in {"dev", "run"}
        if wanted and path.is_file() and path.resolve() != THIS_FILE:
            found.append(path)
    return found


FILES = _text_files()


def test_the_walk_reads_the_source_packages_and_the_docs() -> None:
    names = {path.relative_to(ROOT).as_posix() for path in FILES}
    assert "icaht/early.py" in names
    assert "docs/clinical/02-early-icaht.md" in names
    assert "README.md" in names


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_citation_of_a_text_outside_the_repository(path: Path) -> None:
    relative = path.relative_to(ROOT).as_posix()
    allowed = ALLOWED.get(relative)
    offending = [
        f"{relative}:{number}: {line.strip()}"
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if OUTSIDE_TEXTS.search(line) and line.strip() != allowed
    ]
    assert not offending, "cite docs/clinical/ or docs/design.md instead:\n" + "\n".join(offending)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_cited_specification_file_exists(path: Path) -> None:
    cited = set(DOC_PATH.findall(path.read_text(errors="replace")))
    missing = sorted(doc for doc in cited if not (ROOT / doc).is_file())
    assert not missing, f"{path.relative_to(ROOT)} cites missing files: {missing}"
