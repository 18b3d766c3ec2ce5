"""M02's day range and current-ANC limit, and M12's IgG age limit, on both sides (issue 21).

M02 (docs/clinical §10, §17 C15; S-HAEM Table 3 / CONS-T3 "G-CSF from day +2", day +5 the
alternative start): prophylactic G-CSF is proposed on days +2 .. +5
(RuleSettings.prophylactic_gcsf_last_day) when CAR-HEMATOTOX is high, no G-CSF since day -7 and
the current ANC is not > 1500/µL. Before issue 21 the last day was caught only by the
integration-tier fixture check.
M12 (§10: IgG < 400 mg/dL; "check IgG at ~day 30 then every 3-6 months"): an IgG up to
RuleSettings.igg_max_age_days = 180 days old (inclusive: evaluation date - 180 days) is read;
older is not current. Before issue 21 the limit was untested.
"""

from __future__ import annotations

import pytest
from rules_helpers import ANC, HT_HIGH, alert, ids, lab, record, run

from icaht.record import Analyte
from icaht.rules import RuleSettings


@pytest.mark.parametrize(("day", "fires"), [(1, False), (2, True), (5, True), (6, False)])
def test_m02_fires_on_days_2_to_5_only(day: int, fires: bool) -> None:
    assert ("M02" in ids(run(record(HT_HIGH), day))) is fires


def test_m02_last_day_follows_the_option() -> None:
    settings = RuleSettings(prophylactic_gcsf_last_day=6)
    assert "M02" in ids(run(record(HT_HIGH), 6, settings=settings))
    assert "M02" not in ids(run(record(HT_HIGH), 7, settings=settings))


@pytest.mark.parametrize(("anc", "fires"), [(1500, True), (1501, False)])
def test_m02_current_anc_1500_is_not_above_1500(anc: float, fires: bool) -> None:
    assert ("M02" in ids(run(record([*HT_HIGH, lab(ANC, 3, anc)]), 3))) is fires


IGG_DAY = 10  # IgG 350 mg/dL (< 400) on day 10; infections known, none active (info card)


@pytest.mark.parametrize(("age_days", "fires"), [(179, True), (180, True), (181, False)])
def test_m12_reads_an_igg_up_to_180_days_old(age_days: int, fires: bool) -> None:
    patient = record([lab(Analyte.IGG, IGG_DAY, 350)], infections=())
    result = run(patient, IGG_DAY + age_days)
    assert ("M12" in ids(result)) is fires
    if fires:
        assert alert(result, "M12").severity == "info"


def test_m12_age_limit_follows_the_option() -> None:
    patient = record([lab(Analyte.IGG, IGG_DAY, 350)], infections=())
    settings = RuleSettings(igg_max_age_days=90)
    assert "M12" in ids(run(patient, IGG_DAY + 90, settings=settings))
    assert "M12" not in ids(run(patient, IGG_DAY + 91, settings=settings))
