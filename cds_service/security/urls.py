"""URL comparison for allow-lists: one normal form, no prefix matching, no dot segments.

An allow-listed base URL `https://ehr.example.org/fhir` must match only itself (with or without a
trailing slash, with or without the default port, any case in scheme and host). Everything an
attacker could use to make a different URL look like an allowed one is refused outright instead
of being "resolved": user info (`https://ehr.example.org@evil.com`), dot segments (`/fhir/../x`),
their percent-encoded forms, backslashes, control characters, query strings and fragments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_HOST = re.compile(
    r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$"
)
_IPV6 = re.compile(r"^[0-9a-f:.]+$")
_UNSAFE_PATH = re.compile(r"%(?:2e|2f|5c|00)|\\", re.IGNORECASE)
_DOT_SEGMENTS = frozenset({".", ".."})


class UrlError(ValueError):
    """A URL cannot be put in normal form (the message says why, never echoes a token)."""


@dataclass(frozen=True)
class NormalUrl:
    scheme: str
    host: str
    port: int
    path: str  # "" for the root, else "/a/b" without a trailing slash

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = "" if DEFAULT_PORTS[self.scheme] == self.port else f":{self.port}"
        return f"{self.scheme}://{host}{port}{self.path}"

    @property
    def is_loopback(self) -> bool:
        return self.host in LOOPBACK_HOSTS or self.host.startswith("127.")


def https_or_loopback(url: Any) -> NormalUrl:
    """The normal form of a configured URL that keys are fetched from: https, or http only on
    a loopback address (a local test server); else UrlError."""
    normal = normalise_url(url)
    if normal.scheme != "https" and not normal.is_loopback:
        raise UrlError("must use https (http only on a loopback address)")
    return normal


def normalise_url(url: str) -> NormalUrl:
    """The normal form of an http(s) base URL, or UrlError."""
    if not isinstance(url, str) or not url or len(url) > 2048:
        raise UrlError("not a URL string")
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        raise UrlError("whitespace or control character in URL")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise UrlError("malformed URL") from error
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise UrlError("scheme must be http or https")
    if "@" in parts.netloc:
        raise UrlError("user info is not allowed in the URL")
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise UrlError("query and fragment are not allowed in a base URL")
    if port == 0:  # falsy: it must not pass for "no port given" (found by hypothesis)
        raise UrlError("port 0 is not a port")
    host = _host(parts.hostname)
    return NormalUrl(
        scheme, host, DEFAULT_PORTS[scheme] if port is None else port, _path(parts.path)
    )


def _host(hostname: str | None) -> str:
    host = (hostname or "").lower()
    if not host or not (_HOST.match(host) or (":" in host and _IPV6.match(host))):
        raise UrlError("missing or invalid host")
    return host


def _path(path: str) -> str:
    if _UNSAFE_PATH.search(path):
        raise UrlError("encoded dot, slash or backslash in path")
    trimmed = path.rstrip("/")
    segments = trimmed.split("/")[1:] if trimmed else []
    if any(segment in _DOT_SEGMENTS or segment == "" for segment in segments):
        raise UrlError("dot or empty segment in path")
    return trimmed


def same_base_url(candidate: str, allowed: NormalUrl) -> bool:
    """True when `candidate` is exactly the allowed base URL in normal form."""
    try:
        return normalise_url(candidate) == allowed
    except UrlError:
        return False
