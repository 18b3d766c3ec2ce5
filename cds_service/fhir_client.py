"""The service's FHIR HTTP client: every call to an EHR's FHIR server goes through here.

One pooled `requests.Session` (no cookie jar: one hook call's cookies must never reach
another's); every call runs under the hook call's `Deadline`: each read's timeout is the
smaller of the per-request timeout and what is left of the deadline, and the body is read in
chunks against the deadline and a size cap, so a server that drips bytes cannot hold a call
past it. Redirects are not followed. A URL is checked with the parser that sends it (urllib3's,
as requests uses it) and sent as rebuilt from the checked parts; paging is followed only on
the same server. One exception type per failure. The access token is sent as a bearer header
and never logged or put into an error message. The proxy is the service's one outbound proxy
(ICAHT_CDS_OUTBOUND_PROXY, cds_service/outbound.py), never requests' environment variables.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from http.cookiejar import DefaultCookiePolicy
from typing import Any
from urllib.parse import unquote, urlsplit

import requests
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from cds_service.discovery import RESOURCE_TYPES
from cds_service.outbound import Outbound

log = logging.getLogger(__name__)
FHIR_JSON = "application/fhir+json"
# The largest FHIR answer read: one search page of _count=500 lab Observations is about 1 MB; a
# page 16 times that is no EHR's answer to our queries (docs/decisions/0006).
MAX_ANSWER_BYTES = 16 * 1024 * 1024
READ_CHUNK = 64 * 1024
DEFAULT_PORTS = {"http": 80, "https": 443}
# a URL with a scheme of its own (any case) or a scheme-relative one: checked as a whole
_ABSOLUTE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]*:|//)")
# characters a URL never needs and parsers disagree on (requests ends the host at a backslash,
# urlsplit does not); control characters and spaces are never sent
_REFUSED_CHARACTERS = frozenset("\\ \t\r\n") | frozenset(chr(c) for c in (*range(32), 127))


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


class FhirLinkError(FhirResponseError):
    """A URL (paging link, query) is not on the FHIR server the call was given."""


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
    result: str  # "ok" or the exception class name


class FhirClient:
    """Thread-safe; share one per process."""

    def __init__(
        self,
        per_request_timeout: float = 1.5,
        max_pages: int = 20,
        pool_size: int = 32,
        per_target_limit: int | None = None,
        observer: Callable[[str, float, str], None] | None = None,
        *,
        outbound: Outbound | None = None,
    ) -> None:
        self.per_request_timeout = per_request_timeout
        self.max_pages = max_pages
        self.pool_size = pool_size
        # searches one FHIR server may run at once from this process: a slow server holds at
        # most this share of the pool, the rest stays for calls to other servers (finding 3)
        self.per_target_limit = per_target_limit or max(1, pool_size // 4)
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self.observer = observer  # (resource type, seconds, result), e.g. for metrics
        # the proxy of ICAHT_CDS_OUTBOUND_PROXY, never requests' own environment (0034)
        self.outbound = outbound if outbound is not None else Outbound.from_env()
        self._session = requests.Session()
        self._session.trust_env = False
        self._session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        adapter = requests.adapters.HTTPAdapter(pool_connections=8, pool_maxsize=pool_size)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._executor = ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="fhir")
        self._lock = threading.Lock()
        self.timings: list[CallTiming] = []  # last calls, for metrics and tests

    # -- single calls --------------------------------------------------------------------
    def get(self, target: FhirTarget, query: str, deadline: Deadline) -> dict[str, Any]:
        """GET `base_url/query` (or an absolute URL on the same server) as FHIR JSON."""
        absolute = _ABSOLUTE.match(query) is not None
        raw = query if absolute else _join(target.base_url, query)
        url = checked_url(raw, target.base_url, "a paging link" if absolute else "a FHIR query")
        shown = _shown(url, target.base_url)
        timeout = min(self.per_request_timeout, deadline.remaining())
        if timeout <= 0:
            raise FhirTimeoutError(f"deadline passed before {shown}")
        started = time.perf_counter()
        result = "ok"
        try:
            return self._get_json(url, target, timeout, shown, deadline)
        except FhirError as error:
            result = type(error).__name__
            raise
        finally:
            self._record(CallTiming(shown, time.perf_counter() - started, result))

    def _get_json(
        self, url: str, target: FhirTarget, timeout: float, shown: str, deadline: Deadline
    ) -> dict[str, Any]:
        try:
            response = self._session.get(
                url,
                headers=target.headers(),
                timeout=timeout,
                allow_redirects=False,
                stream=True,
                proxies=self.outbound.proxies_for(url),
                verify=self.outbound.verify,
            )
        except requests.Timeout as error:
            raise FhirTimeoutError(f"no answer within {timeout:.2f} s to {shown}") from error
        except requests.RequestException as error:
            raise FhirUnavailableError(f"FHIR server unreachable for {shown}") from error
        with response:
            if response.status_code != 200:
                # a 3xx too: redirects are never followed (the token would go along)
                raise FhirStatusError(response.status_code, shown)
            data = _read_body(response, deadline, shown)
        try:
            body = json.loads(data)
        except (ValueError, RecursionError) as error:
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
        """Run searches in parallel; each key gets its pages or the error that stopped it.

        Each search first takes one of its FHIR server's `per_target_limit` slots (waiting at
        most until the deadline), so one slow server cannot take the whole pool; a search still
        queued when the deadline passes is cancelled, and one that starts late does no I/O.
        """
        slots = self._slots_of(target)
        futures: dict[str, Future[list[dict[str, Any]]]] = {}
        waited_out: set[str] = set()
        for key, query in queries.items():
            if not slots.acquire(timeout=deadline.remaining()):
                waited_out.add(key)
                continue
            # the caller's context goes along: log lines keep the hook instance, spans their parent
            context = contextvars.copy_context()
            future = self._executor.submit(
                context.run, self._search_in_time, target, query, deadline
            )
            future.add_done_callback(lambda _done: slots.release())
            futures[key] = future
        wait(futures.values(), timeout=deadline.remaining())
        results: dict[str, list[dict[str, Any]] | FhirError] = {}
        for key in queries:
            future_or_none = futures.get(key)
            if future_or_none is None or not future_or_none.done():
                if future_or_none is not None:
                    future_or_none.cancel()  # still queued: it never starts
                why = "waiting for the FHIR server" if key in waited_out else "fetching"
                results[key] = FhirTimeoutError(f"deadline passed while {why} {key}")
                continue
            results[key] = _result_of(key, future_or_none)
        return results

    def _search_in_time(
        self, target: FhirTarget, query: str, deadline: Deadline
    ) -> list[dict[str, Any]]:
        if deadline.expired:  # its call has given up: no query for an answer nobody reads
            raise FhirTimeoutError("deadline passed before the search started")
        return self.search(target, query, deadline)

    def _slots_of(self, target: FhirTarget) -> threading.BoundedSemaphore:
        """The concurrency slots of the target's server (scheme, host and port). One per server
        ever called: the clients file's allow-list bounds them."""
        parts = urlsplit(target.base_url)
        server = f"{parts.scheme}://{parts.netloc}".lower()
        with self._lock:
            slots = self._slots.get(server)
            if slots is None:
                slots = self._slots[server] = threading.BoundedSemaphore(self.per_target_limit)
            return slots

    def _record(self, timing: CallTiming) -> None:
        if self.observer is not None:
            self.observer(timing.query, timing.seconds, timing.result)
        with self._lock:
            self.timings.append(timing)
            del self.timings[:-200]

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._session.close()


