"""The ICAHT status card says what its grade rests on (issue 12, docs/clinical §17 C16,
docs/decisions/0016): carried-forward, filled-back and interpolated days, preliminary results,
what censored a censored grade, why a late grade was given, in one spelling of units.

Real PatientRecords through the real `assess()`; the card through `status_card`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest

from cds_service.cards import CardInputs, not_evaluable_text, status_card
from icaht import assess
from icaht.record import Analyte, CarTInfusion, LabValue, PatientRecord, TherapyTimeline

DAY0 = date(2026, 9, 1)
ANC = Analyte.ANC


def lab(day: int, value: float, analyte: Analyte = ANC, **kw: Any) -> LabValue:
    return LabValue(analyte, value, DAY0 + timedelta(days=day), source_id=f"O/{day}", **kw)


def card(labs: Iterable[LabValue], day: int, **timeline: Any) -> dict[str, Any]:
    record = PatientRecord(
        "p1", tuple(labs), TherapyTimeline(infusions=(CarTInfusion(DAY0),), **timeline)
    )
    today = DAY0 + timedelta(days=day)
    assessment = assess(record, evaluation_date=today)
    return status_card(CardInputs("icaht-patient-view", "p1", assessment, (), (), today)).as_json()


def text(answer: dict[str, Any]) -> str:
    return answer["summary"] + "\n" + answer["detail"]


def test_grade_resting_on_carried_forward_days_says_so() -> None:
    """ANC 300 measured daily to day 23, nothing after: days 24-30 are carried forward (§2.3
    step 5, C2) and the grade 4 rests on them. Before: the card did not say so."""
    labs = [lab(0, 2000), *(lab(d, 300) for d in range(1, 24))]
    detail = card(labs, 35)["detail"]
    assert "Early N-ICAHT (days 0-30): 4 (final)." in detail
    assert "The grade rests on days 24-30 carried forward from day 23" in detail
    assert "interpolated" not in detail


def test_days_filled_back_before_the_first_value() -> None:
    """First value on day 3 (no anchor before day 0): days 0-2 are filled back (§2.3 step 4)."""
    labs = [*(lab(d, 300) for d in range(3, 12)), *(lab(d, 2000) for d in range(12, 36))]
    detail = card(labs, 35)["detail"]
    assert "The grade rests on days 0-2 filled back from day 3" in detail


def test_interpolated_days_of_the_episode_are_named() -> None:
    labs = [lab(0, 2000), lab(1, 300), lab(4, 300), lab(6, 300)]
    labs += [lab(d, 2000) for d in range(8, 36)]
    detail = card(labs, 35)["detail"]
    # day 7 (1150/µL) is interpolated too but counts in no episode: the grade does not rest on it
    assert "The grade rests on days 2-3, 5 interpolated (no ANC measured on those days)" in detail


def test_many_interpolated_days_are_counted_not_listed() -> None:
    labs = [lab(0, 2000), *(lab(d, 300) for d in range(1, 20, 2)), *(lab(d, 2000) for d in (21,))]
    labs += [lab(d, 2000) for d in range(22, 36)]
    detail = card(labs, 35)["detail"]
    assert "9 days interpolated between measured values" in detail
    assert "days 2, 4" not in detail


def test_measured_days_only_give_no_rests_on_clause() -> None:
    labs = [lab(d, 300 if 1 <= d <= 8 else 2000) for d in range(0, 36)]
    detail = card(labs, 35)["detail"]
    assert "Early N-ICAHT (days 0-30): 2 (final)." in detail
    assert "rests on" not in detail


def test_preliminary_results_are_named_with_their_days() -> None:
    labs = [lab(0, 2000), *(lab(d, 300) for d in range(1, 9)), lab(9, 250, preliminary=True)]
    detail = card(labs, 9)["detail"]
    assert "Preliminary results are used (day 9): check the grade when they are final." in detail
    final = [lab(0, 2000), *(lab(d, 300) for d in range(1, 10))]
    assert "Preliminary" not in card(final, 9)["detail"]


@pytest.mark.parametrize(
    ("event", "words"),
    [
        ("relapse_day", "relapse or progression"),
        ("next_therapy_day", "next therapy"),
        ("allo_hct_day", "allo-HCT"),
    ],
)
def test_a_censored_grade_says_what_censored_it_and_when(event: str, words: str) -> None:
    labs = [lab(0, 2000), *(lab(d, 300) for d in range(1, 13))]
    answer = card(labs, 20, **{event: DAY0 + timedelta(days=12)})
    assert "(censored)" in answer["summary"]
    assert f"Censored on day 12 by {words}: later counts do not change the grade." in text(answer)


def test_an_uncensored_grade_has_no_censoring_clause() -> None:
    labs = [lab(0, 2000), *(lab(d, 300) for d in range(1, 13))]
    assert "Censored" not in card(labs, 20)["detail"]


def _late(values: dict[int, float]) -> list[LabValue]:
    return [lab(d, 2500) for d in range(0, 31)] + [lab(d, v) for d, v in values.items()]


def test_a_confirmed_late_grade_names_the_two_lowest_values() -> None:
    detail = card(_late({40: 420, 45: 480}), 50)["detail"]
    assert (
        "**Late N-ICAHT (day 31-50): 3 (provisional).** Late ICAHT grade 3 (provisional) because "
        "the two lowest ANC after day 30 were 420/µL (day 40) and 480/µL (day 45)."
    ) in detail


def test_an_unconfirmed_late_grade_says_it_rests_on_one_value() -> None:
    detail = card(_late({40: 420}), 50)["detail"]
    assert "3 (provisional), unconfirmed.**" in detail
    assert (
        "Late ICAHT grade 3 (provisional), unconfirmed: it rests on one value, 420/µL on day 40"
        in detail
    )
    assert "repeat the ANC to confirm" in detail


def test_a_transient_late_dip_says_what_followed_it() -> None:
    detail = card(_late({40: 900, 45: 2000}), 50)["detail"]
    assert (
        "Late ICAHT grade 0 (provisional): the dip to 900/µL on day 40 was followed by ANC "
        "> 1500/µL (transient)." in detail
    )


def test_one_car_hematotox_point_is_singular() -> None:
    baseline = [
        lab(-7, 150, Analyte.PLATELETS),  # 75-175 x10^9/L: 1 point (§6.1)
        lab(-7, 3000),
        lab(-7, 12.0, Analyte.HEMOGLOBIN),
        lab(-7, 5, Analyte.CRP),
        lab(-7, 100, Analyte.FERRITIN),
    ]
    labs = [*baseline, lab(0, 2000), *(lab(d, 300) for d in range(1, 5))]
    detail = card(labs, 10)["detail"]
    assert "**CAR-HEMATOTOX (baseline before lymphodepletion):** 1 point, low risk." in detail


def test_an_open_phenotype_window_reads_so_far_not_quick_so_far_recovery() -> None:
    labs = [lab(0, 2000), lab(1, 400), *(lab(d, 2500) for d in range(2, 21))]
    answer = card(labs, 20)
    assert answer["summary"].endswith("; recovery phenotype so far: quick")
    assert "so far recovery" not in text(answer)
    assert (
        "**Neutrophil recovery phenotype:** quick so far (may change until day 60)."
        in (answer["detail"])
    )


def test_a_complete_phenotype_window_names_the_phenotype() -> None:
    labs = [lab(0, 2000), lab(1, 400), *(lab(d, 2500) for d in range(2, 68))]
    answer = card(labs, 70)
    assert answer["summary"].endswith("; quick recovery")


def test_status_card_units_are_spelled_one_way() -> None:
    """Before: CTCAE platelets were "×10⁹/L" and ANC values "480 /µL"."""
    labs = [*_late({40: 420, 45: 480}), lab(45, 30, Analyte.PLATELETS)]
    detail = card(labs, 50)["detail"]
    assert "Platelet count decreased: grade 3 (30 x10^9/L on 2026-10-16)" in detail
    assert "Neutrophil count decreased: grade 4 (480/µL on 2026-10-16)" in detail
    for wrong in ("×10⁹", "/uL", " /µL"):
        assert wrong not in detail


def test_not_evaluated_lists_only_rules_more_data_could_fire_in_plain_words() -> None:
    """Before: every needs text verbatim, also of rules that wait for a setting (M22 without a
    threshold). Issue 14: infections, fever and bleeding are read from FHIR, so M12 and M14 say
    what is missing; M22's threshold is a configuration gap and stays out."""
    needs = (
        "M12 needs infection status (serious or recurrent infections)",
        "M13 needs cardiovascular disease status (Hb 7.4 g/dL is between 7.0 and 8.0)",
        "M14 needs a current platelet count (none on the evaluation day or 2 days before)",
        "M14 needs a temperature (none today or yesterday) (platelets 15 x10^9/L: ...)",
        "M22 needs a configured RBC-unit threshold (no source number)",
        "M22 needs transfusion records",
        "M03 needs a current ANC (none on the evaluation day or 2 days before)",
    )
    assert not_evaluable_text(needs) == [
        "M12 (IVIG replacement): infection status (serious or recurrent infections)",
        "M13 (RBC transfusion threshold): cardiovascular disease status (Hb 7.4 g/dL is between "
        "7.0 and 8.0)",
        "M14 (Platelet transfusion threshold): a current platelet count (none on the evaluation "
        "day or 2 days before)",
        "M14 (Platelet transfusion threshold): a temperature (none today or yesterday) "
        "(platelets 15 x10^9/L: ...)",
        "M22 (Iron overload): transfusion records",
        "M03 (Therapeutic G-CSF for severe neutropenia): a current ANC (none on the evaluation "
        "day or 2 days before)",
    ]


