"""Further Observation rules: report time, transaction references, comparators, prefetch codes."""

from __future__ import annotations

from typing import Any

from mapping_helpers import lab_by_source, labs_of

from fhir_mappings import loinc_codes, loinc_codes_by_analyte, map_patient
from icaht.record import Analyte

UCUM = "http://unitsofmeasure.org"


def obs(
    oid: str, code: str, value: float, unit: str, when: str | None, **kw: Any
) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Observation",
        "id": oid,
        "status": kw.pop("status", "final"),
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
    }
    if when is not None:
        res["effectiveDateTime"] = when
    res.update(kw)
    return res


def test_contained_result_takes_report_time() -> None:
    report = {
        "resourceType": "DiagnosticReport",
        "id": "r1",
        "status": "final",
        "code": {"text": "CBC"},
        "effectiveDateTime": "2026-02-03T08:00:00+01:00",
        "contained": [obs("plt", "777-3", 44, "10*9/L", None)],
        "result": [{"reference": "#plt"}],
    }
    lab = lab_by_source(
        map_patient([report], patient_id="p", tz="Europe/Berlin"), "DiagnosticReport/r1#plt"
    )
    assert (lab.day.isoformat(), lab.value) == ("2026-02-03", 44.0)


def test_transaction_references_by_full_url_group_the_specimen() -> None:
    wbc = obs("w", "6690-2", 1.0, "10*3/uL", "2026-02-03T07:00:00Z")
    pct = obs("n", "770-8", 30, "%", "2026-02-03T07:40:00Z")  # different time, same report
    report = {
        "resourceType": "DiagnosticReport",
        "status": "final",
        "code": {"text": "CBC"},
        "result": [{"reference": "urn:uuid:aaaa"}, {"reference": "urn:uuid:bbbb"}],
    }
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:aaaa",
                "resource": wbc,
                "request": {"method": "POST", "url": "Observation"},
            },
            {
                "fullUrl": "urn:uuid:bbbb",
                "resource": pct,
                "request": {"method": "POST", "url": "Observation"},
            },
            {
                "fullUrl": "urn:uuid:cccc",
                "resource": report,
                "request": {"method": "POST", "url": "DiagnosticReport"},
            },
        ],
    }
    [anc] = labs_of(map_patient(bundle, patient_id="p"), Analyte.ANC)
    assert (anc.value, anc.provenance) == (300.0, "derived")


def test_manual_measured_anc_preferred_over_automated_measured() -> None:
    t = "2026-02-03T07:00:00Z"
    res = map_patient(
        [obs("auto", "751-8", 0.5, "10*3/uL", t), obs("man", "753-4", 0.42, "10*3/uL", t)],
        patient_id="p",
    )
    assert [lab.value for lab in labs_of(res, Analyte.ANC)] == [420.0]
    assert {lo.resource_id: lo.reason for lo in res.left_out} == {
        "Observation/auto": "anc-not-preferred"
    }


def test_comparator_propagates_into_derived_anc() -> None:
    t = "2026-02-03T07:00:00Z"
    res = map_patient(
        [
            obs(
                "w",
                "6690-2",
                0.2,
                "10*3/uL",
                t,
                valueQuantity={
                    "value": 0.2,
                    "comparator": "<",
                    "unit": "10*3/uL",
                    "system": UCUM,
                    "code": "10*3/uL",
                },
            ),
            obs("p", "770-8", 50, "%", t, status="preliminary"),
        ],
        patient_id="p",
    )
    [anc] = labs_of(res, Analyte.ANC)
    assert (anc.value, anc.comparator, anc.preliminary) == (100.0, "<", True)


def test_conflicting_comparators_give_no_derived_value() -> None:
    t = "2026-02-03T07:00:00Z"
    wbc = obs("w", "6690-2", 0.2, "10*3/uL", t)
    wbc["valueQuantity"]["comparator"] = "<"
    pct = obs("p", "770-8", 90, "%", t)
    pct["valueQuantity"]["comparator"] = ">"
    res = map_patient([wbc, pct], patient_id="p")
    # no product; the bound still applies because no ANC exists for the specimen
    [anc] = labs_of(res, Analyte.ANC)
    assert anc.provenance == "derived-bound"


def test_time_without_offset_is_local_with_warning() -> None:
    res = map_patient(
        [obs("x", "718-7", 9.1, "g/dL", "2026-02-03T23:30:00")], patient_id="p", tz="Asia/Tokyo"
    )
    lab = lab_by_source(res, "Observation/x")
    assert lab.day.isoformat() == "2026-02-03"
    assert lab.collected is not None and lab.collected.utcoffset() is not None
    assert [w.code for w in res.warnings] == ["time-without-offset"]


def test_prefetch_codes_come_from_the_table() -> None:
    by_kind = loinc_codes_by_analyte()
    assert {"751-8", "753-4", "26499-4"} <= set(by_kind["anc"])
    assert "16859-1" not in loinc_codes()
    assert {"770-8", "769-0", "764-1", "23761-0"} <= set(loinc_codes())
    assert set(loinc_codes(("platelets",))) == set(by_kind["platelets"])
    assert len(loinc_codes()) == len(set(loinc_codes()))


def test_loinc_and_ucum_system_spellings() -> None:
    res = obs("x", "777-3", 31, "10*9/L", "2026-02-03")
    res["code"]["coding"][0]["system"] = "urn:oid:2.16.840.1.113883.6.1"
    res["valueQuantity"] = {
        "value": 31,
        "unit": "x10^9/l",
        "system": "urn:oid:2.16.840.1.113883.6.8",
        "code": "10*9/L",
    }
    assert lab_by_source(map_patient([res], patient_id="p"), "Observation/x").value == 31.0
