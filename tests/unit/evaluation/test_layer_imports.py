"""The evaluation layer stands under both the service and the batch tool (issue 15): it imports
only the engine and the mapping, and the batch tool no longer reaches into the service."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def imported_packages(package: str) -> set[str]:
    """The top-level packages the modules of `package` import (standard library left out)."""
    found: set[str] = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - {"__future__"}


def test_patient_evaluation_imports_only_the_engine_and_the_mapping() -> None:
    assert imported_packages("patient_evaluation") == {
        "icaht",
        "fhir_mappings",
        "patient_evaluation",
    }


def test_the_batch_tool_does_not_import_the_service() -> None:
    imported = imported_packages("cohort")
    assert "patient_evaluation" in imported
    assert "cds_service" not in imported
