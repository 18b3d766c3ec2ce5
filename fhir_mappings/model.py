"""Result types of the mapping layer."""

from __future__ import annotations

from dataclasses import dataclass

from icaht.record import PatientRecord


@dataclass(frozen=True, slots=True)
class LeftOut:
    """A resource (or part of one) that did not reach the record, and why.

    reason: machine-readable code, e.g. "unknown-unit", "unit-missing", "incompatible-unit",
    "molar-unit-no-factor", "entered-in-error", "status-not-usable", "implausible", "no-value",
    "duplicate", "superseded", "unknown-code", "excluded-code", "no-time", "imprecise-time",
    "anc-not-preferred", "lower-priority-code", "derivation-conflict", "other-patient".
    text: human explanation (no patient data beyond the resource id).
    """

    resource_id: str
    reason: str
    text: str = ""


@dataclass(frozen=True, slots=True)
class MappingWarning:
    """A data-quality note on a value that was used (e.g. date taken from `issued`)."""

    resource_id: str
    code: str
    text: str


@dataclass(frozen=True, slots=True)
class MappingResult:
    record: PatientRecord
    left_out: tuple[LeftOut, ...] = ()
    warnings: tuple[MappingWarning, ...] = ()
