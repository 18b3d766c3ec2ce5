"""Cards say what they mean (issue 12, docs/decisions/0016): every rule that can fire recommends
in the "Consider ..." form, writes units one way, and cites a source whose label and link agree.

Each rule gets one patient built to make it fire (real PatientRecords through the real
`assess()` and `evaluate_rules()`); the test covers every rule of the catalogue, so a rule added
without a "Consider ..." recommendation fails here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from rules_helpers import ANC, HB, HT_HIGH, PLT, daily, days, lab, on, order, record, run

from cds_service.cards import CardInputs, alert_card
from icaht import assess
from icaht.record import (
    Analyte,
    CrsPeriod,
    Infection,
    PatientRecord,
    Period,
    PlannedInfusion,
    StoredStemCells,
    Transfusion,
)
from icaht.rules import RULES, RuleSettings
from icaht.rules.catalogue import CITATIONS, first_citation
from icaht.rules.model import Alert, DraftOrder, Hook


@dataclass(frozen=True)
class Firing:
    """A patient, a day and a hook on which one rule fires."""

    patient: Callable[[], PatientRecord]
    day: int
    hook: Hook = "patient-view"
    orders: tuple[DraftOrder, ...] = ()
    settings: RuleSettings = field(default_factory=RuleSettings)


def _severe(first: int, last: int, value: float = 300) -> list:  # type: ignore[type-arg]
    return [lab(ANC, 0, 2000), *daily(ANC, range(first, last + 1), value)]


FIRING: dict[str, Firing] = {
    "M01": Firing(
        lambda: record([lab(ANC, 20, 2500)]),
        20,
        "order-sign",
        (order("blood_product", product="platelets"),),
    ),
    "M02": Firing(lambda: record([*HT_HIGH, lab(ANC, 0, 2000), lab(ANC, 3, 800)]), 3),
    "M03": Firing(lambda: record(_severe(1, 10)), 10),
    "M04": Firing(
        lambda: record([lab(ANC, 10, 2500)], crs_periods=(CrsPeriod(on(8), grade=2),)),
        10,
        "order-sign",
        (order("gcsf", product="filgrastim"),),
    ),
    "M05": Firing(
        lambda: record([lab(ANC, 10, 2500)]),
        10,
        "order-sign",
        (order("gmcsf", product="sargramostim"),),
    ),
    "M06": Firing(
        lambda: record(
            [lab(ANC, 0, 2000), lab(ANC, 2, 300), lab(ANC, 20, 2000), lab(ANC, 30, 600)]
        ),
        30,
    ),
    "M07": Firing(lambda: record(_severe(1, 10), gcsf_days=tuple(days(3, 10))), 10),
    "M08": Firing(lambda: record([*HT_HIGH, *_severe(9, 10)]), 10),
    "M09": Firing(lambda: record(_severe(9, 10), prior_allo_hct=True), 10),
    "M10": Firing(lambda: record([lab(ANC, 10, 2500)], supportive_drugs=()), 10),
    "M11": Firing(
        lambda: record(_severe(1, 16)),
        16,
        "order-sign",
        (order("myelosuppressive_drug", product="co-trimoxazole"),),
    ),
    "M12": Firing(
        lambda: record(
            [lab(Analyte.IGG, 30, 350)], infections=(Infection(on(28), kind="pneumonia"),)
        ),
        30,
    ),
    "M13": Firing(lambda: record([lab(HB, 10, 6.5)]), 10),
    "M14": Firing(lambda: record([lab(PLT, 10, 8)]), 10),
    "M15": Firing(
        lambda: record(
            [lab(PLT, 35, 15)],
            transfusions=(Transfusion(on(33), "platelets"), Transfusion(on(35), "platelets")),
        ),
        35,
    ),
    "M16": Firing(
        lambda: record(
            _severe(1, 20),
            gcsf_days=tuple(days(13, 20)),
            stored_stem_cells=(StoredStemCells(True, on(-60), "BiologicallyDerivedProduct/1"),),
        ),
        20,
    ),
    "M17": Firing(lambda: record(_severe(1, 35, 50), stored_stem_cells=()), 35),
    "M18": Firing(lambda: record(_severe(1, 31)), 31),
    "M19": Firing(lambda: record(daily(PLT, range(0, 22), 40)), 21),
    "M20": Firing(
        lambda: record([lab(Analyte.FIBRINOGEN, 10, 90)], crs_periods=(CrsPeriod(on(8), grade=3),)),
        10,
    ),
    "M21": Firing(lambda: record([lab(PLT, 10, 40)], anticoagulant_periods=(Period(on(5)),)), 10),
    "M22": Firing(
        lambda: record(transfusions=(Transfusion(on(5), "rbc", units=3),)),
        10,
        settings=RuleSettings(iron_overload_rbc_units=2),
    ),
    "M23": Firing(  # rising ferritin (> 2 x day 0, > 10,000) with low fibrinogen, no CRS (C13)
        lambda: record(
            [
                lab(Analyte.FERRITIN, 0, 500),
                lab(Analyte.FERRITIN, 10, 12000),
                lab(Analyte.FIBRINOGEN, 10, 120),
            ]
        ),
        10,
    ),
    "M24": Firing(
        lambda: record(HT_HIGH, infusions=(), planned_infusion=PlannedInfusion(on(0), "axi-cel")),
        -2,
    ),
    "M25": Firing(
        lambda: record(_severe(1, 35), gcsf_days=tuple(days(28, 35)), disease="B-ALL"), 35
    ),
    "M26": Firing(
        lambda: record(
            [lab(ANC, 0, 2000), *daily(ANC, range(31, 36), 300)], gcsf_days=tuple(days(29, 35))
        ),
        35,
    ),
}


def fired(rule_id: str) -> Alert:
    firing = FIRING[rule_id]
    result = run(firing.patient(), firing.day, firing.hook, firing.orders, firing.settings)
    found = [a for a in result.alerts if a.rule_id == rule_id]
    suppressed = set(result.suppressed)
    assert found, (
        f"{rule_id} did not fire (fired {[a.rule_id for a in result.alerts]}, {suppressed})"
    )
    return found[0]


def test_every_rule_has_a_firing_patient() -> None:
    """Issue 14: no rule is left that can never fire."""
    assert set(FIRING) == {rule.id for rule in RULES}


@pytest.mark.parametrize("rule_id", sorted(FIRING))
def test_every_recommendation_starts_with_consider(rule_id: str) -> None:
    """C16: cards recommend, they do not order. Rules owned by other issue-12 branches (M01,
    M03, M06, M07, M20, M23) fail here until those branches are merged."""
    recommendation = fired(rule_id).recommendation
    assert recommendation.startswith("Consider "), recommendation


def card_of(rule_id: str) -> dict[str, Any]:
    """The CDS card of the rule's alert, rendered as the service renders it."""
    firing = FIRING[rule_id]
    patient, today = firing.patient(), on(firing.day)
    assessment = assess(patient, evaluation_date=today)
    inputs = CardInputs("icaht-" + firing.hook, patient.patient_id, assessment, (), (), today)
    return alert_card(inputs, fired(rule_id)).as_json()


