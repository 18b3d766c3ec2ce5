"""M15's "2 or more platelet units in a 7-day timespan" on both sides (issue 21).

docs/clinical §10 M15 (S-HAEM Table 3): day > 30 and >= 2 platelet units within 7 days.
RuleSettings.tpo_ra_window_days = 7 is read as the evaluation day and the 6 days before it
(d-6 .. d, 7 calendar days). The existing tests held units 2 and 7 days apart only, so a
6-day window passed them.
"""

from __future__ import annotations

import pytest
from rules_helpers import ids, on, record, run

from icaht.record import Transfusion


def platelet_units(*study_days: int) -> tuple[Transfusion, ...]:
    return tuple(
        Transfusion(on(d), "platelets", source_id=f"Procedure/plt-{d}") for d in study_days
    )


@pytest.mark.parametrize(("first_unit_day", "fires"), [(29, True), (28, False)])
def test_units_on_day_d_minus_6_count_d_minus_7_do_not(first_unit_day: int, fires: bool) -> None:
    patient = record(transfusions=platelet_units(first_unit_day, 35))
    assert ("M15" in ids(run(patient, 35))) is fires
