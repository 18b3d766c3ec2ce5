"""Is an ordered (or given) blood product irradiated? docs/clinical §17 C14, read per field.

C14: `irradiated = true` only from an explicit positive attribute of the product: a coded
attribute, or the word in the product's own name, code text or order detail with no negation in
the same field. An explicit negation gives false. No mention, a mention in a note or patient
instruction, a question, a contradiction give unknown (None), and M01 fires on unknown.
How the fields combine is decided in docs/decisions/0012-irradiation-reading.md.

Pure: FHIR resources in, a reading out; no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from fhir_mappings.resources import as_dict, as_list, codings

# Where a piece of text or a code comes from. "coded": a coding of the product or of its order
# detail; "product": the product's own name (code.text, a coding's display); "detail": an
# order detail (ServiceRequest.orderDetail); "note": note, patientInstruction, dosage text -
# these are about the patient or the order, not an attribute of the product (C14), so they
# never give True.
FieldKind = Literal["coded", "product", "detail", "note"]
# What one field says: irradiated, not irradiated, unclear (a mention that settles nothing:
# a question, a hedge, a negation elsewhere in the field), or silent (no mention at all).
Said = Literal["yes", "no", "unclear", "silent"]


@dataclass(frozen=True, slots=True)
class Field:
    kind: FieldKind
    text: str


# -- coded attributes ------------------------------------------------------------------------------

V2_0508_URL = "http://terminology.hl7.org/CodeSystem/v2-0508"
V2_0508 = frozenset(
    {
        V2_0508_URL,
        "http://hl7.org/fhir/v2/0508",  # the FHIR R3 URL of the same table
        "urn:oid:2.16.840.1.113883.18.332",
    }
)
SNOMED = "http://snomed.info/sct"
# (systems, code, display, source). Only positive codes exist: neither table has a
# "not irradiated" concept, so a code can give True, never False.
IRRADIATED_CODES: tuple[tuple[frozenset[str], str, str, str], ...] = (
    (
        V2_0508,
        "IR",
        "Irradiated",
        "HL7 v2 table 0508 Blood Product Processing Requirements (BPO segment), HL7 "
        "Terminology 3.1.0, https://terminology.hl7.org/CodeSystem-v2-0508.html",
    ),
    (
        frozenset({SNOMED}),
        "256398006",
        "Platelets - irradiated",
        "SNOMED CT; tx.fhir.org expansion in https://build.fhir.org/ig/uzinfocom-org/"
        "digital-health-ig/en/ValueSet-blood-product-type-snomed-vs.html; also MIMIC "
        "mapping note '225170 Platelets -> 256398006 |Platelets - irradiated|'",
    ),
    (
        frozenset({SNOMED}),
        "256378001",
        "Red cells - irradiated",
        "SNOMED CT; same value set expansion (tx.fhir.org), blood-product-type-snomed-vs",
    ),
    (
        frozenset({SNOMED}),
        "256387005",
        "Red cells - filtered - irradiated",
        "SNOMED CT; same value set expansion (tx.fhir.org), blood-product-type-snomed-vs",
    ),
    (
        frozenset({SNOMED}),
        "256375003",
        "Whole blood - irradiated",
        "SNOMED CT; same value set expansion (tx.fhir.org), blood-product-type-snomed-vs",
    ),
)


def coded_irradiated(system: str, code: str) -> bool:
    return any(system in systems and code == c for systems, c, _, _ in IRRADIATED_CODES)


# -- text --------------------------------------------------------------------------------------

# Word stems that speak of irradiation. "irr" / "irrad" are the abbreviations of blood-bank
# product names; ISBT 128 product descriptions write the attribute "|Irr|" (e.g. E0398
# "RED BLOOD CELLS|CPD>AS5/450mL/refg|Irr|ResLeu", FHIR R5 biologicallyderived-productcodes).
STEMS = ("irradiat", "bestrahl")
ABBREVIATIONS = frozenset({"irr", "irrad"})
# A mention written with a negative prefix: unirradiated, non-irradiated, unbestrahlt,
# nichtbestrahlt ("non-" and "un-" with a hyphen become their own token, see NEGATIONS).
NEGATIVE_PREFIXES = ("un", "non", "nicht")
# C14's negations, with their German forms (tokens, lower case).
NEGATIONS = frozenset(
    {
        "not",
        "non",
        "no",
        "un",
        "without",
        "false",
        "n",
        "none",
        "nicht",
        "kein",
        "keine",
        "keinen",
        "keiner",
        "keines",
        "nein",
        "ohne",
    }
)
# Words that leave it open ("if available", "preferred", "or"): the order does not say.
HEDGES = frozenset(
    {
        "unknown",
        "unclear",
        "pending",
        "tbd",
        "tbc",
        "maybe",
        "possibly",
        "perhaps",
        "if",
        "prefer",
        "preferred",
        "preferably",
        "optional",
        "or",
        "unbekannt",
        "unklar",
        "ggf",
        "eventuell",
        "evtl",
        "falls",
        "wenn",
        "möglichst",
        "oder",
    }
)
# Values that affirm an attribute written as "key: value" ("Irradiated: Y", "Bestrahlt: ja").
AFFIRMATIVE = frozenset(
    {"yes", "y", "true", "ja", "j", "required", "erforderlich", "done", "gy", "gray"}
)
# "(Y/N)" and the like: the form's question, not its answer.
_YES_NO = re.compile(r"\(?\b(?:y|yes|j|ja)\s*/\s*(?:n|no|nein)\b\)?")
_CLAUSES = re.compile(r"[,;|\n()\[\]]")
_TOKENS = re.compile(r"[^\W_]+|\?", re.UNICODE)
_KEY_VALUE = re.compile(r"^(?P<key>[^:=?]*)(?P<sep>[:=?][\s:=?]*)(?P<value>.*)$")


def _normalise(text: str) -> str:
    return _YES_NO.sub(" ? ", unicodedata.normalize("NFKC", text).casefold())


def _mention(token: str) -> Literal["plain", "negated"] | None:
    if token in ABBREVIATIONS:
        return "plain"
    for stem in STEMS:
        at = token.find(stem)
        if at >= 0:
            return "negated" if token[:at] in NEGATIVE_PREFIXES else "plain"
    return None


def _negates_negation(tokens: list[str], i: int) -> bool:
    following = tokens[i + 1] if i + 1 < len(tokens) else ""
    return following in NEGATIVE_PREFIXES or _mention(following) == "negated"


def _clause(clause: str) -> Said:
    """What one clause with a mention says (the field's other clauses are read by the caller)."""
    tokens = _TOKENS.findall(clause)
    if any(t in HEDGES for t in tokens):
        return "unclear"
    if "?" in tokens and not tokens[len(tokens) - tokens[::-1].index("?") :]:
        return "unclear"  # "Irradiated?", "not irradiated?": a question, not an answer
    negations = [i for i, t in enumerate(tokens) if t in NEGATIONS]
    if any(_negates_negation(tokens, i) for i in negations):
        return "unclear"  # "not non-irradiated", "kein unbestrahltes": not what a form says
    if negations or any(_mention(t) == "negated" for t in tokens):
        return "no"
    kv = _KEY_VALUE.match(clause)
    if kv is not None and any(_mention(t) for t in _TOKENS.findall(kv["key"])):
        # "Irradiated: <value>", "Irradiated? <value>": the value must affirm it
        value = [t for t in _TOKENS.findall(kv["value"]) if not t.isdigit() and t != "?"]
        if not value or not all(t in AFFIRMATIVE or _mention(t) == "plain" for t in value):
            return "unclear"
    return "yes"


# texts up to this length are read once per process (a centre's products and procedures repeat
# a few texts: issue 20); bounded, as the texts come from the EHR
CACHED_TEXT_MAX = 256


def said_by_text(text: str) -> Said:
    """What one text field says about irradiation, whatever its kind."""
    return _said_by_short_text(text) if len(text) <= CACHED_TEXT_MAX else _said_by_text(text)


@lru_cache(maxsize=2048)
def _said_by_short_text(text: str) -> Said:
    return _said_by_text(text)


def _said_by_text(text: str) -> Said:
    clauses = _CLAUSES.split(_normalise(text))
    spoken = [c for c in clauses if any(_mention(t) for t in _TOKENS.findall(c))]
    if not spoken:
        return "silent"
    readings = {_clause(c) for c in spoken}
    if len(readings) != 1:
        return "unclear"  # "Irradiated: yes; irradiation: no"
    [reading] = readings
    if reading == "yes":
        # C14: "no negation in the same field", "if available", "or": a negation or a hedge
        # anywhere in the field leaves a positive mention unproven
        rest = [t for c in clauses if c not in spoken for t in _TOKENS.findall(c)]
        if any(t in NEGATIONS or t in HEDGES for t in rest):
            return "unclear"
    return reading


def said_by(field: Field) -> Said:
    if field.kind == "coded":
        return "yes"  # only known positive codes become coded fields (concept_fields)
    if field.kind == "note":
        said = said_by_text(field.text)
        # C14: a note or patient instruction never shows the product is irradiated; an explicit
        # negation in it is kept, to contradict a positive product field (combine)
        return "unclear" if said == "yes" else said
    return said_by_text(field.text)


def read_field(field: Field) -> bool | None:
    """The three-valued reading of one field: True, False, None (unknown or silent)."""
    said = said_by(field)
    return True if said == "yes" else False if said == "no" else None


def combine(fields: Iterable[Field]) -> bool | None:
    """The product's reading from all its fields (docs/decisions/0012).

    Product fields (coded, product, detail) decide: all that speak say yes -> True, all say no ->
    False; a mix, or one unclear -> None. Notes never give True or False on their own; an
    explicit negation in a note turns a True into None (a contradiction), a mention in a note
    adds nothing otherwise. No product field speaking -> None.
    """
    product: set[Said] = set()
    note: set[Said] = set()
    for field in fields:
        said = said_by(field)
        if said != "silent":
            (note if field.kind == "note" else product).add(said)
    if product == {"yes"}:
        return None if "no" in note else True
    if product == {"no"}:
        return False
    return None


# -- FHIR resources -> fields ----------------------------------------------------------------------


def concept_fields(concept: Any, text_kind: FieldKind) -> Iterator[Field]:
    """A CodeableConcept: a known code as "coded", its text and displays as `text_kind`."""
    if not isinstance(concept, Mapping):
        return
    if concept.get("text"):
        yield Field(text_kind, str(concept["text"]))
    for system, code, display in codings(concept):
        if coded_irradiated(system, code):
            yield Field("coded", f"{system}|{code}")
        if display:
            yield Field(text_kind, display)


def _detail_fields(detail: Any) -> Iterator[Field]:
    """R4 orderDetail is a CodeableConcept; R5 orderDetail holds parameter[] {code, value[x]},
    read as "key: value" ("Irradiated: false" from valueBoolean false)."""
    d = as_dict(detail)
    yield from concept_fields(d, "detail")
    for p in as_list(d.get("parameter")):
        param = as_dict(p)
        keys = [f.text for f in concept_fields(param.get("code"), "detail")]
        value = _value_text(param)
        for f in concept_fields(param.get("valueCodeableConcept"), "detail"):
            yield f if f.kind == "coded" else Field("detail", f"{' '.join(keys)}: {f.text}")
        if value is not None:
            yield Field("detail", f"{' '.join(keys)}: {value}")


def _value_text(param: Mapping[str, Any]) -> str | None:
    if isinstance(param.get("valueBoolean"), bool):
        return "yes" if param["valueBoolean"] else "no"
    if isinstance(param.get("valueString"), str):
        return str(param["valueString"])
    return None


def _instruction_texts(res: Mapping[str, Any]) -> Iterator[str]:
    """patientInstruction (R4 string; R5 list of {instructionMarkdown}) and dosage text."""
    instruction = res.get("patientInstruction")
    if isinstance(instruction, str):
        yield instruction
    for item in as_list(instruction):
        if isinstance(item, Mapping) and item.get("instructionMarkdown"):
            yield str(item["instructionMarkdown"])
    for dose in as_list(res.get("dosageInstruction")):
        if isinstance(dose, Mapping) and dose.get("text"):
            yield str(dose["text"])


def resource_fields(res: Mapping[str, Any], product_concept: Any) -> Iterator[Field]:
    """The fields of a request or Procedure that may say whether its product is irradiated.

    product_concept: what the resource orders or records (ServiceRequest/Procedure.code, a
    MedicationRequest's medication concept)."""
    yield from concept_fields(product_concept, "product")
    for detail in as_list(res.get("orderDetail")):
        yield from _detail_fields(detail)
    for n in as_list(res.get("note")):
        text = as_dict(n).get("text")
        if text:
            yield Field("note", str(text))
    for text in _instruction_texts(res):
        yield Field("note", text)


def irradiated(res: Mapping[str, Any], product_concept: Any) -> bool | None:
    """C14's reading of one blood-product request or transfusion Procedure."""
    return combine(resource_fields(res, product_concept))
