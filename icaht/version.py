"""Knowledge version of the clinical rules implemented by the engine.

Change RULES_VERSION whenever any rule, threshold or default reading changes (format
YYYY.MM.DD-n). Cards carry it (docs/design.md §4) so an audit can tell which rules produced a card.
Implements docs/clinical/ with the §16 binding clarifications of 2026-11-23 and
the §17 clarifications of 2026-12-04 (C12-C16).
"""

# -2: rules M01-M26; -3: baseline scores as of the evaluation date;
# 2026.11.30-1: M01 guards blood-product orders of a course in preparation (before day 0)
# 2026.12.05-1: §17 C12-C16 (issue 12): censoring-closed windows filled; IEC-HS screen
#   calibrated (M23 warning); irradiation read per field (M01); G-CSF coverage (M02, M03, M06,
#   M07); CRS period of the day (M04, M20); M09 history arm; M19 from day 21; coded drugs,
#   procedures and censoring events
# 2026.12.05-2: issue 14: infections, fever, bleeding, disease, supportive drugs, stored stem
#   cells and planned infusions read from FHIR; M10, M11 (patient view), M12, M14 (11-20 band),
#   M16, M17, M24, M25 can fire; M03/M04 infection branches; M08/M09 quiet on prophylaxis; M09
#   corticosteroid factor; M01 window from a planned infusion (decision records 0020-0023)
# 2026.12.05-3: issue 19: T-ICAHT (docs/clinical/18-t-icaht.md §18): early/late platelet grading and
#   transfusion-independent platelet recovery beside N-ICAHT; M14, M15, M19 cite it (0024)
# 2026.12.05-4: issues 18 and 16: order-select judges only the selected draft orders (all of
#   them when no selection names one), order-select and order-sign share one override scope
#   (0026); the early N-ICAHT explanation names the measured days it bridges (A4, 0031)
# 2026.12.05-5: issue 15: one wording per fact for the card, the SMART API and the cohort tables
#   (icaht/explanations.py): the late N-ICAHT sentence of the card everywhere, CTCAE values keep
#   their "<", phenotype and CAR-HEMATOTOX texts as the card's; thresholds from one home each
RULES_VERSION = "2026.12.05-5"
