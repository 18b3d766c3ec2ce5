"""A deterministic sweep over many records, hooks and orders: no exception, and the invariants
of `evaluate_rules` hold for every result (ordering, one card per concern, short summaries)."""

from __future__ import annotations

import itertools

from rules_helpers import (
    ANC,
    HB,
    HT_HIGH,
    HT_LOW,
    PLT,
    STANDARD_PROPHYLAXIS,
    STORED_CELLS,
    daily,
    days,
    lab,
    on,
    order,
    record,
    run,
)

from icaht.record import Analyte, CrsPeriod, Infection, Period, Transfusion
from icaht.rules import RULES_BY_ID, RuleSettings
from icaht.rules.model import SEVERITY_RANK

ORDERS = (
    (),
    (order("blood_product", product="platelets", irradiated=None),),
    (order("gcsf", product="filgrastim"), order("gmcsf", product="sargramostim")),
    (order("myelosuppressive_drug", product="co-trimoxazole"), order("anticoagulant")),
    (order("other", display="CT abdomen"),),
)


def _records():  # type: ignore[no-untyped-def]
    for anc, platelets, flags, baseline in itertools.product(
        (50, 400, 700, 3000), (5, 15, 40, 200), (False, True), (HT_HIGH, HT_LOW)
    ):
        labs = [
            *baseline,
            lab(ANC, 0, 2500),
            *daily(ANC, range(1, 40, 2), anc),
            *daily(PLT, range(1, 40, 3), platelets),
            lab(HB, 38, 6.9 if flags else 9.0),
            lab(Analyte.FIBRINOGEN, 38, 90),
            lab(Analyte.IGG, 30, 350),
            lab(Analyte.FERRITIN, 0, 400),
            lab(Analyte.FERRITIN, 37, 5000),
        ]
        yield record(
            labs,
            gcsf_days=tuple(days(20, 38)) if flags else (),
            crs_periods=(CrsPeriod(on(35), grade=3),) if flags else (),
            anticoagulant_periods=(Period(on(30)),),
            transfusions=tuple(Transfusion(on(d), "platelets") for d in (33, 36, 38)),
            infections=(Infection(on(30), kind="sepsis"),) if flags else None,
            bleeding=None if flags else (),
            stored_stem_cells=STORED_CELLS if flags else (),
            supportive_drugs=() if flags else STANDARD_PROPHYLAXIS,
            disease="B-ALL" if flags else None,
            prior_allo_hct=True if flags else None,
        )


def test_sweep_invariants() -> None:
    settings = RuleSettings(iron_overload_rbc_units=1)
    count = 0
    for patient, day, hook, orders in itertools.product(
        _records(), (3, 16, 38), ("patient-view", "order-select", "order-sign"), ORDERS
    ):
        if hook == "patient-view" and orders:
            continue
        result = run(patient, day, hook, orders, settings)  # type: ignore[arg-type]
        fired = [a.rule_id for a in result.alerts]
        assert len(fired) == len(set(fired))
        keys = [(SEVERITY_RANK[a.severity], a.rule_id) for a in result.alerts]
        assert keys == sorted(keys)
        for alert in result.alerts:
            assert hook in RULES_BY_ID[alert.rule_id].hooks
            assert not set(RULES_BY_ID[alert.rule_id].subsumes) & set(fired)
            assert alert.rationale and alert.recommendation and alert.source
        assert not {m.rule_id for m in result.not_evaluable} & set(fired)
        count += len(fired)
    assert count > 500  # the sweep does reach the rules
