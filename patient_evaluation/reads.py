"""What a patient's assessment is read from: the FHIR searches, in two stages.

Stage 1 says whether the patient has a CAR-T course at all, given or planned (patient,
procedures, medication administrations and requests, service requests, appointments:
docs/decisions/0023); only then does stage 2 read the labs, vital signs, conditions and
medication statements. The lab search lists every LOINC code of `fhir_mappings`' analyte table
(never hand-copied) but the vital signs, plus the blood-culture codes of its value sets; body
temperature has a search of its own (`vitals`), because it is charted several times a day and
would crowd the labs out of a page. The CDS Hooks service builds its prefetch templates from
these searches (cds_service/discovery.py), the batch tool keeps the resource types they read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from fhir_mappings import culture_loinc_codes, loinc_codes, loinc_codes_by_analyte
from fhir_mappings.tables import LOINC

LAB_PAGE_SIZE = 500
VITALS_PAGE_SIZE = 500
# R4 AppointmentStatus codes of a booking still ahead (not fulfilled, cancelled, noshow or
# entered-in-error): https://hl7.org/fhir/R4/valueset-appointmentstatus.html
APPOINTMENT_AHEAD = ("proposed", "pending", "booked", "arrived", "checked-in", "waitlist")
# analyte-table kinds that are charted at the bedside, not drawn (icaht.record.Analyte.TEMPERATURE)
VITAL_SIGN_KINDS = ("temperature",)
NEWEST_FIRST = "_sort=-date"

Stage = Literal[1, 2]


@dataclass(frozen=True)
class ResourceSearch:
    """One FHIR read of the patient's data."""

    key: str  # the CDS Hooks prefetch key
    resource_type: str
    criteria: str  # search parameters besides the patient, e.g. "status=active"
    count: int | None  # page size (`_count`); None: a read by id
    required: bool  # without it no assessment is possible
    stage: Stage  # 1: decides whether the patient has a CAR-T course (given or planned)
    newest_first: bool = False  # asked newest first (`_sort=-date`): labs and vital signs
    # searched from the look-back's first day when the service searches by itself (a
    # patient's counts and temperatures of earlier years are many pages the rules never read)
    date_bounded: bool = False

    def query(self, patient: str, *, sort: bool = True) -> str:
        """The search for `patient` (an id, or a prefetch token); `sort=False` leaves out the
        server-side sort (the service orders and windows the data itself, and sorting costs
        some FHIR servers a second per patient)."""
        if self.count is None:
            return f"{self.resource_type}/{patient}"
        parts = [f"patient={patient}"]
        if self.criteria:
            parts.append(self.criteria)
        if sort and self.newest_first:
            parts.append(NEWEST_FIRST)
        parts.append(f"_count={self.count}")
        return f"{self.resource_type}?{'&'.join(parts)}"


def lab_codes() -> tuple[str, ...]:
    """What the `labs` search asks for: the analyte table's LOINC codes but the vital signs
    (they have their own search), and the blood-culture codes (issue 14: a positive culture is
    an active infection; fhir_mappings/data/cultures.yaml)."""
    by_kind = loinc_codes_by_analyte()
    drawn = tuple(
        c for kind, codes in by_kind.items() if kind not in VITAL_SIGN_KINDS for c in codes
    )
    return tuple(dict.fromkeys((*drawn, *culture_loinc_codes())))


def vital_sign_codes() -> tuple[str, ...]:
    """What the `vitals` search asks for: body temperature and its siblings (fever, issue 14)."""
    return loinc_codes(VITAL_SIGN_KINDS)


def code_criteria(codes: Iterable[str]) -> str:
    return "code=" + ",".join(f"{LOINC}|{code}" for code in codes)


def lab_search(codes: Iterable[str] | None = None) -> ResourceSearch:
    """Blood counts, chemistry and blood cultures."""
    listed = code_criteria(lab_codes() if codes is None else codes)
    return ResourceSearch("labs", "Observation", listed, LAB_PAGE_SIZE, True, 2, True, True)


def vitals_search(codes: Iterable[str] | None = None) -> ResourceSearch:
    """Body temperature (fever, M14; issue 14): optional, a refused vital-sign read costs the
    fever criterion only."""
    listed = code_criteria(vital_sign_codes() if codes is None else codes)
    return ResourceSearch("vitals", "Observation", listed, VITALS_PAGE_SIZE, False, 2, True, True)


def _searches() -> tuple[ResourceSearch, ...]:
    stage1 = (
        ResourceSearch("patient", "Patient", "", None, required=False, stage=1),
        # CAR-T infusion (day 0), apheresis, stem-cell collection, transfusions, allo-HCT
        ResourceSearch("procedures", "Procedure", "", 200, required=True, stage=1),
        # CAR-T product, lymphodepletion, G-CSF, TPO-RA, anticoagulants, supportive drugs given
        ResourceSearch("medications", "MedicationAdministration", "", 500, True, 1),
        # active orders: anticoagulants and myelosuppressive drugs not (yet) given (M19, M21),
        # G-CSF (C15), prophylaxis, and a CAR-T product ordered for a planned infusion (M24);
        # stage 1 because a planned infusion is a course in preparation (decision 0023)
        ResourceSearch("medicationRequests", "MedicationRequest", "status=active", 200, False, 1),
        # a planned CAR-T infusion ordered as a procedure (M24; decision 0023)
        ResourceSearch("serviceRequests", "ServiceRequest", "status=active,draft", 100, False, 1),
        # a planned CAR-T infusion booked as an appointment (M24; decision 0023)
        ResourceSearch(
            "appointments", "Appointment", f"status={','.join(APPOINTMENT_AHEAD)}", 100, False, 1
        ),
    )
    stage2 = (
        # relapse / progression, CRS, cardiovascular disease, prior allo-HCT, infections,
        # bleeding, the disease treated
        ResourceSearch("conditions", "Condition", "", 200, required=False, stage=2),
        # G-CSF and supportive drugs taken or given elsewhere (C15; issue 14)
        ResourceSearch(
            "medicationStatements", "MedicationStatement", "status=active,completed", 200, False, 2
        ),
        lab_search(),
        vitals_search(),
    )
    return stage1 + stage2


SEARCHES: tuple[ResourceSearch, ...] = _searches()
# the FHIR resource types an assessment reads
READ_TYPES = frozenset(search.resource_type for search in SEARCHES)


def stage(number: Stage) -> tuple[ResourceSearch, ...]:
    return tuple(search for search in SEARCHES if search.stage == number)


def read_types_only(resources: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The resources of the types the searches read: what the service would have been given
    (the batch tool reads whole exports, which hold more)."""
    return [r for r in resources if r.get("resourceType") in READ_TYPES]
