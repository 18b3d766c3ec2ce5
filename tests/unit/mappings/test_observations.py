"""Observation rules (docs/clinical §1.1): status, time, comparators, duplicates, guards."""

from __future__ import annotations

from datetime import date

import pytest
from mapping_helpers import FIXTURES, lab_by_source, labs_of, load, reasons

from fhir_mappings import MappingSettings, map_patient
from fhir_mappings.units import MolarFactor
from icaht.record import Analyte


@pytest.fixture(scope="module")
def result():  # type: ignore[no-untyped-def]
    return map_patient(load("rules.json"), patient_id="p1", tz="UTC")


def test_comparator_less_than_is_carried(result) -> None:  # type: ignore[no-untyped-def]
    lab = lab_by_source(result, "Observation/lt")
    assert (lab.analyte, lab.value, lab.comparator) == (Analyte.ANC, 100.0, "<")


@pytest.mark.parametrize(
    ("oid", "reason"),
    [
        ("eie", "entered-in-error"),
        ("cancelled", "status-not-usable"),
        ("registered", "status-not-usable"),
        ("unknown-status", "status-not-usable"),
        ("no-unit", "unit-missing"),
        ("bad-unit", "unknown-unit"),
        ("negative", "implausible"),
        ("hb-150", "implausible"),
        ("plt-10-9-mixup", "implausible"),
        ("absent", "no-value"),
        ("no-time", "no-time"),
        ("month-only", "imprecise-time"),
        ("fib-qual", "excluded-code"),
        ("heart-rate", "unknown-code"),
        ("hb-gas", "lower-priority-code"),
    ],
)
def test_left_out_with_reason(result, oid, reason) -> None:  # type: ignore[no-untyped-def]
    assert reasons(result)[f"Observation/{oid}"] == reason
    assert all(lab.source_id != f"Observation/{oid}" for lab in result.record.labs)


def test_statuses_used(result) -> None:  # type: ignore[no-untyped-def]
    prelim = lab_by_source(result, "Observation/prelim")
    assert prelim.preliminary is True and prelim.value == 19.0
    assert lab_by_source(result, "Observation/amended").preliminary is False
    assert lab_by_source(result, "Observation/corrected").value == 31.0
    assert any(w.code == "preliminary" for w in result.warnings)


def test_duplicate_by_content_collapsed(result) -> None:  # type: ignore[no-untyped-def]
    day = [lab for lab in labs_of(result, Analyte.HEMOGLOBIN) if lab.day == date(2026, 4, 6)]
    assert [lab.value for lab in day] == [8.1]
    assert reasons(result)["Observation/dup-b"] == "duplicate"


def test_same_id_twice_is_one_value(result) -> None:  # type: ignore[no-untyped-def]
    assert lab_by_source(result, "Observation/same-id").value == 9.0
    dups = [lo for lo in result.left_out if lo.resource_id == "Observation/same-id"]
    assert [lo.reason for lo in dups] == ["duplicate"]


def test_later_version_supersedes(result) -> None:  # type: ignore[no-untyped-def]
    assert lab_by_source(result, "Observation/versioned").value == 7.4
    superseded = [lo for lo in result.left_out if lo.resource_id == "Observation/versioned"]
    assert [lo.reason for lo in superseded] == ["superseded"]


def test_effective_period_start_and_issued_fallback(result) -> None:  # type: ignore[no-untyped-def]
    assert lab_by_source(result, "Observation/period").day == date(2026, 4, 12)
    issued = lab_by_source(result, "Observation/issued-only")
    assert issued.day == date(2026, 4, 13)
    assert any(
        w.resource_id == "Observation/issued-only" and w.code == "time-from-issued"
        for w in result.warnings
    )


def test_date_only_is_that_day(result) -> None:  # type: ignore[no-untyped-def]
    lab = lab_by_source(result, "Observation/date-only")
    assert (lab.day, lab.collected, lab.value) == (date(2026, 4, 16), None, 520.0)


def test_reference_range_converted(result) -> None:  # type: ignore[no-untyped-def]
    lab = lab_by_source(result, "Observation/hb-ref")
    assert (lab.value, lab.reference_low, lab.reference_high) == (11.2, 12.0, 16.0)