def _result_of(key: str, future: Future[list[dict[str, Any]]]) -> list[dict[str, Any]] | FhirError:
    error = future.exception()
    if error is None:
        return future.result()
    if isinstance(error, FhirError):
        return error
    log.error("unexpected error in FHIR query %s: %s", key, type(error).__name__)
    return FhirResponseError(f"unexpected error while fetching {key}")


def _join(base_url: str, query: str) -> str:
    return f"{base_url.rstrip('/')}/{query.lstrip('/')}"


def _read_body(response: requests.Response, deadline: Deadline, shown: str) -> bytes:
    """The body, read chunk by chunk against the call's deadline and MAX_ANSWER_BYTES: requests'
    timeout bounds each read, not the whole answer."""
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_ANSWER_BYTES:
        raise FhirResponseError(f"the answer to {shown} is larger than {MAX_ANSWER_BYTES} bytes")
    body = bytearray()
    try:
        for chunk in response.iter_content(READ_CHUNK):
            body += chunk
            if len(body) > MAX_ANSWER_BYTES:
                raise FhirResponseError(
                    f"the answer to {shown} is larger than {MAX_ANSWER_BYTES} bytes"
                )
            if deadline.expired:
                raise FhirTimeoutError(f"deadline passed while reading the answer to {shown}")
    except requests.RequestException as error:
        if isinstance(error, requests.Timeout | requests.exceptions.ConnectionError):
            raise FhirTimeoutError(f"the answer to {shown} stalled") from error
        raise FhirUnavailableError(f"the answer to {shown} broke off") from error
    return bytes(body)


