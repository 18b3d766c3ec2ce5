"""EASIX family (docs/clinical/07-easix.md §7)."""

from __future__ import annotations

import math

from icaht import easix, m_easix, s_easix


def test_easix_value_and_log2() -> None:
    result = easix(ldh=250, creatinine=1.0, platelets=100)
    assert result.value == 2.5
    assert result.log2 == math.log2(2.5)
    assert result.above_korell_cutoff is False


def test_korell_cutoff_is_strictly_above_4_67() -> None:
    assert easix(ldh=467, creatinine=1.0, platelets=100).above_korell_cutoff is False
    assert easix(ldh=468, creatinine=1.0, platelets=100).above_korell_cutoff is True


def test_zero_factor_gives_value_without_log2() -> None:
    result = easix(ldh=0, creatinine=1.0, platelets=100)
    assert (result.value, result.log2) == (0, None)


def test_negative_factor_is_not_computable() -> None:
    result = easix(ldh=250, creatinine=-1.0, platelets=100)
    assert (result.value, result.log2) == (None, None)


def test_zero_platelets_is_not_computable() -> None:
    assert easix(ldh=250, creatinine=1.0, platelets=0).value is None


def test_missing_factor_is_not_computable() -> None:
    result = easix(ldh=250, platelets=100)
    assert (result.value, result.log2, result.reason) == (None, None, "a factor is missing")


def test_m_easix_converts_crp_from_mg_per_l() -> None:
    # CRP 50 mg/L = 5 mg/dL -> 250 x 5 / 100
    result = m_easix(ldh=250, crp=50, platelets=100)
    assert result.value == 12.5
    assert result.above_korell_cutoff is None


def test_s_easix() -> None:
    assert s_easix(ldh=250, platelets=100).value == 2.5
