"""JWKS fetched from allow-listed URLs: cached, refetched on an unknown `kid`, bounded in time.

Only the authenticator calls `RemoteKeySets.lookup`, and only with a URL it has already found on
the issuer's allow-list: this module never decides which URL is safe to fetch.

- A set is cached for `lifespan` seconds. A `kid` not in a fresh set triggers one refetch (key
  rotation), but at most one fetch per URL every `refetch_interval` seconds, successful or not:
  a flood of tokens with made-up `kid`s (or a JWKS server that is down) cannot turn into a flood
  of outgoing requests, and requests fail fast meanwhile.
- One lock per URL: concurrent requests wait for one fetch instead of each fetching.
- A fetch is bounded: `timeout` seconds to connect and between bytes, twice that in total, at
  most 64 KiB, no redirects, no proxy or .netrc from the environment: the service's outbound
  proxy only (ICAHT_CDS_OUTBOUND_PROXY, cds_service/outbound.py).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests

from cds_service.outbound import Outbound
from cds_service.security.keys import (
    HOOK_RSA_ALGORITHMS,
    KeySet,
    KeySetError,
    PublicKey,
    parse_jwks,
)

MAX_JWKS_BYTES = 64 * 1024


class JwksUnavailableError(Exception):
    """The JWKS could not be fetched or parsed (the message holds no secret)."""


@dataclass(frozen=True)
class _Entry:
    keys: KeySet | None  # None: never fetched successfully
    fetched_at: float  # clock time of the last successful fetch
    attempted_at: float  # clock time of the last attempt, successful or not


class RemoteKeySets:
    def __init__(
        self,
        *,
        timeout: float,
        lifespan: float,
        refetch_interval: float,
        clock: Callable[[], float],
        rsa_algs: tuple[str, ...] = HOOK_RSA_ALGORITHMS,
        outbound: Outbound | None = None,
    ) -> None:
        self._timeout = timeout
        # the proxy of ICAHT_CDS_OUTBOUND_PROXY, as the FHIR client's (docs/decisions/0034)
        self._outbound = outbound if outbound is not None else Outbound.from_env()
        self._rsa_algs = rsa_algs
        self._lifespan = lifespan
        self._refetch_interval = refetch_interval
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def lookup(self, url: str, kid: str) -> PublicKey | None:
        """The key `kid` of the set at `url`, fetching it when needed; None when unknown."""
        entry = self._entries.get(url)
        if entry is not None and self._fresh(entry) and entry.keys is not None:
            key = entry.keys.get(kid)
            if key is not None:
                return key
        with self._lock_for(url):
            return self._lookup_locked(url, kid)

    def _lookup_locked(self, url: str, kid: str) -> PublicKey | None:
        entry = self._entries.get(url)
        fresh = entry is not None and entry.keys is not None and self._fresh(entry)
        if entry is not None and entry.keys is not None and fresh and kid in entry.keys.by_kid:
            return entry.keys.get(kid)
        if entry is not None and self._clock() - entry.attempted_at < self._refetch_interval:
            if fresh and entry.keys is not None:
                return None  # just refetched: the kid is really unknown
            raise JwksUnavailableError("JWKS fetch failed recently; not retrying yet")
        keys = self._refresh(url, entry)
        return keys.get(kid)

    def _refresh(self, url: str, previous: _Entry | None) -> KeySet:
        now = self._clock()
        try:
            keys = fetch_jwks(url, self._timeout, self._rsa_algs, self._outbound)
        except JwksUnavailableError:
            old_keys = previous.keys if previous else None
            old_time = previous.fetched_at if previous else now
            self._entries[url] = _Entry(old_keys, old_time, now)
            raise
        self._entries[url] = _Entry(keys, now, now)
        return keys

    def _fresh(self, entry: _Entry) -> bool:
        return self._clock() - entry.fetched_at < self._lifespan

    def _lock_for(self, url: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(url, threading.Lock())


def fetch_jwks(
    url: str,
    timeout: float,
    rsa_algs: tuple[str, ...] = HOOK_RSA_ALGORITHMS,
    outbound: Outbound | None = None,
) -> KeySet:
    """GET a JWKS: no redirects, bounded time and size; JwksUnavailableError on any failure."""
    deadline = time.monotonic() + 2 * timeout
    try:
        body = _download(url, timeout, deadline, outbound or Outbound.from_env())
        return parse_jwks(json.loads(body), strict=False, rsa_algs=rsa_algs)
    except (requests.RequestException, ValueError, KeySetError) as error:
        # ValueError covers JSON errors; the URL is configuration, not a secret
        reason = f"{type(error).__name__}: {error}"[:200]
        raise JwksUnavailableError(f"JWKS {url}: {reason}") from None


def _download(url: str, timeout: float, deadline: float, outbound: Outbound) -> bytes:
    with requests.Session() as session:
        # no proxy from the environment, no .netrc credentials sent to the JWKS host: only the
        # service's own outbound proxy (ICAHT_CDS_OUTBOUND_PROXY), as for FHIR
        session.trust_env = False
        response = session.get(
            url,
            timeout=(timeout, timeout),
            allow_redirects=False,
            stream=True,
            proxies=outbound.proxies_for(url),
            verify=outbound.verify,
            headers={"Accept": "application/json, application/jwk-set+json"},
        )
        with response:
            if response.status_code != 200:
                raise ValueError(f"HTTP status {response.status_code}")
            body = bytearray()
            for chunk in response.iter_content(8192):
                body += chunk
                if len(body) > MAX_JWKS_BYTES:
                    raise ValueError("JWKS too large")
                if time.monotonic() > deadline:
                    raise ValueError("JWKS download too slow")
            return bytes(body)
