"""Story patients: hand-written CAR-T courses that make the demo's patient-view cards fire.

The random cohort (generator.py) is mostly past day +100, so on the demo date it shows almost
no management card. Each story patient here is one clinical situation, dated relative to the
anchor (the demo's "today"): a high-risk patient on day +3 without G-CSF, a febrile neutropenic
patient on day +12 without prophylaxis, a transfusion-dependent patient on day +40, an
IEC-HS-shaped course, a course in preparation, a G-CSF-refractory aplasia with stored stem
cells, a B-ALL patient with late refractory neutropenia (issue 14, "The demo tells the
story"), and a patient whose platelet grade (T-ICAHT 4) is far worse than the neutrophil one
(N-ICAHT 1, issue 19).

`expected_rules` names the management rules (docs/clinical §10) patient-view is
meant to show for the patient on the anchor date: the rules the story was written for; other
rules may fire besides them. Every resource has a deterministic id, so loading the stories again
with a later anchor re-dates them in place. Nothing here reads the clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any

from fhir_mappings.tables import LOINC
from icaht_demo.synthetic import codes
from icaht_demo.synthetic.generator import CENTRE_TZ, SyntheticPatient, car_t_infusion

Resource = dict[str, Any]
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
MORNING = time(6, 30)  # the daily blood draw
CBC = ("anc", "platelets", "hemoglobin", "crp")
# the baseline items of CAR-HEMATOTOX (docs/clinical §6.1) plus LDH and creatinine (EASIX)
BASELINE = (*CBC, "ferritin", "ldh", "creatinine")


@dataclass(frozen=True)
class StoryPatient:
    """One story: who, what happens, which rules patient-view should show on the anchor date."""

    patient_id: str
    name: str
    story: str  # one line, shown in the demo's table
    day: int  # study day on the anchor date (negative: before the planned infusion)
    anchor: date  # the date the patient is on its story's day
    expected_rules: tuple[str, ...]
    bundle: Resource  # a FHIR R4 transaction Bundle
    # the early grades the story was written with (issue 19: N-ICAHT and T-ICAHT); None where
    # the story does not state one
    expected_early_grade: int | None = None
    expected_t_early_grade: int | None = None

    def resources(self) -> list[Resource]:
        return [e["resource"] for e in self.bundle["entry"]]


def story_patients(anchor: date) -> list[StoryPatient]:
    """The story patients, each dated so that the anchor date is its story's day."""
    return [write(anchor) for write in STORIES]


PJP_FROM_DAY = 28  # co-trimoxazole from about day +28 (docs/clinical §10 M11)
ACYCLOVIR_TEXT = "aciclovir 800 mg twice daily (HSV/VZV prophylaxis)"
COTRIMOXAZOLE_TEXT = "co-trimoxazole 960 mg three times weekly (PJP prophylaxis)"


def with_prophylaxis(patient: SyntheticPatient) -> SyntheticPatient:
    """A random-cohort patient with the infection prophylaxis most centres order (aciclovir from
    lymphodepletion, co-trimoxazole from day +28 once reached): the demo's cohort, so that its
    cards are about the courses and the missing prophylaxis is the fever story's (M10, M11).
    The generator's cohort, which the tests pin, stays without them."""
    plan = patient.plan
    chart = _Chart(plan.patient_id, plan.day0, 0)
    chart.ordered(-5, codes.ACYCLOVIR_RXNORM, ACYCLOVIR_TEXT, kind="prophylaxis")
    # day +28 reached: alive on it (a death before it writes no later order), and not an
    # ongoing course still before it (its anchor is its last lab day)
    if plan.death_day is not None:
        reached = plan.death_day >= PJP_FROM_DAY
    else:
        reached = not plan.ongoing or plan.last_lab_day >= PJP_FROM_DAY
    if reached:
        chart.ordered(
            PJP_FROM_DAY, codes.COTRIMOXAZOLE_RXNORM, COTRIMOXAZOLE_TEXT, kind="prophylaxis"
        )
    entries = [*patient.bundle["entry"], *chart.entries]
    return replace(patient, bundle={**patient.bundle, "entry": entries})


