"""The management rules' configurable numbers in the service's settings (M22's threshold)."""

from __future__ import annotations

import pytest

from cds_service.settings import Settings, SettingsError


def test_the_iron_overload_threshold_is_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ICAHT_CDS_IRON_OVERLOAD_RBC_UNITS", raising=False)
    assert Settings.from_env().rule_settings.iron_overload_rbc_units is None


def test_a_centre_sets_the_iron_overload_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ICAHT_CDS_IRON_OVERLOAD_RBC_UNITS", "20")
    assert Settings.from_env().rule_settings.iron_overload_rbc_units == 20


@pytest.mark.parametrize("raw", ["0", "-3", "twenty", "2.5"])
def test_a_threshold_that_is_not_a_whole_number_of_units_is_refused(
    monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    monkeypatch.setenv("ICAHT_CDS_IRON_OVERLOAD_RBC_UNITS", raw)
    with pytest.raises(SettingsError, match="ICAHT_CDS_IRON_OVERLOAD_RBC_UNITS"):
        Settings.from_env()
