"""Write the per-rule CDS Hooks request fixtures (issue 6): one patient per file.

Every fixture is a complete CDS Hooks 2.0 request (hook, fixed hookInstance, context, prefetch
keyed like the service's discovery document). All dates are study days counted back from ONE
evaluation date, EVALUATION_DATE in TIMEZONE, which the integration test pins the service's
clock to. `in` files must make the rule fire, `out` files are its near-miss at the real
boundary (docs/clinical/10-management-rules.md §10 and section 16). See README.md beside this file.

    .venv/bin/python tests/data/requests/generate.py [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

EVALUATION_DATE = date(2026, 6, 1)
TIMEZONE = "Europe/Berlin"
HERE = Path(__file__).resolve().parent
FIXTURE_NAMESPACE = uuid.UUID("6f0c2a52-3e55-4a0b-9d55-6a1f4b0e1c2d")  # hookInstance seeds

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ICD10PCS = "http://www.cms.gov/Medicare/Coding/ICD10"
CPT = "http://www.ama-assn.org/go/cpt"
SNOMED = "http://snomed.info/sct"
# where the searchset entries say they come from (the fixtures name no fhirServer: prefetch only)
FHIR_BASE = "https://ehr.example.org/fhir/R4"

# analyte -> (LOINC code, UCUM unit the values below are written in)
LABS: dict[str, tuple[str, str]] = {
    "anc": ("751-8", "/uL"),
    "platelets": ("777-3", "10*9/L"),
    "hb": ("718-7", "g/dL"),
    "crp": ("1988-5", "mg/L"),
    "ferritin": ("2276-4", "ng/mL"),
    "fibrinogen": ("3255-7", "mg/dL"),
    "igg": ("2465-3", "mg/dL"),
}
# CAR-HEMATOTOX baseline on day -6 (inside the window [LD start - 7 d, LD start], LD day -5):
# platelets 180 (0), ANC 3000 (0), Hb 12 (0), CRP 5 mg/L (0), ferritin 300 (0) = 0, low risk.
LOW_RISK_BASELINE = {"platelets": 180.0, "anc": 3000.0, "hb": 12.0, "crp": 5.0, "ferritin": 300.0}
# platelets 70 x10^9/L (< 75: 2 points) = 2, high risk (docs/clinical §6.1, §6.2)
HIGH_RISK_BASELINE = LOW_RISK_BASELINE | {"platelets": 70.0}
BASELINE_DAY = -6
LYMPHODEPLETION_DAYS = (-5, -4, -3)
# a quiet course after day 0: every second day to day 30, weekly after, and on the evaluation day
QUIET = {"anc": 2500.0, "platelets": 180.0, "hb": 11.0}

Series = Mapping[int, float]  # study day -> value


@dataclass(frozen=True)
class Condition:
    code: str
    text: str
    onset: int
    abated: int | None = None


@dataclass(frozen=True)
class Scenario:
    """One fixture: a patient seen on study day `day` (the evaluation date)."""

    name: str  # "M14-in-platelets-10" -> request-M14-in-platelets-10.json
    hook: str
    day: int
    labs: Mapping[str, Series] = field(default_factory=dict)  # replaces the quiet series
    high_risk: bool = False
    gcsf_days: tuple[int, ...] = ()
    enoxaparin_days: tuple[int, ...] = ()
    enoxaparin_ordered_from: int | None = None  # an active MedicationRequest, none given yet
    transfusions: tuple[tuple[int, str], ...] = ()  # (day, procedure text)
    conditions: tuple[Condition, ...] = ()
    orders: tuple[dict[str, Any], ...] = ()
    infused: bool = True
    # G-CSF by product (GCSF_PRODUCTS): (product, day) given, actively ordered from that day;
    # (status, product, day) MedicationStatements (C15)
    gcsf_given: tuple[tuple[str, int], ...] = ()
    gcsf_ordered: tuple[tuple[str, int], ...] = ()
    gcsf_statements: tuple[tuple[str, str, int], ...] = ()
    # issue 14 inputs. Standard prophylaxis on record unless switched off (M10, M11 stay quiet
    # in the other rules' fixtures): aciclovir taken from the lymphodepletion, co-trimoxazole
    # from day 28 (docs/clinical/10-management-rules.md §10 M10, M11)
    prophylaxis: bool = True
    # supportive drugs: (how, drug, day) with how = "given" (MedicationAdministration),
    # "taken" (MedicationStatement, active from that day) or "ordered" (active request)
    supportive: tuple[tuple[str, str, int], ...] = ()
    temperatures: tuple[tuple[int, float], ...] = ()  # (day, degrees Celsius)
    cultures: tuple[tuple[int, bool], ...] = ()  # (day, positive) blood cultures
    planned_infusion_day: int | None = None  # ServiceRequest CPT 38228, not yet done
    stem_cells_collected_day: int | None = None  # Procedure CPT 38206 (autologous HPC)
    lymphodepleted: bool = True  # fludarabine on days -5..-3 on record

    @property
    def patient_id(self) -> str:
        return "rule-" + self.name.lower().replace(".", "-")

    @property
    def day0(self) -> date:
        return EVALUATION_DATE - timedelta(days=self.day)


def daily(first: int, last: int, value: float) -> dict[int, float]:
    return {d: value for d in range(first, last + 1)}


def at(s: Scenario, day: int) -> str:
    """Local 08:00 of a study day, with the time zone's offset of that date."""
    moment = datetime.combine(s.day0 + timedelta(days=day), time(8), ZoneInfo(TIMEZONE))
    return moment.isoformat()


def reference(s: Scenario) -> dict[str, str]:
    return {"reference": f"Patient/{s.patient_id}"}


def tag(day: int) -> str:
    return f"m{-day}" if day < 0 else str(day)


def observation(s: Scenario, analyte: str, day: int, value: float) -> dict[str, Any]:
    code, unit = LABS[analyte]
    return {
        "resourceType": "Observation",
        "id": f"{s.patient_id}-{analyte}-d{tag(day)}",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": reference(s),
        "effectiveDateTime": at(s, day),
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
    }


def lab_series(s: Scenario) -> dict[str, dict[int, float]]:
    baseline = HIGH_RISK_BASELINE if s.high_risk else LOW_RISK_BASELINE
    series: dict[str, dict[int, float]] = {a: {BASELINE_DAY: v} for a, v in baseline.items()}
    if not s.infused:
        return series
    quiet_days = {*range(0, min(s.day, 30) + 1, 2), *range(30, s.day + 1, 7), s.day}
    for analyte, value in QUIET.items():
        series[analyte] |= {d: value for d in sorted(quiet_days)}
    for analyte, values in s.labs.items():
        before = {d: v for d, v in series.get(analyte, {}).items() if d < 0}
        series[analyte] = before | dict(values)  # the scenario's series replaces the quiet one
    return series


def observations(s: Scenario) -> list[dict[str, Any]]:
    found = [
        observation(s, analyte, day, value)
        for analyte, values in lab_series(s).items()
        for day, value in values.items()
    ]
    # newest first, as the discovery document's `_sort=-date` asks
    return sorted(found, key=lambda o: (o["effectiveDateTime"], o["id"]), reverse=True)


def administration(s: Scenario, drug: str, day: int) -> dict[str, Any]:
    system, code, text = DRUGS[drug]
    return {
        "resourceType": "MedicationAdministration",
        "id": f"{s.patient_id}-{drug}-d{tag(day)}",
        "status": "completed",
        "medicationCodeableConcept": {"coding": [{"system": system, "code": code}], "text": text},
        "subject": reference(s),
        "effectiveDateTime": at(s, day),
    }


