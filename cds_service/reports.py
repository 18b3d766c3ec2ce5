"""`icaht-cds report` as text: a table for reading, CSV for a spreadsheet.

One row per month and rule (cds_service/store/governance.py); the override reasons of a row are
its reason codes with their displays and counts, most frequent first. Nothing here can hold a
patient identifier: the rows carry counts, rule ids and reason codes only.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from cds_service.store.governance import STATUS_CARD, RuleMonth
from icaht.rules import RULES_BY_ID

CSV_COLUMNS = (
    "month",
    "rule",
    "title",
    "shown",
    "accepted",
    "overridden",
    "withheld",
    "override_reasons",
)


def rule_title(rule: str) -> str:
    if rule == STATUS_CARD:
        return "status card (grade and what it rests on)"
    found = RULES_BY_ID.get(rule)
    return found.title if found else "(not in this release's catalogue)"


def reasons_text(row: RuleMonth) -> str:
    """`code (display): count; ...`, most frequent first, then by code."""
    ordered = sorted(row.reasons.items(), key=lambda item: (-item[1], item[0]))
    return "; ".join(
        f"{code or '(none)'}{f' ({display})' if display else ''}: {count}"
        for (code, display), count in ordered
    )


def report_csv(rows: Sequence[RuleMonth]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(
            (
                row.month,
                row.rule,
                rule_title(row.rule),
                row.shown,
                row.accepted,
                row.overridden,
                row.withheld,
                _cell(reasons_text(row)),
            )
        )
    return out.getvalue()


def _cell(text: str) -> str:
    """A text cell a spreadsheet will not run as a formula (reason codes come from the EHR)."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def report_table(rows: Sequence[RuleMonth]) -> str:
    if not rows:
        return "no cards in the audit for this period\n"
    header = ("month", "rule", "shown", "accepted", "overridden", "withheld")
    cells = [
        (r.month, r.rule, str(r.shown), str(r.accepted), str(r.overridden), str(r.withheld))
        for r in rows
    ]
    widths = [max(len(line[i]) for line in (header, *cells)) for i in range(len(header))]
    lines = ["  ".join(text.ljust(widths[i]) for i, text in enumerate(header)).rstrip()]
    lines.append("  ".join("-" * width for width in widths))
    for row, line in zip(rows, cells, strict=True):
        lines.append(
            "  ".join(
                text.ljust(widths[i]) if i < 2 else text.rjust(widths[i])
                for i, text in enumerate(line)
            )
        )
        if row.reasons:
            lines.append(f"    override reasons: {reasons_text(row)}")
    titles = sorted({r.rule for r in rows})
    lines += ["", "rules:"] + [f"  {rule}  {rule_title(rule)}" for rule in titles]
    return "\n".join(lines) + "\n"
