"""CDS Hooks 2.0 discovery: one service per hook, prefetch templates built from the tables.

The lab template lists every LOINC code of `fhir_mappings`' analyte table (never hand-copied)
but the vital signs, plus the blood-culture codes of its value sets; body temperature has a key
of its own (`vitals`), because it is charted several times a day and would crowd the labs out of
a page (docs/decisions/0023). Newest first with a bounded page size. CDS Hooks 2.0 has no date
tokens, so the service applies the day windows itself; when it fetches by itself (fallback), it
adds a date bound from day 0.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fhir_mappings import culture_loinc_codes, loinc_codes, loinc_codes_by_analyte
from fhir_mappings.tables import LOINC
from icaht.rules import Hook

LAB_PAGE_SIZE = 500
VITALS_PAGE_SIZE = 500
PATIENT_TOKEN = "{{context.patientId}}"
# R4 AppointmentStatus codes of a booking still ahead (not fulfilled, cancelled, noshow or
# entered-in-error): https://hl7.org/fhir/R4/valueset-appointmentstatus.html
APPOINTMENT_AHEAD = ("proposed", "pending", "booked", "arrived", "checked-in", "waitlist")
# analyte-table kinds that are charted at the bedside, not drawn (icaht.record.Analyte.TEMPERATURE)
VITAL_SIGN_KINDS = ("temperature",)


@dataclass(frozen=True)
class PrefetchTemplate:
    key: str
    query: str  # with prefetch tokens
    required: bool  # without it no assessment is possible (412 when it cannot be had)
    stage: int  # 1: decides whether the patient has a CAR-T course (given or planned); 2: only then

    @property
    def fetch_query(self) -> str:
        """The query the service runs itself: no server-side sort (the service orders and
        windows the data itself, and sorting costs some FHIR servers a second per patient)."""
        return self.query.replace("&_sort=-date", "")


def lab_codes() -> tuple[str, ...]:
    """What the `labs` key asks for: the analyte table's LOINC codes but the vital signs
    (they have their own key), and the blood-culture codes (issue 14: a positive culture is an
    active infection; fhir_mappings/data/cultures.yaml)."""
    by_kind = loinc_codes_by_analyte()
    drawn = tuple(
        c for kind, codes in by_kind.items() if kind not in VITAL_SIGN_KINDS for c in codes
    )
    return tuple(dict.fromkeys((*drawn, *culture_loinc_codes())))


def vital_sign_codes() -> tuple[str, ...]:
    """What the `vitals` key asks for: body temperature and its siblings (fever, issue 14)."""
    return loinc_codes(VITAL_SIGN_KINDS)


def _code_list(codes: Iterable[str]) -> str:
    return ",".join(f"{LOINC}|{code}" for code in codes)


def lab_query(patient_token: str = PATIENT_TOKEN, codes: Iterable[str] | None = None) -> str:
    listed = _code_list(lab_codes() if codes is None else codes)
    return f"Observation?patient={patient_token}&code={listed}&_sort=-date&_count={LAB_PAGE_SIZE}"


def vitals_query(patient_token: str = PATIENT_TOKEN, codes: Iterable[str] | None = None) -> str:
    listed = _code_list(vital_sign_codes() if codes is None else codes)
    return (
        f"Observation?patient={patient_token}&code={listed}&_sort=-date&_count={VITALS_PAGE_SIZE}"
    )


def _templates() -> tuple[PrefetchTemplate, ...]:
    stage1 = (
        PrefetchTemplate("patient", f"Patient/{PATIENT_TOKEN}", required=False, stage=1),
        # CAR-T infusion (day 0), apheresis, stem-cell collection, transfusions, allo-HCT
        PrefetchTemplate("procedures", f"Procedure?patient={PATIENT_TOKEN}&_count=200", True, 1),
        # CAR-T product, lymphodepletion, G-CSF, TPO-RA, anticoagulants, supportive drugs given
        PrefetchTemplate(
            "medications", f"MedicationAdministration?patient={PATIENT_TOKEN}&_count=500", True, 1
        ),
        # active orders: anticoagulants and myelosuppressive drugs not (yet) given (M19, M21),
        # G-CSF (C15), prophylaxis, and a CAR-T product ordered for a planned infusion (M24);
        # stage 1 because a planned infusion is a course in preparation (decision 0023)
        PrefetchTemplate(
            "medicationRequests",
            f"MedicationRequest?patient={PATIENT_TOKEN}&status=active&_count=200",
            False,
            1,
        ),
        # a planned CAR-T infusion ordered as a procedure (M24; decision 0023)
        PrefetchTemplate(
            "serviceRequests",
            f"ServiceRequest?patient={PATIENT_TOKEN}&status=active,draft&_count=100",
            False,
            1,
        ),
        # a planned CAR-T infusion booked as an appointment (M24; decision 0023)
        PrefetchTemplate(
            "appointments",
            f"Appointment?patient={PATIENT_TOKEN}&status={','.join(APPOINTMENT_AHEAD)}&_count=100",
            False,
            1,
        ),
    )
    stage2 = (
        # relapse / progression, CRS, cardiovascular disease, prior allo-HCT, infections,
        # bleeding, the disease treated
        PrefetchTemplate("conditions", f"Condition?patient={PATIENT_TOKEN}&_count=200", False, 2),
        # G-CSF and supportive drugs taken or given elsewhere (C15; issue 14)
        PrefetchTemplate(
            "medicationStatements",
            f"MedicationStatement?patient={PATIENT_TOKEN}&status=active,completed&_count=200",
            False,
            2,
        ),
        # blood counts, chemistry and blood cultures
        PrefetchTemplate("labs", lab_query(), required=True, stage=2),
        # body temperature (fever, M14; issue 14): optional, a refused vital-sign read costs
        # the fever criterion only
        PrefetchTemplate("vitals", vitals_query(), required=False, stage=2),
    )
    return stage1 + stage2


PREFETCH: tuple[PrefetchTemplate, ...] = _templates()

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
