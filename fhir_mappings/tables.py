"""Code and unit tables loaded from the package data files (and optional local additions)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, cast

import yaml

from icaht.record import Analyte

LOINC = "http://loinc.org"

# Differential components: used only to derive an ANC (docs/clinical §1.3), never reported.
PERCENT_KINDS = frozenset(
    {
        "neutrophil_percent_automated",
        "neutrophil_percent_manual",
        "neutrophil_percent_unspecified",
        "segmented_percent",
        "band_percent",
        "cd4_percent",
    }
)
COUNT_COMPONENT_KINDS = frozenset({"segmented_count", "band_count"})
COUNT_KINDS = frozenset(
    {"anc", "wbc", "lymphocytes", "cd4", "platelets", "segmented_count", "band_count"}
)
ENZYME_KINDS = frozenset({"ldh", "alt", "ast"})
ANALYTE_KINDS = frozenset(a.value for a in Analyte)
ALL_KINDS = ANALYTE_KINDS | PERCENT_KINDS | COUNT_COMPONENT_KINDS


@dataclass(frozen=True, slots=True)
class CodeEntry:
    """One laboratory code of the analyte table."""

    system: str
    code: str
    kind: str  # an Analyte value or a differential component kind
    priority: int = 1
    method: str = "unspecified"  # manual | automated | unspecified
    units: tuple[str, ...] = ()
    verified: bool = True
    analyte: Analyte | None = None  # set from kind by the loader (None for components)


def canonical_unit(kind: str) -> str:
    """Canonical UCUM unit of an analyte or differential component."""
    if kind in PERCENT_KINDS:
        return "%"
    if kind in COUNT_COMPONENT_KINDS:
        return "/uL"
    from icaht.record import CANONICAL_UNIT  # noqa: PLC0415 - local to keep the import light

    return CANONICAL_UNIT[Analyte(kind)]


def read_package_yaml(name: str) -> dict[str, Any]:
    """Read a YAML file shipped in fhir_mappings/data."""
    text = resources.files("fhir_mappings").joinpath("data", name).read_text(encoding="utf-8")
    return cast(dict[str, Any], yaml.load(text, Loader=yaml.CSafeLoader))


def read_yaml_or_mapping(source: str | Path | Mapping[str, Any]) -> Mapping[str, Any]:
    """A local configuration given as a path to a YAML/JSON file or as a dict."""
    if isinstance(source, Mapping):
        return source
    text = Path(source).read_text(encoding="utf-8")
    return cast(dict[str, Any], yaml.load(text, Loader=yaml.CSafeLoader))


def _entries(doc: Mapping[str, Any]) -> list[CodeEntry]:
    system = str(doc.get("system", LOINC))
    out: list[CodeEntry] = []
    for row in doc.get("codes", ()):
        kind = str(row["kind"])
        if kind not in ALL_KINDS:
            raise ValueError(f"analyte table: unknown kind {kind!r} for code {row['code']!r}")
        out.append(
            CodeEntry(
                system=str(row.get("system", system)),
                code=str(row["code"]),
                kind=kind,
                priority=int(row.get("priority", 1)),
                method=str(row.get("method", "unspecified")),
                units=tuple(str(u) for u in row.get("units", ())),
                verified=bool(row.get("verified", True)),
                analyte=Analyte(kind) if kind in ANALYTE_KINDS else None,
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class AnalyteTable:
    """(system, code) -> CodeEntry, plus excluded codes with their reason."""

    entries: Mapping[tuple[str, str], CodeEntry]
    excluded: Mapping[tuple[str, str], str]

    def lookup(self, system: str, code: str) -> CodeEntry | None:
        return self.entries.get((system, code))

    def codes_for(self, kind: str, system: str = LOINC) -> tuple[str, ...]:
        return tuple(e.code for e in self.entries.values() if e.kind == kind and e.system == system)


def build_analyte_table(extra: tuple[str | Path | Mapping[str, Any], ...] = ()) -> AnalyteTable:
    """The shipped LOINC table plus local code tables (same format; `system` per file or row)."""
    docs: list[Mapping[str, Any]] = [default_analyte_doc()]
    docs.extend(read_yaml_or_mapping(x) for x in extra)
    entries: dict[tuple[str, str], CodeEntry] = {}
    excluded: dict[tuple[str, str], str] = {}
    for doc in docs:
        for e in _entries(doc):
            entries[(e.system, e.code)] = e
        system = str(doc.get("system", LOINC))
        for row in doc.get("excluded", ()):
            excluded[(str(row.get("system", system)), str(row["code"]))] = str(row["reason"])
    return AnalyteTable(entries=entries, excluded=excluded)


@cache
def default_analyte_doc() -> dict[str, Any]:
    return read_package_yaml("analytes.yaml")


@cache
def default_analyte_table() -> AnalyteTable:
    return build_analyte_table()


@cache
def units_doc() -> dict[str, Any]:
    return read_package_yaml("units.yaml")


def loinc_codes_by_analyte() -> dict[str, tuple[str, ...]]:
    """LOINC codes per analyte or differential component, from the shipped table.

    For prefetch templates: every code whose value can reach the record (the components are
    needed to derive ANC), never the excluded ones.
    """
    table = default_analyte_table()
    out: dict[str, list[str]] = {}
    for e in table.entries.values():
        if e.system == LOINC:
            out.setdefault(e.kind, []).append(e.code)
    return {k: tuple(v) for k, v in out.items()}


def loinc_codes(kinds: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """All LOINC codes of the given kinds (default: every kind), in table order."""
    by_kind = loinc_codes_by_analyte()
    wanted = by_kind.keys() if kinds is None else kinds
    return tuple(c for k in wanted for c in by_kind.get(k, ()))
