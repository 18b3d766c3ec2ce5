"""Positive blood cultures (issue 14, decision record 0021): Observations with a blood-culture LOINC
code -> Infection(kind="positive_blood_culture") on the collection day.

Positive means: an interpretation positive/detected/abnormal, or (without an explicit negative
interpretation) a value naming an organism: a coded value that is not a negative concept, or a
text that is not "no growth", "negative", "pending" and the like (data/cultures.yaml). Negative and
pending cultures add nothing; a status that is not a result (registered, cancelled,
entered-in-error, unknown) is left out with its reason, as for lab values."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any, Literal

from fhir_mappings.observations import (
    SYSTEM_ALIASES,
    ObsInput,
    Sink,
    collapse_versions,
    collection_time,
)
from fhir_mappings.resources import as_list, codings, concept_text, system_codes
from fhir_mappings.tables import read_package_yaml
from icaht.record import Infection

RESULT_STATUSES = frozenset({"final", "amended", "corrected", "preliminary"})
_NEGATIVE_FLAG = re.compile(r"\b(?:negative|not detected)\b")
_POSITIVE_FLAG = re.compile(r"\b(?:positive|detected)\b")
SNOMED = "http://snomed.info/sct"
Reading = Literal["positive", "negative", "no-result"]


@dataclass(frozen=True, slots=True)
class CultureTable:
    """The blood-culture codes and what a positive or negative result looks like."""

    system: str
    codes: frozenset[str]
    positive_interpretations: frozenset[str]
    negative_interpretations: frozenset[str]
    negative_values: frozenset[tuple[str, str]]  # (system URI, code)
    negative_words: re.Pattern[str]

    def is_culture(self, res: Mapping[str, Any]) -> bool:
        """Whether a coding of `res` is a blood-culture code. A lab result, whose codings are
        dicts with string codes outside the culture codes, is told at once, without the
        (system, code) list (issue 20); any other shape takes the careful reading."""
        concept = res.get("code")
        coding = concept.get("coding") if type(concept) is dict else None
        if type(coding) is list:
            codes = self.codes
            for c in coding:
                if type(c) is not dict:
                    break
                code = c.get("code")
                if type(code) is not str or code in codes:
                    break
            else:
                return False
        return self._is_culture(res)

    def _is_culture(self, res: Mapping[str, Any]) -> bool:
        for system, code in system_codes(res.get("code")):  # a loop: no generator per call
            if code in self.codes and SYSTEM_ALIASES.get(system, system) == self.system:
                return True
        return False


@cache
def culture_table() -> CultureTable:
    doc = read_package_yaml("cultures.yaml")
    words = sorted(
        (re.escape(str(w).lower()) for w in doc["negative_words"]), key=len, reverse=True
    )
    # "gram-negative rods", "coagulase negative staphylococci" name organisms
    pattern = re.compile(r"(?<!gram )(?<!coagulase )(?<![\w-])(?:" + "|".join(words) + r")(?!\w)")
    values = doc.get("negative_values") or {}
    return CultureTable(
        system=str(doc["system"]),
        codes=frozenset(str(c["code"]) for c in doc["codes"] if c.get("verified")),
        positive_interpretations=frozenset(str(c) for c in doc["positive_interpretations"]),
        negative_interpretations=frozenset(str(c) for c in doc["negative_interpretations"]),
        negative_values=frozenset((SNOMED, str(c)) for c in values.get("snomed") or ()),
        negative_words=pattern,
    )


def culture_loinc_codes() -> tuple[str, ...]:
    """The blood-culture LOINC codes read as infections (for the prefetch and FHIR queries)."""
    return tuple(sorted(culture_table().codes))


def split_cultures(items: Sequence[ObsInput]) -> tuple[list[ObsInput], list[ObsInput]]:
    """(blood cultures, every other Observation)."""
    table = culture_table()
    cultures: list[ObsInput] = []
    others: list[ObsInput] = []
    for item in items:  # one look at each code (issue 20)
        (cultures if table.is_culture(item.resource) else others).append(item)
    return cultures, others


def map_cultures(items: Sequence[ObsInput], tz: str, sink: Sink) -> tuple[Infection, ...]:
    """Positive blood cultures as one-day infections, oldest first (latest version per id)."""
    table = culture_table()
    out: list[Infection] = []
    for item in collapse_versions(items, sink):
        infection = _one(table, item, tz, sink)
        if infection is not None:
            out.append(infection)
    return tuple(sorted(out, key=lambda i: (i.start, i.source_id or "")))


def _one(table: CultureTable, item: ObsInput, tz: str, sink: Sink) -> Infection | None:
    res, rid = item.resource, item.source_id
    status = res.get("status")
    if status not in RESULT_STATUSES:
        reason = "entered-in-error" if status == "entered-in-error" else "status-not-usable"
        sink.out(rid, reason, f"blood culture status {status!r} is not a result")
        return None
    if reading(table, res) != "positive":
        return None
    day = _collection_day(res, rid, tz, sink)
    if day is None:
        return None
    if status == "preliminary":
        sink.warn(rid, "preliminary", "preliminary blood culture result")
    return Infection(start=day, end=day, source_id=rid, kind="positive_blood_culture")


def reading(table: CultureTable, res: Mapping[str, Any]) -> Reading:
    """positive / negative / no-result: an explicit interpretation first, then the value."""
    for concept in as_list(res.get("interpretation")):
        codes = {code.upper() for _, code, _ in codings(concept)}
        text = concept_text(concept)
        if codes & table.negative_interpretations or _NEGATIVE_FLAG.search(text):
            return "negative"
        if codes & table.positive_interpretations or _POSITIVE_FLAG.search(text):
            return "positive"
    value = res.get("valueCodeableConcept")
    if isinstance(value, Mapping):
        coded = [(system, code) for system, code, _ in codings(value) if code]
        if any(c in table.negative_values for c in coded):
            return "negative"
        text = concept_text(value)
        if text and table.negative_words.search(text):
            return "negative"
        return "positive" if coded or text else "no-result"
    said = res.get("valueString")
    if isinstance(said, str) and said.strip():
        return "negative" if table.negative_words.search(said.lower()) else "positive"
    return "no-result"


def _collection_day(res: Mapping[str, Any], rid: str, tz: str, sink: Sink) -> date | None:
    """The local day of collection, read as for every lab value (observations.collection_time)."""
    when = collection_time(res, rid, tz, sink)
    return None if when is None else when.day
