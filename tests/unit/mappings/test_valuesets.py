"""The value-set data file: every code cites a source; unverified codes stay off by default."""

from __future__ import annotations

import re
from datetime import date

import pytest

from fhir_mappings import MappingSettings
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
        if c.get("prefix"):  # a code category: a leading part of a full code
            assert re.match(r"^[0-9A-Z][0-9A-Z.]{0,6}$", str(c["code"])), c
            continue
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
    crs_unspecified = {
        "coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "D89.839"}]
    }
    assert default_value_sets().match(crs_unspecified) == ()
    loose = build_value_sets(use_unverified=True).match(crs_unspecified)
    assert [c.name for c in loose] == ["cytokine release syndrome"]
    assert MappingSettings(use_unverified_codes=True).value_sets.match(crs_unspecified)


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
    cfg = MappingSettings(extra_value_sets=(local,))
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
    # the words name the disease (issue 14), never a relapse
    text = vs.match({"text": "Relapsed/refractory DLBCL"})
    assert [(c.group, c.name) for c in text] == [("disease", "LBCL")]


def test_validity_dates_are_consistent() -> None:
    dated = [c for c in _codes() if "valid_from" in c or "valid_to" in c]
    assert dated  # the CAR-T procedure codes carry their validity
    for c in dated:
        start = date.fromisoformat(str(c["valid_from"])) if "valid_from" in c else None
        end = date.fromisoformat(str(c["valid_to"])) if "valid_to" in c else None
        assert start is None or end is None or start < end, c
        assert isinstance(c.get("dates_verified"), bool), c
        if "dates_source" in c:
            assert c["dates_source"] in DOC["sources"], c


def test_replaced_cpt_category_iii_codes_end_when_the_category_i_codes_start() -> None:
    by_code = {str(c["code"]): c for c in _codes() if c["system"] == "cpt"}
    for old, new in [
        ("0537T", "38225"),
        ("0538T", "38226"),
        ("0539T", "38227"),
        ("0540T", "38228"),
    ]:
        assert date.fromisoformat(by_code[old]["valid_to"]) < date.fromisoformat(
            by_code[new]["valid_from"]
        )


def test_codes_outside_their_validity_still_match() -> None:
    vs = default_value_sets()
    old = {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "0540T"}]}
    assert [c.group for c in vs.match(old)] == ["car_t"]


def test_a_code_belongs_to_one_row_and_extra_groups_only_by_also() -> None:
    rows: dict[tuple[str, str], int] = {}
    for i, r in enumerate(DOC["concepts"]):
        for c in r.get("codes") or ():
            key = (str(c["system"]), str(c["code"]))
            assert rows.setdefault(key, i) == i, key
    vs = default_value_sets()
    for r in DOC["concepts"]:
        expected = {r["group"], *(r.get("also") or ())}
        # "in relapse" codes also name their disease (the disease rows match by prefix)
        expected_extra = {"disease"} if r["group"] == "relapse" else set()
        for c in r.get("codes") or ():
            if not c.get("verified") or c.get("prefix"):
                continue
            system = {v: k for k, vals in DOC["systems"].items() for v in vals}
            uri = next(u for u, k in system.items() if k == c["system"])
            got = {x.group for x in vs.match({"coding": [{"system": uri, "code": str(c["code"])}]})}
            assert expected <= got <= expected | expected_extra, (c, got)


@pytest.mark.parametrize(
    ("system", "code", "group", "name"),
    [
        ("http://www.cms.gov/Medicare/Coding/ICD10", "XW033C7", "car_t", None),
        ("http://www.cms.gov/Medicare/Coding/ICD10", "XW043G7", "car_t", None),
        ("http://www.ama-assn.org/go/cpt", "0537T", "apheresis", "leukapheresis for CAR-T"),
        ("http://www.ama-assn.org/go/cpt", "38227", "car_t_preparation", "CAR-T cell preparation"),
        ("http://www.cms.gov/Medicare/Coding/ICD10", "DW011ZZ", "next_therapy", "radiotherapy"),
        ("http://www.ama-assn.org/go/cpt", "77412", "next_therapy", "radiotherapy"),
    ],
)
def test_procedure_and_condition_codes(
    system: str, code: str, group: str, name: str | None
) -> None:
    found = default_value_sets().match({"coding": [{"system": system, "code": code}]})
    assert [(c.group, c.name) for c in found] == [(group, name)]


def test_in_relapse_code_is_relapse_and_its_disease() -> None:
    vs = default_value_sets()
    for code, disease in (("C91.02", "B-ALL"), ("C9002", "MM"), ("C91.12", "CLL")):
        concept = {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": code}]}
        got = {(c.group, c.name) for c in vs.match(concept)}
        assert got == {("relapse", "relapse or progression"), ("disease", disease)}, code


def test_lymphoma_has_no_relapse_code_and_remission_is_not_relapse() -> None:
    vs = default_value_sets()
    expected = {"C83.30": "LBCL", "C83.3A": "LBCL", "C91.01": "B-ALL", "C90.01": "MM"}
    for code, disease in expected.items():  # DLBCL, remission codes: the disease, no relapse
        concept = {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": code}]}
        assert [(c.group, c.name) for c in vs.match(concept)] == [("disease", disease)], code
