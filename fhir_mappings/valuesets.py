"""Therapy value sets: (system, code) and name matching of CodeableConcepts to concepts."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from fhir_mappings.resources import codings
from fhir_mappings.tables import read_package_yaml, read_yaml_or_mapping

# Text that means "a test about blood products", not a blood product (e.g. "platelet count").
_NOT_A_PRODUCT = re.compile(
    r"\b(count|antibod\w*|function|aggregation|crossmatch|type and screen)\b"
)


@dataclass(frozen=True, slots=True)
class Concept:
    group: str  # car_t, lymphodepletion, gcsf, gmcsf, tpo_ra, anticoagulant, transfusion, ...
    name: str | None  # e.g. "filgrastim", "rbc"; None when the code does not name a product
    grade: int | None = None  # CRS grade carried by the code
    verified: bool = True


@dataclass(frozen=True, slots=True)
class ValueSets:
    """Lookup tables built from valuesets.yaml (plus local additions)."""

    exact: Mapping[tuple[str, str], tuple[Concept, ...]]
    prefixes: tuple[tuple[str, str, Concept], ...]
    names: tuple[tuple[re.Pattern[str], Concept], ...]
    system_alias: Mapping[str, str]  # URI -> key (cpt, icd10pcs, ...)

    def match(self, concept: Any, groups: frozenset[str] | None = None) -> tuple[Concept, ...]:
        """Concepts a CodeableConcept codes for (codes first, names only when no code matched)."""
        found: list[Concept] = []
        for system, code, _ in codings(concept):
            found.extend(self._by_code(system, code))
        if not found:
            found.extend(self._by_text(concept))
        if groups is not None:
            found = [c for c in found if c.group in groups]
        return tuple(dict.fromkeys(found))

    def _by_code(self, system: str, code: str) -> list[Concept]:
        key = self.system_alias.get(system)
        if key is None or not code:
            return []
        norm = _norm(key, code)
        out = list(self.exact.get((key, norm), ()))
        out.extend(c for k, p, c in self.prefixes if k == key and norm.startswith(p))
        return out

    def _by_text(self, concept: Any) -> list[Concept]:
        if not isinstance(concept, Mapping):
            return []
        parts = [str(concept.get("text") or "")]
        parts.extend(d for _, _, d in codings(concept))
        text = " ".join(p for p in parts if p).lower()
        if not text:
            return []
        hits = [c for pattern, c in self.names if pattern.search(text)]
        if _NOT_A_PRODUCT.search(text):
            hits = [c for c in hits if c.group != "transfusion"]
        return hits


def _norm(system_key: str, code: str) -> str:
    code = code.strip().upper()
    return code.replace(".", "") if system_key == "icd10cm" else code


def _pattern(names: Iterable[str]) -> re.Pattern[str] | None:
    words = [re.escape(n.lower()) for n in names if n]
    if not words:
        return None
    words.sort(key=len, reverse=True)
    return re.compile(r"(?<![\w-])(?:" + "|".join(words) + r")(?![\w-])")


def build_value_sets(extra: tuple[Any, ...] = (), *, use_unverified: bool = False) -> ValueSets:
    """The shipped value sets plus local files/dicts of the same format."""
    docs = [read_package_yaml("valuesets.yaml"), *(read_yaml_or_mapping(x) for x in extra)]
    alias: dict[str, str] = {}
    exact: dict[tuple[str, str], list[Concept]] = {}
    prefixes: list[tuple[str, str, Concept]] = []
    names: list[tuple[re.Pattern[str], Concept]] = []
    for doc in docs:
        for key, uris in (doc.get("systems") or {}).items():
            alias.update({uri: str(key) for uri in uris})
            alias[str(key)] = str(key)
        for row in doc.get("concepts") or ():
            _add_concept(row, exact, prefixes, names, use_unverified)
    return ValueSets(
        exact={k: tuple(v) for k, v in exact.items()},
        prefixes=tuple(prefixes),
        names=tuple(names),
        system_alias=alias,
    )


def _add_concept(
    row: Mapping[str, Any],
    exact: dict[tuple[str, str], list[Concept]],
    prefixes: list[tuple[str, str, Concept]],
    names: list[tuple[re.Pattern[str], Concept]],
    use_unverified: bool,
) -> None:
    group = str(row["group"])
    name = row.get("name")
    base = Concept(group, None if name is None else str(name))
    pattern = _pattern(row.get("names") or ())
    if pattern is not None:
        names.append((pattern, base))
    for c in row.get("codes") or ():
        verified = bool(c.get("verified", False))
        if not verified and not use_unverified:
            continue
        grade = c.get("grade")
        concept = Concept(group, base.name, None if grade is None else int(grade), verified)
        key = str(c["system"])
        code = _norm(key, str(c["code"]))
        if c.get("prefix"):
            prefixes.append((key, code, concept))
        else:
            exact.setdefault((key, code), []).append(concept)


@cache
def default_value_sets() -> ValueSets:
    return build_value_sets()


def codes_of(vs_doc: Mapping[str, Any], group: str) -> list[dict[str, Any]]:
    """Every code row of a group (for reports and tests)."""
    out: list[dict[str, Any]] = []
    for row in vs_doc.get("concepts") or ():
        if row.get("group") == group:
            out.extend({"name": row.get("name"), **c} for c in row.get("codes") or ())
    return out