def checked_url(url: str, base_url: str, what: str = "a FHIR URL") -> str:
    """`url` as it will be sent, when it lies on the FHIR server of `base_url`.

    Parsed with urllib3's parser, which requests uses to send it, and compared part by part
    with the base (scheme, host, port with its default, path prefix); refused: userinfo,
    backslashes, control characters, `.`/`..` path segments (also percent-encoded) and encoded
    slashes. The URL returned is rebuilt from the checked parts (no fragment). Raises
    FhirLinkError otherwise, naming `what` but no part of the URL (it may carry patient ids).
    """
    if any(character in _REFUSED_CHARACTERS for character in url):
        raise FhirLinkError(f"{what} holds characters that are never sent")
    try:
        link, base = parse_url(url), parse_url(base_url)
    except LocationParseError as error:
        raise FhirLinkError(f"{what} cannot be parsed") from error
    if link.auth is not None or "@" in (urlsplit(url).netloc or ""):
        raise FhirLinkError(f"{what} carries user information")
    if _origin(link.scheme, link.host, link.port, what) != _origin(
        base.scheme, base.host, base.port, what
    ):
        raise FhirLinkError(f"{what} points away from the FHIR server")
    path = link.path or "/"
    base_path = (base.path or "").rstrip("/")
    if not (path == base_path or path.startswith(base_path + "/")) or _unsafe_path(path):
        raise FhirLinkError(f"{what} leaves the FHIR server's base path")
    scheme, host = (link.scheme or "").lower(), (link.host or "").lower()
    port = f":{link.port}" if link.port and link.port != DEFAULT_PORTS.get(scheme) else ""
    query = f"?{link.query}" if link.query else ""
    return f"{scheme}://{host}{port}{path}{query}"


def _origin(
    scheme: str | None, host: str | None, port: int | None, what: str
) -> tuple[str, str, int]:
    name = (scheme or "").lower()
    if name not in DEFAULT_PORTS or not host:
        raise FhirLinkError(f"{what} is not an absolute http(s) URL")
    return name, host.lower(), port or DEFAULT_PORTS[name]


def _unsafe_path(path: str) -> bool:
    lowered = path.lower()
    if "%2f" in lowered or "%5c" in lowered:
        return True
    return any(unquote(segment) in (".", "..") for segment in path.split("/"))


def _next_link(bundle: dict[str, Any]) -> str | None:
    links = bundle.get("link")
    for link in links if isinstance(links, list) else []:
        url = link.get("url") if isinstance(link, dict) else None
        if link.get("relation") == "next" and isinstance(url, str) and url:
            return url
    return None


def _shown(url: str, base_url: str) -> str:
    """The checked URL's resource type (the first path segment after the base path) when it is
    one the service reads, else "other": URLs carry patient ids (also as capitalised path
    segments) and paging links are the FHIR server's to choose, and this name goes into logs,
    error messages and metric labels."""
    base_path = (parse_url(base_url).path or "").rstrip("/")
    relative = (urlsplit(url).path or "")[len(base_path) :].lstrip("/")
    resource_type = relative.split("/")[0]
    return resource_type if resource_type in RESOURCE_TYPES else "other"
