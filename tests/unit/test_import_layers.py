"""The packages import one way only (issue 15): no import runs upward, none goes in a loop.

Every module of the source packages is read with `ast` (not imported): module-level and
function-local imports, `import x`, `from x import y`, relative imports and
`importlib.import_module("x")` with a literal name all count, under `if TYPE_CHECKING:` too.

    layer  package              may import (besides the standard library and third parties)
    -----  -------------------  -------------------------------------------------------------
      5    icaht_cli            everything: the command line `icaht-cds` stands on top
      4    icaht_demo           cds_service, patient_evaluation, fhir_mappings, icaht
      3    cds_service, cohort  patient_evaluation, fhir_mappings, icaht (siblings: neither
                                imports the other)
      2    patient_evaluation   fhir_mappings, icaht (what an assessment is built from)
      1    fhir_mappings        icaht
      0    icaht                the standard library only (the pure engine)
      -    cards_templates      data (Jinja2 templates): imports nothing, anyone may read it

A package imports only packages of a lower layer; one of the same layer is a sibling and is
refused as well. On failure the message names the importing file and line and the module it
imports.
"""

from __future__ import annotations

import ast
import itertools
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

LAYER: dict[str, int] = {
    "icaht": 0,
    "fhir_mappings": 1,
    "patient_evaluation": 2,
    "cds_service": 3,
    "cohort": 3,
    "icaht_demo": 4,
    "icaht_cli": 5,
}
DATA = frozenset({"cards_templates"})  # packages of data files: import nothing, read by anyone
STDLIB_ONLY = frozenset({"icaht"})  # besides its own modules
PACKAGES = frozenset(LAYER) | DATA