DRUGS = {
    "fludarabine": (RXNORM, "24698", "Fludarabine 30 mg/m2 IV"),
    "filgrastim": (RXNORM, "68442", "Filgrastim 5 ug/kg SC"),
    "enoxaparin": (ATC, "B01AB05", "Enoxaparin 40 mg SC"),
}


def medications(s: Scenario) -> list[dict[str, Any]]:
    days = LYMPHODEPLETION_DAYS if s.lymphodepleted else ()
    given = [administration(s, "fludarabine", d) for d in days]
    given += [administration(s, "filgrastim", d) for d in s.gcsf_days]
    given += [administration(s, "enoxaparin", d) for d in s.enoxaparin_days]
    return given


def active_requests(s: Scenario) -> list[dict[str, Any]]:
    """Standing orders on record (the `medicationRequests` prefetch: status=active)."""
    if s.enoxaparin_ordered_from is None:
        return []
    system, code, text = DRUGS["enoxaparin"]
    start = at(s, s.enoxaparin_ordered_from)
    return [
        {
            "resourceType": "MedicationRequest",
            "id": f"{s.patient_id}-enoxaparin-order",
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": {
                "coding": [{"system": system, "code": code}],
                "text": text,
            },
            "subject": reference(s),
            "authoredOn": start,
            "dosageInstruction": [{"timing": {"repeat": {"boundsPeriod": {"start": start}}}}],
        }
    ]


# G-CSF products of the C15 fixtures: (coding or None = by name only, text)
GCSF_PRODUCTS: dict[str, tuple[dict[str, str] | None, str]] = {
    "pegfilgrastim": ({"system": RXNORM, "code": "338036"}, "Pegfilgrastim 6 mg SC"),
    "pegfilgrastim-jmdb": (None, "Fulphila (pegfilgrastim-jmdb) 6 mg/0.6 mL SC"),
    "filgrastim-sndz": ({"system": RXNORM, "code": "1605064"}, "Zarxio 300 mcg SC"),
}


def gcsf_concept(product: str) -> dict[str, Any]:
    coding, text = GCSF_PRODUCTS[product]
    return {"text": text} | ({"coding": [coding]} if coding else {})


def gcsf_given(s: Scenario) -> list[dict[str, Any]]:
    return [
        {
            "resourceType": "MedicationAdministration",
            "id": f"{s.patient_id}-{product}-d{tag(day)}",
            "status": "completed",
            "medicationCodeableConcept": gcsf_concept(product),
            "subject": reference(s),
            "effectiveDateTime": at(s, day),
        }
        for product, day in s.gcsf_given
    ]


def gcsf_orders(s: Scenario) -> list[dict[str, Any]]:
    """Active G-CSF orders (the `medicationRequests` prefetch), none given yet."""
    return [
        {
            "resourceType": "MedicationRequest",
            "id": f"{s.patient_id}-{product}-order",
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": gcsf_concept(product),
            "subject": reference(s),
            "authoredOn": at(s, day),
        }
        for product, day in s.gcsf_ordered
    ]


def statements(s: Scenario) -> list[dict[str, Any]]:
    """MedicationStatements (the `medicationStatements` prefetch)."""
    return [
        {
            "resourceType": "MedicationStatement",
            "id": f"{s.patient_id}-{product}-statement-{status}",
            "status": status,
            "medicationCodeableConcept": gcsf_concept(product),
            "subject": reference(s),
            "effectivePeriod": {"start": at(s, day)},
        }
        for status, product, day in s.gcsf_statements
    ]


# supportive drugs of the issue 14 fixtures: RxNorm ingredient codes as in valuesets.yaml
SUPPORTIVE_DRUGS: dict[str, tuple[str, str]] = {
    "aciclovir": ("281", "Aciclovir 400 mg PO twice daily"),
    "cotrimoxazole": ("10831", "Sulfamethoxazole/trimethoprim 800/160 mg PO Mon/Wed/Fri"),
    "levofloxacin": ("82122", "Levofloxacin 500 mg PO daily"),
    "posaconazole": ("282446", "Posaconazole 300 mg PO daily"),
    "dexamethasone": ("3264", "Dexamethasone 10 mg IV every 6 hours"),
    "eltrombopag": ("711942", "Eltrombopag 75 mg PO daily"),
}


def supportive_drugs(s: Scenario) -> list[tuple[str, str, int]]:
    standard = [("taken", "aciclovir", LYMPHODEPLETION_DAYS[0])] if s.prophylaxis else []
    if s.prophylaxis and s.day >= 28:
        standard.append(("taken", "cotrimoxazole", 28))
    return standard + list(s.supportive)


def supportive_resource(s: Scenario, how: str, drug: str, day: int) -> dict[str, Any]:
    code, text = SUPPORTIVE_DRUGS[drug]
    common = {
        "id": f"{s.patient_id}-{drug}-{how}-d{tag(day)}",
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": code}], "text": text},
        "subject": reference(s),
    }
    if how == "given":
        return (
            {"resourceType": "MedicationAdministration", "status": "completed"}
            | common
            | {"effectiveDateTime": at(s, day)}
        )
    if how == "taken":
        return (
            {"resourceType": "MedicationStatement", "status": "active"}
            | common
            | {"effectivePeriod": {"start": at(s, day)}}
        )
    start = at(s, day)
    return (
        {"resourceType": "MedicationRequest", "status": "active", "intent": "order"}
        | common
        | {
            "authoredOn": start,
            "dosageInstruction": [{"timing": {"repeat": {"boundsPeriod": {"start": start}}}}],
        }
    )


def supportive_of(s: Scenario, resource_type: str) -> list[dict[str, Any]]:
    found = [supportive_resource(s, how, drug, day) for how, drug, day in supportive_drugs(s)]
    return [r for r in found if r["resourceType"] == resource_type]


def temperature(s: Scenario, day: int, celsius: float) -> dict[str, Any]:
    """Body temperature (LOINC 8310-5, FHIR vital-signs profile) under the `vitals` key."""
    return {
        "resourceType": "Observation",
        "id": f"{s.patient_id}-temperature-d{tag(day)}",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": LOINC, "code": "8310-5"}], "text": "Body temperature"},
        "subject": reference(s),
        "effectiveDateTime": at(s, day),
        "valueQuantity": {"value": celsius, "unit": "Cel", "system": UCUM, "code": "Cel"},
    }


def blood_culture(s: Scenario, day: int, positive: bool) -> dict[str, Any]:
    """LOINC 600-7 Bacteria identified in Blood by Culture: an organism (SNOMED CT 3092008
    Staphylococcus aureus) with interpretation POS, or "No growth" (SNOMED CT 264868006)."""
    value = (
        {"coding": [{"system": SNOMED, "code": "3092008", "display": "Staphylococcus aureus"}]}
        if positive
        else {"coding": [{"system": SNOMED, "code": "264868006", "display": "No growth"}]}
    )
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": f"{s.patient_id}-blood-culture-d{tag(day)}",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "600-7"}], "text": "Blood culture"},
        "subject": reference(s),
        "effectiveDateTime": at(s, day),
        "valueCodeableConcept": value,
    }
    if positive:
        resource["interpretation"] = [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                        "code": "POS",
                    }
                ]
            }
        ]
    return resource


