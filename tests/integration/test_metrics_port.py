"""/metrics on a listener of its own (issue 17): with ICAHT_CDS_METRICS_PORT, the real
`icaht-cds serve` (gunicorn, two binds) serves /metrics and /healthz only on that port, and the
public port answers /metrics with 404, so an Ingress that routes the public port can never
expose the metrics, whatever path it forwards."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from served import ServedProcess

from icaht_demo.fhir_server import free_port

TOKEN = "m" * 40  # ICAHT_CDS_METRICS_TOKEN: at least 32 printable characters


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServedProcess, str]]:
    workdir = tmp_path_factory.mktemp("metrics-port")
    metrics_port = free_port()
    service = ServedProcess(workdir, workers=1)
    env = {"ICAHT_CDS_METRICS_PORT": str(metrics_port), "ICAHT_CDS_METRICS_TOKEN": TOKEN}
    service.start(workdir / "store.sqlite", env)
    try:
        if not service.wait_ready():
            pytest.fail(f"the service did not start:\n{service.log()[-3000:]}", pytrace=False)
        yield service, f"http://127.0.0.1:{metrics_port}"
    finally:
        service.stop()


AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_the_metrics_port_serves_the_metrics(served: tuple[ServedProcess, str]) -> None:
    _, metrics = served
    answer = requests.get(f"{metrics}/metrics", headers=AUTH, timeout=5)
    assert answer.status_code == 200
    assert "# TYPE icaht_audit_failures_total counter" in answer.text  # the service's registry
    # the token still guards it (decision 0019)
    assert requests.get(f"{metrics}/metrics", timeout=5).status_code == 401
    assert requests.get(f"{metrics}/healthz", timeout=5).status_code == 200


def test_the_public_port_does_not_serve_the_metrics(served: tuple[ServedProcess, str]) -> None:
    service, _ = served
    answer = requests.get(f"{service.url}/metrics", headers=AUTH, timeout=5)
    assert answer.status_code == 404
    assert "metrics are served on port" in answer.text
    assert requests.get(f"{service.url}/cds-services", timeout=5).status_code == 200


@pytest.mark.parametrize("path", ["/cds-services", "/readyz", "/smart/index.html"])
def test_the_metrics_port_serves_nothing_else(served: tuple[ServedProcess, str], path: str) -> None:
    _, metrics = served
    answer = requests.get(f"{metrics}{path}", timeout=5)
    assert answer.status_code == 404
    assert "serves /metrics only" in answer.text
    hook = requests.post(f"{metrics}/cds-services/icaht-patient-view", json={}, timeout=5)
    assert hook.status_code == 404
