"""Unit conversion to canonical units: ucumvert (UCUM on pint) plus the documented extras.

Order of resolution for one (kind, unit):
1. empty -> "unit-missing";
2. documented non-UCUM alias (count aliases only for count analytes, enzyme aliases for enzymes);
3. UCUM parse with ucumvert (cached) and pint conversion to the canonical unit;
4. for a molar unit, a documented analyte factor (units.yaml `molar`), never a guess.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

from fhir_mappings.tables import COUNT_KINDS, ENZYME_KINDS, PERCENT_KINDS, canonical_unit, units_doc

UCUM_SYSTEM = "http://unitsofmeasure.org"
UCUM_SYSTEMS = frozenset(
    {UCUM_SYSTEM, "urn:oid:2.16.840.1.113883.6.8", "http://unitsofmeasure.org/"}
)


@dataclass(frozen=True, slots=True)
class UnitError:
    """Why a unit cannot be converted: machine code + human text."""

    code: str  # "unit-missing" | "unknown-unit" | "incompatible-unit" | "molar-unit-no-factor"
    text: str


@dataclass(frozen=True, slots=True)
class MolarFactor:
    unit: str  # the molar unit the factor applies to
    factor: float  # canonical units per 1 `unit`
    source: str


_REGISTRY: Any = None


def _registry() -> Any:
    global _REGISTRY  # noqa: PLW0603 - one lazily built registry per process (~0.4 s to build)
    if _REGISTRY is None:
        from ucumvert import PintUcumRegistry  # noqa: PLC0415

        _REGISTRY = PintUcumRegistry()
    return _REGISTRY


@lru_cache(maxsize=4096)
def parse_ucum(unit: str) -> Any | None:
    """Parse a UCUM string to a pint quantity (1 x unit); None when it is not UCUM."""
    try:
        return _registry().from_ucum(unit)
    except Exception:  # ucumvert raises lark / pint errors of several kinds
        return None


@lru_cache(maxsize=4096)
def ucum_factor(unit: str, target: str) -> float | None:
    """Multiplier from `unit` to `target` when both are UCUM and commensurable, else None."""
    src = parse_ucum(unit)
    dst = parse_ucum(target)
    if src is None or dst is None:
        return None
    try:
        raw = float(cast(Any, src.to(dst)).magnitude) / float(dst.magnitude)
    except Exception:  # pint DimensionalityError and friends
        return None
    return float(f"{raw:.12g}")  # drop binary noise such as 1.0000000000000002


def _molar_table(doc: Mapping[str, Any]) -> dict[str, MolarFactor]:
    return {
        str(k): MolarFactor(str(v["unit"]), float(v["factor"]), str(v.get("source", "")))
        for k, v in doc.get("molar", {}).items()
    }


class UnitConverter:
    """Factor from a reported unit to the canonical unit of an analyte; results are cached."""

    def __init__(self, extra_molar: Mapping[str, MolarFactor] | None = None) -> None:
        doc = units_doc()
        self._count_aliases: dict[str, str] = dict(doc.get("count_aliases", {}))
        self._enzyme_aliases: dict[str, str] = dict(doc.get("enzyme_aliases", {}))
        self.molar: dict[str, MolarFactor] = _molar_table(doc)
        self.molar.update(extra_molar or {})
        self._cache: dict[tuple[str, str | None, str | None, str | None], float | UnitError] = {}

    def factor_for(
        self, kind: str, system: str | None, code: str | None, unit: str | None
    ) -> float | UnitError:
        """Factor for a FHIR Quantity's (system, code, unit): the UCUM code first, then `unit`."""
        key = (kind, system, code, unit)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._resolve_quantity(kind, system, code, unit)
            self._cache[key] = hit
        return hit

    def _resolve_quantity(
        self, kind: str, system: str | None, code: str | None, unit: str | None
    ) -> float | UnitError:
        candidates: list[str] = []
        if code and (system is None or system in UCUM_SYSTEMS):
            candidates.append(code.strip())
        if unit and unit.strip() not in candidates:
            candidates.append(unit.strip())
        if not candidates:
            return UnitError("unit-missing", "value has no unit; never guessed")
        first: UnitError | None = None
        for cand in candidates:
            res = self.factor(kind, cand)
            if isinstance(res, float):
                return res
            first = first or res
        assert first is not None
        return first

    def factor(self, kind: str, unit: str) -> float | UnitError:
        """Factor from one unit string to the canonical unit of `kind`."""
        if not unit:
            return UnitError("unit-missing", "value has no unit; never guessed")
        unit = unit.replace("\u00b5", "u").replace("\u03bc", "u")  # micro signs -> UCUM "u"
        target = canonical_unit(kind)
        if unit == "%" and kind not in PERCENT_KINDS:
            return UnitError("incompatible-unit", f"'%' is not a {kind} value")
        if kind in COUNT_KINDS:
            unit = self._count_aliases.get(unit, unit)
        elif kind in ENZYME_KINDS:
            unit = self._enzyme_aliases.get(unit, unit)
        f = ucum_factor(unit, target)
        if f is not None:
            return f
        if parse_ucum(unit) is None:
            return UnitError("unknown-unit", f"unit {unit!r} is neither UCUM nor a known alias")
        return self._molar(kind, unit, target)

    def _molar(self, kind: str, unit: str, target: str) -> float | UnitError:
        m = self.molar.get(kind)
        if m is not None:
            step = ucum_factor(unit, m.unit)
            if step is not None:
                return step * m.factor
        if ucum_factor(unit, "mol/L") is not None:
            return UnitError(
                "molar-unit-no-factor",
                f"{kind} in {unit!r}: no documented molar conversion configured",
            )
        return UnitError("incompatible-unit", f"unit {unit!r} cannot express {kind} ({target})")