# -- the chart writer -----------------------------------------------------------------------------


class _Chart:
    """One story patient's resources. Days are study days (day 0 = the infusion, given or
    planned); ids are `<patient>-<kind>-<serial>`, the same for every anchor."""

    def __init__(self, patient_id: str, anchor: date, day: int) -> None:
        self.pid = patient_id
        self.day0 = anchor - timedelta(days=day)
        self.entries: list[Resource] = []
        self.serial = 0

    def bundle(self) -> Resource:
        return {"resourceType": "Bundle", "type": "transaction", "entry": self.entries}

    def moment(self, day: int, at: time = MORNING) -> str:
        local = datetime.combine(self.day0 + timedelta(days=day), at, tzinfo=CENTRE_TZ)
        return local.isoformat()

    def add(self, resource: Resource) -> Resource:
        url = f"{resource['resourceType']}/{resource['id']}"
        self.entries.append(
            {"fullUrl": url, "resource": resource, "request": {"method": "PUT", "url": url}}
        )
        return resource

    def next_id(self, kind: str) -> str:
        self.serial += 1
        return f"{self.pid}-{kind}-{self.serial:03d}"

    def subject(self) -> Resource:
        return {"reference": f"Patient/{self.pid}"}

    # -- resources ---------------------------------------------------------------------------
    def patient(self, given: str, family: str, gender: str, age: int) -> None:
        born = self.day0 - timedelta(days=round(365.25 * age) + 40)
        self.add(
            {
                "resourceType": "Patient",
                "id": self.pid,
                "identifier": [{"system": "urn:icaht:synthetic:mrn", "value": self.pid.upper()}],
                "name": [{"family": family, "given": [given], "text": "synthetic story patient"}],
                "gender": gender,
                "birthDate": born.isoformat(),
            }
        )

    def observation(
        self, day: int, code: tuple[str, str], quantity: Resource, category: str, at: time
    ) -> Resource:
        loinc, display = code
        return self.add(
            {
                "resourceType": "Observation",
                "id": self.next_id("obs"),
                "status": "final",
                "category": [{"coding": [{"system": codes.OBS_CATEGORY, "code": category}]}],
                "code": {"coding": [{"system": LOINC, "code": loinc, "display": display}]},
                "subject": self.subject(),
                "effectiveDateTime": self.moment(day, at),
                "valueQuantity": quantity,
            }
        )

    def lab(self, day: int, analyte: str, value: float, at: time = MORNING) -> None:
        loinc, display, unit = codes.LAB_CODES[analyte]
        self.observation(day, (loinc, display), _quantity(value, unit), "laboratory", at)

    def labs(self, analyte: str, values: Mapping[int, float]) -> None:
        for day, value in sorted(values.items()):
            self.lab(day, analyte, value)

    def draw(self, day: int, at: time = MORNING, **values: float) -> None:
        """Several analytes of one blood draw, e.g. the baseline."""
        for analyte, value in values.items():
            self.lab(day, analyte, value, at)

    def igg(self, day: int, mg_per_dl: float) -> None:
        self.observation(day, codes.IGG_LOINC, _quantity(mg_per_dl, "mg/dL"), "laboratory", MORNING)

    def temperature(self, day: int, celsius: float, at: time) -> None:
        quantity = _quantity(celsius, "Cel")
        self.observation(
            day, codes.BODY_TEMPERATURE_LOINC, quantity, codes.VITAL_SIGNS_CATEGORY, at
        )

    def _drug(self, drug: tuple[str, str], text: str) -> Resource:
        code, display = drug
        return {
            "coding": [{"system": codes.RXNORM, "code": code, "display": display}],
            "text": text,
        }

    def given(
        self, day: int, drug: tuple[str, str], text: str, dose: tuple[float, str, str]
    ) -> None:
        value, unit, ucum = dose
        self.add(
            {
                "resourceType": "MedicationAdministration",
                "id": self.next_id("med"),
                "status": "completed",
                "medicationCodeableConcept": self._drug(drug, text),
                "subject": self.subject(),
                "effectiveDateTime": self.moment(day, time(9, 0)),
                "dosage": {
                    "dose": {"value": value, "unit": unit, "system": codes.UCUM, "code": ucum}
                },
            }
        )

    def ordered(self, day: int, drug: tuple[str, str] | None, text: str, kind: str = "rx") -> None:
        """An active order from `day` on (prophylaxis is usually ordered, not charted daily).
        Without a code the drug is named in text only, as some orders come."""
        concept = self._drug(drug, text) if drug is not None else {"text": text}
        self.add(
            {
                "resourceType": "MedicationRequest",
                "id": self.next_id(kind),
                "status": "active",
                "intent": "order",
                "medicationCodeableConcept": concept,
                "subject": self.subject(),
                "authoredOn": self.moment(day, time(8, 0)),
                "dosageInstruction": [
                    {
                        "text": text,
                        "timing": {
                            "repeat": {"boundsPeriod": {"start": self.moment(day, time(8, 0))}}
                        },
                    }
                ],
            }
        )

    def filgrastim(self, days: range) -> None:
        for day in days:
            self.given(
                day, codes.FILGRASTIM_RXNORM, "filgrastim 5 µg/kg s.c.", (5.0, "ug/kg", "ug/kg")
            )

    def lymphodepletion(self, first_day: int = -5) -> None:
        for day in range(first_day, first_day + 3):
            self.given(
                day, codes.FLUDARABINE_RXNORM, "fludarabine 30 mg/m2 IV", (30.0, "mg/m2", "{m2}")
            )
            self.given(
                day,
                codes.CYCLOPHOSPHAMIDE_RXNORM,
                "cyclophosphamide 500 mg/m2 IV",
                (500.0, "mg/m2", "{m2}"),
            )

    def infusion(self, product: str) -> None:
        self.add(car_t_infusion(self.pid, self.subject(), self.moment(0, time(10, 30)), product))

    def procedure(self, kind: str, day: int, code: tuple[str, str], system: str, text: str) -> None:
        self.add(
            {
                "resourceType": "Procedure",
                "id": self.next_id(kind),
                "status": "completed",
                "code": {
                    "coding": [{"system": system, "code": code[0], "display": code[1]}],
                    "text": text,
                },
                "subject": self.subject(),
                "performedDateTime": self.moment(day, time(13, 0)),
            }
        )

    def platelet_transfusion(self, day: int) -> None:
        text = "Platelets, apheresis, 1 unit, irradiated"
        self.procedure("tx", day, codes.PLATELET_TRANSFUSION_PCS, codes.ICD10PCS, text)

    def condition(
        self,
        kind: str,
        system: str,
        code: tuple[str, str],
        onset_day: int,
        abated_day: int | None = None,
    ) -> None:
        status = "active" if abated_day is None else "resolved"
        condition: Resource = {
            "resourceType": "Condition",
            "id": f"{self.pid}-{kind}",
            "clinicalStatus": {"coding": [{"system": CONDITION_CLINICAL, "code": status}]},
            "verificationStatus": {
                "coding": [{"system": CONDITION_VERIFICATION, "code": "confirmed"}]
            },
            "code": {
                "coding": [{"system": system, "code": code[0], "display": code[1]}],
                "text": code[1],
            },
            "subject": self.subject(),
            "onsetDateTime": self.moment(onset_day, time(12, 0)),
        }
        if abated_day is not None:
            condition["abatementDateTime"] = self.moment(abated_day, time(12, 0))
        self.add(condition)

    def crs(self, grade: int, onset_day: int, abated_day: int) -> None:
        self.condition("crs", codes.ICD10CM, codes.CRS_ICD10CM[grade], onset_day, abated_day)

    def disease(self, code: tuple[str, str], onset_day: int) -> None:
        self.condition("disease", codes.ICD10CM, code, onset_day)

    def planned_infusion(self, product: str, ordered_day: int) -> None:
        """The infusion ordered for day 0 (ServiceRequest, intent order, status active)."""
        code, display = codes.CART_ADMINISTRATION_CPT
        self.add(
            {
                "resourceType": "ServiceRequest",
                "id": f"{self.pid}-planned-infusion",
                "status": "active",
                "intent": "order",
                "code": {
                    "coding": [{"system": codes.CPT, "code": code, "display": display}],
                    "text": f"CAR-T cell infusion: {product}",
                },
                "subject": self.subject(),
                "authoredOn": self.moment(ordered_day, time(11, 0)),
                "occurrenceDateTime": self.moment(0, time(10, 30)),
            }
        )