def test_car_hematotox_says_when_the_disease_is_outside_its_validated_scope() -> None:
    """Issue 14 (docs/clinical §6.4): B-ALL uses an adapted score; LBCL is in scope."""
    labs = [lab(-7, 150, Analyte.PLATELETS), lab(0, 2000), *(lab(d, 300) for d in range(1, 5))]
    b_all = card(labs, 10, disease="B-ALL")["detail"]
    assert "in B-ALL an adapted score applies, ALL-Hematotox" in b_all
    assert "validated in" not in card(labs, 10, disease="LBCL")["detail"]


def test_each_fact_of_the_status_card_is_its_own_list_item() -> None:
    """Issue 18: EHRs render `detail` as Markdown, and the facts ran together in one paragraph.
    Now each fact is one `- ` item; the summary is unchanged and the source note follows."""
    labs = [lab(0, 2000), *(lab(d, 300) for d in range(1, 24)), lab(40, 420)]
    labs.append(lab(33, 900, Analyte.PLATELETS))
    answer = card(labs, 45)
    assert answer["summary"] == (
        "ICAHT day +45: N-ICAHT early grade 4 (final); late grade 3 (provisional), unconfirmed; "
        "T-ICAHT late 0; recovery phenotype so far: aplastic"
    )
    lines = answer["detail"].splitlines()
    heads = [
        "- **Early N-ICAHT (days 0-30): 4 (final).** ",
        "- **Late N-ICAHT (day 31-45): 3 (provisional), unconfirmed.** ",
        "- **T-ICAHT (platelets):** ",
        "- **Neutrophil recovery phenotype:** aplastic so far",
        "- **CAR-HEMATOTOX (baseline before lymphodepletion):** ",
        "- **CTCAE v5.0 (latest values; single-measurement grades, not ICAHT):** ",
    ]
    assert [next(i for i, x in enumerate(lines) if x.startswith(h)) for h in heads] == list(
        range(len(heads))
    )
    assert all(line.count("**") == 2 for line in lines[: len(heads)])  # one fact per line
    assert lines[len(heads)] == "" and lines[len(heads) + 1].startswith("Grading per the EHA/EBMT")


