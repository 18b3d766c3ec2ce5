"""Synthetic CAR-T cohort: FHIR R4 transaction Bundles, deterministic from a seed.

`generate_cohort(n, seed, anchor)` draws, for every patient, a course (quick / intermittent /
aplastic), sometimes an edge case and some messy records, then writes a transaction Bundle with
the Patient, lymphodepletion (fludarabine + cyclophosphamide) and CAR-T infusion records, G-CSF
administrations and transfusions where the course needs them, and the lab Observations (LOINC,
UCUM) on a realistic sampling schedule. Every entry is a PUT with a deterministic id, so loading
the same cohort twice leaves the server as it was.

`anchor` is the "today" of the cohort: completed courses lie before it, ongoing ones end on it.
Nothing here reads the clock.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fhir_mappings.tables import LOINC
from icaht_demo.synthetic import codes
from icaht_demo.synthetic.courses import (
    BASELINE_DAYS,
    CHEMISTRY_DAYS,
    CoursePlan,
    CrsPlan,
    assign_messy,
    design_anc,
    design_platelets,
    draw_course,
    draw_edge,
)

Resource = dict[str, Any]
CENTRE_TZ = ZoneInfo("Europe/Berlin")
DEFAULT_ANCHOR = date(2026, 6, 1)
HB_G_PER_DL_TO_MMOL_PER_L = 0.6206  # docs/clinical/11-codes-and-units.md §11.3 (Hb monomer basis)

GIVEN = ("Alex", "Sam", "Robin", "Kim", "Jo", "Chris", "Mika", "Noa", "Toni", "Luca")
FAMILY = ("Synthetic", "Example", "Testpatient", "Demo", "Sample")

# CRS in week 1 and the ferritin course it drives (drawn from a second random stream).
# CRS in about 3 of 4 patients, mostly grade 1-2, onset days 1-4 (S-HIT; Blood Adv 2024;8(20):
# 5346 "new-onset CRS ... rare after 2 weeks"); shares are illustrative, not a source's.
CRS_SHARE = 0.75
CRS_GRADE_WEIGHTS = {1: 55, 2: 35, 3: 8, 4: 2}
# ferritin peak over the day-0 value by CRS grade (peaks with CRS, stays high for weeks, slow
# decline); without CRS a modest rise below 2 x day 0 (illustrative)
FERRITIN_PEAK_FACTOR = {0: (1.1, 1.6), 1: (2.0, 4.0), 2: (3.0, 6.0), 3: (4.0, 10.0), 4: (5.0, 12.0)}
FERRITIN_HALF_LIFE_DAYS = (7.0, 14.0)
FERRITIN_ULN = (300, 400)  # ng/mL, the reference range's upper limit written on each result
# IEC-HS-shaped courses (docs/clinical §17 C13): rare, after a resolved CRS, in week 2-4
IEC_HS_SHARE = 0.02
IEC_HS_DAYS = (14, 24)


@dataclass(frozen=True)
class SyntheticPatient:
    plan: CoursePlan
    bundle: Resource  # a FHIR R4 transaction Bundle

    @property
    def patient_id(self) -> str:
        return self.plan.patient_id

    def resources(self) -> list[Resource]:
        return [e["resource"] for e in self.bundle["entry"]]


def generate_cohort(
    n: int, seed: int = 1, anchor: date = DEFAULT_ANCHOR, ongoing_share: float = 0.15
) -> list[SyntheticPatient]:
    """`n` patients, the same for the same (n, seed, anchor)."""
    return [generate_patient(i, seed, anchor, ongoing_share) for i in range(n)]


def generate_patient(
    index: int, seed: int = 1, anchor: date = DEFAULT_ANCHOR, ongoing_share: float = 0.15
) -> SyntheticPatient:
    rng = random.Random(f"icaht-synthetic:{seed}:{index}")
    plan = _draw_plan(rng, index, seed, anchor, ongoing_share)
    # CRS, ferritin and IEC-HS come from their own stream, so every draw of `rng` (and with it
    # the ANC course, counts and grades of this seed) stays what it was before they existed
    inflammation = random.Random(f"icaht-synthetic-inflammation:{seed}:{index}")
    plan = _draw_inflammation(plan, inflammation)
    # the platelet course (T-ICAHT) from a third stream, for the same reason; it is drawn after
    # the inflammation so that it can leave room for an IEC-HS-shaped course's own cytopenia
    platelets = random.Random(f"icaht-synthetic-platelets:{seed}:{index}")
    plan = replace(plan, platelets=design_platelets(platelets, plan))
    return SyntheticPatient(plan=plan, bundle=_PatientWriter(plan, rng, inflammation).bundle())


def _draw_inflammation(plan: CoursePlan, rng: random.Random) -> CoursePlan:
    """CRS in week 1 for most patients; rarely an IEC-HS-shaped course after a resolved CRS."""
    crs = None
    if rng.random() < CRS_SHARE:
        grade = rng.choices(list(CRS_GRADE_WEIGHTS), weights=list(CRS_GRADE_WEIGHTS.values()))[0]
        onset = rng.randint(1, 4)
        end: int | None = onset + rng.randint(1, 3 + grade)  # 2 to 4 + grade days
        if onset <= plan.last_lab_day:
            if end is not None and end > plan.last_lab_day:
                end = None  # still active on the anchor date: an open Condition
            crs = CrsPlan(onset, end, grade)
    iec_hs_day = None
    eligible = (
        crs is not None
        and crs.end is not None
        and plan.edge is None
        and not plan.ongoing
        and plan.course != "aplastic"
    )
    if rng.random() < IEC_HS_SHARE and eligible and crs is not None and crs.end is not None:
        iec_hs_day = rng.randint(max(IEC_HS_DAYS[0], crs.end + 6), IEC_HS_DAYS[1])
    return replace(plan, crs=crs, iec_hs_day=iec_hs_day)


def _draw_plan(
    rng: random.Random, index: int, seed: int, anchor: date, ongoing_share: float
) -> CoursePlan:
    edge = draw_edge(index)
    course = draw_course(rng, edge)
    ongoing = edge is None and rng.random() < ongoing_share
    if ongoing:
        days_since_infusion = rng.randint(3, 26)
        last_lab_day = days_since_infusion
    else:
        days_since_infusion = rng.randint(110, 400)
        last_lab_day = 30 if edge == "no-labs-after-day-30" else 98
    anc, start, severe, profound, persists, death, relapse = design_anc(
        rng, course, edge, last_lab_day
    )
    if death is not None:
        course, last_lab_day = "aplastic", death
    messy = assign_messy(index, severe)
    if "anc-less-than" in messy and profound == 0:
        profound = 1  # the "<0.1 10*3/uL" day becomes the one profound day
    return CoursePlan(
        patient_id=f"icaht-s{seed}-p{index:03d}",
        index=index,
        course=course,
        edge=edge,
        day0=anchor - timedelta(days=days_since_infusion),
        product=rng.choice(codes.CART_PRODUCTS),
        ongoing=ongoing,
        severe_start=start,
        severe_days=severe,
        profound_days=profound,
        persists_past_day_30=persists,
        death_day=death,
        relapse_day=relapse,
        last_lab_day=last_lab_day,
        messy=messy,
        anc=anc,
        gcsf_days=_gcsf_days(rng, course, start, severe, last_lab_day),
    )


def _gcsf_days(
    rng: random.Random, course: str, start: int | None, severe: int, last_day: int
) -> tuple[int, ...]:
    if course == "aplastic":
        first = 7
        return tuple(range(first, min(last_day, first + 14) + 1))
    if course == "intermittent" and start is not None and rng.random() < 0.5:
        return tuple(range(start + 2, min(last_day, start + severe) + 1))
    if course == "quick" and rng.random() < 0.2:
        return tuple(range(2, min(last_day, 6) + 1))  # prophylactic from day +2
    return ()


class _PatientWriter:
    """Turns one plan into FHIR resources; keeps the counters that make ids deterministic."""

    def __init__(self, plan: CoursePlan, rng: random.Random, inflammation: random.Random) -> None:
        self.plan = plan
        self.rng = rng
        self.inflammation = inflammation
        self.pid = plan.patient_id
        self.entries: list[Resource] = []
        self.serial = 0
        self.blood: _BloodCounts | None = None
        self.chemistry_days: set[int] = set()

    def bundle(self) -> Resource:
        self._patient()
        self._lymphodepletion()
        self._infusion()
        self._labs()
        self._gcsf()
        self._relapse()
        # written last: the ids of every earlier resource stay as they were without them
        self._crs()
        self._iec_hs_workup()
        return {"resourceType": "Bundle", "type": "transaction", "entry": self.entries}

    # -- helpers -------------------------------------------------------------------------
    def _add(self, resource: Resource) -> None:
        url = f"{resource['resourceType']}/{resource['id']}"
        self.entries.append(
            {"fullUrl": url, "resource": resource, "request": {"method": "PUT", "url": url}}
        )

    def _next_id(self, prefix: str) -> str:
        self.serial += 1
        return f"{self.pid}-{prefix}{self.serial:04d}"

    def _moment(self, day: int, at: time) -> str:
        local = datetime.combine(self.plan.date_of(day), at, tzinfo=CENTRE_TZ)
        return local.isoformat()

    def _subject(self) -> Resource:
        return {"reference": f"Patient/{self.pid}"}

    # -- resources -----------------------------------------------------------------------
    def _patient(self) -> None:
        plan = self.plan
        patient: Resource = {
            "resourceType": "Patient",
            "id": self.pid,
            "identifier": [{"system": "urn:icaht:synthetic:mrn", "value": self.pid.upper()}],
            "name": [
                {
                    "family": self.rng.choice(FAMILY),
                    "given": [self.rng.choice(GIVEN)],
                    "text": "synthetic patient",
                }
            ],
            "gender": self.rng.choice(("female", "male")),
            "birthDate": (plan.day0 - timedelta(days=365 * self.rng.randint(25, 78))).isoformat(),
        }
        if plan.death_day is not None:
            patient["deceasedDateTime"] = self._moment(plan.death_day, time(22, 15))
        self._add(patient)

    def _lymphodepletion(self) -> None:
        for day in (-5, -4, -3):
            for code, display, dose in (
                (*codes.FLUDARABINE_RXNORM, 30.0),
                (*codes.CYCLOPHOSPHAMIDE_RXNORM, 500.0),
            ):
                self._medication(day, (code, display), dose, ("mg/m2", "{m2}"))

    def _medication(
        self, day: int, drug: tuple[str, str], dose: float, unit: tuple[str, str]
    ) -> None:
        code, display = drug
        unit_text, ucum = unit
        self._add(
            {
                "resourceType": "MedicationAdministration",
                "id": self._next_id("med"),
                "status": "completed",
                "medicationCodeableConcept": {
                    "coding": [{"system": codes.RXNORM, "code": code, "display": display}],
                    "text": display,
                },
                "subject": self._subject(),
                "effectiveDateTime": self._moment(day, time(9, 0)),
                "dosage": {
                    "dose": {"value": dose, "unit": unit_text, "system": codes.UCUM, "code": ucum}
                },
            }
        )

    def _infusion(self) -> None:
        product = self.plan.product
        infusion = car_t_infusion(self.pid, self._subject(), self._moment(0, time(10, 30)), product)
        self._add(infusion | {"note": [{"text": f"Product: {product}"}]})

    def _gcsf(self) -> None:
        for day in self.plan.gcsf_days:
            self._medication(day, codes.FILGRASTIM_RXNORM, 5.0, ("ug/kg", "ug/kg"))

    def _relapse(self) -> None:
        if self.plan.relapse_day is None:
            return
        code, display = codes.RELAPSE_SNOMED
        self._add(
            {
                "resourceType": "Condition",
                "id": f"{self.pid}-relapse",
                "clinicalStatus": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                            "code": "active",
                        }
                    ]
                },
                "verificationStatus": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                            "code": "confirmed",
                        }
                    ]
                },
                "code": {"coding": [{"system": codes.SNOMED, "code": code, "display": display}]},
                "subject": self._subject(),
                "onsetDateTime": self._moment(self.plan.relapse_day, time(12, 0)),
            }
        )

    def _crs(self) -> None:
        crs = self.plan.crs
        if crs is None:
            return
        code, display = codes.CRS_ICD10CM[crs.grade]
        status = "active" if crs.end is None else "resolved"
        condition: Resource = {
            "resourceType": "Condition",
            "id": f"{self.pid}-crs",
            "clinicalStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                        "code": status,
                    }
                ]
            },
            "code": {
                "coding": [{"system": codes.ICD10CM, "code": code, "display": display}],
                "text": display,
            },
            "subject": self._subject(),
            "onsetDateTime": self._moment(crs.onset, time(18, 0)),
        }
        if crs.end is not None:
            condition["abatementDateTime"] = self._moment(crs.end, time(12, 0))
        self._add(condition)

    def _iec_hs_workup(self) -> None:
        """The labs drawn while IEC-HS is suspected: daily ferritin, platelets and fibrinogen
        on the days around the event that the routine schedule does not cover."""
        assert self.blood is not None
        event = self.plan.iec_hs_day
        if event is None:
            return
        written = self.chemistry_days
        at = time(6, 0)
        for day in range(event - 2, event + 1):
            if day not in written:
                self._ferritin(day, at, self.blood.ferritin_on(day))
                self._lab(day, at, "fibrinogen", self.blood.fibrinogen_on(day, 300.0))
        if event not in self.plan.anc:
            self._lab(event, at, "platelets", self.blood.iec_hs_platelets(event, 100.0))

    def _ferritin(self, day: int, at: time, value: float) -> None:
        obs = self._lab(day, at, "ferritin", value)
        assert self.blood is not None
        obs["referenceRange"] = [
            {"high": _quantity(self.blood.ferritin_uln, codes.LAB_CODES["ferritin"][2])}
        ]

    def _labs(self) -> None:
        blood = _BloodCounts(self.plan, self.rng, self.inflammation)
        self.blood = blood
        for day in self.plan.sampled_days():
            at = time(6, self.rng.randrange(0, 60, 5))
            anc = self.plan.anc[day]
            self._anc(day, at, anc)
            pct = self.rng.uniform(45, 75) if anc > 1500 else self.rng.uniform(5, 40)
            wbc = anc / (pct / 100) / 1000
            self._lab(day, at, "wbc", round(wbc, 2))
            self._lab(day, at, "neutrophil_percent", round(pct, 1))
            platelets, hb = blood.on(day)
            self._platelets(day, at, platelets)
            self._hemoglobin(day, at, hb)
            self._crp(day, at, blood.crp(day))
            if day in CHEMISTRY_DAYS or day == self.plan.last_lab_day:
                self.chemistry_days.add(day)
                for analyte, value in blood.chemistry(day).items():
                    if analyte == "ferritin":
                        self._ferritin(day, at, value)
                    else:
                        self._lab(day, at, analyte, value)
        for day in blood.platelet_transfusions:
            self._transfusion(day, codes.PLATELET_TRANSFUSION_PCS)
        for day in blood.rbc_transfusions:
            self._transfusion(day, codes.RBC_TRANSFUSION_PCS)
        self._messy_extras()

    def _observation(
        self, day: int, at: time, analyte: str, quantity: Resource, status: str = "final"
    ) -> Resource:
        code, display, _ = codes.LAB_CODES[analyte]
        obs: Resource = {
            "resourceType": "Observation",
            "id": self._next_id("obs"),
            "status": status,
            "category": [{"coding": [{"system": codes.OBS_CATEGORY, "code": "laboratory"}]}],
            "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
            "subject": self._subject(),
            "effectiveDateTime": self._moment(day, at),
            "valueQuantity": quantity,
        }
        self._add(obs)
        return obs

    def _lab(
        self, day: int, at: time, analyte: str, value: float, unit: str | None = None
    ) -> Resource:
        ucum = unit or codes.LAB_CODES[analyte][2]
        return self._observation(day, at, analyte, _quantity(value, ucum))

    def _anc(self, day: int, at: time, anc: float) -> None:
        messy = self.plan.messy
        if "anc-less-than" in messy and day == self._less_than_day():
            quantity = _quantity(0.1, "10*3/uL") | {"comparator": "<"}
            self._observation(day, at, "anc", quantity)
            return
        if "anc-10*3/uL" in messy:
            obs = self._lab(day, at, "anc", round(anc / 1000, 3), "10*3/uL")
        else:
            obs = self._lab(day, at, "anc", anc)
        if "duplicate" in messy and day == 0:
            duplicate = dict(obs, id=self._next_id("dup"))
            self._add(duplicate)

    def _less_than_day(self) -> int | None:
        plan = self.plan
        profound = [d for d in plan.sampled_days() if d >= 0 and plan.anc[d] <= 100]
        severe = [d for d in plan.sampled_days() if d >= 0 and plan.anc[d] <= 500]
        candidates = profound or severe
        return candidates[0] if candidates else None

    def _platelets(self, day: int, at: time, value: float) -> None:
        obs = self._lab(day, at, "platelets", value)
        if "no-unit" in self.plan.messy and day == 1:
            obs["valueQuantity"] = {"value": value}

    def _hemoglobin(self, day: int, at: time, g_per_dl: float) -> None:
        if "hb-mmol-per-l" in self.plan.messy:
            self._lab(
                day, at, "hemoglobin", round(g_per_dl * HB_G_PER_DL_TO_MMOL_PER_L, 1), "mmol/L"
            )
        else:
            self._lab(day, at, "hemoglobin", g_per_dl)

    def _crp(self, day: int, at: time, mg_per_l: float) -> None:
        if "crp-mg-per-dl" in self.plan.messy:
            self._lab(day, at, "crp", round(mg_per_l / 10, 2), "mg/dL")
        else:
            self._lab(day, at, "crp", mg_per_l)

    def _messy_extras(self) -> None:
        if "entered-in-error" not in self.plan.messy:
            return
        # a spurious low ANC just after the episode: counted, it would bridge and lengthen it
        sampled = [d for d in self.plan.sampled_days() if d >= 0]
        severe = [d for d in sampled if self.plan.anc[d] <= 500]
        # a quick course may have no severe day: counted, the value would invent an episode
        anchor = max(severe) if severe else min(sampled, key=lambda d: self.plan.anc[d])
        after = [d for d in sampled if d > anchor]
        day = (after[1:] or after or [anchor])[0]
        self._observation(day, time(14, 0), "anc", _quantity(80.0, "/uL"), "entered-in-error")

    def _transfusion(self, day: int, code_display: tuple[str, str]) -> None:
        code, display = code_display
        self._add(
            {
                "resourceType": "Procedure",
                "id": self._next_id("tx"),
                "status": "completed",
                "code": {
                    "coding": [{"system": codes.ICD10PCS, "code": code, "display": display}],
                    "text": f"{display} (irradiated)",
                },
                "subject": self._subject(),
                "performedDateTime": self._moment(day, time(13, 0)),
            }
        )


def car_t_infusion(pid: str, subject: Resource, when: str, product: str) -> Resource:
    """The CAR-T infusion on day 0: a completed Procedure, CPT 38228 (codes.py), product named."""
    code, display = codes.CART_ADMINISTRATION_CPT
    return {
        "resourceType": "Procedure",
        "id": f"{pid}-cart-infusion",
        "status": "completed",
        "category": {"text": "CAR T-cell therapy"},
        "code": {
            "coding": [{"system": codes.CPT, "code": code, "display": display}],
            "text": f"CAR-T cell infusion: {product}",
        },
        "subject": subject,
        "performedDateTime": when,
    }


def _quantity(value: float, ucum: str) -> Resource:
    return {"value": value, "unit": ucum, "system": codes.UCUM, "code": ucum}


class _BloodCounts:
    """Platelets, hemoglobin and chemistry consistent with the course; transfusion days."""

    def __init__(self, plan: CoursePlan, rng: random.Random, inflammation: random.Random) -> None:
        self.plan = plan
        self.rng = rng
        self.inflammation = inflammation
        self.platelets = float(rng.randrange(60, 321))
        self.hb = round(rng.uniform(8.5, 13.5), 1)
        depth = {"quick": (0.5, 0.8), "intermittent": (0.3, 0.6), "aplastic": (0.03, 0.15)}
        self.platelet_floor = max(4.0, self.platelets * rng.uniform(*depth[plan.course]))
        self.crp_peak_day = rng.randint(1, 4)
        self.crp_peak = rng.uniform(40, 200)
        self.ferritin = rng.uniform(150, 2500)  # pre-infusion value (CAR-HEMATOTOX baseline)
        self.platelet_transfusions: list[int] = []
        self.rbc_transfusions: list[int] = []
        self._draw_ferritin_course()

    def _draw_ferritin_course(self) -> None:
        """Ferritin after day 0 from the second stream: near the pre-infusion value until CRS,
        a peak with CRS in week 1, then a slow decline over weeks to a plateau."""
        r, crs = self.inflammation, self.plan.crs
        self.ferritin_uln = float(r.randint(*FERRITIN_ULN))
        self.ferritin_day0 = self.ferritin * r.uniform(0.9, 1.3)
        grade = crs.grade if crs is not None else 0
        self.ferritin_peak = self.ferritin_day0 * r.uniform(*FERRITIN_PEAK_FACTOR[grade])
        if crs is not None:
            self.rise_from = crs.onset
            last = crs.end if crs.end is not None else crs.onset + 3
            self.peak_day = min(last, crs.onset + r.randint(1, 3))
        else:
            self.rise_from, self.peak_day = 1, r.randint(3, 7)
        self.half_life = r.uniform(*FERRITIN_HALF_LIFE_DAYS)
        self.plateau = self.ferritin_day0 * r.uniform(0.9, 1.5)
        # IEC-HS: from the value 2 days before the event, x 1.4-1.9 the next day and
        # x 2.5-5 on the event day (>= 2-fold within 48 h), then a slow fall
        self.iec_hs_steps = (r.uniform(1.4, 1.9), r.uniform(2.5, 5.0))

    def _ordinary_ferritin(self, day: int) -> float:
        if day <= self.rise_from:
            return self.ferritin_day0
        if day <= self.peak_day:
            share = (day - self.rise_from) / (self.peak_day - self.rise_from)
            return self.ferritin_day0 * math.pow(self.ferritin_peak / self.ferritin_day0, share)
        decay = math.pow(0.5, (day - self.peak_day) / self.half_life)
        return self.plateau + (self.ferritin_peak - self.plateau) * decay

    def ferritin_on(self, day: int) -> float:
        """ng/mL on a day >= 0, with +-5 % measurement noise (never a 2-fold step by itself)."""
        event = self.plan.iec_hs_day
        if event is not None and day >= event - 1:
            trough = self._ordinary_ferritin(event - 2)
            first, second = self.iec_hs_steps
            step = first if day == event - 1 else second * math.pow(0.93, day - event)
            value = trough * step
        else:
            value = self._ordinary_ferritin(day)
        return float(round(value * self.inflammation.uniform(0.95, 1.05)))

    def _in_iec_hs(self, day: int) -> bool:
        event = self.plan.iec_hs_day
        return event is not None and event <= day <= event + 10

    def iec_hs_platelets(self, day: int, platelets: float) -> float:
        """A new cytopenia: platelets < 20 x10^9/L from the event (kept >= 11, no transfusion)."""
        if not self._in_iec_hs(day):
            return platelets
        return float(min(platelets, round(self.inflammation.uniform(11, 19))))

    def fibrinogen_on(self, day: int, drawn: float) -> float:
        """Falling fibrinogen in an IEC-HS-shaped course: < 150 mg/dL from the event on."""
        if self._in_iec_hs(day):
            return float(round(self.inflammation.uniform(80, 140)))
        event = self.plan.iec_hs_day
        if event is not None and day == event - 1:
            return float(round(self.inflammation.uniform(155, 220)))
        return drawn

    def on(self, day: int) -> tuple[float, float]:
        if day < 0:
            return float(round(self.platelets)), self.hb
        falling = min(1.0, day / 10)
        recovering = (
            max(0.0, (day - 30) / 60)
            if self.plan.course == "aplastic"
            else max(0.0, (day - 14) / 20)
        )
        level = self.platelets - (self.platelets - self.platelet_floor) * falling
        level += (self.platelets - level) * min(1.0, recovering)
        # the draw of `rng` stays (every later draw of this seed keeps its value); after day 0
        # the designed platelet course (CoursePlan.platelets, its own stream) replaces it
        drawn = max(2.0, level * self.rng.uniform(0.9, 1.1))
        designed = self.plan.platelets
        if designed is not None and day in designed.values:
            drawn = designed.values[day]
        platelets = self.iec_hs_platelets(day, drawn)
        if platelets < 10:
            self.platelet_transfusions.append(day)
        hb = self.hb - (2.5 if self.plan.course == "aplastic" else 1.2) * falling * (
            1 - min(1.0, recovering)
        )
        hb = round(max(6.2, hb + self.rng.uniform(-0.3, 0.3)), 1)
        if hb < 7.0:
            self.rbc_transfusions.append(day)
        return float(round(platelets)), hb

    def crp(self, day: int) -> float:
        if day < 0:
            return round(self.rng.uniform(2, 25), 1)
        distance = abs(day - self.crp_peak_day)
        return round(max(1.0, self.crp_peak * (0.6**distance)) + self.rng.uniform(0, 3), 1)

    def chemistry(self, day: int) -> dict[str, float]:
        # the draws of `rng` below stay in their order (ferritin never drew from it)
        values = {
            "ferritin": round(self.ferritin, 0) if day < 0 else self.ferritin_on(day),
            "ldh": round(self.rng.uniform(180, 600), 0),
            "creatinine": round(self.rng.uniform(0.6, 1.4), 2),
            "fibrinogen": self.fibrinogen_on(day, round(self.rng.uniform(180, 450), 0)),
            "alt": round(self.rng.uniform(12, 60), 0),
            "ast": round(self.rng.uniform(12, 60), 0),
            "triglycerides": round(self.rng.uniform(90, 250), 0),
        }
        return values


__all__ = [
    "BASELINE_DAYS",
    "DEFAULT_ANCHOR",
    "CoursePlan",
    "CrsPlan",
    "SyntheticPatient",
    "generate_cohort",
    "generate_patient",
]
