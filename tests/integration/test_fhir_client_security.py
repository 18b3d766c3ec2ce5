"""The FHIR client never sends the EHR's access token to a host it was not given (issue 13).

Two real HTTP listeners on loopback: the allowed FHIR server (it answers every GET with an
empty Bundle and records what it received) and a bait listener that must receive nothing. The
paging links come from a hostile Bundle, as a prefetch or a FHIR answer can carry them.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_service import fhir_client
from cds_service.fhir_client import (
    Deadline,
    FhirClient,
    FhirLinkError,
    FhirStatusError,
    FhirTarget,
    FhirTimeoutError,
    checked_url,
)

TOKEN = "ehr-access-token-0815"


@dataclass
class Listener:
    server: ThreadingHTTPServer
    received: list[dict[str, str]] = field(default_factory=list)
    mode: str = "ok"

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/fhir"


def _handler(listener_ref: list[Listener]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            listener = listener_ref[0]
            listener.received.append({"path": self.path, **dict(self.headers.items())})
            if listener.mode == "redirect":
                self.send_response(302)
                self.send_header("Location", listener_ref[1].base + "/Observation")
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif listener.mode == "drip":
                self._drip()
            else:
                self._json({"resourceType": "Bundle", "type": "searchset", "entry": []})

        def _json(self, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(data)))
            if listener_ref[0].mode == "cookie":
                self.send_header("Set-Cookie", "session=other-users-session; Path=/")
            self.end_headers()
            self.wfile.write(data)

        def _drip(self) -> None:
            # a valid Bundle, one byte every 50 ms: no single read ever times out
            data = json.dumps({"resourceType": "Bundle", "type": "searchset", "entry": []})
            padded = data.encode().ljust(400)
            self.send_response(200)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(padded)))
            self.end_headers()
            try:
                for index in range(len(padded)):
                    self.wfile.write(padded[index : index + 1])
                    self.wfile.flush()
                    time.sleep(0.05)
            except (BrokenPipeError, ConnectionResetError):
                listener_ref[0].received.append({"path": "hung-up"})

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


def _listen(ref: list[Listener]) -> Listener:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(ref))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    listener = Listener(server)
    ref.insert(0, listener)
    return listener


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[Listener, Listener]]:
    bait_ref: list[Listener] = []
    bait = _listen(bait_ref)
    allowed_ref: list[Listener] = []
    allowed = _listen(allowed_ref)
    allowed_ref.append(bait)  # where the allowed server redirects to
    yield allowed, bait
    allowed.server.shutdown()
    bait.server.shutdown()


@pytest.fixture
def client() -> Iterator[FhirClient]:
    fhir = FhirClient(per_request_timeout=1.5)
    yield fhir
    fhir.close()


@pytest.fixture(autouse=True)
def _reset(servers: tuple[Listener, Listener]) -> None:
    for listener in servers:
        listener.received.clear()
        listener.mode = "ok"


def _page_with_next(url: str) -> dict[str, Any]:
    return {"resourceType": "Bundle", "link": [{"relation": "next", "url": url}], "entry": []}


def _follow(client: FhirClient, allowed: Listener, link: str) -> Exception | None:
    target = FhirTarget(allowed.base, TOKEN)
    try:
        client.follow_pages(target, _page_with_next(link), Deadline(2.0))
    except Exception as error:
        return error
    return None


def hostile_links(allowed: Listener, bait: Listener) -> list[str]:
    a, b = f"127.0.0.1:{allowed.port}", f"127.0.0.1:{bait.port}"
    return [
        f"http://{b}\\@{a}/fhir/Observation?page=2",  # requests: host ends at the backslash
        f"http://{b}%5C@{a}/fhir/Observation",
        f"http://{a}@{b}/fhir/Observation",  # userinfo that looks like the allowed host
        f"http://user:pw@{a}/fhir/Observation",  # userinfo on the right host: refused too
        f"http://{b}/fhir/Observation",
        f"http://{b}#@{a}/fhir/Observation",
        f"http://{b}?@{a}/fhir/Observation",
        f"http://{a}/fhir/../admin",
        f"http://{a}/fhir/%2e%2e/admin",
        f"http://{a}/fhir/%2E%2e/admin",
        f"http://{a}/fhir/.%2E/admin",
        f"http://{a}/fhir%2f..%2fadmin",
        f"http://{a}/fhirx/Observation",  # another base path on the same host
        f"http://{a}/other/Observation",
        f"http://{a}\t/fhir/Observation",
        f"http://{a}/fhir/Observation\r\nX-Injected: 1",
        f"https://{a}/fhir/Observation",  # another scheme
        f"ftp://{a}/fhir/Observation",
        f"//{b}/fhir/Observation",
    ]


def test_hostile_paging_links_reach_no_other_host_and_carry_no_token(
    servers: tuple[Listener, Listener], client: FhirClient
) -> None:
    allowed, bait = servers
    for link in hostile_links(allowed, bait):
        error = _follow(client, allowed, link)
        assert error is not None, link
        assert bait.received == [], link
    assert allowed.received == []  # none of them was sent at all


def test_the_backslash_link_was_a_real_leak_under_urlsplit(
    servers: tuple[Listener, Listener],
) -> None:
    # the old check (urlsplit) read the host after the last '@', i.e. the allowed host
    allowed, bait = servers
    link = hostile_links(allowed, bait)[0]
    assert urlsplit(link).port == allowed.port
    with pytest.raises(FhirLinkError, match="never sent"):
        checked_url(link, allowed.base, "a paging link")


def test_a_paging_link_on_the_same_server_is_followed_as_rebuilt(
    servers: tuple[Listener, Listener], client: FhirClient
) -> None:
    allowed, _ = servers
    link = f"HTTP://127.0.0.1:{allowed.port}/fhir/Observation?_page=2#frag"
    assert _follow(client, allowed, link) is None
    assert [r["path"] for r in allowed.received] == ["/fhir/Observation?_page=2"]
    assert allowed.received[0]["Authorization"] == f"Bearer {TOKEN}"


def test_default_ports_compare_equal() -> None:
    assert checked_url("http://ehr.example:80/fhir/Patient/1", "http://ehr.example/fhir") == (
        "http://ehr.example/fhir/Patient/1"
    )
    assert checked_url("https://EHR.example/fhir/x", "https://ehr.example:443/fhir/") == (
        "https://ehr.example/fhir/x"
    )


SEPARATORS = ["@", "\\@", "%40", "#@", "?@", "\\", "/@", ":@", "@@"]


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    user=st.sampled_from(["", "bait", "allowed", "x:y", "%2e"]),
    separator=st.sampled_from(SEPARATORS),
    first=st.sampled_from(["allowed", "bait"]),
    second=st.sampled_from(["allowed", "bait", ""]),
    path=st.sampled_from(["/fhir/Observation", "/fhir/../x", "/fhir/%2e%2e/x", "/x", ""]),
    noise=st.text(alphabet="\\@/?#%.:\t ", max_size=3),
)
def test_generated_links_never_reach_the_bait(  # noqa: PLR0917 (hypothesis arguments)
    servers: tuple[Listener, Listener],
    client: FhirClient,
    user: str,
    separator: str,
    first: str,
    second: str,
    path: str,
    noise: str,
) -> None:
    allowed, bait = servers
    hosts = {"allowed": f"127.0.0.1:{allowed.port}", "bait": f"127.0.0.1:{bait.port}", "": ""}
    userinfo = (user.replace("bait", hosts["bait"]).replace("allowed", hosts["allowed"])) + (
        separator if user else ""
    )
    link = (
        f"http://{userinfo}{hosts[first]}{noise}{separator if second else ''}{hosts[second]}{path}"
    )
    bait.received.clear()
    allowed.received.clear()
    _follow(client, allowed, link)
    assert bait.received == [], link
    for request in allowed.received:
        assert request["path"].startswith("/fhir"), link


def test_redirects_are_not_followed(servers: tuple[Listener, Listener], client: FhirClient) -> None:
    allowed, bait = servers
    allowed.mode = "redirect"
    with pytest.raises(FhirStatusError) as caught:
        client.get(FhirTarget(allowed.base, TOKEN), "Observation?patient=p1", Deadline(2.0))
    assert caught.value.status == 302
    assert bait.received == []


def test_cookies_of_one_answer_are_not_sent_with_the_next_call(
    servers: tuple[Listener, Listener], client: FhirClient
) -> None:
    allowed, _ = servers
    allowed.mode = "cookie"
    target = FhirTarget(allowed.base, TOKEN)
    client.get(target, "Observation?patient=p1", Deadline(2.0))
    client.get(target, "Observation?patient=p2", Deadline(2.0))
    assert [r.get("Cookie") for r in allowed.received] == [None, None]


def test_a_dripping_answer_is_cut_at_the_call_deadline(
    servers: tuple[Listener, Listener], client: FhirClient
) -> None:
    # 400 bytes at one per 50 ms take 20 s; each read returns in 50 ms, so only a deadline on
    # the whole answer stops it
    allowed, _ = servers
    allowed.mode = "drip"
    with pytest.raises(FhirTimeoutError, match="while reading"):
        client.get(FhirTarget(allowed.base, TOKEN), "Observation?patient=p1", Deadline(0.5))


def test_an_answer_over_the_size_cap_is_refused(
    servers: tuple[Listener, Listener], client: FhirClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    allowed, _ = servers
    monkeypatch.setattr(fhir_client, "MAX_ANSWER_BYTES", 20)
    with pytest.raises(fhir_client.FhirResponseError, match="larger than 20 bytes"):
        client.get(FhirTarget(allowed.base, TOKEN), "Observation?patient=p1", Deadline(2.0))