def test_the_smart_link_hands_the_app_the_evaluation_date_and_hook_instance() -> None:
    """Issue 18: the status card's SMART link carries `appContext` (CDS Hooks 2.0 Link), a
    JSON string the EHR passes to the app in the token response; the app evaluates at its
    `evaluationDate`. A new hookInstance on the same data keeps the card's uuid."""
    labs = [lab(0, 2000), *(lab(d, 300) for d in range(1, 24))]
    record = PatientRecord("p1", tuple(labs), TherapyTimeline(infusions=(CarTInfusion(DAY0),)))
    today = DAY0 + timedelta(days=35)
    assessment = assess(record, evaluation_date=today)
    url = "https://cds.example.org/smart/launch.html"

    def linked(hook_instance: str) -> dict[str, Any]:
        inputs = CardInputs("icaht-patient-view", "p1", assessment, (), (), today)
        card = status_card(replace(inputs, smart_launch_url=url, hook_instance=hook_instance))
        return card.as_json()

    first, second = linked("hook-1"), linked("hook-2")
    (link,) = first["links"]
    assert (link["type"], link["url"]) == ("smart", url)
    assert isinstance(link["appContext"], str)
    assert json.loads(link["appContext"]) == {
        "evaluationDate": "2026-10-06",
        "hookInstance": "hook-1",
    }
    assert json.loads(second["links"][0]["appContext"])["hookInstance"] == "hook-2"
    assert first["uuid"] == second["uuid"]
    assert "links" not in card(labs, 35)  # no launch URL configured: no link


def test_bridged_rise_is_said_with_its_measured_value() -> None:
    """Issue 16 (A4): "on days 0-17" must not read as "every day <= 500/µL" when day 2 was
    measured at 940/µL and bridged (Liang example patient 7's shape); the card names that day."""
    labs = [lab(d, 300) for d in range(0, 18) if d != 2] + [lab(2, 940)]
    labs += [lab(d, 2000) for d in range(18, 36)]
    detail = card(labs, 35)["detail"]
    assert "Early N-ICAHT (days 0-30): 3 (final)." in detail
    assert "on days 0-17 (18 days; day 2 at 940/µL bridged as a transient rise)" in detail