def _quantity(value: float, ucum: str) -> Resource:
    return {"value": value, "unit": ucum, "system": codes.UCUM, "code": ucum}


def _days(first: int, values: Sequence[float]) -> dict[int, float]:
    return {first + i: v for i, v in enumerate(values)}


def _on(days: Sequence[int], values: Sequence[float]) -> dict[int, float]:
    return dict(zip(days, values, strict=True))


def _acyclovir(chart: _Chart, day: int = -5) -> None:
    chart.ordered(day, codes.ACYCLOVIR_RXNORM, ACYCLOVIR_TEXT)


def _story(
    chart: _Chart,
    name: str,
    story: str,
    day: int,
    expected: tuple[str, ...],
    *,
    grades: tuple[int, int] | None = None,
) -> StoryPatient:
    anchor = chart.day0 + timedelta(days=day)
    n_grade, t_grade = grades if grades is not None else (None, None)
    return StoryPatient(
        chart.pid, name, story, day, anchor, expected, chart.bundle(), n_grade, t_grade
    )


# -- the stories ----------------------------------------------------------------------------------


def high_risk_day3(anchor: date) -> StoryPatient:
    """CAR-HEMATOTOX 5 (platelets 62, ferritin 1480 at baseline), day +3, no G-CSF: M02."""
    chart = _Chart("icaht-story-gcsf-day3", anchor, 3)
    chart.patient("Lena", "Vogel", "female", 67)
    chart.disease(codes.DLBCL_ICD10CM, -540)
    chart.draw(
        -6, anc=2300, platelets=62, hemoglobin=10.9, crp=14, ferritin=1480, ldh=410, creatinine=0.9
    )
    chart.draw(-1, anc=1800, platelets=58, hemoglobin=10.5, crp=16)
    chart.lymphodepletion()
    _acyclovir(chart)
    chart.infusion("axicabtagene ciloleucel")
    chart.labs("anc", _days(0, [1650, 1320, 980, 760]))
    chart.labs("platelets", _days(0, [55, 50, 44, 39]))
    chart.labs("hemoglobin", _days(0, [10.2, 9.9, 9.6, 9.4]))
    chart.labs("crp", _days(0, [12, 18, 25, 31]))
    chart.labs("ferritin", {0: 1520, 3: 1710})
    story = "CAR-HEMATOTOX high (platelets 62, ferritin 1480), day +3, no G-CSF"
    return _story(chart, "Lena Vogel", story, 3, ("M02",))


