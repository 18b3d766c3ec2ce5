"""FHIR R4 resources -> the engine's PatientRecord (clinical-rules.md s1, s11)."""

from fhir_mappings.api import map_patient, warm_up
from fhir_mappings.config import MappingConfig, default_config
from fhir_mappings.model import LeftOut, MappingResult, MappingWarning
from fhir_mappings.orders import OrderIntent, map_draft_orders
from fhir_mappings.tables import loinc_codes, loinc_codes_by_analyte
from fhir_mappings.units import MolarFactor

__all__ = [
    "LeftOut",
    "MappingConfig",
    "MappingResult",
    "MappingWarning",
    "MolarFactor",
    "OrderIntent",
    "default_config",
    "loinc_codes",
    "loinc_codes_by_analyte",
    "map_draft_orders",
    "map_patient",
    "warm_up",
]
