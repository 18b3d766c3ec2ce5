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

import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cds_service.synthetic import codes
from cds_service.synthetic.courses import (
    BASELINE_DAYS,
    CHEMISTRY_DAYS,
    CoursePlan,
    assign_messy,
    design_anc,
    draw_course,
    draw_edge,
)

Resource = dict[str, Any]
CENTRE_TZ = ZoneInfo("Europe/Berlin")
DEFAULT_ANCHOR = date(2026, 6, 1)
HB_G_PER_DL_TO_MMOL_PER_L = 0.6206  # clinical-rules.md 11.3 (Hb monomer basis)

GIVEN = ("Alex", "Sam", "Robin", "Kim", "Jo", "Chris", "Mika", "Noa", "Toni", "Luca")
FAMILY = ("Synthetic", "Example", "Testpatient", "Demo", "Sample")


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
    return SyntheticPatient(plan=plan, bundle=_PatientWriter(plan, rng).bundle())


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
    messy = assign_messy(index, course, severe)
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

    def __init__(self, plan: CoursePlan, rng: random.Random) -> None:
        self.plan = plan
        self.rng = rng
        self.pid = plan.patient_id
        self.entries: list[Resource] = []
        self.serial = 0

    def bundle(self) -> Resource:
        self._patient()
        self._lymphodepletion()
        self._infusion()
        self._labs()
        self._gcsf()
        self._relapse()
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
        code, display = codes.CART_ADMINISTRATION_CPT
        self._add(
            {
                "resourceType": "Procedure",
                "id": f"{self.pid}-cart-infusion",
                "status": "completed",
                "category": {"text": "CAR T-cell therapy"},
                "code": {
                    "coding": [{"system": codes.CPT, "code": code, "display": display}],
                    "text": f"CAR-T cell infusion: {self.plan.product}",
                },
                "subject": self._subject(),
                "performedDateTime": self._moment(0, time(10, 30)),
                "note": [{"text": f"Product: {self.plan.product}"}],
            }
        )

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

    def _labs(self) -> None:
        blood = _BloodCounts(self.plan, self.rng)
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
                for analyte, value in blood.chemistry(day).items():
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
            "code": {"coding": [{"system": codes.LOINC, "code": code, "display": display}]},
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


def _quantity(value: float, ucum: str) -> Resource:
    return {"value": value, "unit": ucum, "system": codes.UCUM, "code": ucum}


class _BloodCounts:
    """Platelets, hemoglobin and chemistry consistent with the course; transfusion days."""

    def __init__(self, plan: CoursePlan, rng: random.Random) -> None:
        self.plan = plan
        self.rng = rng
        self.platelets = float(rng.randrange(60, 321))
        self.hb = round(rng.uniform(8.5, 13.5), 1)
        depth = {"quick": (0.5, 0.8), "intermittent": (0.3, 0.6), "aplastic": (0.03, 0.15)}
        self.platelet_floor = max(4.0, self.platelets * rng.uniform(*depth[plan.course]))
        self.crp_peak_day = rng.randint(1, 4)
        self.crp_peak = rng.uniform(40, 200)
        self.ferritin = rng.uniform(150, 2500)
        self.platelet_transfusions: list[int] = []
        self.rbc_transfusions: list[int] = []

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
        platelets = max(2.0, level * self.rng.uniform(0.9, 1.1))
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
        inflamed = 1.0 + (2.0 if 0 <= day <= 10 else 0.3)
        return {
            "ferritin": round(self.ferritin * (inflamed if day >= 0 else 1.0), 0),
            "ldh": round(self.rng.uniform(180, 600), 0),
            "creatinine": round(self.rng.uniform(0.6, 1.4), 2),
            "fibrinogen": round(self.rng.uniform(180, 450), 0),
            "alt": round(self.rng.uniform(12, 60), 0),
            "ast": round(self.rng.uniform(12, 60), 0),
            "triglycerides": round(self.rng.uniform(90, 250), 0),
        }


__all__ = [
    "BASELINE_DAYS",
    "DEFAULT_ANCHOR",
    "CoursePlan",
    "SyntheticPatient",
    "generate_cohort",
    "generate_patient",
]