def fever_day12(anchor: date) -> StoryPatient:
    """Day +12, ANC <= 500/uL since day 3, fever 38.6 today, platelets 16, no G-CSF and no
    prophylaxis on record; dexamethasone on days 5-8 (ICANS): M03, M08, M09 (corticosteroid
    days), M10, M14 (<= 20 with fever)."""
    chart = _Chart("icaht-story-fever-day12", anchor, 12)
    chart.patient("Tomas", "Berger", "male", 58)
    chart.disease(codes.DLBCL_ICD10CM, -420)
    chart.draw(
        -6, anc=1900, platelets=68, hemoglobin=9.4, crp=22, ferritin=2350, ldh=520, creatinine=1.0
    )
    chart.draw(-1, anc=1700, platelets=64, hemoglobin=9.3, crp=20)
    chart.lymphodepletion()
    chart.infusion("axicabtagene ciloleucel")
    chart.labs("anc", _days(0, [1400, 900, 620, 480, 310, 200, 120, 90, 60, 50, 70, 80, 90]))
    chart.labs("platelets", _days(0, [60, 52, 45, 38, 33, 29, 26, 24, 22, 20, 19, 17, 16]))
    chart.labs(
        "hemoglobin",
        _days(0, [9.2, 9.0, 8.9, 8.8, 8.7, 8.6, 8.5, 8.4, 8.4, 8.3, 8.3, 8.2, 8.1]),
    )
    chart.labs("crp", _days(0, [15, 40, 85, 70, 45, 30, 22, 18, 15, 14, 16, 55, 140]))
    chart.labs("ferritin", {0: 2500, 3: 3400, 7: 2900, 10: 2600, 12: 2700})
    chart.crs(1, 1, 3)
    for day in range(5, 9):  # ICANS grade 2, treated: corticosteroid exposure > 3 days (M09)
        chart.given(
            day, codes.DEXAMETHASONE_RXNORM, "dexamethasone 10 mg IV every 6 h", (10.0, "mg", "mg")
        )
    chart.temperature(11, 37.4, time(20, 0))
    chart.temperature(12, 38.6, time(6, 10))
    story = "day +12, ANC <= 500/µL for 10 days, fever 38.6 °C today, no G-CSF, no prophylaxis"
    return _story(chart, "Tomas Berger", story, 12, ("M03", "M08", "M09", "M10", "M14"))