@dataclass(frozen=True)
class Import:
    file: Path  # relative to the tree's root
    line: int
    module: str  # absolute dotted name of the module imported (or imported from)
    name: str | None = None  # what `from module import name` takes

    @property
    def importer(self) -> str:
        return self.file.parts[0]

    @property
    def imported(self) -> str:
        return self.module.split(".")[0]

    def __str__(self) -> str:
        taken = f" ({self.name})" if self.name else ""
        return f"{self.file}:{self.line} imports {self.module}{taken}"


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(root: Path, path: Path) -> Iterator[Import]:
    """Every import in one source file, relative ones made absolute."""
    name = module_name(root, path)
    # the package a relative import starts from: the module's own for __init__.py
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    file = path.relative_to(root)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(file, node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(package, node.module, node.level)
            for alias in node.names:
                yield Import(file, node.lineno, base, alias.name)
        elif _is_import_module_call(node):
            assert isinstance(node, ast.Call)
            argument = node.args[0]
            assert isinstance(argument, ast.Constant) and isinstance(argument.value, str)
            yield Import(file, node.lineno, argument.value)


def _absolute(package: str, module: str | None, level: int) -> str:
    if level == 0:
        return module or ""
    parts = package.split(".")
    base = parts[: len(parts) - (level - 1)]
    return ".".join([*base, module] if module else base)


def _is_import_module_call(node: ast.AST) -> bool:
    if not isinstance(node, ast.Call) or not node.args:
        return False
    function = node.func
    named = (isinstance(function, ast.Attribute) and function.attr == "import_module") or (
        isinstance(function, ast.Name) and function.id in {"import_module", "__import__"}
    )
    argument = node.args[0]
    return named and isinstance(argument, ast.Constant) and isinstance(argument.value, str)


def source_packages(root: Path) -> list[str]:
    """The top-level packages of the tree (directories with an __init__.py), tests excluded."""
    return sorted(
        path.parent.name
        for path in root.glob("*/__init__.py")
        if path.parent.name not in {"tests", "benchmarks", "scripts"}
    )


def all_imports(root: Path, packages: list[str]) -> list[Import]:
    return [
        found
        for package in packages
        for path in sorted((root / package).rglob("*.py"))
        if "__pycache__" not in path.parts
        for found in imports_of(root, path)
    ]


def layer_violations(imports: list[Import]) -> list[str]:
    """Each import of a project package that the layer table does not allow."""
    problems = []
    for found in imports:
        importer, imported = found.importer, found.imported
        if importer in STDLIB_ONLY and imported != importer:
            if imported not in sys.stdlib_module_names:
                problems.append(f"{found}: {importer} imports the standard library only")
            continue
        if imported == importer or imported not in PACKAGES:
            continue  # its own modules, the standard library, a third party
        if imported in DATA:
            continue
        if importer in DATA:
            problems.append(f"{found}: {importer} holds data and imports no package")
        elif LAYER[imported] >= LAYER[importer]:
            relation = "a sibling" if LAYER[imported] == LAYER[importer] else "a higher layer"
            problems.append(
                f"{found}: {importer} (layer {LAYER[importer]}) may not import {imported} "
                f"(layer {LAYER[imported]}, {relation})"
            )
    return problems


def package_cycles(imports: list[Import]) -> list[list[str]]:
    """Each package-level import loop, as the list of packages around it (first = last)."""
    edges: dict[str, set[str]] = {}
    for found in imports:
        if found.imported in PACKAGES and found.imported != found.importer:
            edges.setdefault(found.importer, set()).add(found.imported)
    return _cycles(edges)


def _cycles(edges: Mapping[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []
    seen: set[frozenset[str]] = set()

    def visit(node: str, path: list[str]) -> None:
        for target in sorted(edges.get(node, ())):
            if target in path:
                loop = [*path[path.index(target) :], target]
                if (key := frozenset(loop)) not in seen:
                    seen.add(key)
                    found.append(loop)
            else:
                visit(target, [*path, target])

    for start in sorted(edges):
        visit(start, [start])
    return found


def where(imports: list[Import], importer: str, imported: str) -> str:
    return ", ".join(str(i) for i in imports if i.importer == importer and i.imported == imported)


# -- the project -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def project_imports() -> list[Import]:
    return all_imports(ROOT, source_packages(ROOT))


def test_every_source_package_has_a_place_in_the_layer_table() -> None:
    packages = source_packages(ROOT)
    assert set(packages) <= PACKAGES, f"not in the layer table: {set(packages) - PACKAGES}"
    assert {"icaht", "fhir_mappings", "cds_service", "cohort", "icaht_demo", "icaht_cli"} <= set(
        packages
    )


def test_the_walk_sees_the_imports_it_must_judge(project_imports: list[Import]) -> None:
    """Not vacuous: the command line's imports of the service, the demo kit and the cohort
    tool are found, the function-local ones included."""
    modules = {(str(i.file), i.module) for i in project_imports}
    assert ("icaht_cli/main.py", "icaht_demo.runner") in modules
    assert ("icaht_cli/main.py", "cds_service.app") in modules  # inside _serve
    assert ("icaht_cli/cohort.py", "cohort.runner") in modules  # inside run_command
    assert len(project_imports) > 500


def test_no_import_runs_upward_or_sideways(project_imports: list[Import]) -> None:
    problems = layer_violations(project_imports)
    assert not problems, "imports against the layer order:\n" + "\n".join(problems)


def test_no_package_imports_another_in_a_loop(project_imports: list[Import]) -> None:
    cycles = package_cycles(project_imports)
    described = [
        " -> ".join(loop)
        + " ("
        + "; ".join(where(project_imports, a, b) for a, b in itertools.pairwise(loop))
        + ")"
        for loop in cycles
    ]
    assert not cycles, "package import loops:\n" + "\n".join(described)


# -- the checker itself, on a small tree ---------------------------------------------------


def _tree(root: Path, files: Mapping[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_the_checker_names_file_line_and_module_of_every_kind_of_import(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "icaht/__init__.py": "import json\nimport yaml\n",
            "fhir_mappings/__init__.py": "from icaht import assess\n",
            "fhir_mappings/deep/__init__.py": "",
            "fhir_mappings/deep/mod.py": (
                "from .. import tables\n"
                "def late():\n    from cds_service import app\n"
                "    import importlib\n    importlib.import_module('cohort.grading')\n"
            ),
            "cds_service/__init__.py": "",
            "cds_service/hooks.py": "from cohort.grading import grade\n",
            "cohort/__init__.py": "",
            "cohort/grading.py": "from .model import Row\nfrom cds_service import hooks\n",
            "cohort/model.py": "",
            "icaht_cli/__init__.py": "import cds_service, cohort, icaht_demo\n",
            "cards_templates/__init__.py": "import icaht\n",
        },
    )
    imports = all_imports(root, source_packages(root))
    problems = layer_violations(imports)
    assert problems == [
        "cards_templates/__init__.py:1 imports icaht: cards_templates holds data and imports "
        "no package",
        "cds_service/hooks.py:1 imports cohort.grading (grade): cds_service (layer 3) may not "
        "import cohort (layer 3, a sibling)",
        "cohort/grading.py:2 imports cds_service (hooks): cohort (layer 3) may not import "
        "cds_service (layer 3, a sibling)",
        "fhir_mappings/deep/mod.py:3 imports cds_service (app): fhir_mappings (layer 1) may not "
        "import cds_service (layer 3, a higher layer)",
        "fhir_mappings/deep/mod.py:5 imports cohort.grading: fhir_mappings (layer 1) may not "
        "import cohort (layer 3, a higher layer)",
        "icaht/__init__.py:2 imports yaml: icaht imports the standard library only",
    ]
    assert package_cycles(imports) == [["cds_service", "cohort", "cds_service"]]
    written = {str(i) for i in imports}
    assert "cohort/grading.py:1 imports cohort.model (Row)" in written  # relative, made absolute
    assert "fhir_mappings/deep/mod.py:1 imports fhir_mappings (tables)" in written


def test_the_checker_accepts_imports_down_the_layers(tmp_path: Path) -> None:
    root = _tree(
        tmp_path,
        {
            "icaht/__init__.py": "from icaht.record import X\nimport datetime\n",
            "icaht/record.py": "",
            "fhir_mappings/__init__.py": "import icaht\nimport yaml\n",
            "cds_service/__init__.py": "import fhir_mappings, icaht, flask\n",
            "icaht_demo/__init__.py": "from cds_service import app\n",
            "icaht_cli/__init__.py": "import cds_service, cohort, icaht_demo, cards_templates\n",
        },
    )
    imports = all_imports(root, source_packages(root))
    assert layer_violations(imports) == []
    assert package_cycles(imports) == []
