"""CDS Hooks suggestions from the rules' suggestion intents: FHIR R4 resources and actions.

A rule says *what* to suggest (an irradiated product instead of a draft order, a marrow biopsy,
removing a GM-CSF order); this module writes the FHIR: a draft ServiceRequest to create, the
draft order to delete. Codes come from fhir_mappings' verified value sets (CPT 38221 bone marrow
biopsy: AMA, cited in fhir_mappings/data/valuesets.yaml).
"""

from __future__ import annotations

import uuid
from typing import Any

from cds_service.markdown import escape_markdown_text
from fhir_mappings.irradiation import V2_0508_URL as V2_0508
from icaht.rules import Suggestion

SUGGESTION_NAMESPACE = uuid.UUID("0b6f8e43-47a1-4f8b-9a8e-2f0c9d2b7c11")
CPT = "http://www.ama-assn.org/go/cpt"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
MARROW_BIOPSY = ("38221", "Diagnostic bone marrow biopsy(ies)")
FILGRASTIM = ("68442", "filgrastim")  # RxNorm ingredient, verified in valuesets.yaml
IRRADIATED_DETAIL = {
    "coding": [{"system": V2_0508, "code": "IR", "display": "Irradiated"}],
    "text": "Irradiated",
}
PRODUCT_TEXT = {
    "rbc": "red blood cells",
    "platelets": "platelet concentrate",
    "granulocytes": "granulocyte concentrate",
    "plasma": "plasma",
    "cryoprecipitate": "cryoprecipitate",
}


def cds_suggestion(suggestion: Suggestion, patient_id: str, card_key: str) -> dict[str, Any] | None:
    """One CDS Hooks suggestion (uuid derived from the card and the suggestion), or None when
    there is no concrete FHIR action to offer for it."""
    actions = _actions(suggestion, patient_id)
    if not actions:
        return None
    return {
        # labels and descriptions carry draft order names from the EHR (docs/decisions/0026)
        "label": escape_markdown_text(suggestion.label),
        "uuid": str(uuid.uuid5(SUGGESTION_NAMESPACE, f"{card_key}\n{suggestion.label}")),
        "isRecommended": True,
        "actions": actions,
    }


def _actions(suggestion: Suggestion, patient_id: str) -> list[dict[str, Any]]:
    actions: list[dict[str, Any]] = []
    if suggestion.action in ("replace", "remove") and suggestion.replaces:
        actions.append(
            {
                "type": "delete",
                "description": escape_markdown_text(
                    f"Remove the draft order {suggestion.replaces}"
                ),
                "resourceId": suggestion.replaces,
            }
        )
    if suggestion.action in ("replace", "create"):
        resource = _new_order(suggestion, patient_id)
        if resource is not None:
            actions.append(
                {
                    "type": "create",
                    "description": escape_markdown_text(suggestion.label),
                    "resource": resource,
                }
            )
    return actions


def _new_order(suggestion: Suggestion, patient_id: str) -> dict[str, Any] | None:
    if suggestion.order_kind == "marrow_biopsy":
        code, display = MARROW_BIOPSY
        concept = {"coding": [{"system": CPT, "code": code, "display": display}], "text": display}
        return _service_request(concept, patient_id, "Bone marrow aspirate and biopsy")
    if suggestion.order_kind == "gcsf":
        return _filgrastim_request(patient_id)
    if suggestion.order_kind == "blood_product":
        product = PRODUCT_TEXT.get(suggestion.product or "", "cellular blood product")
        irradiated = "Irradiated " if suggestion.irradiated else ""
        text = f"{irradiated}{product}".capitalize()
        note = "Irradiated product required after CAR T-cell therapy (TA-GVHD prevention)."
        resource = _service_request(
            {"text": text}, patient_id, note if suggestion.irradiated else ""
        )
        if suggestion.irradiated:
            # the coded attribute (HL7 v2 table 0508 "IR"), so the order says it in code too
            resource["orderDetail"] = [IRRADIATED_DETAIL]
        return resource
    return None


def _service_request(concept: dict[str, Any], patient_id: str, note: str) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": "order",
        "code": concept,
        "subject": {"reference": f"Patient/{patient_id}"},
    }
    if note:
        resource["note"] = [{"text": note}]
    return resource


def _filgrastim_request(patient_id: str) -> dict[str, Any]:
    code, display = FILGRASTIM
    return {
        "resourceType": "MedicationRequest",
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [{"system": RXNORM, "code": code, "display": display}],
            "text": "Filgrastim (G-CSF)",
        },
        "subject": {"reference": f"Patient/{patient_id}"},
        "dosageInstruction": [{"text": "5 µg/kg subcutaneously once daily until ANC > 500/µL"}],
    }