def planned_infusions(s: Scenario) -> list[dict[str, Any]]:
    """A CAR-T infusion ordered for a later day (CPT 38228, CAR-T cell administration,
    autologous), not yet done: the `serviceRequests` key."""
    if s.planned_infusion_day is None:
        return []
    return [
        {
            "resourceType": "ServiceRequest",
            "id": f"{s.patient_id}-planned-car-t",
            "status": "active",
            "intent": "order",
            "code": {
                "coding": [{"system": CPT, "code": "38228"}],
                "text": "CAR-T cell infusion (axicabtagene ciloleucel)",
            },
            "subject": reference(s),
            "occurrenceDateTime": at(s, s.planned_infusion_day),
        }
    ]


def procedure(s: Scenario, rid: str, day: int, code: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Procedure",
        "id": f"{s.patient_id}-{rid}",
        "status": "completed",
        "code": code,
        "subject": reference(s),
        "performedDateTime": at(s, day),
    }


def procedures(s: Scenario) -> list[dict[str, Any]]:
    done = []
    if s.infused:
        infusion = {
            "coding": [{"system": ICD10PCS, "code": "XW033H7"}],
            "text": "Axicabtagene ciloleucel infusion",
        }
        done.append(procedure(s, "car-t", 0, infusion))
    done += [
        procedure(s, f"transfusion-d{tag(day)}", day, {"text": text})
        for day, text in s.transfusions
    ]
    if s.stem_cells_collected_day is not None:
        harvest = {
            "coding": [{"system": CPT, "code": "38206"}],
            "text": "Autologous peripheral blood stem cell collection",
        }
        done.append(procedure(s, "hpc-collection", s.stem_cells_collected_day, harvest))
    return done


def condition(s: Scenario, c: Condition) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Condition",
        "id": f"{s.patient_id}-{c.code.replace('.', '-').lower()}",
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": "active" if c.abated is None else "resolved",
                }
            ]
        },
        "verificationStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                    "code": "confirmed",
                }
            ]
        },
        "code": {"coding": [{"system": ICD10CM, "code": c.code}], "text": c.text},
        "subject": reference(s),
        "onsetDateTime": at(s, c.onset),
    }
    if c.abated is not None:
        resource["abatementDateTime"] = at(s, c.abated)
    return resource


def searchset(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [
            {"fullUrl": f"{FHIR_BASE}/{r['resourceType']}/{r['id']}", "resource": r}
            for r in resources
        ],
    }


def draft_bundle(s: Scenario) -> dict[str, Any]:
    orders = [order | {"subject": reference(s)} for order in s.orders]
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": order} for order in orders],
    }


def request(s: Scenario) -> dict[str, Any]:
    context: dict[str, Any] = {
        "userId": "Practitioner/fixture-clinician",
        "patientId": s.patient_id,
    }
    if s.hook == "order-select":
        context["selections"] = [f"{o['resourceType']}/{o['id']}" for o in s.orders]
    if s.hook in ("order-select", "order-sign"):
        context["draftOrders"] = draft_bundle(s)
    return {
        "hook": s.hook,
        "hookInstance": str(uuid.uuid5(FIXTURE_NAMESPACE, s.name)),
        "context": context,
        "prefetch": {
            "patient": {"resourceType": "Patient", "id": s.patient_id},
            "procedures": searchset(procedures(s)),
            "medications": searchset(
                medications(s) + gcsf_given(s) + supportive_of(s, "MedicationAdministration")
            ),
            "conditions": searchset([condition(s, c) for c in s.conditions]),
            "medicationRequests": searchset(
                active_requests(s) + gcsf_orders(s) + supportive_of(s, "MedicationRequest")
            ),
            "medicationStatements": searchset(
                statements(s) + supportive_of(s, "MedicationStatement")
            ),
            "labs": searchset(
                observations(s) + [blood_culture(s, day, pos) for day, pos in s.cultures]
            ),
            # issue 14 keys (docs/decisions/0023): planned infusions (ServiceRequest,
            # Appointment) and body temperatures
            "serviceRequests": searchset(planned_infusions(s)),
            "appointments": searchset([]),
            "vitals": searchset([temperature(s, day, c) for day, c in s.temperatures]),
        },
    }


# -- draft orders ----------------------------------------------------------------------------------


def service_request(rid: str, text: str) -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest",
        "id": rid,
        "status": "draft",
        "intent": "order",
        "code": {"text": text},
    }


def medication_request(rid: str, text: str, coding: dict[str, str] | None = None) -> dict[str, Any]:
    concept: dict[str, Any] = {"text": text}
    if coding is not None:
        concept["coding"] = [coding]
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": concept,
    }