TRANSFUSION_DAYS = [*range(15), 16, 18, 21, 23, 25, 28, 30, 32, 34, 35, 36, 37, 38, 39, 40]


def transfusion_day40(anchor: date) -> StoryPatient:
    """Day +40, platelets 8 today after platelet units on days 35 and 38, no TPO-RA; IgG 350
    mg/dL with an active pneumonia: M12, M14, M15, M19."""
    chart = _Chart("icaht-story-transfusion-day40", anchor, 40)
    chart.patient("Ruth", "Keller", "female", 71)
    chart.disease(codes.DLBCL_ICD10CM, -610)
    chart.draw(
        -6, anc=2600, platelets=140, hemoglobin=11.2, crp=8, ferritin=420, ldh=230, creatinine=0.8
    )
    chart.draw(-1, anc=2400, platelets=132, hemoglobin=11.0, crp=9)
    chart.lymphodepletion()
    _acyclovir(chart)
    chart.infusion("lisocabtagene maraleucel")
    early = [2100, 1500, 900, 420, 300, 380, 460, 900, 1300]
    later = [1600, 1900, 2200, 2400, 2100, 1800, 2300, 2500, 2000, 2200, 2600, 2400]
    recovered = later * 2
    chart.labs("anc", _on(TRANSFUSION_DAYS, [*early, *recovered[: len(TRANSFUSION_DAYS) - 9]]))
    platelets = [120, 105, 90, 74, 62, 51, 44, 38, 33, 29, 24, 22, 20, 19, 18]
    platelets += [17, 16, 15, 14, 13, 9, 21, 16, 12, 9, 24, 15, 10, 19, 8]
    chart.labs("platelets", _on(TRANSFUSION_DAYS, platelets))
    hemoglobin = [10.8 - 0.1 * min(i, 12) for i in range(len(TRANSFUSION_DAYS))]
    chart.labs("hemoglobin", _on(TRANSFUSION_DAYS, [round(h, 1) for h in hemoglobin]))
    chart.labs("crp", {0: 9, 1: 30, 2: 45, 3: 28, 7: 8, 14: 5, 28: 6, 37: 96, 38: 120, 40: 74})
    chart.labs("ferritin", {0: 450, 3: 980, 14: 700, 28: 520, 40: 610})
    for day in (28, 35, 38):
        chart.platelet_transfusion(day)
    chart.igg(28, 430)
    chart.igg(40, 350)
    chart.condition("pneumonia", codes.ICD10CM, codes.PNEUMONIA_ICD10CM, 37)
    chart.ordered(28, codes.COTRIMOXAZOLE_RXNORM, COTRIMOXAZOLE_TEXT)
    story = "day +40, platelets 8, 2 platelet units in 7 days, no TPO-RA; IgG 350 with pneumonia"
    return _story(chart, "Ruth Keller", story, 40, ("M12", "M14", "M15", "M19"))