@pytest.mark.parametrize("rule_id", sorted(FIRING))
def test_cards_spell_units_one_way(rule_id: str) -> None:
    """One spelling in every card: /µL, x10^9/L, g/dL, µg, as the engine writes its texts."""
    card = card_of(rule_id)
    text = card["summary"] + "\n" + card["detail"]
    for wrong in ("/uL", " ug", "ug/kg", "×10⁹", "x 10^9", "10^9/l", "10*9"):
        assert wrong not in text, (wrong, text)


def test_m04_card_links_the_paper_its_label_names() -> None:
    """Before: label "Jain, Olson, Locke, ..., Blood 2023", url the Haematologica DOI."""
    card = card_of("M04")
    assert card["source"] == {
        "label": "Jain et al., Blood 2023",
        "url": "https://doi.org/10.1182/blood.2022017415",
    }
    assert "Jain, Olson, Locke, How I treat cytopenias after CAR T-cell therapy" in card["detail"]


@pytest.mark.parametrize("rule_id", ["M16", "M18", "M19"])
def test_cards_led_by_an_undigitised_source_link_nothing(rule_id: str) -> None:
    """Before: these labelled Canichella & de Fabritiis and linked the Haematologica DOI."""
    card = card_of(rule_id)
    assert card["source"] == {"label": "Canichella & de Fabritiis, 2025"}


@pytest.mark.parametrize("rule_id", sorted(FIRING))
def test_summaries_are_whole(rule_id: str) -> None:
    """make_alert cuts a summary over 139 characters with '...': none of them is that long."""
    summary = fired(rule_id).summary
    assert not summary.endswith("..."), summary


def test_m05_gm_csf_card_recommends_rather_than_orders() -> None:
    recommendation = fired("M05").recommendation
    assert recommendation == (
        "Consider avoiding GM-CSF (sargramostim, molgramostim) after CAR-T; consider G-CSF "
        "instead if a growth factor is indicated."
    )


@pytest.mark.parametrize("rule", RULES, ids=[rule.id for rule in RULES])
def test_every_rule_source_starts_with_a_catalogued_citation(rule) -> None:  # type: ignore[no-untyped-def]
    """The card's label and link come from the citation a rule names first."""
    citation = first_citation(rule.source)
    assert citation is not None, rule.source
    assert rule.source.startswith(citation.text)


def test_citations_have_short_whole_labels_with_year_and_their_own_doi() -> None:
    for citation in CITATIONS:
        assert len(citation.label) <= 60 and "..." not in citation.label
        year = re.search(r"\b20\d\d\b", citation.label)
        assert year is not None, citation.label
        assert f" {year.group()}" in citation.text  # the full citation has the label's year
        if citation.doi:
            assert f"doi:{citation.doi}" in citation.text
            assert citation.url == f"https://doi.org/{citation.doi}"
        else:
            assert "doi:" not in citation.text and citation.url is None
