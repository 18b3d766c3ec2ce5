"""Codes the synthetic cohort writes into its FHIR resources.

Each code is one the mapping layer's value sets must recognise; the round-trip integration test
(generator -> FHIR server -> search -> mapping) fails if they drift apart. Sources are cited
where the code is defined in `fhir_mappings/`; the ones used here were checked as follows:

- LOINC codes: docs/clinical/11-codes-and-units.md §11.1 (cross-checked in public GECCO value sets).
- CPT 38228 "CAR-T cell administration, autologous" (CPT 2023 Category I, replacing 0540T):
  americanmedicalcoding.com "CPT code 38225-38228".
- RxNorm ingredient 24698 fludarabine: nmdp-ig/cibmtr-reporting-ig med-fludarabine value set.
- RxNorm ingredients 3002 cyclophosphamide and 68442 filgrastim, ICD-10-PCS transfusion
  codes, ICD-10-CM D89.831-D89.834 (CRS by grade): verified in
  fhir_mappings/data/valuesets.yaml (sources cited there).
"""

from __future__ import annotations

# LOINC's system URL has one home, fhir_mappings.tables.LOINC (issue 15)
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CPT = "http://www.ama-assn.org/go/cpt"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"

# analyte -> (LOINC code, display, UCUM unit as usually reported)
LAB_CODES: dict[str, tuple[str, str, str]] = {
    "anc": ("751-8", "Neutrophils [#/volume] in Blood by Automated count", "/uL"),
    "wbc": ("6690-2", "Leukocytes [#/volume] in Blood by Automated count", "10*3/uL"),
    "neutrophil_percent": (
        "770-8",
        "Neutrophils/100 leukocytes in Blood by Automated count",
        "%",
    ),
    "platelets": ("777-3", "Platelets [#/volume] in Blood by Automated count", "10*3/uL"),
    "hemoglobin": ("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL"),
    "crp": ("1988-5", "C reactive protein [Mass/volume] in Serum or Plasma", "mg/L"),
    "ferritin": ("2276-4", "Ferritin [Mass/volume] in Serum or Plasma", "ng/mL"),
    "ldh": (
        "2532-0",
        "Lactate dehydrogenase [Enzymatic activity/volume] in Serum or Plasma",
        "U/L",
    ),
    "creatinine": ("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL"),
    "fibrinogen": (
        "3255-7",
        "Fibrinogen [Mass/volume] in Platelet poor plasma by Coagulation assay",
        "mg/dL",
    ),
    "alt": (
        "1742-6",
        "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
        "U/L",
    ),
    "ast": (
        "1920-8",
        "Aspartate aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
        "U/L",
    ),
    "triglycerides": ("2571-8", "Triglyceride [Mass/volume] in Serum or Plasma", "mg/dL"),
}

CART_ADMINISTRATION_CPT = ("38228", "CAR-T cell administration, autologous")
FLUDARABINE_RXNORM = ("24698", "fludarabine")
CYCLOPHOSPHAMIDE_RXNORM = ("3002", "cyclophosphamide")
FILGRASTIM_RXNORM = ("68442", "filgrastim")
ICD10PCS = "http://www.cms.gov/Medicare/Coding/ICD10"
# ICD-10-PCS table 302: transfusion of nonautologous red cells / platelets into a peripheral vein
RBC_TRANSFUSION_PCS = ("30233N1", "Transfusion of nonautologous red blood cells, peripheral vein")
PLATELET_TRANSFUSION_PCS = ("30233R1", "Transfusion of nonautologous platelets, peripheral vein")
RELAPSE_SNOMED = ("58184002", "Recurrent disease")
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
# ICD-10-CM D89.831-D89.834 cytokine release syndrome, grade 1-4 (FY2021 codes): verified in
# fhir_mappings/data/valuesets.yaml (source CM-CRS cited there); the grade is read from the code
CRS_ICD10CM: dict[int, tuple[str, str]] = {
    1: ("D89.831", "Cytokine release syndrome, grade 1"),
    2: ("D89.832", "Cytokine release syndrome, grade 2"),
    3: ("D89.833", "Cytokine release syndrome, grade 3"),
    4: ("D89.834", "Cytokine release syndrome, grade 4"),
}

# The approved CAR-T products a synthetic patient may receive (display text only here;
# the mapping layer recognises the infusion by the CPT procedure code).
CART_PRODUCTS: tuple[str, ...] = (
    "axicabtagene ciloleucel",
    "tisagenlecleucel",
    "lisocabtagene maraleucel",
    "brexucabtagene autoleucel",
    "idecabtagene vicleucel",
    "ciltacabtagene autoleucel",
    "obecabtagene autoleucel",
)

# ---- story patients (icaht_demo/synthetic/stories.py, issue 14). The codes below are the
# ones the issue-14 record contract names (notes COMMON14 "Codes every helper may rely on"); the
# mapping's value sets carry each with its source. Checked here as noted.
# LOINC 8310-5 "Body temperature", UCUM Cel: contract; LOINC 2465-3 "IgG [Mass/volume] in Serum
# or Plasma": fhir_mappings/data/analytes.yaml (verified there)
BODY_TEMPERATURE_LOINC = ("8310-5", "Body temperature")
IGG_LOINC = ("2465-3", "IgG [Mass/volume] in Serum or Plasma")
VITAL_SIGNS_CATEGORY = "vital-signs"
# ICD-10-CM (contract): J18.9 pneumonia, unspecified organism; C83.30 diffuse large B-cell
# lymphoma, unspecified site; C91.00 acute lymphoblastic leukemia not having achieved remission
PNEUMONIA_ICD10CM = ("J18.9", "Pneumonia, unspecified organism")
DLBCL_ICD10CM = ("C83.30", "Diffuse large B-cell lymphoma, unspecified site")
B_ALL_ICD10CM = ("C91.00", "Acute lymphoblastic leukemia not having achieved remission")
# CPT 38206 "Blood-derived hematopoietic progenitor cell harvesting for transplantation, per
# collection; autologous" (AMA descriptor quoted at https://webhooks.codingahead.com/cpt/codes/38206)
AUTOLOGOUS_HPC_HARVEST_CPT = (
    "38206",
    "Blood-derived HPC harvesting for transplantation; autologous",
)
# CPT 38225 "CAR-T ... harvesting of blood-derived T lymphocytes" (valuesets.yaml, AMA-38228)
LEUKAPHERESIS_CPT = ("38225", "CAR-T cell therapy; harvesting of blood-derived T lymphocytes")
# RxNorm ingredients: acyclovir 281, co-trimoxazole MIN 10831 and posaconazole 282446 are
# verified in valuesets.yaml (ACICLOVIR-PAIR, RXNAV-PAIR, AZOLE-PAIR); levofloxacin 82122 and
# dexamethasone 3264 are the contract's codes (the drugs helper verifies them in valuesets.yaml);
# each resource also names the drug in text, the mapping's name fallback.
ACYCLOVIR_RXNORM = ("281", "acyclovir")
COTRIMOXAZOLE_RXNORM = ("10831", "sulfamethoxazole / trimethoprim")
POSACONAZOLE_RXNORM = ("282446", "posaconazole")
LEVOFLOXACIN_RXNORM = ("82122", "levofloxacin")
DEXAMETHASONE_RXNORM = ("3264", "dexamethasone")
