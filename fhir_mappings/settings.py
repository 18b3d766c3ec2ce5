"""MappingSettings: tables and knobs, built once and reused across requests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fhir_mappings.observations import Limits
from fhir_mappings.tables import (
    PERCENT_KINDS,
    AnalyteTable,
    build_analyte_table,
    default_analyte_table,
    units_doc,
)
from fhir_mappings.units import MolarFactor, UnitConverter
from fhir_mappings.valuesets import ValueSets, build_value_sets, default_value_sets

LocalTable = str | Path | Mapping[str, Any]


def _limits() -> dict[str, Limits]:
    doc = units_doc()["plausibility"]
    out = {k: Limits(float(v["low"]), float(v["high"])) for k, v in doc.items()}
    pct = out.pop("percent")
    for kind in PERCENT_KINDS:
        out[kind] = pct
    out["segmented_count"] = out["band_count"] = out["anc"]
    return out


@dataclass(frozen=True)
class MappingSettings:
    """Configuration of the mapping layer. Build once (tables are loaded here), reuse.

    extra_codes: local (non-LOINC) analyte tables, same format as data/analytes.yaml.
    extra_molar: laboratory-specific molar factors, e.g. {"crp": MolarFactor("nmol/L", f, src)}.
    extra_value_sets: additional therapy value-set files or dicts (format of
        data/valuesets.yaml), e.g. local order codes or a relapse code.
    use_unverified_codes: also use value-set codes marked `verified: false` (default: no).
    split_dose_window_days: doses of one CAR-T product within this many days form one course.
    lymphodepletion_window_days: lymphodepletion administrations counted before day 0.
    """

    extra_codes: tuple[LocalTable, ...] = ()
    extra_molar: Mapping[str, MolarFactor] = field(default_factory=dict)
    extra_value_sets: tuple[LocalTable, ...] = ()
    use_unverified_codes: bool = False
    split_dose_window_days: int = 14
    lymphodepletion_window_days: int = 14
    table: AnalyteTable = field(init=False, repr=False, compare=False)
    units: UnitConverter = field(init=False, repr=False, compare=False)
    limits: Mapping[str, Limits] = field(init=False, repr=False, compare=False)
    value_sets: ValueSets = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        table = default_analyte_table()
        if self.extra_codes:
            table = build_analyte_table(self.extra_codes)
        object.__setattr__(self, "table", table)
        object.__setattr__(self, "units", UnitConverter(self.extra_molar))
        object.__setattr__(self, "limits", _limits())
        vs = default_value_sets()
        if self.extra_value_sets or self.use_unverified_codes:
            vs = build_value_sets(self.extra_value_sets, use_unverified=self.use_unverified_codes)
        object.__setattr__(self, "value_sets", vs)


_DEFAULT: MappingSettings | None = None


def default_mapping_settings() -> MappingSettings:
    global _DEFAULT  # noqa: PLW0603 - built once per process
    if _DEFAULT is None:
        _DEFAULT = MappingSettings()
    return _DEFAULT
