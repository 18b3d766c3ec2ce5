"""The value-set data file: every code cites a source; unverified codes stay off by default."""

from __future__ import annotations

import re

from fhir_mappings import MappingConfig
from fhir_mappings.tables import read_package_yaml
from fhir_mappings.valuesets import build_value_sets, default_value_sets

DOC = read_package_yaml("valuesets.yaml")
APPROVED_CAR_T = {
    "axicabtagene ciloleucel",
    "tisagenlecleucel",
    "lisocabtagene maraleucel",
    "brexucabtagene autoleucel",
    "idecabtagene vicleucel",
    "ciltacabtagene autoleucel",
    "obecabtagene autoleucel",
}
FORMATS = {
    "icd10pcs": r"^[0-9A-HJ-NP-Z]{7}$",
    "cpt": r"^\d{4}[0-9T]$",
    "rxnorm": r"^\d+$",
    "atc": r"^[A-Z]\d{2}[A-Z]{2}\d{2}$",
    "icd10cm": r"^[A-Z]\d{2}(\.[0-9A-Z]{1,4})?$",
    "snomed": r"^\d{6,18}$",
}


def _codes() -> list[dict[str, object]]:
    return [dict(c, group=r["group"]) for r in DOC["concepts"] for c in r.get("codes") or ()]


def test_every_code_cites_a_known_source_and_says_if_verified() -> None:
    for c in _codes():
        assert c["source"] in DOC["sources"], c
        assert isinstance(c["verified"], bool), c
        assert c["system"] in DOC["systems"], c


def test_code_formats() -> None:
    for c in _codes():
        assert re.match(FORMATS[str(c["system"])], str(c["code"])), c


def test_no_code_means_two_things() -> None:
    seen: dict[tuple[str, str], str] = {}
    for c in _codes():
        key = (str(c["system"]), str(c["code"]))
        assert seen.setdefault(key, str(c["group"])) == c["group"], key


def test_all_approved_car_t_products_are_listed() -> None:
    names = {r["name"] for r in DOC["concepts"] if r["group"] == "car_t"}
    assert names >= APPROVED_CAR_T


def test_unverified_codes_are_not_used_by_default() -> None:
    sargramostim_atc = {"coding": [{"system": "http://www.whocc.no/atc", "code": "L03AA09"}]}
    assert default_value_sets().match(sargramostim_atc) == ()
    loose = build_value_sets(use_unverified=True).match(sargramostim_atc)
    assert [c.name for c in loose] == ["sargramostim"]
    assert MappingConfig(use_unverified_codes=True).value_sets.match(sargramostim_atc)


def test_local_value_set_extends_the_shipped_one() -> None:
    local = {
        "systems": {"local": ["urn:oid:1.2.3.99"]},
        "concepts": [
            {
                "group": "relapse",
                "name": "relapse",
                "codes": [{"system": "local", "code": "REL", "source": "local", "verified": True}],
            }
        ],
    }
    cfg = MappingConfig(extra_value_sets=(local,))
    hit = cfg.value_sets.match({"coding": [{"system": "urn:oid:1.2.3.99", "code": "REL"}]})
    assert [c.group for c in hit] == ["relapse"]


def test_icd10cm_prefix_and_dots() -> None:
    vs = default_value_sets()
    for code in ("I50.9", "I509", "I25.10", "B44.1", "D89.810"):
        concept = {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": code}]}
        assert vs.match(concept), code
    other = {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "I10"}]}
    assert vs.match(other) == ()


def test_names_match_whole_words_only() -> None:
    vs = default_value_sets()
    assert [c.name for c in vs.match({"text": "pegfilgrastim 6 mg"})] == ["pegfilgrastim"]
    assert vs.match({"text": "Platelet count"}) == ()
    assert vs.match({"text": "heparinase test"}) == ()


def test_relapse_by_code_only() -> None:
    vs = default_value_sets()
    coded = {"coding": [{"system": "http://snomed.info/sct", "code": "58184002"}]}
    assert [c.group for c in vs.match(coded)] == ["relapse"]
    assert vs.match({"text": "Relapsed/refractory DLBCL"}) == ()
