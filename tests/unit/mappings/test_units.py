"""Unit conversion to canonical units (docs/clinical §11.3), through real fixtures."""

from __future__ import annotations

import pytest
from mapping_helpers import lab_by_source, load, reasons

from fhir_mappings import MolarFactor, default_mapping_settings, map_patient, warm_up
from fhir_mappings.units import UnitConverter, UnitError, parse_ucum
from icaht.record import Analyte

CASES = [
    ("anc-k-ul", Analyte.ANC, 1200.0, 0),
    ("anc-10-9-l", Analyte.ANC, 450.0, 0),
    ("anc-per-ul", Analyte.ANC, 350.0, 0),
    ("anc-cells-mm3", Analyte.ANC, 820.0, 0),
    ("anc-K-uL-alias", Analyte.ANC, 700.0, 0),
    ("anc-G-L-alias", Analyte.ANC, 2100.0, 0),
    ("wbc-x10e3", Analyte.WBC, 3400.0, 0),
    ("lymph-mm3", Analyte.LYMPHOCYTES, 250.0, 0),
    ("plt-10-3-ul", Analyte.PLATELETS, 42.0, 0),
    ("plt-per-ul", Analyte.PLATELETS, 18.0, 0),
    ("plt-G-L", Analyte.PLATELETS, 9.0, 0),
    ("plt-K-uL", Analyte.PLATELETS, 150.0, 0),
    ("hb-g-dl", Analyte.HEMOGLOBIN, 7.9, 0),
    ("hb-g-l", Analyte.HEMOGLOBIN, 9.5, 0),
    # CTCAE v5: 6.2 mmol/L <-> 10.0 g/dL (monomer basis); factor 1.611 -> 9.988
    ("hb-mmol-l", Analyte.HEMOGLOBIN, 10.0, 0.02),
    ("crp-mg-l", Analyte.CRP, 36.0, 0),
    ("crp-mg-dl", Analyte.CRP, 36.0, 0),
    ("ferritin-pmol", Analyte.FERRITIN, 1000.0, 0.001),
    ("ferritin-ug-l", Analyte.FERRITIN, 850.0, 0),
    ("creat-umol", Analyte.CREATININE, 1.0, 0.001),
    ("fib-g-l", Analyte.FIBRINOGEN, 150.0, 0),
    ("tg-mmol", Analyte.TRIGLYCERIDES, 265.7, 0.001),
    ("ldh-ukat", Analyte.LDH, 270.0, 0),
    ("igg-g-l", Analyte.IGG, 380.0, 0),
    ("alt-iu", Analyte.ALT, 57.0, 0),
]


@pytest.fixture(scope="module")
def result():  # type: ignore[no-untyped-def]
    return map_patient([load("units.json")], patient_id="p1")


@pytest.mark.parametrize(("oid", "analyte", "expected", "rel"), CASES)
def test_each_unit_converts_to_canonical(result, oid, analyte, expected, rel) -> None:  # type: ignore[no-untyped-def]
    lab = lab_by_source(result, f"Observation/{oid}")
    assert lab.analyte is analyte
    if rel:
        assert lab.value == pytest.approx(expected, rel=rel)
    else:
        assert lab.value == expected


def test_molar_crp_rejected_without_factor(result) -> None:  # type: ignore[no-untyped-def]
    assert reasons(result)["Observation/crp-nmol"] == "molar-unit-no-factor"


def test_g_per_l_is_never_gauss_nor_a_mass_for_hb(result) -> None:  # type: ignore[no-untyped-def]
    # "G/L" is a count alias only; for Hb it must not be read as g/L.
    assert reasons(result)["Observation/hb-G-L-not-mass"] == "incompatible-unit"


def test_percent_is_never_an_absolute_count(result) -> None:  # type: ignore[no-untyped-def]
    assert reasons(result)["Observation/anc-percent"] == "incompatible-unit"


def test_hb_mmol_factor_matches_ctcae_boundaries() -> None:
    conv = UnitConverter()
    f = conv.factor("hemoglobin", "mmol/L")
    assert isinstance(f, float)
    assert 6.2 * f == pytest.approx(10.0, abs=0.02)
    # CTCAE prints 8.0 g/dL <-> 4.9 mmol/L (truncated); the monomer factor gives 4.966
    assert 8.0 / f == pytest.approx(4.966, abs=0.001)
    assert int(8.0 / f * 10) / 10 == 4.9
    # another molar prefix goes through UCUM first, then the documented factor
    g = conv.factor("hemoglobin", "umol/L")
    assert isinstance(g, float)
    assert g == pytest.approx(f / 1000)


def test_configured_molar_crp_factor_is_used() -> None:
    conv = UnitConverter({"crp": MolarFactor("nmol/L", 0.105, "lab X, 105 kDa pentamer")})
    assert conv.factor("crp", "nmol/L") == pytest.approx(0.105)


def test_unknown_and_missing_units_are_errors() -> None:
    conv = UnitConverter()
    missing = conv.factor_for("anc", None, None, None)
    assert isinstance(missing, UnitError)
    assert missing.code == "unit-missing"
    unknown = conv.factor("platelets", "per field")
    assert isinstance(unknown, UnitError)
    assert unknown.code == "unknown-unit"


def test_ucum_code_wins_over_display_unit() -> None:
    conv = UnitConverter()
    # unit text is a label; the UCUM code is authoritative
    assert conv.factor_for("anc", "http://unitsofmeasure.org", "10*9/L", "x10^9/l") == 1000.0
    # a non-UCUM system: its code is not read as UCUM, the unit text is tried
    assert conv.factor_for("anc", "urn:local", "XYZ", "/uL") == 1.0


def test_parsing_is_cached() -> None:
    parse_ucum.cache_clear()
    parse_ucum("10*3/uL")
    parse_ucum("10*3/uL")
    assert parse_ucum.cache_info().hits >= 1


def test_warm_up_fills_the_factor_cache() -> None:
    warm_up()
    cache = default_mapping_settings().units._cache
    assert cache[("hemoglobin", None, "mmol/L", "mmol/L")] == 1.611
    assert cache[("anc", None, "10*3/uL", "10*3/uL")] == 1000.0


@pytest.mark.parametrize(
    ("kind", "unit", "factor"),
    [
        ("creatinine", "\u00b5mol/L", 1 / 88.4),
        ("platelets", "10^3/\u03bcL", 1.0),
        ("anc", "10E9/L", 1000.0),
        ("anc", "cells/\u00b5L", 1.0),
        ("crp", "mg/dl", 10.0),
        ("hemoglobin", "g/dl", 1.0),
    ],
)
def test_spelling_variants(kind: str, unit: str, factor: float) -> None:
    got = UnitConverter().factor(kind, unit)
    assert isinstance(got, float)
    assert got == pytest.approx(factor, rel=1e-9)