def iec_hs_day16(anchor: date) -> StoryPatient:
    """CRS grade 2 on days 1-4, resolved; on day 16 ferritin 4100 (from 720 on day 13), new
    platelets 14 after a recovery to 140, fibrinogen 118, fever 38.9: M23 (and M14 with fever)."""
    chart = _Chart("icaht-story-iec-hs-day16", anchor, 16)
    chart.patient("Nils", "Hartmann", "male", 49)
    chart.disease(codes.DLBCL_ICD10CM, -380)
    chart.draw(
        -6, anc=3100, platelets=190, hemoglobin=12.1, crp=6, ferritin=380, ldh=210, creatinine=0.8
    )
    chart.draw(-1, anc=2900, platelets=182, hemoglobin=12.0, crp=7)
    chart.lymphodepletion()
    _acyclovir(chart)
    chart.infusion("tisagenlecleucel")
    anc = [2500, 1800, 1100, 700, 560, 620, 900, 1300, 1700, 2100, 2300, 2400, 2600, 2500]
    chart.labs("anc", _days(0, [*anc, 2300, 2000, 1600]))
    platelets = [170, 150, 128, 110, 96, 90, 92, 100, 112, 124, 133, 138, 140, 131, 96, 48, 14]
    chart.labs("platelets", _days(0, platelets))
    chart.labs("hemoglobin", _days(0, [round(12.0 - 0.12 * d, 1) for d in range(17)]))
    crp = [5, 60, 120, 95, 50, 25, 14, 10, 8, 7, 7, 6, 6, 8, 25, 70, 110]
    chart.labs("crp", _days(0, crp))
    ferritin = {0: 420, 1: 900, 2: 1900, 3: 2600, 5: 1800, 7: 1200, 10: 800, 13: 720}
    chart.labs("ferritin", {**ferritin, 14: 760, 15: 1650, 16: 4100})
    chart.labs("fibrinogen", {0: 320, 3: 250, 7: 290, 10: 300, 14: 270, 15: 190, 16: 118})
    chart.crs(2, 1, 4)
    chart.temperature(15, 38.2, time(19, 0))
    chart.temperature(16, 38.9, time(6, 20))
    story = "CRS resolved day 4; day 16 ferritin 720 -> 4100, platelets 14, fibrinogen 118, fever"
    return _story(chart, "Nils Hartmann", story, 16, ("M14", "M23"))


def preparation(anchor: date) -> StoryPatient:
    """Lymphodepletion started 2 days ago, infusion ordered for in 3 days (ServiceRequest CPT
    38228), CAR-HEMATOTOX 7 at baseline: M24."""
    chart = _Chart("icaht-story-preparation", anchor, -3)
    chart.patient("Ida", "Schubert", "female", 62)
    chart.disease(codes.DLBCL_ICD10CM, -700)
    leukapheresis = "Leukapheresis (T-cell collection for CAR-T manufacturing)"
    chart.procedure("apheresis", -27, codes.LEUKAPHERESIS_CPT, codes.CPT, leukapheresis)
    chart.planned_infusion("axicabtagene ciloleucel", -27)
    chart.draw(
        -7, anc=1050, platelets=61, hemoglobin=8.8, crp=41, ferritin=2450, ldh=610, creatinine=1.1
    )
    chart.draw(-5, time(7, 0), anc=980, platelets=58, hemoglobin=8.7, crp=44)
    chart.lymphodepletion()  # days -5, -4, -3: the last dose today
    _acyclovir(chart)
    story = "lymphodepletion day -3 today, infusion planned in 3 days, CAR-HEMATOTOX 7"
    return _story(chart, "Ida Schubert", story, -3, ("M24",))


SPARSE_DAYS = [16, 18, 21, 23, 25, 28, 30, 32, 35, 37, 39, 42, 44, 46, 49, 51, 53, 56, 58, 60]


