"""Messy input never crashes the mapping and every Observation is accounted for."""

from __future__ import annotations

from typing import Any, get_args

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhir_mappings import map_draft_orders, map_patient
from fhir_mappings.settings import default_mapping_settings
from icaht.record import Analyte, TherapyTimeline
from icaht.rules.model import OrderKind

JUNK = st.one_of(st.none(), st.integers(), st.text(max_size=5), st.booleans(), st.just([]))
CODES = st.sampled_from(
    [
        "751-8",
        "6690-2",
        "770-8",
        "769-0",
        "764-1",
        "777-3",
        "718-7",
        "59260-0",
        "1988-5",
        "76485-2",
        "16859-1",
        "8867-4",
    ]
)
UNITS = st.sampled_from(
    [
        "10*3/uL",
        "10*9/L",
        "/uL",
        "K/uL",
        "G/L",
        "%",
        "g/dL",
        "g/L",
        "mmol/L",
        "mg/L",
        "mg/dL",
        "nmol/L",
        "foo",
        "",
    ]
)
TIMES = st.sampled_from(
    [
        "2026-03-01T23:30:00-05:00",
        "2026-03-02",
        "2026-03",
        "2026-03-02T07:00:00Z",
        "2026-03-02T07:00:00",
        "garbage",
    ]
)


@st.composite
def observation(draw: st.DrawFn) -> dict[str, Any]:
    obs: dict[str, Any] = {"resourceType": "Observation", "id": draw(st.sampled_from("abcdefgh"))}
    obs["status"] = draw(
        st.one_of(
            st.sampled_from(
                ["final", "amended", "corrected", "preliminary", "entered-in-error", "cancelled"]
            ),
            JUNK,
        )
    )
    obs["code"] = draw(
        st.one_of(
            st.builds(lambda c: {"coding": [{"system": "http://loinc.org", "code": c}]}, CODES),
            JUNK,
        )
    )
    if draw(st.booleans()):
        obs["effectiveDateTime"] = draw(st.one_of(TIMES, JUNK))
    if draw(st.booleans()):
        obs["valueQuantity"] = draw(
            st.one_of(
                st.fixed_dictionaries(
                    {
                        "value": st.one_of(
                            st.floats(-1e6, 1e6, allow_nan=False), st.integers(-5, 5000), JUNK
                        ),
                        "unit": UNITS,
                        "comparator": st.sampled_from(["<", "<=", ">", ">=", "~"]),
                    }
                ),
                JUNK,
            )
        )
    for key in ("specimen", "referenceRange", "meta", "hasMember", "issued"):
        if draw(st.booleans()):
            obs[key] = draw(JUNK)
    return obs


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(observation(), max_size=12))
def test_messy_observations(observations: list[dict[str, Any]]) -> None:
    result = map_patient(observations, patient_id="p", tz="America/New_York")
    limits = default_mapping_settings().limits
    for lab in result.record.labs:
        lim = limits[lab.analyte.value]
        assert lim.low <= lab.value <= lim.high
        assert isinstance(lab.analyte, Analyte)
    ids = {f"Observation/{o['id']}" for o in observations}
    used = {s for lab in result.record.labs for s in (lab.source_id or "").split(",")}
    dropped = {lo.resource_id for lo in result.left_out}
    assert ids <= used | dropped | {lo.resource_id for lo in result.left_out}
    assert ids == (used | dropped) & ids


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.one_of(
            JUNK,
            st.dictionaries(
                st.sampled_from(["resourceType", "entry", "status", "code", "contained", "result"]),
                JUNK,
            ),
        ),
        max_size=6,
    )
)
def test_junk_containers(items: list[Any]) -> None:
    """Junk where resources or Bundles belong: no crash, and nothing is made of it (no
    resourceType here names a real resource: junk text is at most 5 characters)."""
    result = map_patient(items, patient_id="p")
    assert result.record.labs == ()
    assert_nothing_made_of_junk(result.record.timeline)


RESOURCE_TYPES = st.sampled_from(
    [
        "Procedure",
        "MedicationAdministration",
        "MedicationRequest",
        "MedicationStatement",
        "Condition",
        "Patient",
        "Medication",
        "ServiceRequest",
        "DiagnosticReport",
        "Bundle",
    ]
)
FIELDS = st.sampled_from(
    [
        "status",
        "code",
        "medicationCodeableConcept",
        "medicationReference",
        "effectiveDateTime",
        "effectivePeriod",
        "performedDateTime",
        "onsetDateTime",
        "abatementDateTime",
        "verificationStatus",
        "clinicalStatus",
        "deceasedDateTime",
        "deceasedBoolean",
        "dosageInstruction",
        "authoredOn",
        "ingredient",
        "contained",
        "result",
        "entry",
        "note",
        "orderDetail",
        "intent",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.builds(
            lambda rtype, fields: {"resourceType": rtype, "id": "x", **fields},
            RESOURCE_TYPES,
            st.dictionaries(FIELDS, st.one_of(JUNK, st.dictionaries(FIELDS, JUNK, max_size=2))),
        ),
        max_size=8,
    )
)
def test_messy_therapy_and_orders(resources: list[dict[str, Any]]) -> None:
    """Therapy and order resources whose fields are junk: no crash; no code can be read from
    them, so there is no day 0 (no CAR-T infusion) nor anything else on the timeline, and every
    request resource gives exactly one draft order, of a known kind: "other"."""
    result = map_patient(resources, patient_id="p", tz="Europe/Berlin")
    assert result.record.labs == ()
    assert_nothing_made_of_junk(result.record.timeline)
    orders = map_draft_orders(resources)
    requests = [r for r in resources if r["resourceType"].endswith("Request")]
    assert len(orders) == len(requests)
    assert {order.kind for order in orders} <= set(get_args(OrderKind))
    assert all(order.kind == "other" for order in orders), orders


def assert_nothing_made_of_junk(timeline: TherapyTimeline) -> None:
    assert timeline.day0 is None  # no day 0 without a CAR-T code
    assert timeline.infusions == ()
    assert timeline.planned_infusion is None
    assert timeline.preparation is None
    assert timeline.lymphodepletion_start is None
    # no code: no drug, transfusion, CRS, infection or disease either
    assert timeline.gcsf_exposures == timeline.transfusions == timeline.crs_periods == ()
    assert timeline.supportive_drugs == timeline.anticoagulant_periods == ()
    assert not timeline.infections
    assert timeline.disease is None


def test_resources_of_another_patient_are_left_out_with_their_reason() -> None:
    """Issue 13 finding 10: a prefetch holding another patient's data must not be graded."""
    own = {"resourceType": "Observation", "id": "mine", "subject": {"reference": "Patient/p1"}}
    other = {
        "resourceType": "Observation",
        "id": "theirs",
        "subject": {"reference": "https://ehr.example/fhir/Patient/p2/_history/3"},
    }
    theirs_patient = {"resourceType": "Patient", "id": "p2", "deceasedDateTime": "2026-01-01"}
    procedure = {"resourceType": "Procedure", "id": "x", "subject": {"reference": "Patient/p2"}}
    unknown_owner = {"resourceType": "Procedure", "id": "y", "subject": {"reference": "urn:uuid:1"}}
    result = map_patient([own, other, theirs_patient, procedure, unknown_owner], patient_id="p1")
    other_patient = sorted(i.resource_id for i in result.left_out if i.reason == "other-patient")
    assert other_patient == ["Observation/theirs", "Patient/p2", "Procedure/x"]
    assert result.record.timeline.death_day is None
