"""Clinical findings from Conditions (issue 14, decision record 0021): infections, bleeding and the
disease CAR-T is given for -> TherapyTimeline.infections, .bleeding and .disease.

The mapping delivers dated records only: whether an infection is active on a day, or inside the
current course, is the engine's reading (icaht.clinical_status). Conditions arrive here as timeline
Events of the groups `infection`, `bleeding` and `disease` (fhir_mappings/data/valuesets.yaml)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import TYPE_CHECKING, cast, get_args

from icaht.record import Infection, InfectionKind, Period

if TYPE_CHECKING:
    from fhir_mappings.observations import Sink
    from fhir_mappings.timeline import Event

FINDING_GROUPS = frozenset({"infection", "bleeding", "disease"})
# FHIR Condition.clinicalStatus codes that mean "still there": with no abatement date such a
# record stays open. Inactive, remission, resolved (and unknown) close it on its own day, as the
# timeline reads resolved Conditions without a date.
OPEN_STATUSES = frozenset({"active", "recurrence", "relapse"})
INFECTION_KINDS: frozenset[str] = frozenset(get_args(InfectionKind))
# Two different diseases recorded on the same latest day: the first of this order wins (and a
# warning says so). LBCL first: a follicular lymphoma transformed to DLBCL is treated as LBCL.
DISEASE_ORDER = ("LBCL", "MCL", "FL", "B-ALL", "MM", "CLL", "other")


def finding_end(status: str | None, day: date, abatement: date | None) -> date | None:
    """The last day of an infection or bleeding record: its abatement; else open (None) while
    clinicalStatus is active/recurrence/relapse or absent; else (resolved, inactive, remission,
    unknown) its own day, the only day the record vouches for."""
    if abatement is not None:
        return abatement
    if status is None or status in OPEN_STATUSES:
        return None
    return day


def infections(events: Iterable[Event]) -> tuple[Infection, ...]:
    """Infection Conditions, oldest first; a concept name outside InfectionKind (a local value
    set) is kind `other`."""
    out = {
        (e.day, e.source_id, e.name): Infection(
            start=e.day,
            end=e.end,
            source_id=e.source_id,
            kind=cast(InfectionKind, e.name if e.name in INFECTION_KINDS else "other"),
        )
        for e in events
    }
    return tuple(out[k] for k in sorted(out, key=lambda k: (k[0], k[1], k[2] or "")))


def bleeding(events: Iterable[Event]) -> tuple[Period, ...]:
    """Bleeding Conditions as periods, oldest first, one per record."""
    out = {(e.day, e.source_id): Period(e.day, e.end, e.source_id) for e in events}
    return tuple(out[k] for k in sorted(out))


def disease(events: Sequence[Event], sink: Sink | None) -> str | None:
    """The disease of the most recent disease Condition (onset, else recorded date); a concept
    name outside the engine's values (a local value set) is `other`. Different
    diseases on that same day: the first in DISEASE_ORDER, with a warning (the record disagrees
    with itself; the card then names a disease someone should check)."""
    if not events:
        return None
    latest = max(e.day for e in events)
    names = {e.name if e.name in DISEASE_ORDER else "other" for e in events if e.day == latest}
    ranked = sorted(names, key=DISEASE_ORDER.index)
    if len(ranked) > 1 and sink is not None:
        ids = sorted({e.source_id for e in events if e.day == latest})
        sink.warn(
            ids[0],
            "disease-ambiguous",
            f"diseases {', '.join(ranked)} recorded on the same day; {ranked[0]} is used",
        )
    return ranked[0]
