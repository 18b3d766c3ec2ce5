"""Therapy value sets: (system, code) and name matching of CodeableConcepts to concepts.

Codes come from data/valuesets.yaml (ingredient-level codes, procedure and condition codes) and
data/rxnorm_products.yaml (RxNorm clinical and branded drugs, each with its ingredients). Names
are a fallback used only when no coding matched; besides whole-word names (brands, INN) the
fallback reads RxNorm-style drug names ("sulfamethoxazole 800 MG / trimethoprim 160 MG Oral
Tablet [Bactrim]") into ingredients (decision record 0015)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from fhir_mappings.resources import codings
from fhir_mappings.tables import read_package_yaml, read_yaml_or_mapping

# Text that means "a test about blood products", not a blood product (e.g. "platelet count").
_NOT_A_PRODUCT = re.compile(
    r"\b(count|antibod\w*|function|aggregation|crossmatch|type and screen)\b"
)


@dataclass(frozen=True, slots=True)
class Concept:
    group: str  # car_t, lymphodepletion, gcsf, gmcsf, tpo_ra, anticoagulant, transfusion, ...
    name: str | None  # e.g. "filgrastim", "rbc"; None when the code does not name a product
    grade: int | None = None  # CRS grade carried by the code
    verified: bool = True


@dataclass(frozen=True, slots=True)
class Ingredients:
    """Drug ingredient names -> concepts, and the combinations that have a concept of their own
    (sulfamethoxazole + trimethoprim -> co-trimoxazole)."""

    single: Mapping[str, tuple[Concept, ...]]
    combinations: tuple[tuple[frozenset[str], tuple[Concept, ...]], ...] = ()

    def resolve(self, names: Iterable[str]) -> list[Concept]:
        """Concepts of a drug made of these ingredients: a combination concept when all of its
        ingredients are present, else each known ingredient on its own; unknown names add
        nothing (an unknown drug stays unknown)."""
        present = {self._known(str(n).lower()) for n in names if n}
        out: list[Concept] = []
        used: set[str] = set()
        for parts, concepts in self.combinations:
            if parts <= present:
                out.extend(concepts)
                used |= parts
        for name in sorted(present - used):
            out.extend(self.single.get(name, ()))
        return list(dict.fromkeys(out))

    def _known(self, name: str) -> str:
        """The name, or without a biosimilar suffix when only that is known (filgrastim-sndz)."""
        if name in self.single or any(name in parts for parts, _ in self.combinations):
            return name
        return _BIOSIMILAR_SUFFIX.sub("", name)


MAX_CACHED_CODES = 4096  # far more than the coded drugs and procedures a centre uses


@dataclass(frozen=True, slots=True)
class ValueSets:
    """Lookup tables built from valuesets.yaml and rxnorm_products.yaml (plus local additions)."""

    exact: Mapping[tuple[str, str], tuple[Concept, ...]]
    prefixes: tuple[tuple[str, str, Concept], ...]
    names: tuple[tuple[re.Pattern[str], Concept], ...]
    system_alias: Mapping[str, str]  # URI -> key (cpt, icd10pcs, ...)
    ingredients: Ingredients = Ingredients({})
    # (system, code) -> its concepts, worked out once (every administration and order of a
    # patient repeats a few codes: issue 20); bounded, as the codes come from the EHR. Not part
    # of the value: the tables above decide every entry.
    _code_hits: dict[tuple[str, str], tuple[Concept, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def match(self, concept: Any, groups: frozenset[str] | None = None) -> tuple[Concept, ...]:
        """Concepts a CodeableConcept codes for (codes first, names only when no code matched)."""
        found: list[Concept] = []
        for system, code, _ in codings(concept):
            found.extend(self._by_code(system, code))
        if not found:
            found.extend(self._by_text(concept))
        if groups is not None:
            found = [c for c in found if c.group in groups]
        return tuple(dict.fromkeys(found))

    def _by_code(self, system: str, code: str) -> tuple[Concept, ...]:
        hit = self._code_hits.get((system, code))
        if hit is None:
            hit = tuple(self._by_code_afresh(system, code))
            if len(self._code_hits) < MAX_CACHED_CODES:
                self._code_hits[system, code] = hit
        return hit

    def _by_code_afresh(self, system: str, code: str) -> list[Concept]:
        key = self.system_alias.get(system)
        if key is None or not code:
            return []
        norm = _norm(key, code)
        out = list(self.exact.get((key, norm), ()))
        out.extend(c for k, p, c in self.prefixes if k == key and norm.startswith(p))
        return out

    def _by_text(self, concept: Any) -> list[Concept]:
        if not isinstance(concept, Mapping):
            return []
        parts = [str(concept.get("text") or "")]
        parts.extend(d for _, _, d in codings(concept))
        parts = [p for p in parts if p]
        text = " ".join(parts).lower()
        if not text:
            return []
        hits = [c for pattern, c in self.names if pattern.search(text)]
        for part in parts:  # each text on its own: an RxNorm name is read as a whole
            hits.extend(self.ingredients.resolve(ingredient_names(part)))
        if _NOT_A_PRODUCT.search(text):
            hits = [c for c in hits if c.group != "transfusion"]
        return list(dict.fromkeys(hits))


# -- RxNorm-style drug names -------------------------------------------------------------------
# An RxNorm clinical drug (SCD) is "<ingredient> <strength> [/ <ingredient> <strength>...] <dose
# form>", a branded drug (SBD) adds "[<brand>]", a pack wraps drugs in "{n (...) } Pack", and a
# precise ingredient names the salt ("valganciclovir hydrochloride"). ATC displays join
# ingredients with "and" ("sulfamethoxazole and trimethoprim"). The reading below removes
# strengths, dose forms and salts and splits the rest into ingredient names; it never guesses:
# a part that is not exactly a known ingredient is ignored by Ingredients.resolve.
_NUM = r"\d+(?:[.,]\d+)?"
_UNIT = r"(?:mg|mcg|µg|ug|ng|g|kg|ml|l|unt|units?|iu|meq|mmol|hr|h|actuat|each|%)"
_STRENGTH = re.compile(rf"(?<![\w-]){_NUM}\s*{_UNIT}?(?:\s*/\s*(?:{_NUM}\s*)?{_UNIT})?(?![\w-])")
_BRAND = re.compile(r"\[([^\]]*)\]")
_SPLIT = re.compile(r"\s*(?:/|\+|,|;|\band\b)\s*")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_DOSE_FORM_WORDS = _words(
    """oral tablet tablets tab tabs capsule capsules cap caps injection injections injectable
    solution suspension emulsion prefilled syringe syringes pen injector auto-injector autoinjector
    cartridge vial vials delayed extended release disintegrating chewable film coated powder for
    reconstitution product pill pack kit topical ointment cream gel lotion ophthalmic otic drops
    intravenous iv subcutaneous sc intramuscular im infusion concentrate elixir syrup granules
    pellet pellets lozenge inhalation inhalant nasal spray rectal suppository transdermal system
    patch liquid buccal sublingual enteric ds ss forte single-dose multi-dose dose"""
)
_SALT_WORDS = _words(
    """sodium potassium calcium magnesium hydrochloride hcl dihydrochloride hydrobromide phosphate
    sulfate sulphate mesylate mesilate tosylate citrate maleate acetate succinate fumarate
    tartrate bitartrate olamine etexilate isethionate hyclate monohydrate dihydrate anhydrous
    porcine bovine dipropionate propionate valerate besylate medoxomil lactate gluconate
    trihydrate hemihydrate"""
)
_BIOSIMILAR_SUFFIX = re.compile(r"-[a-z]{4}$")  # FDA suffixes such as filgrastim-sndz


def ingredient_names(text: str) -> tuple[str, ...]:
    """Ingredient names read from an RxNorm-style drug name (lower case, salts removed).

    "sulfamethoxazole 800 MG / trimethoprim 160 MG Oral Tablet [Bactrim]" ->
    ("sulfamethoxazole", "trimethoprim"); "valganciclovir hydrochloride 450 MG Oral Tablet" ->
    ("valganciclovir",); "0.6 ML pegfilgrastim-jmdb 10 MG/ML Prefilled Syringe" ->
    ("pegfilgrastim-jmdb",) (the biosimilar suffix is removed when the ingredient is resolved).
    """
    low = _BRAND.sub(" ", text.lower())
    low = re.sub(r"[{}()]", " ", low)
    low = _STRENGTH.sub(" ", low)
    out: list[str] = []
    for part in _SPLIT.split(low):
        words = [w for w in part.split() if w not in _DOSE_FORM_WORDS and w not in _SALT_WORDS]
        name = " ".join(words).strip(" -.")
        if name:
            out.append(name)
    return tuple(out)


def _norm(system_key: str, code: str) -> str:
    code = code.strip().upper()
    return code.replace(".", "") if system_key == "icd10cm" else code


def _pattern(names: Iterable[str]) -> re.Pattern[str] | None:
    words = [re.escape(n.lower()) for n in names if n]
    if not words:
        return None
    words.sort(key=len, reverse=True)
    return re.compile(r"(?<![\w-])(?:" + "|".join(words) + r")(?![\w-])")


def build_value_sets(extra: tuple[Any, ...] = (), *, use_unverified: bool = False) -> ValueSets:
    """The shipped value sets plus local files/dicts of the same format."""
    docs = [read_package_yaml("valuesets.yaml"), *(read_yaml_or_mapping(x) for x in extra)]
    alias: dict[str, str] = {}
    exact: dict[tuple[str, str], list[Concept]] = {}
    prefixes: list[tuple[str, str, Concept]] = []
    names: list[tuple[re.Pattern[str], Concept]] = []
    single: dict[str, list[Concept]] = {}
    combinations: list[tuple[frozenset[str], tuple[Concept, ...]]] = []
    for doc in docs:
        for key, uris in (doc.get("systems") or {}).items():
            alias.update({uri: str(key) for uri in uris})
            alias[str(key)] = str(key)
        for row in doc.get("concepts") or ():
            concepts = _add_concept(row, exact, prefixes, names, use_unverified)
            _index_ingredients(row, concepts, single, combinations)
    ingredients = Ingredients(
        single={k: tuple(dict.fromkeys(v)) for k, v in single.items()},
        combinations=tuple(combinations),
    )
    for doc in [
        read_package_yaml("rxnorm_products.yaml"),
        *(read_yaml_or_mapping(x) for x in extra),
    ]:
        _add_products(doc, ingredients, exact, use_unverified)
    return ValueSets(
        exact={k: tuple(dict.fromkeys(v)) for k, v in exact.items()},
        prefixes=tuple(prefixes),
        names=tuple(names),
        system_alias=alias,
        ingredients=ingredients,
    )


def _groups(row: Mapping[str, Any]) -> list[str]:
    """A concept's group, then the further groups it belongs to on purpose (co-trimoxazole is a
    myelosuppressive drug and a PJP agent): `also: [...]` in the data."""
    return [str(row["group"]), *(str(g) for g in row.get("also") or ())]


def _add_concept(
    row: Mapping[str, Any],
    exact: dict[tuple[str, str], list[Concept]],
    prefixes: list[tuple[str, str, Concept]],
    names: list[tuple[re.Pattern[str], Concept]],
    use_unverified: bool,
) -> list[Concept]:
    name = row.get("name")
    label = None if name is None else str(name)
    bases = [Concept(group, label) for group in _groups(row)]
    pattern = _pattern(row.get("names") or ())
    if pattern is not None:
        names.extend((pattern, base) for base in bases)
    for c in row.get("codes") or ():
        verified = bool(c.get("verified", False))
        if not verified and not use_unverified:
            continue
        grade = c.get("grade")
        key = str(c["system"])
        code = _norm(key, str(c["code"]))
        for base in bases:
            concept = Concept(base.group, label, None if grade is None else int(grade), verified)
            if c.get("prefix"):
                prefixes.append((key, code, concept))
            else:
                exact.setdefault((key, code), []).append(concept)
    return bases


def _is_drug(row: Mapping[str, Any]) -> bool:
    """Rows whose names are drug ingredients: coded in RxNorm or ATC, or combinations."""
    systems = {str(c.get("system")) for c in row.get("codes") or ()}
    return (
        bool(row.get("ingredients")) or bool(systems & {"rxnorm", "atc"}) or bool(row.get("drug"))
    )


def _index_ingredients(
    row: Mapping[str, Any],
    concepts: list[Concept],
    single: dict[str, list[Concept]],
    combinations: list[tuple[frozenset[str], tuple[Concept, ...]]],
) -> None:
    if not _is_drug(row) or not concepts:
        return
    parts = frozenset(str(i).lower() for i in row.get("ingredients") or ())
    if len(parts) > 1:
        combinations.append((parts, tuple(concepts)))
    for word in [row.get("name"), *(row.get("names") or ())]:
        if word:
            single.setdefault(str(word).lower(), []).extend(concepts)


def _add_products(
    doc: Mapping[str, Any],
    ingredients: Ingredients,
    exact: dict[tuple[str, str], list[Concept]],
    use_unverified: bool,
) -> None:
    """RxNorm clinical/branded drug rows -> the concepts of their ingredients."""
    system = str(doc.get("system") or "rxnorm")
    for row in doc.get("products") or ():
        verified = bool(row.get("verified", True))
        if not verified and not use_unverified:
            continue
        code = _norm(system, str(row["code"]))
        for c in ingredients.resolve(row.get("ingredients") or ()):
            exact.setdefault((system, code), []).append(Concept(c.group, c.name, c.grade, verified))


@cache
def default_value_sets() -> ValueSets:
    return build_value_sets()
