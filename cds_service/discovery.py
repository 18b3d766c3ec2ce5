"""CDS Hooks 2.0 discovery: one service per hook, prefetch templates built from the searches.

The searches an assessment reads, their stages and code lists are `patient_evaluation`'s
(patient_evaluation/reads.py); here they become prefetch templates with the patient token.
Newest first with a bounded page size. CDS Hooks 2.0 has no date tokens, so the service applies
the day windows itself; when it fetches by itself (fallback), it adds a date bound from day 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fhir_mappings.tables import LOINC
from icaht.rules import Hook
from patient_evaluation import READ_TYPES, SEARCHES, ResourceSearch
from patient_evaluation.reads import (
    APPOINTMENT_AHEAD,
    LAB_PAGE_SIZE,
    VITAL_SIGN_KINDS,
    VITALS_PAGE_SIZE,
    lab_codes,
    lab_search,
    vital_sign_codes,
    vitals_search,
)

PATIENT_TOKEN = "{{context.patientId}}"
__all__ = [  # the code lists and constants of the searches, for the SMART config and tests
    "APPOINTMENT_AHEAD",
    "LAB_PAGE_SIZE",
    "LOINC",
    "PATIENT_TOKEN",
    "PREFETCH",
    "RESOURCE_TYPES",
    "SERVICES",
    "SERVICES_BY_ID",
    "USAGE",
    "VITALS_PAGE_SIZE",
    "VITAL_SIGN_KINDS",
    "HookService",
    "PrefetchTemplate",
    "discovery_document",
    "lab_codes",
    "lab_query",
    "vital_sign_codes",
    "vitals_query",
]


@dataclass(frozen=True)
class PrefetchTemplate:
    key: str
    query: str  # with prefetch tokens
    required: bool  # without it no assessment is possible (412 when it cannot be had)
    stage: int  # 1: decides whether the patient has a CAR-T course (given or planned); 2: only then
    date_bounded: bool = False  # the fallback's search starts from the look-back's first day

    @property
    def fetch_query(self) -> str:
        """The query the service runs itself: no server-side sort (the service orders and
        windows the data itself, and sorting costs some FHIR servers a second per patient)."""
        return self.query.replace("&_sort=-date", "")


def lab_query(patient_token: str = PATIENT_TOKEN, codes: Iterable[str] | None = None) -> str:
    return lab_search(codes).query(patient_token)


def vitals_query(patient_token: str = PATIENT_TOKEN, codes: Iterable[str] | None = None) -> str:
    return vitals_search(codes).query(patient_token)


def template(search: ResourceSearch) -> PrefetchTemplate:
    query = search.query(PATIENT_TOKEN)
    return PrefetchTemplate(search.key, query, search.required, search.stage, search.date_bounded)


PREFETCH: tuple[PrefetchTemplate, ...] = tuple(template(search) for search in SEARCHES)

# the FHIR resource types the service reads: the closed set of `resource` labels in /metrics
RESOURCE_TYPES = READ_TYPES


@dataclass(frozen=True)
class HookService:
    id: str
    hook: Hook
    title: str
    description: str


SERVICES: tuple[HookService, ...] = (
    HookService(
        "icaht-patient-view",
        "patient-view",
        "ICAHT: hematotoxicity after CAR T-cell therapy",
        "Grades immune effector cell-associated hematotoxicity (EHA/EBMT 2023: early and late "
        "ICAHT) from the patient's blood counts after CAR T-cell infusion, with the recovery "
        "phenotype, CTCAE grades and CAR-HEMATOTOX. Quiet for patients without CAR-T infusion.",
    ),
    HookService(
        "icaht-order-select",
        "order-select",
        "ICAHT: orders during CAR-T hematotoxicity",
        "Checks selected orders (blood products, G-CSF/GM-CSF, anticoagulants, myelosuppressive "
        "drugs) against the patient's ICAHT status after CAR T-cell infusion.",
    ),
    HookService(
        "icaht-order-sign",
        "order-sign",
        "ICAHT: orders to sign during CAR-T hematotoxicity",
        "Checks orders about to be signed against the patient's ICAHT status after CAR T-cell "
        "infusion (irradiated blood products, growth factors, anticoagulation).",
    ),
)
SERVICES_BY_ID = {service.id: service for service in SERVICES}

USAGE = (
    "Needs read access to Patient, Procedure, MedicationAdministration, MedicationRequest, "
    "ServiceRequest, Appointment, Condition, MedicationStatement and Observation (laboratory "
    "results, blood cultures, body temperature) of the patient in context; a JWT signed "
    "RS384/ES384 by an allow-listed issuer."
)


def discovery_document() -> dict[str, Any]:
    return {
        "services": [
            {
                "hook": service.hook,
                "title": service.title,
                "description": service.description,
                "id": service.id,
                "prefetch": {t.key: t.query for t in PREFETCH},
                "usageRequirements": USAGE,
            }
            for service in SERVICES
        ]
    }
