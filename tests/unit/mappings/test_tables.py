"""The analyte table and unit data are complete and consistent with the engine's contract."""

from __future__ import annotations

import pytest

from fhir_mappings import default_mapping_settings
from fhir_mappings.tables import ALL_KINDS, LOINC, canonical_unit, default_analyte_table
from fhir_mappings.units import UnitError
from icaht.record import CANONICAL_UNIT, Analyte

TABLE = default_analyte_table()


def test_every_analyte_has_codes_limits_and_a_canonical_unit() -> None:
    limits = default_mapping_settings().limits
    for analyte in Analyte:
        assert TABLE.codes_for(analyte.value), analyte
        assert analyte.value in limits, analyte
        assert canonical_unit(analyte.value) == CANONICAL_UNIT[analyte]


def test_every_kind_in_the_table_is_known() -> None:
    assert {e.kind for e in TABLE.entries.values()} <= ALL_KINDS


@pytest.mark.parametrize(
    "entry", [e for e in TABLE.entries.values() if e.system == LOINC], ids=lambda e: e.code
)
def test_usual_units_of_every_code_convert(entry) -> None:  # type: ignore[no-untyped-def]
    conv = default_mapping_settings().units
    for unit in entry.units:
        factor = conv.factor(entry.kind, unit)
        if entry.kind == "temperature" and unit == "[degF]":
            # a temperature scale: no factor, an affine conversion ((F - 32) * 5/9)
            assert isinstance(factor, UnitError)
            conversion = conv.conversion_for(entry.kind, None, unit, unit)
            assert not isinstance(conversion, UnitError)
            assert conversion.apply(212.0) == pytest.approx(100.0)
        elif entry.kind == "crp" and unit == "nmol/L":
            assert isinstance(factor, UnitError)  # molar CRP needs a configured factor
            assert factor.code == "molar-unit-no-factor"
        else:
            assert isinstance(factor, float), (entry.code, unit, factor)


def test_qualitative_fibrinogen_is_excluded_not_mapped() -> None:
    assert TABLE.lookup(LOINC, "16859-1") is None
    assert (LOINC, "16859-1") in TABLE.excluded


def test_blood_gas_hb_has_lower_priority() -> None:
    assert TABLE.entries[(LOINC, "718-7")].priority < TABLE.entries[(LOINC, "30313-1")].priority
