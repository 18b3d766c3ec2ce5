"""Retention and the governance report over the store (`icaht-cds purge`, `icaht-cds report`).

Retention policy: docs/decisions/0034. `purge` deletes audit rows older than their period,
feedback rows and overrides older than theirs, and replay-cache rows whose time has passed;
`dry_run` counts the same rows and deletes nothing.

The report counts, per month and rule, the cards shown, the feedback on them (accepted,
overridden) and the alert cards withheld after an override, with the override reason codes.
A card's rule and month are those of its audit row (the month it was shown, in the centre's
time zone), so that accepted and overridden are shares of the cards shown in the same row. No
patient hash, no card id and no free-text comment leaves this module.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from cds_service.store import tables
from cds_service.store.store import Store

STATUS_CARD = "status"  # the rule column of the status card (no rule of its own)


@dataclass(frozen=True)
class Cutoffs:
    """Rows strictly older than these instants are purged."""

    audit: datetime
    feedback: datetime
    now: datetime  # replay-cache rows expired at or before it

    @classmethod
    def of(cls, now: datetime, audit_days: int, feedback_days: int) -> Cutoffs:
        return cls(now - timedelta(days=audit_days), now - timedelta(days=feedback_days), now)


def _purge_conditions(cutoffs: Cutoffs) -> dict[str, tuple[sa.Table, sa.ColumnElement[bool]]]:
    return {
        "audit": (tables.audit, tables.audit.c.created_at < cutoffs.audit),
        "feedback": (tables.feedback, tables.feedback.c.received_at < cutoffs.feedback),
        # an override never starts later than its feedback was received: it goes no later
        # than its feedback row (and its period, ICAHT_CDS_OVERRIDE_DAYS, is within this one)
        "card_override": (
            tables.card_override,
            tables.card_override.c.overridden_at < cutoffs.feedback,
        ),
        "replay_cache": (tables.replay_cache, tables.replay_cache.c.expires_at <= cutoffs.now),
    }


def purge(store: Store, cutoffs: Cutoffs, *, dry_run: bool = False) -> dict[str, int]:
    """Delete (or with `dry_run` only count) the rows past retention; counts per table. One
    transaction: a failure deletes nothing."""
    counts: dict[str, int] = {}
    with store.engine.begin() as connection:
        for name, (table, condition) in _purge_conditions(cutoffs).items():
            if dry_run:
                query = sa.select(sa.func.count()).select_from(table).where(condition)
                counts[name] = int(connection.execute(query).scalar_one())
            else:
                counts[name] = int(connection.execute(table.delete().where(condition)).rowcount)
    return counts


@dataclass
class RuleMonth:
    """One row of the report: a rule's cards in one month."""

    month: str  # YYYY-MM in the centre's time zone
    rule: str  # catalogue id, or "status"
    shown: int = 0
    accepted: int = 0
    overridden: int = 0
    withheld: int = 0
    reasons: Counter[tuple[str, str]] = field(default_factory=Counter)  # (code, display)


def governance_report(
    store: Store,
    timezone: str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[RuleMonth]:
    """Rows per (month, rule), sorted; audit rows shown in [since, until)."""
    zone = ZoneInfo(timezone)
    rows: dict[tuple[str, str], RuleMonth] = {}

    def row(created_at: datetime, rule_ids: Any) -> RuleMonth:
        month = created_at.astimezone(zone).strftime("%Y-%m")
        rule = str(rule_ids[0]) if rule_ids else STATUS_CARD
        key = (month, rule)
        if key not in rows:
            rows[key] = RuleMonth(month, rule)
        return rows[key]

    for created_at, rule_ids, withheld in _cards(store, since, until):
        target = row(created_at, rule_ids)
        if withheld:
            target.withheld += 1
        else:
            target.shown += 1
    for created_at, rule_ids, outcome, code, display in _feedback(store, since, until):
        target = row(created_at, rule_ids)
        if outcome == "accepted":
            target.accepted += 1
        elif outcome == "overridden":
            target.overridden += 1
            target.reasons[(code or "", display or "")] += 1
    return [rows[key] for key in sorted(rows)]


def _window(query: sa.Select[Any], since: datetime | None, until: datetime | None) -> Any:
    if since is not None:
        query = query.where(tables.audit.c.created_at >= since)
    if until is not None:
        query = query.where(tables.audit.c.created_at < until)
    return query


def _cards(
    store: Store, since: datetime | None, until: datetime | None
) -> Iterator[tuple[datetime, Any, bool]]:
    """(shown at, rule ids, withheld) of every card row (calls without cards have none)."""
    audit = tables.audit
    query = sa.select(audit.c.created_at, audit.c.rule_ids, audit.c.withheld).where(
        audit.c.card_uuid.is_not(None)
    )
    with store.engine.connect() as connection:
        result = connection.execution_options(yield_per=5000).execute(_window(query, since, until))
        for created_at, rule_ids, withheld in result:
            yield created_at, rule_ids, bool(withheld)


def _feedback(
    store: Store, since: datetime | None, until: datetime | None
) -> Iterator[tuple[datetime, Any, str, str | None, str | None]]:
    """Each feedback entry with the first audit row of its card as shown (its month and rule):
    the row the store checked when it accepted the feedback (same card, service; shown)."""
    audit, feedback = tables.audit, tables.feedback
    first_shown = (
        sa.select(sa.func.min(audit.c.id).label("id"), audit.c.card_uuid, audit.c.service_id)
        .where(audit.c.withheld == sa.false(), audit.c.card_uuid.is_not(None))
        .group_by(audit.c.card_uuid, audit.c.service_id)
        .subquery()
    )
    query = (
        sa.select(
            audit.c.created_at,
            audit.c.rule_ids,
            feedback.c.outcome,
            feedback.c.override_reason_code,
            feedback.c.override_reason_display,
        )
        .select_from(feedback)
        .join(
            first_shown,
            sa.and_(
                first_shown.c.card_uuid == feedback.c.card_uuid,
                first_shown.c.service_id == feedback.c.service_id,
            ),
        )
        .join(audit, audit.c.id == first_shown.c.id)
    )
    with store.engine.connect() as connection:
        result = connection.execution_options(yield_per=5000).execute(_window(query, since, until))
        yield from result
