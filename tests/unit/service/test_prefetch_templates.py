"""The discovery document's prefetch templates after issue 14 (docs/decisions/0023).

What each key asks the FHIR server for, in which stage, and that the code lists come from the
mapping's tables: labs without the vital signs and with the blood cultures, body temperature
under its own key.
"""

from __future__ import annotations

from datetime import date
from urllib.parse import parse_qs

from cds_service import metrics
from cds_service.discovery import (
    LAB_PAGE_SIZE,
    PATIENT_TOKEN,
    PREFETCH,
    RESOURCE_TYPES,
    USAGE,
    VITAL_SIGN_KINDS,
    discovery_document,
    lab_codes,
    lab_query,
    vital_sign_codes,
    vitals_query,
)
from cds_service.gather import Gathered
from fhir_mappings import culture_loinc_codes, loinc_codes_by_analyte
from patient_evaluation import fallback_since

BY_KEY = {template.key: template for template in PREFETCH}


def params(query: str) -> dict[str, list[str]]:
    return parse_qs(query.split("?", 1)[1], keep_blank_values=True)


def test_the_keys_are_unique_and_the_discovery_document_lists_them_all() -> None:
    assert len(BY_KEY) == len(PREFETCH)
    for service in discovery_document()["services"]:
        assert service["prefetch"] == {t.key: t.query for t in PREFETCH}


def test_a_planned_infusion_is_read_by_service_request_and_appointment_in_stage_1() -> None:
    """Stage 1 says whether the patient has a course, given or in preparation: the planned
    infusion's orders and bookings belong there (M24 before day 0)."""
    service_requests = BY_KEY["serviceRequests"]
    assert service_requests.query.startswith(f"ServiceRequest?patient={PATIENT_TOKEN}&")
    assert params(service_requests.query)["status"] == ["active,draft"]
    appointments = BY_KEY["appointments"]
    assert appointments.query.startswith(f"Appointment?patient={PATIENT_TOKEN}&")
    # every R4 AppointmentStatus but fulfilled, cancelled, noshow, entered-in-error
    ahead = "proposed,pending,booked,arrived,checked-in,waitlist"
    assert params(appointments.query)["status"] == [ahead]
    medication_requests = BY_KEY["medicationRequests"]
    assert params(medication_requests.query)["status"] == ["active"]  # no unsigned drafts
    for key in ("serviceRequests", "appointments", "medicationRequests"):
        assert BY_KEY[key].stage == 1, key
        assert BY_KEY[key].required is False, key  # refused or failed: left out with its reason


def test_only_procedures_medications_and_labs_are_required() -> None:
    assert {t.key for t in PREFETCH if t.required} == {"procedures", "medications", "labs"}
    assert {t.key for t in PREFETCH if t.stage == 2} >= {"conditions", "labs"}


def test_every_search_is_bounded_by_a_page_size() -> None:
    for template in PREFETCH:
        if "?" in template.query:
            assert int(params(template.query)["_count"][0]) > 0, template.key


def test_the_lab_query_lists_the_codes_it_is_given_newest_first() -> None:
    query = lab_query("p-1", ("751-8", "600-7"))
    assert query.startswith("Observation?patient=p-1&")
    assert params(query)["code"] == ["http://loinc.org|751-8,http://loinc.org|600-7"]
    assert params(query)["_sort"] == ["-date"]
    assert params(query)["_count"] == [str(LAB_PAGE_SIZE)]


def test_the_vitals_query_lists_the_codes_it_is_given_newest_first() -> None:
    query = vitals_query("p-1", ("8310-5", "8331-1"))
    assert params(query)["code"] == ["http://loinc.org|8310-5,http://loinc.org|8331-1"]
    assert params(query)["_sort"] == ["-date"]
    assert "_sort" not in params(query.replace("&_sort=-date", ""))


def test_labs_ask_for_every_drawn_analyte_of_the_table_and_no_vital_sign() -> None:
    by_kind = loinc_codes_by_analyte()
    drawn = {c for kind, codes in by_kind.items() if kind not in VITAL_SIGN_KINDS for c in codes}
    vital = {c for kind in VITAL_SIGN_KINDS for c in by_kind.get(kind, ())}
    assert drawn <= set(lab_codes())
    assert not vital & set(lab_codes())
    assert set(vital_sign_codes()) == vital
    assert set(culture_loinc_codes()) <= set(lab_codes())
    assert len(lab_codes()) == len(set(lab_codes()))  # a code listed once
    assert params(BY_KEY["labs"].query)["code"] == [lab_query().split("code=")[1].split("&")[0]]


def test_labs_ask_for_blood_cultures() -> None:
    assert "600-7" in lab_codes()  # Bacteria identified in Blood by Culture
    assert "http://loinc.org|600-7" in BY_KEY["labs"].query


def test_vitals_ask_for_body_temperature_in_stage_2() -> None:
    vitals = BY_KEY["vitals"]
    # never an empty `code=`: some servers ignore an empty parameter and answer everything
    assert vital_sign_codes()
    assert "http://loinc.org|8310-5" in vitals.query  # Body temperature
    assert (vitals.stage, vitals.required) == (2, False)
    assert vitals.query.startswith(f"Observation?patient={PATIENT_TOKEN}&")


def test_stored_stem_cells_come_with_the_procedures_not_a_search() -> None:
    """R4 BiologicallyDerivedProduct has no patient search parameter (decision 0023): the
    collection Procedure, in `procedures`, is what the transport reads."""
    assert "BiologicallyDerivedProduct" not in RESOURCE_TYPES
    assert "_include" not in BY_KEY["procedures"].query  # every Procedure of the patient


def test_metrics_labels_and_usage_name_every_resource_type_read() -> None:
    assert {"ServiceRequest", "Appointment", "Observation", "MedicationStatement"} <= RESOURCE_TYPES
    assert set(BY_KEY) == metrics.PREFETCH_KEYS
    for resource in RESOURCE_TYPES:
        assert resource in USAGE, resource


def test_gathered_counts_resources_per_key_without_operation_outcomes() -> None:
    bundle = {
        "resourceType": "Bundle",
        "entry": [
            {"resource": {"resourceType": "ServiceRequest", "id": "a"}},
            {"resource": {"resourceType": "OperationOutcome"}},  # a search warning
            {"resource": {"resourceType": "ServiceRequest", "id": "b"}},
            {"fullUrl": "urn:uuid:no-resource"},
        ],
    }
    gathered = Gathered()
    gathered.add("serviceRequests", "fetched", [bundle, bundle])  # two pages
    gathered.add("patient", "prefetch", [{"resourceType": "Patient", "id": "p"}])
    gathered.add("appointments", "null", [])
    gathered.add("vitals", "prefetch", [{"resourceType": "Bundle", "entry": "not-a-list"}])
    assert gathered.counts == {"serviceRequests": 4, "patient": 1, "appointments": 0, "vitals": 0}


def test_the_fallback_bound_starts_14_days_before_the_anchor_or_today_when_it_is_ahead() -> None:
    today = date(2026, 6, 1)
    assert fallback_since(date(2026, 5, 20), today) == date(2026, 5, 6)  # day 0 in the past
    assert fallback_since(today, today) == date(2026, 5, 18)
    # a planned infusion 20 days ahead: the labs of the last 14 days, not none
    assert fallback_since(date(2026, 6, 21), today) == date(2026, 5, 18)
