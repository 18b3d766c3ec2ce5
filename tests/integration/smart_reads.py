"""What the SMART app reads from the FHIR server (cds_service/smart/static/app.js readRecords),
done with `requests` for tests that compare the app's assessment with the hook's answer.

The queries follow app.js one for one: the Patient, the lab Observations (`observationCodes`
of /smart/config.json: blood counts, chemistry, blood cultures), the vital signs
(`vitalSignCodes`), Procedures, MedicationAdministrations, Conditions, active
MedicationRequests, MedicationStatements, ServiceRequests and Appointments still ahead.
"""

from __future__ import annotations

from typing import Any

import requests

from cds_service.discovery import APPOINTMENT_AHEAD


def smart_queries(patient_id: str, config: dict[str, Any]) -> list[str]:
    return [
        f"Observation?patient={patient_id}&code={','.join(config['observationCodes'])}&_count=500",
        f"Observation?patient={patient_id}&code={','.join(config['vitalSignCodes'])}&_count=500",
        f"Procedure?patient={patient_id}&_count=500",
        f"MedicationAdministration?patient={patient_id}&_count=500",
        f"Condition?patient={patient_id}&_count=500",
        f"MedicationRequest?patient={patient_id}&status=active&_count=500",
        f"MedicationStatement?patient={patient_id}&status=active,completed&_count=500",
        f"ServiceRequest?patient={patient_id}&status=active,draft&_count=500",
        f"Appointment?patient={patient_id}&status={','.join(APPOINTMENT_AHEAD)}&_count=500",
    ]


def read_like_the_app(base_url: str, patient_id: str, config: dict[str, Any]) -> list[dict]:
    """The patient and every resource of the app's searches, every page followed."""
    resources = [requests.get(f"{base_url}/Patient/{patient_id}", timeout=30).json()]
    for query in smart_queries(patient_id, config):
        url: str | None = f"{base_url}/{query}"
        while url:
            bundle = requests.get(url, timeout=30).json()
            resources += [entry["resource"] for entry in bundle.get("entry", [])]
            links = bundle.get("link", [])
            url = next((li["url"] for li in links if li["relation"] == "next"), None)
    return resources
