"""Flatten what the EHR sends (bare resources, Bundles, lists of Bundles) into resource dicts."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache
from typing import Any

# "Patient/123", "https://ehr/fhir/Patient/123", "Patient/123/_history/4" -> "123"
PATIENT_REFERENCE = re.compile(r"(?:^|/)Patient/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")

Resource = dict[str, Any]


def iter_resources(
    items: Iterable[Any] | Mapping[str, Any],
) -> Iterator[tuple[Resource, str | None]]:
    """Yield (resource, fullUrl) for every resource in items; Bundles are opened, recursively.

    Accepts a single resource or Bundle, or any iterable of them (e.g. the pages of a search).
    Non-dict items and entries without a resource (e.g. a deleted history entry) are skipped.
    """
    return iter(resource_list(items))


def resource_list(
    items: Iterable[Any] | Mapping[str, Any],
) -> list[tuple[Resource, str | None]]:
    """`iter_resources` as a list, in the same order: the mapping's one pass over a call's
    resources takes the list (no generator to resume per resource: issue 20)."""
    found: list[tuple[Resource, str | None]] = []
    stack: list[Any] = [items] if isinstance(items, Mapping) else list(items)[::-1]
    pending: list[tuple[Any, str | None]] = [(x, None) for x in stack]
    while pending:
        item, full_url = pending.pop()
        if type(item) is not dict and not isinstance(item, Mapping):
            if isinstance(item, list | tuple):
                pending.extend((x, None) for x in reversed(item))
            continue
        rtype = item.get("resourceType")
        if rtype == "Bundle":
            _open_bundle(as_list(item.get("entry")), found, pending)
            continue
        if isinstance(rtype, str):
            found.append(((item if isinstance(item, dict) else dict(item)), full_url))
    return found


def _open_bundle(
    entries: list[Any], found: list[tuple[Resource, str | None]], pending: list[tuple[Any, Any]]
) -> None:
    """A Bundle's entries: the usual one (a dict whose resource is a dict of a string type
    other than Bundle) goes to `found` at once; from the first other one on, the rest are
    pushed to `pending` and opened one by one, in order (a nested Bundle, a list, a Mapping
    that is not a dict; issue 20: no push and pop per usual entry)."""
    for i, entry in enumerate(entries):
        if type(entry) is dict:
            res = entry.get("resource")
            if type(res) is dict:
                rtype = res.get("resourceType")
                if type(rtype) is str and rtype != "Bundle":
                    url = entry.get("fullUrl")
                    found.append((res, url if isinstance(url, str) and url else None))
                    continue
            elif res is None:  # a deleted history entry: nothing to open
                continue
        rest = [e for e in entries[i:] if isinstance(e, dict)]
        pending.extend([(e.get("resource"), _text(e.get("fullUrl"))) for e in reversed(rest)])
        return


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def as_list(value: Any) -> list[Any]:
    """A FHIR array, or [] when the element is missing or malformed."""
    return value if isinstance(value, list) else []


def as_dict(value: Any) -> dict[str, Any]:
    """A FHIR complex element, or {} when missing or malformed."""
    return value if isinstance(value, dict) else {}


def ref_key(resource: Mapping[str, Any], index: int) -> str:
    """Stable reference text for a resource: 'Type/id', else a synthetic 'Type/#index'."""
    rid = resource.get("id")
    rtype = resource.get("resourceType", "Resource")
    return f"{rtype}/{rid}" if rid else f"{rtype}/#{index}"


def reference_of(value: Any) -> str | None:
    """The `reference` string of a FHIR Reference, or None."""
    # `type(...) is dict` first: parsed JSON is dicts, and an ABC check costs ten times more
    if type(value) is dict or isinstance(value, Mapping):
        ref = value.get("reference")
        return ref if isinstance(ref, str) and ref else None
    return None


def normalise_reference(ref: str) -> str:
    """Strip base URL and _history: 'http://x/fhir/Observation/1/_history/2' -> 'Observation/1'."""
    if ref.startswith(("urn:", "#")):
        return ref
    parts = ref.split("/")
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    return "/".join(parts[-2:]) if len(parts) >= 2 else ref


def codings(concept: Any) -> Iterator[tuple[str, str, str]]:
    """(system, code, display) of every coding of a CodeableConcept."""
    if not isinstance(concept, Mapping):
        return
    for c in as_list(concept.get("coding")):
        if isinstance(c, Mapping):
            # a malformed element (a list where a string belongs) reads as absent
            yield (
                _text(c.get("system")) or "",
                _text(c.get("code")) or "",
                (_text(c.get("display")) or ""),
            )


def system_codes(concept: Any) -> list[tuple[str, str]]:
    """(system, code) of every coding of a CodeableConcept: `codings` without the display, read
    the same way, as a list (the per-Observation code look-ups are the hot path: issue 20)."""
    if type(concept) is not dict and not isinstance(concept, Mapping):
        return []
    coding = concept.get("coding")
    if not isinstance(coding, list):
        return []
    # a loop, not a list comprehension: one or two codings, and the comprehension's own call
    # costs more than its items
    found = []
    for c in coding:
        if type(c) is dict or isinstance(c, Mapping):
            system, code = c.get("system"), c.get("code")
            found.append(
                (system if isinstance(system, str) else "", code if isinstance(code, str) else "")
            )
    return found


def concept_text(concept: Any) -> str:
    """All human text of a CodeableConcept (text + displays), lower case."""
    if not isinstance(concept, Mapping):
        return ""
    parts = [str(concept.get("text") or "")]
    parts.extend(d for _, _, d in codings(concept))
    return " ".join(p for p in parts if p).lower()


def owner_of(resource: Mapping[str, Any]) -> str | None:
    """The patient id a resource names as its own (its id for a Patient, else the literal
    `subject` or `patient` reference), None when it names none we can read (e.g. urn:uuid).

    Two R4 types name their patient elsewhere (docs/decisions/0020): a BiologicallyDerivedProduct
    has no `patient`, its `collection.source` names the person the cells came from (the patient
    for an autologous product); an Appointment names its patient among `participant.actor`
    (the first Patient actor; R5 adds `subject`, read first)."""
    rtype = resource.get("resourceType")
    if rtype == "Patient":
        rid = resource.get("id")
        return rid if isinstance(rid, str) else None
    # the subject first, as the loop below reads it, without the list and the calls: nearly
    # every resource names its patient there (issue 20); anything else takes the loop
    subject = resource.get("subject")
    if type(subject) is dict:
        ref = subject.get("reference")
        if type(ref) is str and ref:
            patient = _patient_of_reference(ref)
            if patient is not None:
                return patient
    refs: list[Any] = [subject, resource.get("patient")]
    if rtype == "BiologicallyDerivedProduct":
        collection = resource.get("collection")
        refs.append(collection.get("source") if isinstance(collection, Mapping) else None)
    elif rtype == "Appointment":
        refs.extend(
            p.get("actor") for p in as_list(resource.get("participant")) if isinstance(p, Mapping)
        )
    for value in refs:
        ref = reference_of(value)
        patient = _patient_of_reference(ref) if ref else None
        if patient is not None:
            return patient
    return None


@lru_cache(maxsize=4096)
def _patient_of_reference(ref: str) -> str | None:
    """The patient id a reference names: every resource of a patient repeats the same one or
    two, so the pattern runs once per text (issue 20)."""
    match = PATIENT_REFERENCE.search(ref)
    return None if match is None else match.group(1)
