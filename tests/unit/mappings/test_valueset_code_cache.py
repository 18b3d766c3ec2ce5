"""The value sets keep what a (system, code) matched (issue 20): a match read from that store
equals the match worked out afresh, for every code of the tables (each system URI they know,
and prefix matches), unknown codes and odd systems, and the store is no part of the value."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from fhir_mappings.valuesets import Concept, ValueSets, build_value_sets


def afresh(
    sets: ValueSets, concept: Any, groups: frozenset[str] | None = None
) -> tuple[Concept, ...]:
    """`match` with an empty store on every call."""
    sets._code_hits.clear()
    return sets.match(concept, groups)


def codes_of(sets: ValueSets) -> list[tuple[str, str]]:
    uris = {
        key: [uri for uri, k in sets.system_alias.items() if k == key]
        for key in set(sets.system_alias.values())
    }
    found = [(uri, code) for (key, code) in sets.exact for uri in uris.get(key, [])]
    found += [(uri, f"{prefix}9") for key, prefix, _ in sets.prefixes for uri in uris.get(key, [])]
    return found


def test_every_code_of_the_tables_matches_as_afresh() -> None:
    sets, stored = build_value_sets(), build_value_sets()
    assert sets is not stored
    codes = codes_of(sets)
    assert len(codes) > 100
    for _round in range(2):  # an empty store, then one holding every code
        for system, code in codes:
            concept = {"coding": [{"system": system, "code": code}]}
            assert stored.match(concept) == afresh(sets, concept), (system, code)
            assert stored.match(concept, frozenset({"gcsf"})) == afresh(
                sets, concept, frozenset({"gcsf"})
            )
    assert stored._code_hits


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "http://www.nlm.nih.gov/research/umls/rxnorm",
                    "http://snomed.info/sct",
                    "urn:x",
                    "",
                ]
            ),
            st.text(alphabet="0123456789AB.", max_size=8),
        ),
        max_size=3,
    )
)
def test_any_codings_match_as_afresh(codings: list[tuple[str, str]]) -> None:
    sets, stored = build_value_sets(), build_value_sets()
    concept = {"coding": [{"system": s, "code": c} for s, c in codings], "text": "filgrastim"}
    assert stored.match(concept) == stored.match(concept) == afresh(sets, concept)


def test_the_store_is_no_part_of_the_value() -> None:
    used, unused = build_value_sets(), build_value_sets()
    used.match({"coding": [{"system": "http://snomed.info/sct", "code": "1"}]})
    assert used._code_hits
    assert used == unused
    assert repr(used) == repr(unused)