def boost_day60(anchor: date) -> StoryPatient:
    """ANC <= 500/uL from day 1 to day 60 on daily filgrastim since day 7 (G-CSF-refractory,
    early grade 4); autologous stem cells collected before an earlier transplant: M16 (which
    takes M07's and M18's place), M26 (late grade 3)."""
    chart = _Chart("icaht-story-boost-day60", anchor, 60)
    chart.patient("Karl", "Brandt", "male", 64)
    chart.disease(codes.DLBCL_ICD10CM, -900)
    harvest = "Autologous peripheral blood stem cell collection (cryopreserved, 2 bags stored)"
    chart.procedure("hpc-harvest", -430, codes.AUTOLOGOUS_HPC_HARVEST_CPT, codes.CPT, harvest)
    chart.draw(
        -6, anc=1100, platelets=72, hemoglobin=9.6, crp=35, ferritin=2900, ldh=640, creatinine=1.0
    )
    chart.draw(-1, anc=980, platelets=66, hemoglobin=9.4, crp=38)
    chart.lymphodepletion()
    _acyclovir(chart)
    chart.ordered(
        1, codes.LEVOFLOXACIN_RXNORM, "levofloxacin 500 mg daily (antibacterial prophylaxis)"
    )
    chart.ordered(
        14, codes.POSACONAZOLE_RXNORM, "posaconazole 300 mg daily (antifungal prophylaxis)"
    )
    chart.ordered(28, None, "pentamidine 300 mg inhaled every 4 weeks (PJP prophylaxis)")
    chart.infusion("axicabtagene ciloleucel")
    days = [*range(15), *SPARSE_DAYS]
    plateau = [150, 210, 180, 240, 170, 130, 190, 220, 160, 140]
    anc = [700, 420, 260, 140, 80, 60, 50, 40, 60, 90]
    anc += [plateau[i % len(plateau)] for i in range(len(days) - len(anc))]
    chart.labs("anc", _on(days, anc))
    platelets = [64, 58, 52, 47, 43, 39, 36, 33, 30, 28, 26, 25, 24, 25, 27]
    platelets += [28, 26, 29, 31, 27, 30, 33, 29, 32, 35, 31, 28, 30, 34, 32, 29, 31, 33, 30, 32]
    chart.labs("platelets", _on(days, platelets))
    chart.labs(
        "hemoglobin", _on(days, [round(9.3 - 0.04 * min(i, 25), 1) for i in range(len(days))])
    )
    chart.labs("crp", {0: 30, 1: 55, 2: 60, 7: 20, 14: 12, 28: 10, 42: 9, 60: 11})
    chart.labs("ferritin", {0: 3000, 3: 4200, 14: 3100, 28: 2600, 42: 2400, 60: 2300})
    chart.filgrastim(range(7, 61))
    story = "day +60, ANC <= 500/µL since day 1 despite daily G-CSF since day 7, stem cells stored"
    return _story(chart, "Karl Brandt", story, 60, ("M16", "M26"))


B_ALL_DAYS = [*range(15), 16, 18, 21, 23, 25, 28, 30, 33, 35, *range(37, 46)]


def b_all_day45(anchor: date) -> StoryPatient:
    """B-ALL; recovery after day 10, a second fall after day 30, ANC 160/uL on day 45 after
    filgrastim daily since day 36 (G-CSF-refractory), high risk, no antibacterial or PJP
    prophylaxis on record: M07, M08, M11, M25, M26."""
    chart = _Chart("icaht-story-ball-day45", anchor, 45)
    chart.patient("Mila", "Roth", "female", 34)
    chart.disease(codes.B_ALL_ICD10CM, -400)
    chart.draw(
        -6, anc=1500, platelets=88, hemoglobin=9.8, crp=12, ferritin=900, ldh=380, creatinine=0.7
    )
    chart.draw(-1, anc=1400, platelets=84, hemoglobin=9.7, crp=14)
    chart.lymphodepletion()
    _acyclovir(chart)
    chart.infusion("obecabtagene autoleucel")
    anc = [1200, 800, 480, 300, 210, 160, 190, 240, 330, 450, 650, 900, 1100, 1300, 1500]
    anc += [1700, 1900, 1600, 1400, 1200, 1000, 820, 610, 450]
    anc += [380, 320, 300, 270, 250, 220, 200, 180, 160]
    chart.labs("anc", _on(B_ALL_DAYS, anc))
    platelets = [80, 74, 66, 58, 52, 48, 45, 47, 52, 58, 64, 70, 76, 82, 88]
    platelets += [94, 100, 106, 104, 98, 92, 86, 80, 78, 76, 75, 74, 73, 72, 71, 70, 70, 69]
    chart.labs("platelets", _on(B_ALL_DAYS, platelets))
    chart.labs(
        "hemoglobin", _on(B_ALL_DAYS, [round(9.6 - 0.02 * i, 1) for i in range(len(B_ALL_DAYS))])
    )
    chart.labs("crp", {0: 14, 1: 48, 2: 66, 7: 15, 14: 8, 28: 6, 42: 9, 45: 10})
    chart.labs("ferritin", {0: 950, 3: 1900, 14: 1300, 28: 900, 45: 820})
    chart.filgrastim(range(36, 46))
    story = "B-ALL, day +45, ANC 160/µL after 10 days of G-CSF (second fall), no PJP prophylaxis"
    return _story(chart, "Mila Roth", story, 45, ("M07", "M08", "M11", "M25", "M26"))


