"""Knowledge version of the clinical rules implemented by the engine.

Change RULES_VERSION whenever any rule, threshold or default reading changes (format
YYYY.MM.DD-n). Cards carry it (DESIGN.md §4) so an audit can tell which rules produced a card.
Implements clinical-rules.md version 0.1 with the §16 binding clarifications of 2026-11-23.
"""

# -2: rules M01-M26; -3: baseline scores as of the evaluation date;
# 2026.11.30-1: M01 guards blood-product orders of a course in preparation (before day 0)
RULES_VERSION = "2026.11.30-1"
