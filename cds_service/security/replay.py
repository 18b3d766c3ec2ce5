"""An in-process replay cache, for unit tests and single-process tools only.

The service keeps its replay cache in the shared store (`cds_service.store.Store.claim`): a
replay sent to another gunicorn worker or replica must still be a replay (docs/design.md §4).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

PURGE_AT = 10_000


class InMemoryReplayCache:
    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], datetime] = {}
        self._lock = threading.Lock()

    def claim(self, iss: str, jti: str, expires_at: datetime) -> bool:
        now = datetime.now(UTC)
        with self._lock:
            if len(self._seen) >= PURGE_AT:
                self._seen = {key: until for key, until in self._seen.items() if until > now}
            if (iss, jti) in self._seen:
                return False
            self._seen[(iss, jti)] = expires_at
            return True
