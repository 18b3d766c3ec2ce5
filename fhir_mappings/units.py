"""Unit conversion to canonical units: ucumvert (UCUM on pint) plus the documented extras.

Order of resolution for one (kind, unit):
1. empty -> "unit-missing";
2. documented non-UCUM alias (count aliases only for count analytes, enzyme aliases for enzymes);
3. UCUM parse with ucumvert (cached) and pint conversion to the canonical unit;
4. for a molar unit, a documented analyte factor (units.yaml `molar`), never a guess;
5. a temperature scale (an offset unit such as [degF]) is no factor: `conversion_for` gives the
   affine conversion (value * factor + offset; (F - 32) * 5/9 for [degF] -> Cel).
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


# Analytes measured on a scale with a zero point (temperature): converted affinely, never by a
# factor alone.
OFFSET_KINDS = frozenset({"temperature"})


def _micro(unit: str) -> str:
    return unit.replace("\u00b5", "u").replace("\u03bc", "u")  # micro signs -> UCUM "u"


def _candidates(system: str | None, code: str | None, unit: str | None) -> list[str]:
    """A Quantity's unit strings to try: the UCUM code first, then the human `unit`."""
    out: list[str] = []
    if code and (system is None or system in UCUM_SYSTEMS):
        out.append(code.strip())
    if unit and unit.strip() not in out:
        out.append(unit.strip())
    return out


@dataclass(frozen=True, slots=True)
class UnitError:
    """Why a unit cannot be converted: machine code + human text."""

    code: str  # "unit-missing" | "unknown-unit" | "incompatible-unit" | "molar-unit-no-factor"
    text: str


@dataclass(frozen=True, slots=True)
class Conversion:
    """canonical = value * factor + offset; the offset is 0 except between temperature scales."""

    factor: float
    offset: float = 0.0

    def apply(self, value: float) -> float:
        return value * self.factor + self.offset


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
    """Multiplier from `unit` to `target` when both are UCUM and commensurable, else None.

    None also between temperature scales with different zero points ([degF] -> Cel): no
    multiplier converts them (see `ucum_affine`)."""
    affine = ucum_affine(unit, target)
    if affine is None or affine[1] != 0.0:
        return None
    return affine[0]


@lru_cache(maxsize=4096)
def ucum_affine(unit: str, target: str) -> tuple[float, float] | None:
    """(factor, offset) with target = value * factor + offset, when both are UCUM and
    commensurable, else None. pint converts offset units (Cel, [degF], K) correctly only as
    quantities with a magnitude, so the line is taken through the values 0 and 1."""
    src = parse_ucum(unit)
    dst = parse_ucum(target)
    if src is None or dst is None:
        return None
    try:
        quantity = _registry().Quantity
        scale = float(dst.magnitude)

        def at(value: float) -> float:
            q = quantity(value * float(src.magnitude), src.units).to(dst.units)
            return float(cast(Any, q).magnitude) / scale

        offset = at(0.0)
        factor = at(1.0) - offset
    except Exception:  # pint DimensionalityError and friends
        return None
    if abs(offset) < 1e-9:  # a plain factor: drop binary noise such as 1.0000000000000002
        return float(f"{factor:.12g}"), 0.0
    return factor, offset


def _molar_table(doc: Mapping[str, Any]) -> dict[str, MolarFactor]:
    return {
        str(k): MolarFactor(str(v["unit"]), float(v["factor"]), str(v.get("source", "")))
        for k, v in doc.get("molar", {}).items()
    }


MAX_CACHED_CONVERSIONS = 4096  # far more than the (analyte, unit) pairs a centre reports


class UnitConverter:
    """Factor from a reported unit to the canonical unit of an analyte; results are cached."""

    def __init__(self, extra_molar: Mapping[str, MolarFactor] | None = None) -> None:
        doc = units_doc()
        self._count_aliases: dict[str, str] = dict(doc.get("count_aliases", {}))
        self._enzyme_aliases: dict[str, str] = dict(doc.get("enzyme_aliases", {}))
        self._temperature_aliases: dict[str, str] = dict(doc.get("temperature_aliases", {}))
        self.molar: dict[str, MolarFactor] = _molar_table(doc)
        self.molar.update(extra_molar or {})
        self._cache: dict[tuple[str, str | None, str | None, str | None], float | UnitError] = {}
        # the finished conversion per (kind, system, code, unit): one dict look-up per value
        # (issue 20); bounded, since the unit texts come from the EHR
        self._conversions: dict[
            tuple[str, str | None, str | None, str | None], Conversion | UnitError
        ] = {}

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

    def conversion_for(
        self, kind: str, system: str | None, code: str | None, unit: str | None
    ) -> Conversion | UnitError:
        """Conversion of a FHIR Quantity's value to the canonical unit: the factor, or for a
        temperature scale with another zero point ([degF] -> Cel) the affine conversion."""
        key = (kind, system, code, unit)
        hit = self._conversions.get(key)
        if hit is None:
            hit = self._conversion(kind, system, code, unit)
            if len(self._conversions) < MAX_CACHED_CONVERSIONS:
                self._conversions[key] = hit
        return hit

    def _conversion(
        self, kind: str, system: str | None, code: str | None, unit: str | None
    ) -> Conversion | UnitError:
        factor = self.factor_for(kind, system, code, unit)
        if isinstance(factor, float):
            return Conversion(factor)
        if kind not in OFFSET_KINDS:
            return factor
        target = canonical_unit(kind)
        for cand in _candidates(system, code, unit):
            affine = ucum_affine(self._alias(kind, _micro(cand)), target)
            if affine is not None:
                return Conversion(*affine)
        return factor

    def _resolve_quantity(
        self, kind: str, system: str | None, code: str | None, unit: str | None
    ) -> float | UnitError:
        candidates = _candidates(system, code, unit)
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
        unit = _micro(unit)
        target = canonical_unit(kind)
        if unit == "%" and kind not in PERCENT_KINDS:
            return UnitError("incompatible-unit", f"'%' is not a {kind} value")
        unit = self._alias(kind, unit)
        f = ucum_factor(unit, target)
        if f is not None:
            return f
        if parse_ucum(unit) is None:
            return UnitError("unknown-unit", f"unit {unit!r} is neither UCUM nor a known alias")
        return self._molar(kind, unit, target)

    def _alias(self, kind: str, unit: str) -> str:
        """The UCUM unit a documented non-UCUM string of this kind of analyte means."""
        if kind in COUNT_KINDS:
            return self._count_aliases.get(unit, unit)
        if kind in ENZYME_KINDS:
            return self._enzyme_aliases.get(unit, unit)
        if kind in OFFSET_KINDS:
            return self._temperature_aliases.get(unit, unit)
        return unit

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
