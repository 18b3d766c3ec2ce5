"""CDS Hooks 2.0 discovery: one service per hook, prefetch templates built from the tables.

The lab template lists every LOINC code of `fhir_mappings`' analyte table (never hand-copied),
newest first with a bounded page size. CDS Hooks 2.0 has no date tokens, so the service applies
the day windows itself; when it fetches by itself (fallback), it adds a date bound from day 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhir_mappings import loinc_codes
from icaht.rules import Hook

LOINC = "http://loinc.org"
LAB_PAGE_SIZE = 500
PATIENT_TOKEN = "{{context.patientId}}"


@dataclass(frozen=True)
class PrefetchTemplate:
    key: str
    query: str  # with prefetch tokens
    required: bool  # without it no assessment is possible (412 when it cannot be had)
    stage: int  # 1: decides whether the patient had CAR-T at all; 2: only then

    @property
    def fetch_query(self) -> str:
        """The query the service runs itself: no server-side sort (the service orders and
        windows the data itself, and sorting costs some FHIR servers a second per patient)."""
        return self.query.replace("&_sort=-date", "")


def lab_query(patient_token: str = PATIENT_TOKEN) -> str:
    codes = ",".join(f"{LOINC}|{code}" for code in loinc_codes())
    return f"Observation?patient={patient_token}&code={codes}&_sort=-date&_count={LAB_PAGE_SIZE}"


PREFETCH: tuple[PrefetchTemplate, ...] = (
    PrefetchTemplate("patient", f"Patient/{PATIENT_TOKEN}", required=False, stage=1),
    # CAR-T infusion (day 0), transfusions, allo-HCT
    PrefetchTemplate("procedures", f"Procedure?patient={PATIENT_TOKEN}&_count=200", True, 1),
    # CAR-T product, lymphodepletion, G-CSF, TPO-RA, anticoagulants
    PrefetchTemplate(
        "medications", f"MedicationAdministration?patient={PATIENT_TOKEN}&_count=500", True, 1
    ),
    # relapse / progression, CRS, cardiovascular disease, prior allo-HCT
    PrefetchTemplate("conditions", f"Condition?patient={PATIENT_TOKEN}&_count=200", False, 2),
    # anticoagulants and myelosuppressive drugs ordered but not (yet) given (M19, M21)
    PrefetchTemplate(
        "medicationRequests",
        f"MedicationRequest?patient={PATIENT_TOKEN}&status=active&_count=200",
        False,
        2,
    ),
    # G-CSF taken or given elsewhere (C15: M02, M03, M06, M07 read it as exposure)
    PrefetchTemplate(
        "medicationStatements",
        f"MedicationStatement?patient={PATIENT_TOKEN}&status=active,completed&_count=200",
        False,
        2,
    ),
    PrefetchTemplate("labs", lab_query(), required=True, stage=2),
)

# the FHIR resource types the service reads: the closed set of `resource` labels in /metrics
RESOURCE_TYPES = frozenset(template.query.split("?")[0].split("/")[0] for template in PREFETCH)


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
    "Needs read access to Patient, Procedure, MedicationAdministration, Condition, "
    "MedicationRequest, MedicationStatement and Observation of the patient in context; a JWT "
    "signed RS384/ES384 by an allow-listed issuer."
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