DISCORDANT_DAYS = [*range(15), 16, 18, 21, 23, 25, 28, 30, 32, 34, 35]


def discordant_day35(anchor: date) -> StoryPatient:
    """Issue 19: N-ICAHT and T-ICAHT disagree. ANC <= 500/uL on days 4-6 only (early N-ICAHT
    grade 1), platelets < 20 x10^9/L from day 3 to today on every test (early T-ICAHT grade 4,
    docs/clinical §18), a platelet unit on every day < 10 x10^9/L (transfusion-dependent, no
    recovery), platelets 8 today on day +35: M14, M15, M19."""
    chart = _Chart("icaht-story-discordant-day35", anchor, 35)
    chart.patient("Greta", "Albers", "female", 59)
    chart.disease(codes.DLBCL_ICD10CM, -480)
    chart.draw(
        -6, anc=2600, platelets=104, hemoglobin=10.8, crp=12, ferritin=780, ldh=260, creatinine=0.9
    )
    chart.draw(-1, anc=2400, platelets=96, hemoglobin=10.6, crp=13)
    chart.lymphodepletion()
    _acyclovir(chart)
    chart.infusion("axicabtagene ciloleucel")
    anc = [2200, 1600, 1100, 800, 450, 380, 420, 700, 1200, 1600, 1900, 2100, 2300, 2200, 2400]
    anc += [2300, 2500, 2200, 2600, 2400, 2300, 2500, 2200, 2400, 2600]
    chart.labs("anc", _on(DISCORDANT_DAYS, anc))
    platelets = [90, 62, 38, 18, 15, 12, 9, 8, 13, 7, 11, 9, 14, 8, 12]
    platelets += [7, 13, 9, 12, 8, 14, 9, 9, 15, 8]
    chart.labs("platelets", _on(DISCORDANT_DAYS, platelets))
    hemoglobin = [round(10.4 - 0.05 * i, 1) for i in range(len(DISCORDANT_DAYS))]
    chart.labs("hemoglobin", _on(DISCORDANT_DAYS, hemoglobin))
    chart.labs("crp", {0: 12, 1: 38, 2: 52, 3: 30, 7: 10, 14: 6, 28: 5, 35: 6})
    chart.labs("ferritin", {0: 820, 1: 1150, 3: 1380, 7: 1100, 14: 900, 28: 760, 35: 740})
    chart.crs(1, 1, 3)
    for day, count in _on(DISCORDANT_DAYS, platelets).items():
        if count < 10:  # the prophylactic threshold (M14): a unit the same day
            chart.platelet_transfusion(day)
    chart.ordered(28, None, "pentamidine 300 mg inhaled every 4 weeks (PJP prophylaxis)")
    story = (
        "day +35, N-ICAHT 1 (ANC <= 500/µL 3 days) but platelets < 20 x10^9/L since day 3"
        " (T-ICAHT 4), transfusion-dependent, platelets 8 today"
    )
    return _story(chart, "Greta Albers", story, 35, ("M14", "M15", "M19"), grades=(1, 4))


STORIES: tuple[Callable[[date], StoryPatient], ...] = (
    high_risk_day3,
    fever_day12,
    transfusion_day40,
    iec_hs_day16,
    preparation,
    boost_day60,
    b_all_day45,
    discordant_day35,
)
