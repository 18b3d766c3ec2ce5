"""FHIR date/dateTime/instant -> local calendar date in the centre's IANA time zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class When:
    """A local calendar day, and the aware timestamp when the source had a time of day."""

    day: date
    at: datetime | None
    naive_time: bool = False  # a time of day without offset: read in the local zone


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@lru_cache(maxsize=65536)
def parse_when(text: str, tz: str) -> When | None:
    """Parse a FHIR date or dateTime; None for partial dates (year, year-month) or garbage.

    A date-only value is that calendar date. A dateTime is converted to `tz` before its date is
    taken (23:30-05:00 on 1 March is 2 March in UTC but 1 March in America/New_York).
    """
    if len(text) == 10:
        try:
            return When(date.fromisoformat(text), None)
        except ValueError:
            return None
    if len(text) < 10 or "T" not in text:
        return None
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        return None
    local_zone = zone(tz)
    if ts.tzinfo is None:
        local = ts.replace(tzinfo=local_zone)
        return When(local.date(), local, naive_time=True)
    try:
        local = ts.astimezone(local_zone)
    except OverflowError:  # 0001-01-01T00:00+14:00 has no local twin: not a usable time
        return None
    return When(local.date(), local)
