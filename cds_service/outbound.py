"""The service's outbound HTTP settings, one for every client (FHIR, JWKS): docs/decisions/0034.

- ICAHT_CDS_OUTBOUND_PROXY: the forward proxy (http:// or https:// URL; HTTPS targets go
  through it by CONNECT) every outbound request uses, FHIR and JWKS alike. Unset: direct.
- ICAHT_CDS_NO_PROXY: host names (or IP literals) reached without the proxy, separated by
  commas or spaces; `example.org` also covers its subdomains (`fhir.example.org`), as curl reads
  NO_PROXY. No ports, no CIDR ranges, no `*` (to go direct everywhere, leave the proxy unset).
- requests' own environment (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY, .netrc) is never
  read: each session has `trust_env = False`, so a variable set for another program cannot
  send one client through a proxy and the other not, nor send .netrc credentials to an EHR.
  The CA bundle variables that requests reads (REQUESTS_CA_BUNDLE, then CURL_CA_BUNDLE) are
  kept, and apply to both clients: a site with its own CA sets one of them.

The proxy URL may hold credentials (http://user:secret@proxy:3128): it is never logged.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

PROXY_ENV = "ICAHT_CDS_OUTBOUND_PROXY"
NO_PROXY_ENV = "ICAHT_CDS_NO_PROXY"
CA_BUNDLE_ENVS = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def parse_proxy_url(raw: str | None) -> str | None:
    """The proxy URL as configured, or ValueError naming the variable (not the value: it may
    hold a password)."""
    if raw is None or not raw.strip():
        return None
    try:
        parts = urlsplit(raw.strip())
        port = parts.port  # ValueError for a port that is not a number
    except ValueError:
        raise ValueError(f"{PROXY_ENV} is not a URL") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or port == 0:
        raise ValueError(f"{PROXY_ENV} must be an http:// or https:// URL with a host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError(f"{PROXY_ENV} must be scheme://[user:password@]host[:port] only")
    return raw.strip()


def parse_no_proxy(raw: str) -> tuple[str, ...]:
    hosts: list[str] = []
    for entry in raw.replace(",", " ").split():
        host = entry.strip().lower().lstrip(".").strip("[]")
        if not host or host == "*" or "/" in host or (":" in host and host.count(":") == 1):
            raise ValueError(
                f"{NO_PROXY_ENV}: {entry!r} is not a host name or IP address "
                "(no '*', no ports, no CIDR ranges)"
            )
        hosts.append(host)
    return tuple(dict.fromkeys(hosts))


@dataclass(frozen=True)
class Outbound:
    """How the service's HTTP clients reach the outside: proxy, its exceptions, CA bundle."""

    proxy: str | None = None
    no_proxy: tuple[str, ...] = ()
    verify: bool | str = True  # True: requests' bundled CAs; a path: that CA bundle

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Outbound:
        """From the environment; ValueError naming the variable when it is malformed (the
        service's configuration check has already refused it at start)."""
        env = os.environ if env is None else env
        bundle = next((env[name] for name in CA_BUNDLE_ENVS if env.get(name)), None)
        return cls(
            proxy=parse_proxy_url(env.get(PROXY_ENV)),
            no_proxy=parse_no_proxy(env.get(NO_PROXY_ENV) or ""),
            verify=bundle or True,
        )

    def bypasses(self, host: str) -> bool:
        host = host.lower().strip("[]").rstrip(".")
        return any(host == entry or host.endswith(f".{entry}") for entry in self.no_proxy)

    def proxies_for(self, url: str) -> dict[str, str]:
        """The `proxies` argument of a requests call to `url`: empty means direct."""
        if self.proxy is None:
            return {}
        host = urlsplit(url).hostname or ""
        if self.bypasses(host):
            return {}
        return {"http": self.proxy, "https": self.proxy}
