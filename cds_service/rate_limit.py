"""A per-client token bucket for the assessment API (issue 13, finding 8).

Each client (the launch token's issuer and subject; the client address when the API's
authentication is off) has a bucket of `calls` tokens that refills at `calls` per `seconds`; a
call takes one token, and a call that finds none gets 429 with the seconds until the next one.

The buckets live in the worker process: with N gunicorn workers a client can make up to N times
the limit (docs/decisions/0009, 2026-12-05). That bounds a script, not a determined attacker with
many identities; the resource cap bounds what any one call can cost. Memory is bounded too: at
`max_clients` buckets, those that have refilled completely (idle clients) are dropped, and if
none has, the oldest.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(
        self,
        calls: int,
        seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = 10_000,
    ) -> None:
        if calls < 1 or seconds <= 0:
            raise ValueError("a rate needs at least 1 call per a positive number of seconds")
        self.calls = calls
        self.seconds = seconds
        self._rate = calls / seconds  # tokens per second
        self._clock = clock
        self._max_clients = max_clients
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, client: str) -> float | None:
        """None when `client` may call now (one token taken); else seconds until it may."""
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(client)
            if bucket is None:
                self._make_room(now)
                bucket = self._buckets[client] = _Bucket(float(self.calls), now)
            bucket.tokens = min(self.calls, bucket.tokens + (now - bucket.updated) * self._rate)
            bucket.updated = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return None
            return (1 - bucket.tokens) / self._rate

    def _make_room(self, now: float) -> None:
        if len(self._buckets) < self._max_clients:
            return
        full = self.calls / self._rate  # seconds for an empty bucket to refill
        self._buckets = {
            key: bucket for key, bucket in self._buckets.items() if now - bucket.updated < full
        }
        while len(self._buckets) >= self._max_clients:
            del self._buckets[min(self._buckets, key=lambda k: self._buckets[k].updated)]


def retry_after(seconds: float) -> str:
    """The Retry-After header's value: whole seconds, rounded up, at least 1."""
    return str(max(1, math.ceil(seconds)))
