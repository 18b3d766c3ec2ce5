"""FHIR R4 resources -> the engine's PatientRecord (docs/clinical/01-inputs.md §1, §11).

Entry points:
    map_patient(resources, *, patient_id, tz="UTC", mapping_settings=None) -> MappingResult
    PatientMapping(patient_id, tz=..., mapping_settings=...): .add(stage) .timeline() .result()
    map_draft_orders(bundle_or_resources, *, mapping_settings=None) -> tuple[OrderIntent, ...]
    loinc_codes(kinds=None) / loinc_codes_by_analyte() -> prefetch code lists from the table
    culture_loinc_codes() -> blood-culture LOINC codes (read as infections, not lab values)
    warm_up(mapping_settings=None) -> None   (load tables and the UCUM registry at start-up)
Data: fhir_mappings/data/analytes.yaml, units.yaml, valuesets.yaml (sources cited per code).
Decisions: docs/decisions/0003-fhir-mapping-units-and-codes.md.
"""

from fhir_mappings.api import PatientMapping, map_patient, warm_up
from fhir_mappings.cultures import culture_loinc_codes
from fhir_mappings.model import LeftOut, MappingResult, MappingWarning
from fhir_mappings.orders import OrderIntent, map_draft_orders
from fhir_mappings.settings import MappingSettings, default_mapping_settings
from fhir_mappings.tables import loinc_codes, loinc_codes_by_analyte
from fhir_mappings.units import MolarFactor

__all__ = [
    "LeftOut",
    "MappingResult",
    "MappingSettings",
    "MappingWarning",
    "MolarFactor",
    "OrderIntent",
    "PatientMapping",
    "culture_loinc_codes",
    "default_mapping_settings",
    "loinc_codes",
    "loinc_codes_by_analyte",
    "map_draft_orders",
    "map_patient",
    "warm_up",
]
