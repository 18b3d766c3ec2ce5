"""The mutation list stays usable: it parses and every mutant still applies (issue 21).

scripts/mutation/mutants.yaml names, for each clinically important threshold or path, the exact
text a mutant replaces and the tests that must kill it (run by scripts/mutation/run.py, not in
CI). When a change moves or rewrites such a text, this test fails and the list is updated with
it, instead of the mutant silently no longer applying.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "scripts" / "mutation" / "run.py"


def _runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mutation_runner", RUNNER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


RUN = _runner()
MUTANTS = RUN.load_mutants()


def test_the_list_covers_the_audit() -> None:
    # the 35 thresholds and paths of the issue-21 audit plus those of issues 14 and 19
    assert len(MUTANTS) >= 45


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.id)
def test_original_text_is_found_exactly_once(mutant) -> None:  # type: ignore[no-untyped-def]
    assert RUN.occurrences(mutant, ROOT) == 1, f"{mutant.id}: {mutant.original!r} in {mutant.file}"


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.id)
def test_each_mutant_names_a_change_a_reason_and_existing_tests(mutant) -> None:  # type: ignore[no-untyped-def]
    assert mutant.replacement != mutant.original
    assert mutant.breaks and mutant.source
    for selection in mutant.tests:
        path = selection.split("::")[0]
        assert path.startswith("tests/unit/"), selection  # fast tier only
        assert (ROOT / path).is_file(), selection


def test_a_duplicate_id_is_refused(tmp_path: Path) -> None:
    entry = "  - {id: a, file: f, original: x, replacement: y, breaks: b, source: s, tests: t}\n"
    listed = tmp_path / "mutants.yaml"
    listed.write_text("mutants:\n" + entry + entry, encoding="utf-8")
    with pytest.raises(ValueError, match="duplicate"):
        RUN.load_mutants(listed)
