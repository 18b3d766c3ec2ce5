"""The service's FHIR HTTP client: every call to an EHR's FHIR server goes through here.

One pooled `requests.Session`; every call runs under the hook call's `Deadline` (each request's
timeout is the smaller of the per-request timeout and what is left of the deadline); paging
is followed only on the same server; one exception type per failure. The access token is sent
as a bearer header and never logged or put into an error message.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

log = logging.getLogger(__name__)
FHIR_JSON = "application/fhir+json"


class FhirError(Exception):
    """A FHIR query could not give an answer; `str()` is safe to log (no token, no data)."""


class FhirUnavailableError(FhirError):
    """The FHIR server could not be reached."""


class FhirTimeoutError(FhirError):
    """The FHIR server did not answer within the hook call's deadline."""


class FhirStatusError(FhirError):
    """The FHIR server answered with an HTTP error."""

    def __init__(self, status: int, query: str) -> None:
        super().__init__(f"FHIR server answered HTTP {status} to {query}")
        self.status = status


class FhirResponseError(FhirError):
    """The FHIR server answered with something that is not the expected FHIR JSON."""


@dataclass
class Deadline:
    """One deadline for a whole hook call (monotonic clock)."""

    seconds: float
    started: float = field(default_factory=time.monotonic)

    def remaining(self) -> float:
        return max(0.0, self.started + self.seconds - time.monotonic())

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0


@dataclass(frozen=True)
class FhirTarget:
    """Where and how to query: the request's fhirServer and its access token."""

    base_url: str
    access_token: str | None = None

    def headers(self) -> dict[str, str]:
        headers = {"Accept": FHIR_JSON}
        if self.access_token:
            headers["Authorization"] = f"Bearer {self.access_token}"
        return headers

    def __repr__(self) -> str:  # keep the token out of any repr that reaches a log
        return f"FhirTarget(base_url={self.base_url!r})"


@dataclass(frozen=True)
class CallTiming:
    query: str
    seconds: float
    outcome: str  # "ok" or the exception class name


class FhirClient:
    """Thread-safe; share one per process."""

    def __init__(
        self,
        per_request_timeout: float = 1.5,
        max_pages: int = 20,
        pool_size: int = 16,
        observer: Callable[[str, float, str], None] | None = None,
    ) -> None:
        self.per_request_timeout = per_request_timeout
        self.max_pages = max_pages
        self.observer = observer  # (resource type, seconds, outcome), e.g. for metrics
        self._session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=8, pool_maxsize=pool_size)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._executor = ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="fhir")
        self._lock = threading.Lock()
        self.timings: list[CallTiming] = []  # last calls, for metrics and tests

    # -- single calls --------------------------------------------------------------------
    def get(self, target: FhirTarget, query: str, deadline: Deadline) -> dict[str, Any]:
        """GET `base_url/query` (or an absolute URL on the same server) as FHIR JSON."""
        url = query if query.startswith(("http://", "https://")) else _join(target.base_url, query)
        if not _same_server(url, target.base_url):
            raise FhirResponseError("a paging link points away from the FHIR server")
        shown = _shown(query)
        timeout = min(self.per_request_timeout, deadline.remaining())
        if timeout <= 0:
            raise FhirTimeoutError(f"deadline passed before {shown}")
        started = time.perf_counter()
        outcome = "ok"
        try:
            return self._get_json(url, target, timeout, shown)
        except FhirError as error:
            outcome = type(error).__name__
            raise
        finally:
            self._record(CallTiming(shown, time.perf_counter() - started, outcome))

    def _get_json(self, url: str, target: FhirTarget, timeout: float, shown: str) -> dict[str, Any]:
        try:
            response = self._session.get(url, headers=target.headers(), timeout=timeout)
        except requests.Timeout as error:
            raise FhirTimeoutError(f"no answer within {timeout:.2f} s to {shown}") from error
        except requests.RequestException as error:
            raise FhirUnavailableError(f"FHIR server unreachable for {shown}") from error
        if response.status_code != 200:
            raise FhirStatusError(response.status_code, shown)
        try:
            body = response.json()
        except ValueError as error:
            raise FhirResponseError(f"invalid JSON in the answer to {shown}") from error
        if not isinstance(body, dict) or "resourceType" not in body:
            raise FhirResponseError(f"the answer to {shown} is not a FHIR resource")
        return body

    def search(self, target: FhirTarget, query: str, deadline: Deadline) -> list[dict[str, Any]]:
        """Every page of a search (Bundle `next` links, same server only, bounded)."""
        first = self.get(target, query, deadline)
        return self.follow_pages(target, first, deadline)

    def follow_pages(
        self, target: FhirTarget, bundle: dict[str, Any], deadline: Deadline
    ) -> list[dict[str, Any]]:
        """The bundle and the pages after it. `total` is never trusted: entries are."""
        pages = [bundle]
        seen: set[str] = set()
        while (link := _next_link(pages[-1])) is not None:
            if link in seen or len(pages) >= self.max_pages:
                raise FhirResponseError("paging does not end (repeated link or too many pages)")
            seen.add(link)
            page = self.get(target, link, deadline)
            if page.get("resourceType") != "Bundle":
                raise FhirResponseError("a paging link did not return a Bundle")
            pages.append(page)
        return pages

    # -- several calls in parallel -----------------------------------------------------------
    def gather(
        self,
        target: FhirTarget,
        queries: Mapping[str, str],
        deadline: Deadline,
    ) -> dict[str, list[dict[str, Any]] | FhirError]:
        """Run searches in parallel; each key gets its pages or the error that stopped it."""
        futures: dict[str, Future[list[dict[str, Any]]]] = {
            key: self._executor.submit(self.search, target, query, deadline)
            for key, query in queries.items()
        }
        wait(futures.values(), timeout=deadline.remaining())
        results: dict[str, list[dict[str, Any]] | FhirError] = {}
        for key, future in futures.items():
            if not future.done():
                results[key] = FhirTimeoutError(f"deadline passed while fetching {key}")
                continue
            error = future.exception()
            if error is None:
                results[key] = future.result()
            elif isinstance(error, FhirError):
                results[key] = error
            else:
                log.error("unexpected error in FHIR query %s: %s", key, type(error).__name__)
                results[key] = FhirResponseError(f"unexpected error while fetching {key}")
        return results

    def _record(self, timing: CallTiming) -> None:
        if self.observer is not None:
            self.observer(timing.query, timing.seconds, timing.outcome)
        with self._lock:
            self.timings.append(timing)
            del self.timings[:-200]

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._session.close()


def _join(base_url: str, query: str) -> str:
    return f"{base_url.rstrip('/')}/{query.lstrip('/')}"


def _same_server(url: str, base_url: str) -> bool:
    link, base = urlsplit(url), urlsplit(base_url)
    base_path = base.path.rstrip("/")
    return (
        (link.scheme, link.hostname, link.port) == (base.scheme, base.hostname, base.port)
        and (link.path == base_path or link.path.startswith(base_path + "/"))
        and ".." not in link.path.split("/")
    )


def _next_link(bundle: dict[str, Any]) -> str | None:
    for link in bundle.get("link", []) or []:
        if isinstance(link, dict) and link.get("relation") == "next" and link.get("url"):
            return str(link["url"])
    return None


def _shown(query: str) -> str:
    """The query's resource type only: queries carry patient ids, which stay out of logs."""
    segments = urlsplit(query).path.split("/")
    types = [segment for segment in segments if segment[:1].isupper()]
    return types[-1] if types else "query"
