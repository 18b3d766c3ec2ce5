"""One outbound proxy for the FHIR client and the JWKS client (ICAHT_CDS_OUTBOUND_PROXY, issue 17,
docs/decisions/0034), tested through a real forward proxy on loopback that counts what it
carries: plain HTTP requests by absolute URI and HTTPS by CONNECT tunnels.

The targets are named `*.proxied.invalid`: `.invalid` never resolves (RFC 6761), so a request
that reaches its target went through the proxy, which sends every name to the local servers.
requests' own proxy variables (HTTP(S)_PROXY, NO_PROXY) must change nothing for either client.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import select
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cds_service.fhir_client import Deadline, FhirClient, FhirTarget, FhirUnavailableError
from cds_service.outbound import Outbound
from cds_service.security.remote import JwksUnavailableError, RemoteKeySets

FHIR_HOST = "fhir.proxied.invalid"
KEYS_HOST = "keys.proxied.invalid"
KEY = ec.generate_private_key(ec.SECP384R1())
JWKS = {
    "keys": [
        json.loads(jwt.algorithms.ECAlgorithm.to_jwk(KEY.public_key()))
        | {"kid": "k-1", "alg": "ES384", "use": "sig"}
    ]
}
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy")
PROXY_VARIABLES += ("https_proxy", "all_proxy", "no_proxy", "ICAHT_CDS_OUTBOUND_PROXY")
PROXY_VARIABLES += ("ICAHT_CDS_NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


class Target(BaseHTTPRequestHandler):
    """The FHIR server and the JWKS host: a Patient at /fhir/Patient/p1, keys at /jwks."""

    def do_GET(self) -> None:
        if self.path == "/jwks":
            body, kind = JWKS, "application/json"
        else:
            body, kind = {"resourceType": "Patient", "id": "p1"}, "application/fhir+json"
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class Proxy:
    """A forward proxy: GET by absolute URI (HTTP) and CONNECT (HTTPS), every host name sent
    to the local targets. `seen` lists (method, host) of what it carried."""

    http_port: int
    tls_port: int
    seen: list[tuple[str, str]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    def handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                proxy.seen.append(("GET", parts.hostname or ""))
                upstream = http.client.HTTPConnection("127.0.0.1", proxy.http_port, timeout=5)
                upstream.request("GET", parts.path, headers={"Accept": "*/*"})
                answer = upstream.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.getheader("Content-Type") or "")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                upstream.close()

            def do_CONNECT(self) -> None:
                host = self.path.rsplit(":", 1)[0]
                proxy.seen.append(("CONNECT", host))
                upstream = socket.create_connection(("127.0.0.1", proxy.tls_port), timeout=5)
                self.send_response(200, "Connection established")
                self.end_headers()
                _pipe(self.connection, upstream)
                self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"


def _pipe(client: socket.socket, upstream: socket.socket) -> None:
    sockets = [client, upstream]
    try:
        while True:
            readable, _, _ = select.select(sockets, [], [], 5)
            if not readable:
                return
            for source in readable:
                data = source.recv(65536)
                if not data:
                    return
                (upstream if source is client else client).sendall(data)
    finally:
        upstream.close()


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, FHIR_HOST)])
    now = dt.datetime.now(dt.UTC)
    names = [x509.DNSName(FHIR_HOST), x509.DNSName(KEYS_HOST)]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "target.pem", directory / "target.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _serve(server: ThreadingHTTPServer, started: list[ThreadingHTTPServer]) -> None:
    threading.Thread(target=server.serve_forever, daemon=True).start()
    started.append(server)


@dataclass
class Network:
    proxy: Proxy
    ca_bundle: Path
    http_port: int
    tls_port: int


@pytest.fixture
def network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Network]:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    started: list[ThreadingHTTPServer] = []
    plain = ThreadingHTTPServer(("127.0.0.1", 0), Target)
    tls = ThreadingHTTPServer(("127.0.0.1", 0), Target)
    cert, key = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    tls.socket = context.wrap_socket(tls.socket, server_side=True)
    proxy = Proxy(plain.server_address[1], tls.server_address[1])
    proxy.server = ThreadingHTTPServer(("127.0.0.1", 0), proxy.handler())
    for server in (plain, tls, proxy.server):
        _serve(server, started)
    yield Network(proxy, cert, plain.server_address[1], tls.server_address[1])
    for server in started:
        server.shutdown()
        server.server_close()


def fetch_both(scheme: str, port: int) -> tuple[dict[str, Any], bool]:
    """A FHIR read and a JWKS lookup, each client built as the service builds it (from the
    environment)."""
    client = FhirClient(per_request_timeout=5)
    try:
        target = FhirTarget(f"{scheme}://{FHIR_HOST}:{port}/fhir")
        patient = client.get(target, "Patient/p1", Deadline(10))
    finally:
        client.close()
    keys = RemoteKeySets(timeout=5, lifespan=300, refetch_interval=0, clock=lambda: 0.0)
    key = keys.lookup(f"{scheme}://{KEYS_HOST}:{port}/jwks", "k-1")
    return patient, key is not None


def test_both_clients_go_through_the_proxy_over_http(
    network: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ICAHT_CDS_OUTBOUND_PROXY", network.proxy.url)
    patient, key_found = fetch_both("http", network.http_port)
    assert patient["id"] == "p1" and key_found
    assert network.proxy.seen == [("GET", FHIR_HOST), ("GET", KEYS_HOST)]


def test_both_clients_tunnel_https_through_the_proxy(
    network: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ICAHT_CDS_OUTBOUND_PROXY", network.proxy.url)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(network.ca_bundle))  # the site's own CA
    patient, key_found = fetch_both("https", network.tls_port)
    assert patient["id"] == "p1" and key_found
    connects = [entry for entry in network.proxy.seen if entry[0] == "CONNECT"]
    assert connects == [("CONNECT", f"{FHIR_HOST}"), ("CONNECT", f"{KEYS_HOST}")]


def test_without_the_setting_neither_client_uses_a_proxy_from_the_environment(
    network: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTP(S)_PROXY pointing at the proxy: both clients still go direct, so the `.invalid`
    names fail for both alike, and the proxy carries nothing."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, network.proxy.url)
    with pytest.raises(FhirUnavailableError):
        fetch_both("http", network.http_port)
    keys = RemoteKeySets(timeout=5, lifespan=300, refetch_interval=0, clock=lambda: 0.0)
    with pytest.raises(JwksUnavailableError):
        keys.lookup(f"http://{KEYS_HOST}:{network.http_port}/jwks", "k-1")
    assert network.proxy.seen == []


def test_no_proxy_hosts_are_reached_directly_by_both_clients(
    network: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ICAHT_CDS_OUTBOUND_PROXY", network.proxy.url)
    monkeypatch.setenv("ICAHT_CDS_NO_PROXY", "localhost, 127.0.0.1")
    monkeypatch.setenv("NO_PROXY", "proxied.invalid")  # requests' variable: not read
    client = FhirClient(per_request_timeout=5)
    try:
        direct = FhirTarget(f"http://127.0.0.1:{network.http_port}/fhir")
        assert client.get(direct, "Patient/p1", Deadline(10))["id"] == "p1"
        proxied = FhirTarget(f"http://{FHIR_HOST}:{network.http_port}/fhir")
        assert client.get(proxied, "Patient/p1", Deadline(10))["id"] == "p1"
    finally:
        client.close()
    keys = RemoteKeySets(timeout=5, lifespan=300, refetch_interval=0, clock=lambda: 0.0)
    assert keys.lookup(f"http://127.0.0.1:{network.http_port}/jwks", "k-1") is not None
    assert network.proxy.seen == [("GET", FHIR_HOST)]


@pytest.mark.parametrize(
    ("entries", "host", "bypassed"),
    [
        ("example.org", "example.org", True),
        ("example.org", "fhir.example.org", True),
        (".example.org", "fhir.EXAMPLE.org", True),
        ("example.org", "badexample.org", False),
        ("example.org", "example.org.evil.test", False),
        ("10.1.2.3", "10.1.2.3", True),
        ("[::1]", "::1", True),
        ("", "example.org", False),
    ],
)
def test_no_proxy_matching(entries: str, host: str, bypassed: bool) -> None:
    outbound = Outbound.from_env(
        {"ICAHT_CDS_OUTBOUND_PROXY": "http://proxy.test:3128", "ICAHT_CDS_NO_PROXY": entries}
    )
    assert outbound.bypasses(host) is bypassed
    expected = (
        {} if bypassed else {"http": "http://proxy.test:3128"} | {"https": "http://proxy.test:3128"}
    )
    url_host = f"[{host}]" if ":" in host else host
    assert outbound.proxies_for(f"https://{url_host}/fhir/Patient?x=1") == expected


@pytest.mark.parametrize(
    "value",
    ["socks5://proxy:1080", "proxy:3128", "http://proxy:3128/path", "http://:3128", "http://p:x"],
)
def test_a_malformed_proxy_is_refused_without_echoing_it(value: str) -> None:
    with pytest.raises(ValueError, match="ICAHT_CDS_OUTBOUND_PROXY") as refused:
        Outbound.from_env({"ICAHT_CDS_OUTBOUND_PROXY": value})
    assert value not in str(refused.value)
