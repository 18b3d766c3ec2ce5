"""The concern key of alert cards (cds_service/concerns.py, docs/decisions/0007): the same data
give the same key on another day; a changed value, order, severity or service gives a new one."""

from __future__ import annotations

from dataclasses import replace

from rules_helpers import ANC, HT_HIGH, PLT, alert, lab, order, record, run

from cds_service.concerns import concern_key

PV = "icaht-patient-view"
PLATELETS = order("blood_product", "ServiceRequest/plt-1", product="platelets", irradiated=False)


def test_m02_key_is_the_same_on_another_day_though_its_text_moves() -> None:
    day3 = alert(run(record(HT_HIGH), 3), "M02")
    day5 = alert(run(record(HT_HIGH), 5), "M02")  # the last day of M02's window (C15)
    assert day3.rationale != day5.rationale  # "day 3" / "day 5": the text is no key
    assert concern_key(PV, day3) == concern_key(PV, day5)


def test_m02_key_changes_with_a_changed_baseline_value() -> None:
    before = alert(run(record(HT_HIGH), 5), "M02")
    after = alert(run(record([lab(PLT, -7, 40)]), 5), "M02")
    assert concern_key(PV, before) != concern_key(PV, after)


def test_m03_key_holds_while_the_same_anc_is_current_and_changes_with_a_new_one() -> None:
    labs = [lab(ANC, 7, 300)]
    day7 = alert(run(record(labs), 7), "M03")
    day8 = alert(run(record(labs), 8), "M03")
    newer = alert(run(record([*labs, lab(ANC, 8, 250)]), 8), "M03")
    assert concern_key(PV, day7) == concern_key(PV, day8)
    assert concern_key(PV, newer) != concern_key(PV, day8)


def test_m01_key_is_per_draft_order_and_per_service() -> None:
    first = alert(run(record(), 10, "order-select", [PLATELETS]), "M01")
    later_day = alert(run(record(), 11, "order-select", [PLATELETS]), "M01")
    other = replace(PLATELETS, reference="ServiceRequest/plt-2")
    another_order = alert(run(record(), 10, "order-select", [other]), "M01")
    assert concern_key("icaht-order-select", first) == concern_key("icaht-order-select", later_day)
    assert concern_key("icaht-order-select", first) != concern_key(
        "icaht-order-select", another_order
    )
    # issue 18 (docs/decisions/0026): one order workflow, one scope: an override at
    # order-select holds at order-sign for the same draft order; patient-view keeps its own
    assert concern_key("icaht-order-select", first) == concern_key("icaht-order-sign", first)
    assert concern_key("icaht-order-sign", first) != concern_key(PV, first)


def test_key_ignores_the_order_of_the_data_but_not_the_severity() -> None:
    m02 = alert(run(record([lab(PLT, -7, 50), lab(ANC, -7, 3000)]), 5), "M02")
    assert len(m02.data_used) > 1
    shuffled = replace(m02, data_used=tuple(reversed(m02.data_used)))
    assert concern_key(PV, shuffled) == concern_key(PV, m02)
    escalated = replace(m02, severity="critical")
    assert concern_key(PV, escalated) != concern_key(PV, m02)
    key = concern_key(PV, m02)
    assert len(key) == 64 and int(key, 16) >= 0