def test_blood_gas_hb_kept_when_alone_on_its_day(result) -> None:  # type: ignore[no-untyped-def]
    assert lab_by_source(result, "Observation/hb-gas-alone").value == 10.1


def test_every_observation_is_accounted_for(result) -> None:  # type: ignore[no-untyped-def]
    bundle = load("rules.json")
    ids = {f"Observation/{e['resource']['id']}" for e in bundle["entry"]}
    used = {lab.source_id for lab in result.record.labs}
    dropped = {lo.resource_id for lo in result.left_out}
    assert ids == used | dropped


@pytest.mark.parametrize(
    ("tz", "expected"),
    [("UTC", date(2026, 3, 2)), ("America/New_York", date(2026, 3, 1))],
)
def test_time_zone_around_midnight(tz, expected) -> None:  # type: ignore[no-untyped-def]
    result = map_patient(load("timezone.json"), patient_id="p", tz=tz)
    lab = lab_by_source(result, "Observation/late-evening-ny")
    assert lab.day == expected
    assert lab.collected is not None and lab.collected.utcoffset() is not None


def test_utc_early_morning_is_previous_day_in_new_york() -> None:
    result = map_patient(load("timezone.json"), patient_id="p", tz="America/New_York")
    assert lab_by_source(result, "Observation/early-utc").day == date(2026, 3, 1)
    berlin = map_patient(load("timezone.json"), patient_id="p", tz="Europe/Berlin")
    assert lab_by_source(berlin, "Observation/berlin-midnight").day == date(2026, 7, 10)
    utc = map_patient(load("timezone.json"), patient_id="p", tz="UTC")
    assert lab_by_source(utc, "Observation/berlin-midnight").day == date(2026, 7, 9)


def test_diagnostic_report_contained_results_and_derivation() -> None:
    outside = {
        "resourceType": "Observation",
        "id": "hb-outside",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]},
        "effectiveDateTime": "2026-06-01T07:00:00+01:00",
        "valueQuantity": {"value": 7.1, "unit": "g/dL"},
    }
    result = map_patient([load("diagnostic_report.json"), outside], patient_id="p1")
    plt = lab_by_source(result, "DiagnosticReport/cbc-1#plt")
    assert (plt.analyte, plt.value) == (Analyte.PLATELETS, 12.0)
    # WBC and % have different times (07:00 / 07:05) but share the DiagnosticReport
    anc = lab_by_source(result, "DiagnosticReport/cbc-1#wbc,DiagnosticReport/cbc-1#neut")
    assert (anc.value, anc.provenance) == (300.0, "derived")
    assert lab_by_source(result, "Observation/hb-outside").value == 7.1


def test_paged_search_bundles() -> None:
    pages = [load("search_page1.json"), load("search_page2.json")]
    result = map_patient(pages, patient_id="p1")
    values = [(lab.day.isoformat(), lab.value) for lab in result.record.series(Analyte.ANC)]
    assert values == [("2026-06-01", 50.0), ("2026-06-02", 400.0), ("2026-06-03", 900.0)]
    assert result.left_out == ()


def test_local_codes_by_configuration() -> None:
    cfg = MappingSettings(extra_codes=(FIXTURES / "local_codes.yaml",))
    local = {
        "resourceType": "Observation",
        "id": "loc",
        "status": "final",
        "code": {"coding": [{"system": "urn:oid:1.2.3.4.5.lab", "code": "ANC-ABS"}]},
        "effectiveDateTime": "2026-06-01",
        "valueQuantity": {"value": 0.3, "unit": "G/L"},
    }
    assert (
        lab_by_source(
            map_patient([local], patient_id="p", mapping_settings=cfg), "Observation/loc"
        ).value
        == 300.0
    )
    plain = map_patient([local], patient_id="p")
    assert reasons(plain)["Observation/loc"] == "unknown-code"


def test_configured_crp_molar_factor_reaches_the_record() -> None:
    cfg = MappingSettings(extra_molar={"crp": MolarFactor("nmol/L", 0.105, "lab-specific")})
    result = map_patient(load("units.json"), patient_id="p", mapping_settings=cfg)
    assert lab_by_source(result, "Observation/crp-nmol").value == pytest.approx(31.5)
