"""IEC-HS screening rule (clinical-rules §9.1, proposed; screening only)."""

from __future__ import annotations

from engine_helpers import DAY0, lab

from icaht import screen_iec_hs
from icaht.record import Analyte, CarTInfusion, LabValue, PatientRecord, TherapyTimeline

F = Analyte.FERRITIN


def record(*labs: LabValue) -> PatientRecord:
    return PatientRecord("p", labs, TherapyTimeline(infusions=(CarTInfusion(day0=DAY0),)))


def test_ferritin_above_twice_day0_with_low_fibrinogen_is_positive() -> None:
    screen = screen_iec_hs(
        record(lab(0, 1000, F), lab(10, 2500, F), lab(11, 120, Analyte.FIBRINOGEN)), DAY0
    )
    assert screen.positive is True
    assert screen.ferritin_findings[0].value == 2500
    assert "not a diagnosis" in screen.note.lower()


def test_ferritin_exactly_twice_day0_is_not_a_finding() -> None:
    screen = screen_iec_hs(
        record(lab(0, 1000, F), lab(10, 2000, F), lab(11, 120, Analyte.FIBRINOGEN)), DAY0
    )
    assert screen.ferritin_findings == ()
    assert screen.positive is False


def test_ferritin_without_associated_finding_is_negative() -> None:
    screen = screen_iec_hs(record(lab(0, 1000, F), lab(10, 5000, F)), DAY0)
    assert len(screen.ferritin_findings) == 1
    assert screen.positive is False


def test_ferritin_above_twice_uln() -> None:
    screen = screen_iec_hs(
        record(lab(5, 900, F, reference_high=400), lab(6, 300, Analyte.TRIGLYCERIDES)), DAY0
    )
    assert screen.positive is True


def test_rapid_rise_within_48h() -> None:
    labs = (lab(8, 3000, F), lab(10, 6000, F), lab(10, 140, Analyte.FIBRINOGEN))
    screen = screen_iec_hs(record(*labs), DAY0)
    assert [f.criterion for f in screen.ferritin_findings] == [
        "ferritin rose >= 2-fold within 48 h"
    ]
    assert screen.positive is True


def test_fibrinogen_exactly_150_is_not_a_finding() -> None:
    screen = screen_iec_hs(
        record(lab(0, 1000, F), lab(10, 5000, F), lab(11, 150, Analyte.FIBRINOGEN)), DAY0
    )
    assert screen.positive is False


def test_new_grade3_cytopenia_after_day_7() -> None:
    labs = (
        lab(0, 1000, F),
        lab(12, 5000, F),
        lab(3, 80, Analyte.PLATELETS),
        lab(12, 40, Analyte.PLATELETS),
    )
    screen = screen_iec_hs(record(*labs), DAY0)
    assert screen.positive is True
    assert screen.associated_findings[0].analyte is Analyte.PLATELETS


def test_cytopenia_on_day_7_does_not_count() -> None:
    labs = (
        lab(0, 1000, F),
        lab(7, 5000, F),
        lab(3, 80, Analyte.PLATELETS),
        lab(7, 40, Analyte.PLATELETS),
    )
    assert screen_iec_hs(record(*labs), DAY0).positive is False


def test_transaminases_need_uln() -> None:
    labs = (lab(0, 1000, F), lab(10, 5000, F), lab(10, 900, Analyte.ALT))
    screen = screen_iec_hs(record(*labs), DAY0)
    assert screen.positive is False
    assert screen.not_assessable
    with_uln = (lab(0, 1000, F), lab(10, 5000, F), lab(10, 251, Analyte.ALT, reference_high=50))
    assert screen_iec_hs(record(*with_uln), DAY0).positive is True


def test_association_window() -> None:
    labs = (lab(0, 1000, F), lab(10, 5000, F), lab(18, 120, Analyte.FIBRINOGEN))
    assert screen_iec_hs(record(*labs), DAY0).positive is False
    assert screen_iec_hs(record(*labs), DAY0, association_days=8).positive is True


def test_values_after_evaluation_date_ignored() -> None:
    labs = (lab(0, 1000, F), lab(10, 5000, F), lab(11, 120, Analyte.FIBRINOGEN))
    assert screen_iec_hs(record(*labs), DAY0, evaluation_date=labs[1].day).positive is False
