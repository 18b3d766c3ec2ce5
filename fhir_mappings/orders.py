"""Draft orders (CDS Hooks order-select / order-sign `draftOrders`) -> order intents."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fhir_mappings.irradiation import irradiated
from fhir_mappings.resources import as_dict, as_list, codings, iter_resources, ref_key
from fhir_mappings.settings import MappingSettings, default_mapping_settings
from fhir_mappings.tables import LOINC
from fhir_mappings.valuesets import Concept, ValueSets
from icaht.rules.model import DraftOrder, OrderKind

# group in valuesets.yaml -> order kind, in order of precedence
KIND_OF_GROUP: tuple[tuple[str, OrderKind], ...] = (
    ("transfusion", "blood_product"),
    ("gcsf", "gcsf"),
    ("gmcsf", "gmcsf"),
    ("tpo_ra", "tpo_ra"),
    ("anticoagulant", "anticoagulant"),
    ("myelosuppressive_drug", "myelosuppressive_drug"),
    ("marrow_biopsy", "marrow_biopsy"),
)
ORDER_GROUPS = frozenset(g for g, _ in KIND_OF_GROUP)
REQUEST_TYPES = frozenset({"NutritionOrder", "VisionPrescription"})


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """What a draft order asks for, in the engine's words.

    kind: blood_product | gcsf | gmcsf | tpo_ra | anticoagulant | myelosuppressive_drug |
        marrow_biopsy | other.
    product: for blood products rbc / platelets / plasma / cryoprecipitate / granulocytes /
        other; for drugs the ingredient (e.g. "filgrastim"); None otherwise.
    irradiated: docs/clinical §17 C14 (fhir_mappings.irradiation): True only from a coded
        attribute or the product's name / code text / order detail, False from an explicit
        negation there, None (unknown) otherwise - notes and instructions never give True.
    reference: "MedicationRequest/123" (or the entry's fullUrl when the draft has no id), for a
        CDS Hooks suggestion that replaces or deletes this draft.
    """

    kind: OrderKind
    resource_type: str
    resource_id: str | None
    reference: str
    display: str
    product: str | None = None
    irradiated: bool | None = None

    def as_draft_order(self) -> DraftOrder:
        """The engine's view of this order (what the management rules read)."""
        return DraftOrder(self.kind, self.reference, self.display, self.product, self.irradiated)


def _display(concept: Any) -> str:
    if not isinstance(concept, Mapping):
        return ""
    if concept.get("text"):
        return str(concept["text"])
    for _, code, display in codings(concept):
        if display or code:
            return display or code
    return ""


def _order_concept(res: Mapping[str, Any], meds: Mapping[str, Mapping[str, Any]]) -> Any:
    rtype = res.get("resourceType")
    if rtype == "MedicationRequest":
        if "medicationCodeableConcept" in res:
            return res["medicationCodeableConcept"]
        ref = as_dict(res.get("medicationReference")).get("reference")
        med = _medication(res, ref, meds) if isinstance(ref, str) else None
        return None if med is None else med.get("code")
    if rtype == "DeviceRequest":
        return res.get("codeCodeableConcept")
    return res.get("code")


def _medication(
    res: Mapping[str, Any], ref: str, meds: Mapping[str, Mapping[str, Any]]
) -> Mapping[str, Any] | None:
    if ref.startswith("#"):
        for c in as_list(res.get("contained")):
            if isinstance(c, Mapping) and f"#{c.get('id')}" == ref:
                return c
        return None
    return meds.get(ref)


def _is_lab_order(concept: Any) -> bool:
    return any(system == LOINC for system, _, _ in codings(concept))


def _classify(
    concept: Any, vs: ValueSets, ingredients: Iterable[Any]
) -> tuple[OrderKind, Concept | None]:
    found = list(vs.match(concept, ORDER_GROUPS))
    if not found:
        for ing in ingredients:
            found.extend(vs.match(ing, ORDER_GROUPS))
    if _is_lab_order(concept):
        found = [c for c in found if c.group == "marrow_biopsy"]
    for group, kind in KIND_OF_GROUP:
        for c in found:
            if c.group == group:
                return kind, c
    return "other", None


def _ingredients(res: Mapping[str, Any], meds: Mapping[str, Mapping[str, Any]]) -> list[Any]:
    ref = as_dict(res.get("medicationReference")).get("reference")
    med = _medication(res, ref, meds) if isinstance(ref, str) else None
    if med is None:
        return []
    return [as_dict(i).get("itemCodeableConcept") for i in as_list(med.get("ingredient"))]


def _is_request(rtype: str) -> bool:
    return rtype.endswith("Request") or rtype in REQUEST_TYPES


def selected_orders(
    intents: Iterable[OrderIntent], selections: Iterable[Any]
) -> tuple[OrderIntent, ...]:
    """The intents an order-select `context.selections` names (docs/decisions/0026).

    A selection is the id of a newly selected order, "MedicationRequest/abc" (CDS Hooks
    order-select); an absolute URL ending in that reference and a draft's fullUrl match too.
    Selections that name no draft order are ignored.
    """
    wanted = {str(s) for s in selections if isinstance(s, str) and s}
    return tuple(
        intent
        for intent in intents
        if intent.reference in wanted or any(s.endswith("/" + intent.reference) for s in wanted)
    )


def map_draft_orders(
    bundle_or_resources: Iterable[Any] | Mapping[str, Any],
    *,
    mapping_settings: MappingSettings | None = None,
) -> tuple[OrderIntent, ...]:
    """Draft orders (a Bundle, a list of Bundles or bare request resources) -> OrderIntents.

    Every request resource gives one intent, "other" when it is none of the known kinds;
    Medication resources in the bundle are used to resolve medicationReference.
    """
    vs = (mapping_settings or default_mapping_settings()).value_sets
    items = list(iter_resources(bundle_or_resources))
    meds = {
        ref_key(r, i): r for i, (r, _) in enumerate(items) if r.get("resourceType") == "Medication"
    }
    meds.update({url: r for r, url in items if url and r.get("resourceType") == "Medication"})
    out: list[OrderIntent] = []
    for index, (res, full_url) in enumerate(items):
        rtype = str(res.get("resourceType"))
        if not _is_request(rtype):
            continue
        concept = _order_concept(res, meds)
        kind, hit = _classify(concept, vs, _ingredients(res, meds))
        rid = res.get("id")
        out.append(
            OrderIntent(
                kind=kind,
                resource_type=rtype,
                resource_id=str(rid) if rid else None,
                reference=f"{rtype}/{rid}" if rid else (full_url or ref_key(res, index)),
                display=_display(concept),
                product=None if hit is None else hit.name,
                irradiated=irradiated(res, concept) if kind == "blood_product" else None,
            )
        )
    return tuple(out)