RBC_NOT_IRRADIATED = service_request("rbc-1", "Red blood cells, non-irradiated, 1 unit")
RBC_IRRADIATED = service_request("rbc-1", "Red blood cells, irradiated, 1 unit")
PLATELETS_UNMARKED = service_request("platelets-1", "Platelets, 1 adult dose")
PLATELETS_IRRADIATED = service_request("platelets-1", "Irradiated apheresis platelets, 1 dose")
# M01, docs/clinical §17 C14: irradiation read from the order's fields (decision 0012)
PLATELETS_DETAIL_IRRADIATION_NO = PLATELETS_UNMARKED | {
    "orderDetail": [{"text": "Irradiation: No"}]
}
PLATELETS_IRRADIATED_ONLY_IN_NOTE = PLATELETS_UNMARKED | {
    "note": [{"text": "needs irradiated products"}]
}
RBC_NICHT_BESTRAHLT = service_request("rbc-1", "Red blood cells, 1 unit") | {
    "orderDetail": [{"text": "nicht bestrahlt"}]
}
# HL7 v2 table 0508 "IR" (Irradiated) as a coded order detail, no display or text to read
PLATELETS_CODED_IRRADIATED = PLATELETS_UNMARKED | {
    "orderDetail": [
        {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0508", "code": "IR"}]}
    ]
}
FILGRASTIM = medication_request(
    "filgrastim-1", "Filgrastim 5 ug/kg SC daily", {"system": RXNORM, "code": "68442"}
)
SARGRAMOSTIM = medication_request("sargramostim-1", "Sargramostim (Leukine) 250 ug/m2 SC daily")
ENOXAPARIN = medication_request(
    "enoxaparin-1", "Enoxaparin 40 mg SC daily", {"system": ATC, "code": "B01AB05"}
)
COTRIMOXAZOLE = medication_request("cotrimoxazole-1", "Co-trimoxazole 960 mg PO Mon/Wed/Fri")
VALGANCICLOVIR = medication_request("valganciclovir-1", "Valganciclovir 900 mg PO daily")
# as an EHR codes it: the RxNorm clinical drug, its RxNorm name as the only text (issue 12)
COTRIMOXAZOLE_RXNORM = medication_request(
    "cotrimoxazole-2",
    "sulfamethoxazole 800 MG / trimethoprim 160 MG Oral Tablet",
    {
        "system": RXNORM,
        "code": "198335",
        "display": "sulfamethoxazole 800 MG / trimethoprim 160 MG Oral Tablet",
    },
)
TRIMETHOPRIM_RXNORM = medication_request(
    "trimethoprim-1",
    "trimethoprim 100 MG Oral Tablet",
    {"system": RXNORM, "code": "198332", "display": "trimethoprim 100 MG Oral Tablet"},
)
PARACETAMOL = medication_request("paracetamol-1", "Paracetamol 1 g PO as needed")
CHEST_X_RAY = service_request("chest-x-ray-1", "Chest X-ray, 2 views")


# -- the scenarios ---------------------------------------------------------------------------------

HEART_FAILURE = Condition("I50.9", "Heart failure", onset=-400)
ASPERGILLOSIS = Condition("B44.9", "Invasive aspergillosis", onset=-300, abated=-250)
# ANC <= 500/uL on days 1-15 (15 days: early ICAHT grade 3), the evaluation day 16 decides
SEVERE_16 = {0: 2000.0, **daily(1, 15, 300.0)}
# second dip after a recovery (docs/clinical §5.1): dip < 1000 on day 3, > 1500 on day 12
BIPHASIC = {0: 2500.0, 3: 900.0, 5: 800.0, 8: 1200.0, 12: 1600.0, 16: 1800.0, 20: 1400.0}
# late ICAHT: recovered by day 10, ANC <= 500 again after day 30 (two values: confirmed)
LATE_SEVERE = {0: 2000.0, 3: 400.0, 5: 300.0, 7: 600.0, 10: 1800.0, 14: 2500.0, 20: 2600.0}
LATE_SEVERE |= {25: 2400.0, 30: 2000.0, 33: 450.0, 36: 400.0, 40: 350.0}
PLATELETS_TO = {0: 150.0, 4: 80.0, 8: 30.0}
# issue 14 findings (ICD-10-CM): an active pneumonia from day 4, a haemorrhage from day 10,
# the disease (B-ALL, or LBCL as its near miss)
PNEUMONIA = Condition("J18.9", "Pneumonia, unspecified organism", onset=4)
HAEMORRHAGE = Condition("R58", "Hemorrhage, not elsewhere classified", onset=10)
B_ALL = Condition("C91.00", "B-cell acute lymphoblastic leukemia", onset=-400)
LBCL = Condition("C83.30", "Diffuse large B-cell lymphoma", onset=-400)
IRRADIATED_PLATELETS = "Platelet transfusion, irradiated"


# ANC after lymphodepletion falling but above 500/uL (M02's ANC <= 1500/uL, no M08)
M02_ANC = {0: 1400.0, 1: 1300.0, 2: 1200.0, 3: 1000.0, 4: 900.0, 5: 800.0, 6: 700.0}


def m02(name: str, day: int, **fields: Any) -> Scenario:
    """A high-risk patient seen on `day` with a falling ANC (M02_ANC unless `labs` is given)."""
    fields.setdefault("labs", {"anc": M02_ANC})
    return Scenario(name, "patient-view", day, high_risk=True, **fields)


# IEC-HS-shaped course (C13): ferritin peaks with CRS, falls, then rises again after it;
# 2 x day 0 = 10,000 ng/mL is never reached, so only the 72-h doubling can open the screen
IEC_HS_FERRITIN = {0: 5000.0, 3: 9000.0, 7: 3000.0, 10: 1500.0}
IEC_HS_PLATELETS = {0: 150.0, 4: 60.0, 8: 40.0, 10: 30.0, 12: 15.0}


def crs(grade: int, onset: int, abated: int | None = None) -> Condition:
    return Condition(f"D89.83{grade}", f"Cytokine release syndrome, grade {grade}", onset, abated)


SCENARIOS: tuple[Scenario, ...] = (
    # M01: window [earlier of LD - 7 d and infusion - 30 d, infusion + 90 d]
    Scenario("M01-in-day-90-rbc-not-irradiated", "order-sign", 90, orders=(RBC_NOT_IRRADIATED,)),
    Scenario("M01-out-day-91-rbc-not-irradiated", "order-sign", 91, orders=(RBC_NOT_IRRADIATED,)),
    Scenario(
        "M01-in-day-20-platelets-unmarked",
        "order-select",
        20,
        labs={"platelets": {0: 150.0, 10: 40.0, 20: 30.0}},
        orders=(PLATELETS_UNMARKED,),
    ),
    Scenario("M01-out-day-20-rbc-irradiated", "order-sign", 20, orders=(RBC_IRRADIATED,)),
    # C14: a negation in the order detail is no irradiation; a note is no product attribute
    Scenario(
        "M01-in-day-20-platelets-detail-irradiation-no",
        "order-sign",
        20,
        orders=(PLATELETS_DETAIL_IRRADIATION_NO,),
    ),
    Scenario(
        "M01-in-day-20-platelets-irradiated-only-in-note",
        "order-sign",
        20,
        orders=(PLATELETS_IRRADIATED_ONLY_IN_NOTE,),
    ),
    Scenario(
        "M01-in-day-20-rbc-nicht-bestrahlt", "order-select", 20, orders=(RBC_NICHT_BESTRAHLT,)
    ),
    Scenario(
        "M01-out-day-20-platelets-coded-irradiated",
        "order-sign",
        20,
        orders=(PLATELETS_CODED_IRRADIATED,),
    ),
    # M01 before day 0: lymphodepletion on days -5..-3 and no infusion on record yet opens the
    # window [first dose - 7 d, open]; it counts for 180 days after that dose [PROPOSED]
    Scenario(
        "M01-in-day-m2-after-lymphodepletion-no-infusion",
        "order-sign",
        -2,
        orders=(RBC_NOT_IRRADIATED,),
        infused=False,
    ),
    Scenario(
        "M01-in-lymphodepletion-180-days-ago-no-infusion",
        "order-select",
        175,
        orders=(PLATELETS_UNMARKED,),
        infused=False,
    ),
    Scenario(
        "M01-out-lymphodepletion-181-days-ago-no-infusion",
        "order-select",
        176,
        orders=(PLATELETS_UNMARKED,),
        infused=False,
    ),
    # a planned infusion alone (no apheresis or lymphodepletion on record yet) opens the window
    # 30 days before its planned day, as an infusion does when the apheresis is unknown
    Scenario(
        "M01-in-planned-infusion-in-30-days",
        "order-sign",
        -30,
        orders=(PLATELETS_UNMARKED,),
        infused=False,
        lymphodepleted=False,
        planned_infusion_day=0,
    ),
    Scenario(
        "M01-out-planned-infusion-in-31-days",
        "order-sign",
        -31,
        orders=(PLATELETS_UNMARKED,),
        infused=False,
        lymphodepleted=False,
        planned_infusion_day=0,
    ),
    # M02 (C15): CAR-HEMATOTOX high, days +2..+5, current ANC not > 1500/uL, no G-CSF since
    # day -7 (given, actively ordered or in a statement that says it is taken)
    m02("M02-in-day-2-hematotox-high", 2),
    m02("M02-out-day-1-hematotox-high", 1),
    m02("M02-in-day-5-hematotox-high", 5),
    m02("M02-out-day-6-hematotox-high", 6),
    m02("M02-in-anc-1500-day-3", 3, labs={"anc": {0: 2500.0, 3: 1500.0}}),
    m02("M02-out-anc-1501-day-3", 3, labs={"anc": {0: 2500.0, 3: 1501.0}}),
    m02("M02-out-pegfilgrastim-day-minus-7", 5, gcsf_given=(("pegfilgrastim", -7),)),
    m02("M02-in-pegfilgrastim-day-minus-8", 5, gcsf_given=(("pegfilgrastim", -8),)),
    m02("M02-out-filgrastim-sndz-by-code-day-2", 3, gcsf_given=(("filgrastim-sndz", 2),)),
    m02("M02-out-pegfilgrastim-active-order", 3, gcsf_ordered=(("pegfilgrastim", 1),)),
    m02(
        "M02-out-statement-taking-zarxio",
        3,
        gcsf_statements=(("active", "filgrastim-sndz", 1),),
    ),
    m02(
        "M02-in-statement-stopped-zarxio",
        3,
        gcsf_statements=(("stopped", "filgrastim-sndz", 1),),
    ),
    # M03: ANC <= 500/uL (inclusive) on day >= 7
    Scenario(
        "M03-in-anc-500-day-7",
        "patient-view",
        7,
        labs={"anc": {0: 2000.0, 2: 1200.0, 4: 800.0, 6: 600.0, 7: 500.0}},
    ),
    Scenario(
        "M03-out-anc-501-day-7",
        "patient-view",
        7,
        labs={"anc": {0: 2000.0, 2: 1200.0, 4: 800.0, 6: 600.0, 7: 501.0}},
    ),
    Scenario(
        "M03-out-anc-500-day-6",
        "patient-view",
        6,
        labs={"anc": {0: 2000.0, 2: 1200.0, 4: 800.0, 6: 500.0}},
    ),
    # M03 before day 7 with active infection (issue 14): a pneumonia Condition, or a positive
    # blood culture within 72 h (collected 3 days ago counts, 4 days ago does not)
    Scenario(
        "M03-in-anc-500-day-6-pneumonia",
        "patient-view",
        6,
        labs={"anc": {0: 2000.0, 2: 1200.0, 4: 800.0, 6: 500.0}},
        conditions=(PNEUMONIA,),
    ),
    Scenario(
        "M03-in-anc-500-day-6-positive-culture-3-days-ago",
        "patient-view",
        6,
        labs={"anc": {0: 2000.0, 2: 1200.0, 4: 800.0, 6: 500.0}},
        cultures=((3, True),),
    ),
    Scenario(
        "M03-out-anc-500-day-6-positive-culture-4-days-ago",
        "patient-view",
        6,
        labs={"anc": {0: 2000.0, 2: 1200.0, 4: 800.0, 6: 500.0}},
        cultures=((2, True),),
    ),
    Scenario(
        "M03-out-anc-500-day-6-culture-no-growth",
        "patient-view",
        6,
        labs={"anc": {0: 2000.0, 2: 1200.0, 4: 800.0, 6: 500.0}},
        cultures=((5, False),),
    ),
    # M03 during G-CSF coverage (C15): pegfilgrastim covers dose day + 0..13. On day 7 after a
    # day -3 dose the 8 covered days since day 0 are G-CSF non-response (M07); M03 stays quiet.
    # 14 days after a dose ANC <= 500 is M07 too (14 covered days end the day before), so M03
    # is back on day 15 after the dose.
    Scenario(
        "M03-out-pegfilgrastim-day-minus-3",
        "patient-view",
        7,
        labs={"anc": {0: 2000.0, 2: 1200.0, 4: 800.0, 6: 600.0, 7: 500.0}},
        gcsf_given=(("pegfilgrastim", -3),),
    ),
    Scenario(
        "M03-out-pegfilgrastim-13-days-ago",
        "patient-view",
        20,
        labs={"anc": {0: 2000.0, 10: 2500.0, 14: 1200.0, 18: 700.0, 20: 400.0}},
        gcsf_given=(("pegfilgrastim", 7),),
    ),
    Scenario(
        "M03-in-pegfilgrastim-15-days-ago",
        "patient-view",
        20,
        labs={"anc": {0: 2000.0, 10: 2500.0, 14: 1200.0, 18: 700.0, 20: 400.0}},
        gcsf_given=(("pegfilgrastim", 5),),
    ),
    # M04: G-CSF order while a CRS period covers today
    Scenario(
        "M04-in-filgrastim-crs-ongoing",
        "order-select",
        5,
        conditions=(crs(2, onset=2),),
        orders=(FILGRASTIM,),
    ),
    Scenario(
        "M04-out-filgrastim-crs-resolved-yesterday",
        "order-select",
        5,
        conditions=(crs(2, onset=2, abated=4),),
        orders=(FILGRASTIM,),
    ),
    # M04's exception: active infection with ANC <= 500/uL (pneumonia, ANC 500 today)
    Scenario(
        "M04-out-filgrastim-crs-ongoing-pneumonia-anc-500",
        "order-select",
        5,
        labs={"anc": {0: 2000.0, 2: 1200.0, 4: 800.0, 5: 500.0}},
        conditions=(crs(2, onset=2), PNEUMONIA),
        orders=(FILGRASTIM,),
    ),
    Scenario(
        "M04-in-filgrastim-crs-ongoing-pneumonia-anc-501",
        "order-select",
        5,
        labs={"anc": {0: 2000.0, 2: 1200.0, 4: 800.0, 5: 501.0}},
        conditions=(crs(2, onset=2), PNEUMONIA),
        orders=(FILGRASTIM,),
    ),
    # M05: GM-CSF order on or after day 0; the near-miss is the other growth factor
    Scenario("M05-in-sargramostim-day-0", "order-sign", 0, orders=(SARGRAMOSTIM,)),
    Scenario("M05-out-filgrastim-day-10", "order-sign", 10, orders=(FILGRASTIM,)),
    # M06: after a dip < 1000 and a recovery > 1500, ANC < 750/uL (strict)
    Scenario(
        "M06-in-anc-749-after-recovery", "patient-view", 24, labs={"anc": BIPHASIC | {24: 749.0}}
    ),
    Scenario(
        "M06-out-anc-750-after-recovery", "patient-view", 24, labs={"anc": BIPHASIC | {24: 750.0}}
    ),
    # not while pegfilgrastim covers today (C15: dose day + 0..13)
    Scenario(
        "M06-out-anc-749-pegfilgrastim-13-days-ago",
        "patient-view",
        24,
        labs={"anc": BIPHASIC | {24: 749.0}},
        gcsf_given=(("pegfilgrastim", 11),),
    ),
    Scenario(
        "M06-in-anc-749-pegfilgrastim-14-days-ago",
        "patient-view",
        24,
        labs={"anc": BIPHASIC | {24: 749.0}},
        gcsf_given=(("pegfilgrastim", 10),),
    ),
    # M07: ANC <= 500 after >= 7 consecutive G-CSF days ending the day before
    Scenario(
        "M07-in-gcsf-7-days",
        "patient-view",
        15,
        labs={"anc": {0: 1500.0, **daily(2, 15, 300.0)}},
        gcsf_days=tuple(range(8, 15)),
    ),
    Scenario(
        "M07-out-gcsf-6-days",
        "patient-view",
        15,
        labs={"anc": {0: 1500.0, **daily(2, 15, 300.0)}},
        gcsf_days=tuple(range(9, 15)),
    ),
    # one long-acting dose covers 14 days (C15): pegfilgrastim-jmdb (by name only) on day 2
    # covers days 2-8 by day 8 (7 days); on day 3 only 6
    Scenario(
        "M07-in-pegfilgrastim-jmdb-day-2",
        "patient-view",
        8,
        labs={"anc": {0: 1500.0, **daily(2, 8, 300.0)}},
        gcsf_given=(("pegfilgrastim-jmdb", 2),),
    ),
    Scenario(
        "M07-out-pegfilgrastim-jmdb-day-3",
        "patient-view",
        8,
        labs={"anc": {0: 1500.0, **daily(2, 8, 300.0)}},
        gcsf_given=(("pegfilgrastim-jmdb", 3),),
    ),
    # M08: CAR-HEMATOTOX high and ANC <= 500/uL
    Scenario(
        "M08-in-anc-500-hematotox-high",
        "patient-view",
        3,
        labs={"anc": {0: 2000.0, 1: 1500.0, 2: 900.0, 3: 500.0}},
        high_risk=True,
    ),
    Scenario(
        "M08-out-anc-501-hematotox-high",
        "patient-view",
        3,
        labs={"anc": {0: 2000.0, 1: 1500.0, 2: 900.0, 3: 501.0}},
        high_risk=True,
    ),
    # M08 does not remind a patient already on antibacterial prophylaxis (issue 14)
    Scenario(
        "M08-out-anc-500-hematotox-high-levofloxacin-ordered",
        "patient-view",
        3,
        labs={"anc": {0: 2000.0, 1: 1500.0, 2: 900.0, 3: 500.0}},
        high_risk=True,
        supportive=(("ordered", "levofloxacin", 2),),
    ),
    # M09 (§17 C16): prior invasive mould infection, day 0..+100, whatever the ANC
    Scenario(
        "M09-in-anc-501-prior-aspergillosis",
        "patient-view",
        3,
        labs={"anc": {0: 2000.0, 1: 1500.0, 2: 900.0, 3: 501.0}},
        conditions=(ASPERGILLOSIS,),
    ),
    Scenario(
        "M09-in-day-100-prior-aspergillosis", "patient-view", 100, conditions=(ASPERGILLOSIS,)
    ),
    Scenario(
        "M09-out-day-101-prior-aspergillosis", "patient-view", 101, conditions=(ASPERGILLOSIS,)
    ),
    # M09: early ICAHT grade >= 3 with the current ANC <= 500/µL
    Scenario("M09-in-grade-3-anc-500", "patient-view", 16, labs={"anc": SEVERE_16 | {16: 500.0}}),
    Scenario("M09-out-grade-3-anc-501", "patient-view", 16, labs={"anc": SEVERE_16 | {16: 501.0}}),
    Scenario(
        "M09-out-grade-3-anc-500-posaconazole-taken",
        "patient-view",
        16,
        labs={"anc": SEVERE_16 | {16: 500.0}},
        supportive=(("taken", "posaconazole", 10),),
    ),
    # M09 corticosteroid factor (§10: prolonged, > 3 days) with ANC <= 500/uL, early grade < 3:
    # dexamethasone on 4 of the last 14 days fires, on 3 does not (decision record 0022)
    Scenario(
        "M09-in-dexamethasone-4-days-anc-500",
        "patient-view",
        8,
        labs={"anc": {0: 2000.0, 2: 1200.0, 4: 900.0, 6: 700.0, 8: 500.0}},
        supportive=tuple(("given", "dexamethasone", d) for d in (3, 4, 5, 6)),
    ),
    Scenario(
        "M09-out-dexamethasone-3-days-anc-500",
        "patient-view",
        8,
        labs={"anc": {0: 2000.0, 2: 1200.0, 4: 900.0, 6: 700.0, 8: 500.0}},
        supportive=tuple(("given", "dexamethasone", d) for d in (4, 5, 6)),
    ),
    # M10: HSV/VZV prophylaxis from the lymphodepletion to day +365 when none is on record
    Scenario("M10-in-day-10-no-antiviral-on-record", "patient-view", 10, prophylaxis=False),
    Scenario("M10-out-day-10-aciclovir-taken", "patient-view", 10),
    Scenario(
        "M10-out-day-10-aciclovir-given-2-days-ago",
        "patient-view",
        10,
        prophylaxis=False,
        supportive=(("given", "aciclovir", 8),),
    ),
    Scenario("M10-in-day-365-no-antiviral-on-record", "patient-view", 365, prophylaxis=False),
    Scenario("M10-out-day-366-no-antiviral-on-record", "patient-view", 366, prophylaxis=False),
    # M11 patient view: PJP prophylaxis from day 28 when none is on record (antiviral on record)
    Scenario(
        "M11-in-day-28-no-pjp-on-record",
        "patient-view",
        28,
        prophylaxis=False,
        supportive=(("taken", "aciclovir", -5),),
    ),
    Scenario(
        "M11-out-day-27-no-pjp-on-record",
        "patient-view",
        27,
        prophylaxis=False,
        supportive=(("taken", "aciclovir", -5),),
    ),
    Scenario("M11-out-day-28-cotrimoxazole-taken", "patient-view", 28),
    # M11 (order hooks): co-trimoxazole during ICAHT grade >= 3 with ANC <= 500/uL
    Scenario(
        "M11-in-cotrimoxazole-grade-3-anc-500",
        "order-sign",
        16,
        labs={"anc": SEVERE_16 | {16: 500.0}},
        orders=(COTRIMOXAZOLE,),
    ),
    Scenario(
        "M11-out-cotrimoxazole-grade-3-anc-501",
        "order-sign",
        16,
        labs={"anc": SEVERE_16 | {16: 501.0}},
        orders=(COTRIMOXAZOLE,),
    ),
    # the same order coded as EHRs send it: RxNorm 198335, no "co-trimoxazole" in any text
    Scenario(
        "M11-in-rxnorm-198335-grade-3-anc-500",
        "order-sign",
        16,
        labs={"anc": SEVERE_16 | {16: 500.0}},
        orders=(COTRIMOXAZOLE_RXNORM,),
    ),
    # trimethoprim alone is not co-trimoxazole
    Scenario(
        "M11-out-rxnorm-trimethoprim-alone-grade-3-anc-500",
        "order-sign",
        16,
        labs={"anc": SEVERE_16 | {16: 500.0}},
        orders=(TRIMETHOPRIM_RXNORM,),
    ),
    # M12 cannot fire (infection status not mapped): IgG < 400 mg/dL stays not evaluable
    # M12 (warning): IgG < 400 mg/dL with an active infection (pneumonia from day 36)
    Scenario(
        "M12-in-igg-390-pneumonia",
        "patient-view",
        40,
        labs={"igg": {38: 390.0}},
        conditions=(Condition("J18.9", "Pneumonia, unspecified organism", onset=36),),
    ),
    Scenario(
        "M12-out-igg-400-pneumonia",
        "patient-view",
        40,
        labs={"igg": {38: 400.0}},
        conditions=(Condition("J18.9", "Pneumonia, unspecified organism", onset=36),),
    ),
    # M13: Hb < 7.0 g/dL; < 8.0 g/dL with cardiovascular disease (strict)
    Scenario(
        "M13-in-hb-6.9", "patient-view", 20, labs={"hb": {0: 11.0, 10: 8.5, 16: 7.4, 20: 6.9}}
    ),
    Scenario(
        "M13-out-hb-7.0", "patient-view", 20, labs={"hb": {0: 11.0, 10: 8.5, 16: 7.4, 20: 7.0}}
    ),
    Scenario(
        "M13-in-hb-7.9-heart-failure",
        "patient-view",
        20,
        labs={"hb": {0: 11.0, 10: 9.0, 16: 8.4, 20: 7.9}},
        conditions=(HEART_FAILURE,),
    ),
    Scenario(
        "M13-out-hb-8.0-heart-failure",
        "patient-view",
        20,
        labs={"hb": {0: 11.0, 10: 9.0, 16: 8.4, 20: 8.0}},
        conditions=(HEART_FAILURE,),
    ),
    # M14: platelets <= 10 x10^9/L (inclusive); order hooks: platelet order above 20
    Scenario(
        "M14-in-platelets-10", "patient-view", 12, labs={"platelets": PLATELETS_TO | {12: 10.0}}
    ),
    Scenario(
        "M14-out-platelets-11", "patient-view", 12, labs={"platelets": PLATELETS_TO | {12: 11.0}}
    ),
    # M14 <= 20 x10^9/L with fever (>= 38.0 Cel today or yesterday), bleeding or infection
    Scenario(
        "M14-in-platelets-20-fever-38.0",
        "patient-view",
        12,
        labs={"platelets": PLATELETS_TO | {12: 20.0}},
        temperatures=((11, 37.2), (12, 38.0)),
    ),
    Scenario(
        "M14-out-platelets-20-temperature-37.9",
        "patient-view",
        12,
        labs={"platelets": PLATELETS_TO | {12: 20.0}},
        temperatures=((11, 37.2), (12, 37.9)),
    ),
    Scenario(
        "M14-out-platelets-21-fever-38.5",
        "patient-view",
        12,
        labs={"platelets": PLATELETS_TO | {12: 21.0}},
        temperatures=((12, 38.5),),
    ),
    Scenario(
        "M14-in-platelets-15-haemorrhage",
        "patient-view",
        12,
        labs={"platelets": PLATELETS_TO | {12: 15.0}},
        conditions=(HAEMORRHAGE,),
    ),
    Scenario(
        "M14-in-platelet-order-platelets-21",
        "order-select",
        12,
        labs={"platelets": PLATELETS_TO | {12: 21.0}},
        orders=(PLATELETS_IRRADIATED,),
    ),
    Scenario(
        "M14-out-platelet-order-platelets-20",
        "order-select",
        12,
        labs={"platelets": PLATELETS_TO | {12: 20.0}},
        orders=(PLATELETS_IRRADIATED,),
    ),
    # M15: day > 30, >= 2 platelet units within 7 days (the evaluation day and 6 before)
    Scenario(
        "M15-in-day-31-2-platelet-units",
        "patient-view",
        31,
        transfusions=((25, IRRADIATED_PLATELETS), (31, IRRADIATED_PLATELETS)),
    ),
    Scenario(
        "M15-out-day-30-2-platelet-units",
        "patient-view",
        30,
        transfusions=((24, IRRADIATED_PLATELETS), (30, IRRADIATED_PLATELETS)),
    ),
    Scenario(
        "M15-out-day-31-units-7-days-apart",
        "patient-view",
        31,
        transfusions=((24, IRRADIATED_PLATELETS), (31, IRRADIATED_PLATELETS)),
    ),
    Scenario(
        "M15-out-day-31-2-platelet-units-eltrombopag-ordered",
        "patient-view",
        31,
        transfusions=((25, IRRADIATED_PLATELETS), (31, IRRADIATED_PLATELETS)),
        supportive=(("ordered", "eltrombopag", 29),),
    ),
    # M16: refractory early grade 3 after day 14 with stored autologous stem cells (a CPT 38206
    # collection before an earlier autologous transplant, decision record 0020)
    Scenario(
        "M16-in-refractory-grade-3-stem-cells-collected",
        "patient-view",
        20,
        labs={"anc": {0: 2000.0, **daily(1, 20, 300.0)}},
        gcsf_days=tuple(range(13, 20)),
        stem_cells_collected_day=-400,
    ),
    Scenario(
        "M16-out-refractory-grade-3-no-stored-cells-on-record",
        "patient-view",
        20,
        labs={"anc": {0: 2000.0, **daily(1, 20, 300.0)}},
        gcsf_days=tuple(range(13, 20)),
    ),
    # M17: grade 4 persisting after day 30 and no stored stem cells on record (the card says so
    # and asks to check); stored cells on record make it M16's concern
    Scenario(
        "M17-in-grade-4-day-35-no-stored-cells-on-record",
        "patient-view",
        35,
        labs={"anc": daily(0, 35, 50.0)},
    ),
    Scenario(
        "M17-out-grade-4-day-35-stem-cells-collected",
        "patient-view",
        35,
        labs={"anc": daily(0, 35, 50.0)},
        stem_cells_collected_day=-400,
    ),
    # M18: day > 30 with early grade >= 3 and ANC <= 500/uL
    Scenario(
        "M18-in-day-31-grade-3",
        "patient-view",
        31,
        labs={"anc": {0: 2000.0, **daily(1, 31, 300.0)}},
    ),
    Scenario(
        "M18-out-day-30-grade-3",
        "patient-view",
        30,
        labs={"anc": {0: 2000.0, **daily(1, 30, 300.0)}},
    ),
    # M19: platelets < 50 x10^9/L for >= 14 days (first to last day, both counted)
    Scenario(
        "M19-in-platelets-49-for-14-days-day-21",
        "patient-view",
        21,
        labs={"platelets": {**daily(0, 7, 60.0), **daily(8, 21, 49.0)}},
    ),
    Scenario(
        "M19-out-platelets-49-for-13-days-day-21",
        "patient-view",
        21,
        labs={"platelets": {**daily(0, 8, 60.0), **daily(9, 21, 49.0)}},
    ),
    # §17 C16: 14 days below 50 x10^9/L, but day 20 is before the work-up is due
    Scenario(
        "M19-out-platelets-49-for-14-days-day-20",
        "patient-view",
        20,
        labs={"platelets": {**daily(0, 6, 60.0), **daily(7, 20, 49.0)}},
    ),
    # M19 (order hooks): myelosuppressive drug during ICAHT grade >= 3 with ANC <= 500/uL
    Scenario(
        "M19-in-valganciclovir-grade-3-anc-500",
        "order-sign",
        16,
        labs={"anc": SEVERE_16 | {16: 500.0}},
        orders=(VALGANCICLOVIR,),
    ),
    Scenario(
        "M19-out-valganciclovir-grade-3-anc-501",
        "order-sign",
        16,
        labs={"anc": SEVERE_16 | {16: 501.0}},
        orders=(VALGANCICLOVIR,),
    ),
    # M20: fibrinogen < 100 mg/dL (strict) while the CRS period active today has grade 3-4
    Scenario(
        "M20-in-fibrinogen-99-crs-grade-3",
        "patient-view",
        6,
        labs={"fibrinogen": {0: 250.0, 3: 160.0, 6: 99.0}},
        conditions=(crs(3, onset=2),),
    ),
    Scenario(
        "M20-out-fibrinogen-100-crs-grade-3",
        "patient-view",
        6,
        labs={"fibrinogen": {0: 250.0, 3: 160.0, 6: 100.0}},
        conditions=(crs(3, onset=2),),
    ),
    # C16: an open CRS record (no abatement) counts as active for 21 days after its onset
    Scenario(
        "M20-in-open-crs-grade-3-21-days-old",
        "patient-view",
        23,
        labs={"fibrinogen": {0: 250.0, 3: 160.0, 23: 80.0}},
        conditions=(crs(3, onset=2),),
    ),
    Scenario(
        "M20-out-open-crs-grade-3-22-days-old",
        "patient-view",
        24,
        labs={"fibrinogen": {0: 250.0, 3: 160.0, 24: 80.0}},
        conditions=(crs(3, onset=2),),
    ),
    # C16: the grade of this course's CRS (grade 1 now), not a grade 4 before this course
    Scenario(
        "M20-out-crs-grade-1-now-grade-4-before-this-course",
        "patient-view",
        6,
        labs={"fibrinogen": {0: 250.0, 3: 160.0, 6: 80.0}},
        conditions=(crs(4, onset=-200, abated=-195), crs(1, onset=2)),
    ),
    Scenario(
        "M20-out-crs-grade-3-ended-yesterday",
        "patient-view",
        6,
        labs={"fibrinogen": {0: 250.0, 3: 160.0, 6: 80.0}},
        conditions=(crs(3, onset=2, abated=5),),
    ),
    # M21: anticoagulant (given today / ordered) with platelets < 50 x10^9/L (strict)
    Scenario(
        "M21-in-enoxaparin-given-platelets-49",
        "patient-view",
        20,
        labs={"platelets": {0: 150.0, 10: 90.0, 16: 70.0, 20: 49.0}},
        enoxaparin_days=tuple(range(15, 21)),
    ),
    Scenario(
        "M21-out-enoxaparin-given-platelets-50",
        "patient-view",
        20,
        labs={"platelets": {0: 150.0, 10: 90.0, 16: 70.0, 20: 50.0}},
        enoxaparin_days=tuple(range(15, 21)),
    ),
    # an active enoxaparin order started today, no dose given yet (medicationRequests prefetch)
    Scenario(
        "M21-in-enoxaparin-ordered-not-given-platelets-49",
        "patient-view",
        20,
        labs={"platelets": {0: 150.0, 10: 90.0, 16: 70.0, 20: 49.0}},
        enoxaparin_ordered_from=20,
    ),
    Scenario(
        "M21-out-enoxaparin-ordered-not-given-platelets-50",
        "patient-view",
        20,
        labs={"platelets": {0: 150.0, 10: 90.0, 16: 70.0, 20: 50.0}},
        enoxaparin_ordered_from=20,
    ),
    Scenario(
        "M21-in-enoxaparin-order-platelets-49",
        "order-select",
        20,
        labs={"platelets": {0: 150.0, 10: 90.0, 16: 70.0, 20: 49.0}},
        orders=(ENOXAPARIN,),
    ),
    Scenario(
        "M21-out-enoxaparin-order-platelets-50",
        "order-select",
        20,
        labs={"platelets": {0: 150.0, 10: 90.0, 16: 70.0, 20: 50.0}},
        orders=(ENOXAPARIN,),
    ),
    # M22 cannot fire (no RBC-unit threshold ships): 13 RBC units on record
    Scenario(
        "M22-out-13-rbc-units-no-threshold",
        "patient-view",
        40,
        transfusions=tuple((d, "Red blood cells transfusion, irradiated") for d in range(3, 40, 3)),
    ),
    # M23 (docs/clinical §17 C13): on day >= 7, ferritin rising (here >= 2-fold within 72 h:
    # 1500 on day 10, then 3000 = 2.0 x on day 12) after the CRS ended, with a new cytopenia
    # (platelets < 20 x10^9/L after values above 20 since day 0) in the last 3 days
    Scenario(
        "M23-in-ferritin-2-0-fold-after-crs-new-cytopenia",
        "patient-view",
        12,
        labs={"ferritin": IEC_HS_FERRITIN | {12: 3000.0}, "platelets": IEC_HS_PLATELETS},
        conditions=(crs(2, onset=1, abated=9),),
    ),
    Scenario(
        "M23-out-ferritin-1-9-fold-after-crs-new-cytopenia",
        "patient-view",
        12,
        labs={"ferritin": IEC_HS_FERRITIN | {12: 2850.0}, "platelets": IEC_HS_PLATELETS},
        conditions=(crs(2, onset=1, abated=9),),
    ),
    # the same doubling, but the CRS record ends on day 10, the day the rise starts
    Scenario(
        "M23-out-ferritin-2-0-fold-crs-ended-day-rise-starts",
        "patient-view",
        12,
        labs={"ferritin": IEC_HS_FERRITIN | {12: 3000.0}, "platelets": IEC_HS_PLATELETS},
        conditions=(crs(2, onset=1, abated=10),),
    ),
    # the ordinary course the old screen fired on: ferritin > 2 x day 0 since CRS in week 1,
    # falling slowly, and a biphasic ANC dip < 500/uL on day 21
    Scenario(
        "M23-out-ferritin-high-since-crs-biphasic-anc",
        "patient-view",
        21,
        labs={
            "ferritin": {0: 800.0, 3: 6000.0, 7: 4000.0, 14: 3000.0, 21: 2600.0},
            "anc": {0: 2500.0, 3: 900.0, 7: 1200.0, 14: 1600.0, 21: 400.0},
        },
        conditions=(crs(2, onset=1, abated=6),),
    ),
    # M24: CAR-HEMATOTOX high before day 0 of a course in preparation: a CAR-T infusion
    # ordered for day 0 (ServiceRequest CPT 38228), or a lymphodepletion with no infusion yet;
    # not on the planned day itself, not when low risk
    Scenario(
        "M24-in-planned-infusion-in-2-days-hematotox-high",
        "patient-view",
        -2,
        high_risk=True,
        infused=False,
        planned_infusion_day=0,
    ),
    Scenario(
        "M24-out-planned-infusion-in-2-days-hematotox-low",
        "patient-view",
        -2,
        infused=False,
        planned_infusion_day=0,
    ),
    Scenario(
        "M24-out-planned-infusion-today-hematotox-high",
        "patient-view",
        0,
        high_risk=True,
        infused=False,
        planned_infusion_day=0,
    ),
    Scenario(
        "M24-in-lymphodepletion-day-m2-hematotox-high",
        "patient-view",
        -2,
        high_risk=True,
        infused=False,
    ),
    # M25: B-ALL (ICD-10-CM C91.00), G-CSF-refractory after day 30; LBCL is the near miss
    Scenario(
        "M25-in-refractory-day-35-b-all",
        "patient-view",
        35,
        labs={"anc": {0: 2000.0, **daily(1, 35, 300.0)}},
        gcsf_days=tuple(range(28, 35)),
        conditions=(B_ALL,),
    ),
    Scenario(
        "M25-out-refractory-day-35-lbcl",
        "patient-view",
        35,
        labs={"anc": {0: 2000.0, **daily(1, 35, 300.0)}},
        gcsf_days=tuple(range(28, 35)),
        conditions=(LBCL,),
    ),
    # M26: confirmed late grade 3, day > 30, G-CSF-refractory (7 days ending the day before)
    Scenario(
        "M26-in-late-grade-3-gcsf-7-days",
        "patient-view",
        40,
        labs={"anc": LATE_SEVERE},
        gcsf_days=tuple(range(33, 40)),
    ),
    Scenario(
        "M26-out-late-grade-3-gcsf-6-days",
        "patient-view",
        40,
        labs={"anc": LATE_SEVERE},
        gcsf_days=tuple(range(34, 40)),
    ),
    # orders no rule is about: no card at all
    Scenario(
        "unrelated-out-chest-x-ray",
        "order-sign",
        20,
        labs={"platelets": {0: 150.0, 10: 40.0, 20: 30.0}},
        orders=(CHEST_X_RAY,),
    ),
    Scenario(
        "unrelated-out-paracetamol",
        "order-select",
        20,
        labs={"platelets": {0: 150.0, 10: 40.0, 20: 30.0}},
        orders=(PARACETAMOL,),
    ),
)


def file_name(s: Scenario) -> str:
    return f"request-{s.name}.json"


def write_all(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for s in SCENARIOS:
        path = out / file_name(s)
        path.write_text(json.dumps(request(s), indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="directory (default: beside me)")
    args = parser.parse_args()
    written = write_all(args.out)
    print(f"{len(written)} fixtures written to {args.out}")


if __name__ == "__main__":
    main()
