"""The management rules M01-M26 as data (docs/clinical §10), for evaluation and governance.

Each `Rule` row states the computable trigger as implemented, the severity (§10 indicator
proposal: critical = same-day action, warning = recommended action, info = otherwise), the hooks
it is evaluated on, its source and evidence level, the data it needs, the rules it subsumes
(precedence, one card per concern), when it cannot fire from FHIR-mapped data today, why, and
when it is off until a centre configures it, why (a configuration gap).
Readings: docs/decisions/0005-management-rules.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from icaht.rules.model import EvidenceLevel, Hook, Severity

PV: tuple[Hook, ...] = ("patient-view",)
ORDERS: tuple[Hook, ...] = ("order-select", "order-sign")
ALL_HOOKS: tuple[Hook, ...] = ("patient-view", "order-select", "order-sign")


@dataclass(frozen=True, slots=True)
class Citation:
    """One source of the rules: a short whole label for the card's `source.label`, the full
    citation for the detail text, and its DOI (None when none was found, then the card links
    nothing rather than another paper). docs/decisions/0016-card-wording.md."""

    label: str  # e.g. "Jain et al., Blood 2023": short, never cut
    text: str  # full citation, starts with the authors
    doi: str | None = None

    @property
    def url(self) -> str | None:
        return f"https://doi.org/{self.doi}" if self.doi else None


# docs/clinical/15-references.md §15; DOIs as checked for issue 12 (docs/decisions/0016).
CONSENSUS = Citation(
    "Rejeski et al., EHA/EBMT consensus, Blood 2023",
    "Rejeski et al., Immune effector cell-associated hematotoxicity: EHA/EBMT consensus grading "
    "and best practice recommendations, Blood 2023;142(10):865-877, Table 3, "
    "doi:10.1182/blood.2023020578",
    "10.1182/blood.2023020578",
)
HAEMATOLOGICA = Citation(
    "Beyar-Katz et al., Haematologica 2025",
    "Beyar-Katz, Rejeski, Shouval, Immune effector cell-associated hematotoxicity: mechanisms, "
    "clinical manifestations, and management strategies, Haematologica 2025;110(6):1254-1268, "
    "doi:10.3324/haematol.2024.286027",
    "10.3324/haematol.2024.286027",
)
HOW_I_TREAT = Citation(
    "Jain et al., Blood 2023",
    "Jain, Olson, Locke, How I treat cytopenias after CAR T-cell therapy, "
    "Blood 2023;141(20):2460-2469, doi:10.1182/blood.2022017415",
    "10.1182/blood.2022017415",
)
# Published 2025 on probiologists.com (ProBiologists); the journal title, volume and a DOI were
# not found in the sources searchable here (docs/decisions/0016): no link.
NON_CANONICAL = Citation(
    "Canichella & de Fabritiis, 2025",
    "Canichella & de Fabritiis, Non-canonical CAR-T cell-related toxicities: emerging strategies "
    "and challenges, ProBiologists 2025 (journal and DOI not found)",
)
# Chinese-language review; article number 1001-2478(2026)02-0262-07 (1001-2478 is the journal's
# ISSN, issue 2 of 2026, page 262); journal title and DOI not found (docs/decisions/0016).
CHINESE_REVIEW = Citation(
    "Zhang et al., 2026 (Chinese)",
    "Zhang, Lu, Pei, Wang, Advances in hematological toxicity following CAR-T therapy in "
    "hematologic malignancies (Chinese), ISSN 1001-2478, 2026;(2):262-268 (DOI not found)",
)
IEC_HS_CRITERIA = Citation(
    "Hines et al., Transplant Cell Ther 2023",
    "Hines et al., Immune effector cell-associated hemophagocytic lymphohistiocytosis-like "
    "syndrome, Transplant Cell Ther 2023;29(7):438.e1-438.e16, doi:10.1016/j.jtct.2023.03.006",
    "10.1016/j.jtct.2023.03.006",
)
COAGULOPATHY = Citation(
    "Buechner et al., Blood Adv 2021",
    "Buechner et al., Practical guidelines for monitoring and management of coagulopathy "
    "following tisagenlecleucel CAR T-cell therapy, Blood Adv 2021;5(2):593-601",
)
CITATIONS: tuple[Citation, ...] = (
    CONSENSUS,
    HAEMATOLOGICA,
    HOW_I_TREAT,
    NON_CANONICAL,
    CHINESE_REVIEW,
    IEC_HS_CRITERIA,
    COAGULOPATHY,
)

R_CONS_T3 = CONSENSUS.text
S_HAEM = HAEMATOLOGICA.text
S_HIT = HOW_I_TREAT.text
S_NONCAN = NON_CANONICAL.text
S_CN = CHINESE_REVIEW.text
S_HINES = IEC_HS_CRITERIA.text
S_BUECHNER = COAGULOPATHY.text


def first_citation(source: str) -> Citation | None:
    """The citation a rule's `source` names first (the one its card's label and link show)."""
    return next((c for c in CITATIONS if source.startswith(c.text)), None)


@dataclass(frozen=True, slots=True)
class Rule:
    """One management rule as data (docs/clinical/10-management-rules.md §10)."""

    id: str  # "M01".."M26"
    title: str
    trigger: str  # the computable trigger as implemented (docs/decisions/0005)
    severity: Severity  # highest severity the rule produces
    hooks: tuple[Hook, ...]
    source: str
    evidence_level: tuple[EvidenceLevel, ...]
    needs: tuple[str, ...]  # data the trigger needs
    subsumes: tuple[str, ...] = ()  # rules dropped when this one fires (same concern)
    # why it is off until a centre configures it (a setting, not a missing FHIR input; "" = none)
    configuration_gap: str = ""


RULES: tuple[Rule, ...] = (
    Rule(
        "M01",
        "Irradiated cellular blood products",
        "Draft order of a cellular (RBC, platelets, granulocytes) or unspecified blood product "
        "not marked irradiated (non-irradiated or unknown: irradiated only from a coded attribute "
        "or the product's name, code text or order detail without negation, C14), today in "
        "[apheresis - 7 d (else earlier of lymphodepletion - 7 d, infusion - 30 d), infusion + "
        "90 d]; before day 0, from a leukapheresis or lymphodepletion with no infusion after it "
        "(7 d before it, for up to 180 d)",
        "critical",
        ORDERS,
        f"{R_CONS_T3}; {S_NONCAN}; {S_HAEM}; {S_CN}",
        ("EO",),
        ("infusion date", "draft blood-product orders", "apheresis or lymphodepletion date"),
    ),
    Rule(
        "M02",
        "Prophylactic G-CSF in high-risk patients",
        "CAR-HEMATOTOX high (>= 2), day +2..+5, current ANC not > 1500/uL (or none), no G-CSF "
        "since day -7 (a dose given, an active order or a statement; C15)",
        "warning",
        PV,
        f"{R_CONS_T3}; {S_HAEM}; {S_NONCAN}",
        ("EO", "RS"),
        ("CAR-HEMATOTOX baseline", "current ANC", "G-CSF given, ordered or taken"),
    ),
    Rule(
        "M03",
        "Therapeutic G-CSF for severe neutropenia",
        "Current ANC <= 500/uL on day >= 7 (any day >= 0 with an active infection: a Condition "
        "open or abated on/after today with onset in the course, open ones <= 28 days, or a "
        "positive blood culture in the last 3 days), no G-CSF "
        "coverage (C15: short-acting dose today or yesterday, long-acting dose in the last 14 "
        "days, active order or statement)",
        "warning",
        PV,
        f"{R_CONS_T3}; {S_HIT}; {S_HAEM}, Table 3",
        ("EO",),
        ("current ANC", "G-CSF given, ordered or taken", "infections"),
        subsumes=("M02",),
    ),
    Rule(
        "M04",
        "G-CSF during active CRS",
        "Draft G-CSF order while a CRS period covers today, unless an active infection (as M03) "
        "with current ANC <= 500/uL",
        "warning",
        ORDERS,
        f"{S_HIT}; {S_HAEM}",
        ("EO", "RS"),
        ("draft G-CSF order", "CRS periods", "infections"),
    ),
    Rule(
        "M05",
        "Avoid GM-CSF after CAR-T",
        "Draft GM-CSF (sargramostim, molgramostim) order on or after day 0",
        "warning",
        ORDERS,
        S_HIT,
        ("EO",),
        ("draft GM-CSF order", "infusion date"),
    ),
    Rule(
        "M06",
        "Late biphasic neutropenia",
        "After a dip < 1000/uL and a recovery > 1500/uL (measured, day >= 0), current ANC "
        "< 750/uL, no G-CSF coverage (as M03, C15)",
        "warning",
        PV,
        S_HIT,
        ("EO",),
        ("ANC series", "G-CSF given, ordered or taken"),
        subsumes=("M02", "M03"),
    ),
    Rule(
        "M07",
        "G-CSF non-response",
        "Current ANC <= 500/uL after >= 7 consecutive G-CSF-covered days (day 0 on; a "
        "long-acting dose covers 14 days, C15) ending on the ANC day or the day before",
        "warning",
        PV,
        f"{R_CONS_T3} (comment); {S_HIT}; {S_NONCAN}; {S_HAEM}",
        ("EO",),
        ("current ANC", "G-CSF given, ordered or taken"),
        subsumes=("M02", "M03", "M06", "M18"),
    ),
    Rule(
        "M08",
        "Antibacterial (fluoroquinolone) prophylaxis",
        "CAR-HEMATOTOX high (>= 2) and current ANC <= 500/uL, day >= 0; not when antibacterial "
        "prophylaxis is on record (a dose in the last 2 days, an active order or a statement)",
        "warning",
        PV,
        f"{R_CONS_T3}; {S_NONCAN}",
        ("EO",),
        ("CAR-HEMATOTOX baseline", "current ANC", "antibacterial prophylaxis on record"),
    ),
    Rule(
        "M09",
        "Antifungal prophylaxis",
        "Prior allo-HCT or prior invasive mould infection on days 0..+100 (whatever the ANC); "
        "or current ANC <= 500/uL (day >= 0) with early ICAHT grade >= 3 or corticosteroids on "
        "> 3 of the last 14 days; not when antifungal prophylaxis is on record (a dose in the "
        "last 2 days, an active order or a statement)",
        "warning",
        PV,
        f"{S_NONCAN}; {S_HIT}",
        ("EO",),
        (
            "current ANC",
            "early ICAHT grade",
            "prior allo-HCT",
            "prior mould infection",
            "corticosteroids on record",
            "antifungal prophylaxis on record",
        ),
    ),
    Rule(
        "M10",
        "HSV/VZV prophylaxis",
        "From lymphodepletion (else day 0) to day +365, also for a course in preparation from "
        "its lymphodepletion, when no antiviral (aciclovir, valaciclovir, famciclovir) is on "
        "record covering today (a dose in the last 2 days, an active order or a statement)",
        "warning",
        PV,
        f"{R_CONS_T3}; {S_HIT}",
        ("EO",),
        ("lymphodepletion or infusion date", "antiviral prophylaxis on record"),
    ),
    Rule(
        "M11",
        "PJP prophylaxis; co-trimoxazole in severe ICAHT",
        "Order hooks: draft co-trimoxazole order during ICAHT grade >= 3 with current ANC "
        "<= 500/uL (alternatives pentamidine, atovaquone). Patient view: day +28 to day +730 "
        "when no PJP agent is on record covering today (a dose in the last 3 days, pentamidine "
        "28 days, an active order or a statement) and no CD4 > 200/uL in the last 90 days",
        "warning",
        ALL_HOOKS,
        f"{S_HIT}; {S_NONCAN}",
        ("EO",),
        (
            "draft co-trimoxazole order",
            "ICAHT grade",
            "current ANC",
            "PJP prophylaxis on record",
            "CD4 count",
        ),
    ),
    Rule(
        "M12",
        "IVIG replacement",
        "IgG < 400 mg/dL (within 180 days) with an active infection (as M03; warning); with "
        "none on record (info); infections not known: not evaluable",
        "warning",
        PV,
        f"{S_NONCAN}; secondary tables (IgG < 400 mg/dL)",
        ("EO",),
        ("IgG", "infections"),
    ),
    Rule(
        "M13",
        "RBC transfusion threshold",
        "Current Hb < 7.0 g/dL; or < 8.0 g/dL with cardiovascular disease",
        "warning",
        PV,
        f"{S_HAEM}, text and Table 3; {R_CONS_T3} (one product at a time)",
        ("EXT",),
        ("current Hb", "cardiovascular disease (for 7.0-7.9 g/dL)"),
    ),
    Rule(
        "M14",
        "Platelet transfusion threshold",
        "Patient view: current platelets <= 10 x10^9/L, or <= 20 with fever (>= 38.0 Cel "
        "today or yesterday), active bleeding or an active infection (as M03) (critical). "
        "Order hooks: platelet order with current platelets > 20 and no active bleeding: "
        "prophylactic threshold not reached (info)",
        "critical",
        ALL_HOOKS,
        S_HAEM,
        ("EXT",),
        ("current platelets", "temperature, bleeding and infections (for 11-20 x10^9/L)"),
    ),
    Rule(
        "M15",
        "TPO receptor agonist",
        "Day > 30, >= 2 platelet units transfused in the last 7 days, no TPO-RA (eltrombopag, "
        "romiplostim; given, ordered or taken) since day 0",
        "warning",
        PV,
        f"{S_HAEM}, Table 3; {S_HIT}",
        ("LOW", "RS"),
        ("transfusion records", "TPO-RA on record"),
    ),
    Rule(
        "M16",
        "Stem-cell boost",
        "Early ICAHT grade >= 3, day > 14, G-CSF-refractory (M07) and stored CD34+ cells on "
        "record (an available cell product or a stem-cell collection; the card names it)",
        "warning",
        PV,
        f"{S_NONCAN} (consensus); {S_HAEM}, Table 3",
        ("EO", "RS"),
        ("early ICAHT grade", "G-CSF administrations", "stored stem cells on record"),
        subsumes=("M02", "M03", "M06", "M07", "M18"),
    ),
    Rule(
        "M17",
        "Allo-HCT donor search",
        "Day > 30, current ANC <= 500/uL and (early grade 4 with no ANC > 500/uL after day "
        "30, or late grade 4 confirmed), uncensored, no stored stem cells on record (M16 "
        "unavailable; the card says none is on record and asks to check)",
        "warning",
        PV,
        S_NONCAN,
        ("EO",),
        ("early/late ICAHT grade", "current ANC", "stored stem cells on record"),
    ),
    Rule(
        "M18",
        "Bone-marrow evaluation",
        "Day > 30 and either early grade >= 3 with current ANC <= 500/uL, or >= 2 lineages "
        "cytopenic for >= 14 days (M19 thresholds); G-CSF non-response via M07",
        "warning",
        PV,
        f"{S_NONCAN}; {S_HIT}; {S_HAEM}",
        ("EO",),
        ("early ICAHT grade", "current ANC, platelets, Hb"),
        subsumes=("M19",),
    ),
    Rule(
        "M19",
        "Cytopenia work-up; myelosuppressive drugs",
        "Patient view: ANC <= 500/uL, platelets < 50 x10^9/L or Hb < 8.0 g/dL persisting >= 14 "
        "days (runs from day >= 0), evaluated from day 21. Order hooks: draft myelosuppressive "
        "drug (not co-trimoxazole, see M11) during ICAHT grade >= 3 with current ANC <= 500/uL",
        "warning",
        ALL_HOOKS,
        f"{S_NONCAN}; {S_HIT}; {S_HAEM}",
        ("EO",),
        ("ANC, platelet and Hb series", "ICAHT grade", "draft orders"),
    ),
    Rule(
        "M20",
        "Coagulopathy in severe CRS",
        "Current fibrinogen < 100 mg/dL (1.0 g/L) while the CRS period active today (current "
        "course; open records <= 21 days) has grade 3-4",
        "critical",
        PV,
        f"{S_NONCAN} citing {S_BUECHNER}",
        ("EO",),
        ("current fibrinogen", "CRS periods and grade"),
    ),
    Rule(
        "M21",
        "Anticoagulation with thrombocytopenia",
        "Active anticoagulant period (patient view) or draft anticoagulant order (order hooks) "
        "with current platelets < 50 x10^9/L",
        "warning",
        ALL_HOOKS,
        S_NONCAN,
        ("EO",),
        ("anticoagulant periods or draft order", "current platelets"),
    ),
    Rule(
        "M22",
        "Iron overload",
        "Cumulative RBC units on record >= the configured threshold (no source number; off "
        "until configured)",
        "info",
        PV,
        f"{S_HAEM}; {S_CN}",
        ("EO",),
        ("transfusion records", "configured RBC-unit threshold"),
        configuration_gap="off until a centre configures an RBC-unit threshold (no source gives "
        "one): RuleSettings.iron_overload_rbc_units, in the service "
        "ICAHT_CDS_IRON_OVERLOAD_RBC_UNITS",
    ),
    Rule(
        "M23",
        "Possible IEC-HS",
        "IEC-HS screen positive today (docs/clinical section 17 C13): day >= 7, ferritin rising "
        "(>= 2 x day 0, >= 2-fold within 72 h or > 10,000 ng/mL) after CRS, and a new "
        "cytopenia, fibrinogen < 150 mg/dL or ALT/AST > 5 x ULN in the last 3 days",
        "warning",
        PV,
        f"{S_HINES}; {S_HIT}; {S_NONCAN}",  # the ASTCT criteria first: the screen is theirs
        ("EO", "RS"),
        ("ferritin series", "CRS periods", "ANC, platelet, fibrinogen, ALT/AST series"),
    ),
    Rule(
        "M24",
        "Pre-infusion high risk",
        "CAR-HEMATOTOX high (>= 2) before the infusion: a planned infusion later than today, "
        "or a leukapheresis/lymphodepletion after the last infusion (up to 180 d); baseline "
        "[LD - 7 d, LD], else [planned day -10, day -5] (docs/clinical section 6.3)",
        "info",
        PV,
        f"{S_HAEM}; {S_NONCAN}",
        ("EO",),
        ("CAR-HEMATOTOX baseline", "planned infusion or lymphodepletion date"),
    ),
    Rule(
        "M25",
        "Low-dose steroids (B-ALL)",
        "Disease B-ALL, day > 30, G-CSF-refractory neutropenia (M07 definition)",
        "info",
        PV,
        f"{S_HAEM}, Table 3 (lower level of evidence)",
        ("LOW",),
        ("disease", "current ANC", "G-CSF administrations"),
    ),
    Rule(
        "M26",
        "High-dose IVIG",
        "Late ICAHT grade >= 3 confirmed, day > 30, G-CSF-refractory neutropenia (M07 definition)",
        "info",
        PV,
        f"{S_HAEM}, Table 3 (lower level of evidence)",
        ("LOW",),
        ("late ICAHT grade", "current ANC", "G-CSF administrations"),
    ),
)

RULES_BY_ID: dict[str, Rule] = {rule.id: rule for rule in RULES}


def format_catalogue(rules: tuple[Rule, ...] = RULES) -> str:
    """Plain-text table of the catalogue (id, severity, hooks, level, trigger, source)."""
    header = f"{'ID':<4} {'SEVERITY':<8} {'HOOKS':<39} {'LEVEL':<7} TRIGGER / SOURCE"
    lines = [header, "-" * len(header)]
    indent = " " * 62
    for rule in rules:
        hooks = ", ".join(rule.hooks)
        level = "+".join(rule.evidence_level)
        lines.append(
            f"{rule.id:<4} {rule.severity:<8} {hooks:<39} {level:<7} {rule.title}: {rule.trigger}"
        )
        lines.append(f"{indent}source: {rule.source}")
        if rule.configuration_gap:
            lines.append(f"{indent}configuration: {rule.configuration_gap}")
    return "\n".join(lines) + "\n"
