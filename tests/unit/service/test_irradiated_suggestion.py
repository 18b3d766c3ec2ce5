"""M01's replacement order reads back as irradiated (docs/clinical §17 C14, decision 0012)."""

from __future__ import annotations

from typing import Any

from cds_service.suggestions import cds_suggestion
from fhir_mappings import map_draft_orders
from icaht.rules import Suggestion


def _created(product: str) -> dict[str, Any]:
    suggestion = Suggestion(
        f"Order irradiated {product} instead",
        "replace",
        "blood_product",
        product=product,
        irradiated=True,
        replaces="ServiceRequest/old",
    )
    made = cds_suggestion(suggestion, "p1", "card")
    assert made is not None
    [create] = [a for a in made["actions"] if a["type"] == "create"]
    resource: dict[str, Any] = create["resource"]
    return resource


def test_the_suggested_product_is_irradiated_by_name_and_by_code() -> None:
    for product in ("platelets", "rbc"):
        resource = _created(product)
        [intent] = map_draft_orders([resource])
        assert (intent.kind, intent.product, intent.irradiated) == ("blood_product", product, True)
        coded_only = resource | {"code": {"text": "Platelet concentrate"}, "note": []}
        assert map_draft_orders([coded_only])[0].irradiated is True  # v2-0508 IR alone
