"""Derived ANC from the same specimen (docs/clinical/01-inputs.md §1.3, §11.2)."""

from __future__ import annotations

from datetime import date

import pytest
from mapping_helpers import lab_by_source, labs_of, load, reasons

from fhir_mappings import map_patient
from icaht.record import Analyte, LabValue


@pytest.fixture(scope="module")
def anc() -> dict[date, list[LabValue]]:
    result = map_patient(load("derived_anc.json"), patient_id="p", tz="Europe/Berlin")
    out: dict[date, list[LabValue]] = {}
    for lab in labs_of(result, Analyte.ANC):
        out.setdefault(lab.day, []).append(lab)
    return out


def test_automated_percent_times_wbc(anc) -> None:  # type: ignore[no-untyped-def]
    [lab] = anc[date(2026, 5, 1)]
    assert (lab.value, lab.provenance, lab.comparator) == (360.0, "derived", None)
    assert lab.source_id == "Observation/a-wbc,Observation/a-neut-pct"


def test_manual_segmented_plus_band_same_specimen(anc) -> None:  # type: ignore[no-untyped-def]
    # same Specimen reference, different timestamps: 1500 x (20 + 6) % = 390
    [lab] = anc[date(2026, 5, 2)]
    assert (lab.value, lab.provenance) == (390.0, "derived")


def test_manual_preferred_over_automated(anc) -> None:  # type: ignore[no-untyped-def]
    [lab] = anc[date(2026, 5, 3)]
    assert lab.value == 410.0  # 1000 x 41 % (manual), not 520 (automated)
    assert "b-manual-pct" in (lab.source_id or "")


def test_automated_measured_anc_reported_as_not_preferred() -> None:
    result = map_patient(load("derived_anc.json"), patient_id="p", tz="Europe/Berlin")
    assert reasons(result)["Observation/b-auto-anc"] == "anc-not-preferred"


def test_percent_from_another_time_not_combined(anc) -> None:  # type: ignore[no-untyped-def]
    assert date(2026, 5, 4) not in anc  # WBC 2000 > 500: no bound either


def test_derived_bound_when_wbc_at_most_500(anc) -> None:  # type: ignore[no-untyped-def]
    [lab] = anc[date(2026, 5, 5)]
    assert (lab.value, lab.comparator, lab.provenance) == (300.0, "<=", "derived-bound")


def test_derived_bound_from_less_than_wbc(anc) -> None:  # type: ignore[no-untyped-def]
    [lab] = anc[date(2026, 5, 6)]
    assert (lab.value, lab.comparator, lab.provenance) == (100.0, "<=", "derived-bound")


def test_no_bound_when_anc_measured(anc) -> None:  # type: ignore[no-untyped-def]
    [lab] = anc[date(2026, 5, 7)]
    assert (lab.value, lab.provenance) == (200.0, "measured")


def test_no_bound_above_500(anc) -> None:  # type: ignore[no-untyped-def]
    assert date(2026, 5, 8) not in anc


def test_date_only_values_are_not_the_same_specimen(anc) -> None:  # type: ignore[no-untyped-def]
    assert date(2026, 5, 9) not in anc


def test_wbc_values_are_kept(anc) -> None:  # type: ignore[no-untyped-def]
    result = map_patient(load("derived_anc.json"), patient_id="p", tz="Europe/Berlin")
    assert lab_by_source(result, "Observation/m-wbc").value == 1500.0
    assert len(labs_of(result, Analyte.WBC)) == 9
