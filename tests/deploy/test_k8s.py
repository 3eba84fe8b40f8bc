"""The Kubernetes manifests (issue 20, item 4), from `switchyard deploy k8s`: every object valid
against Kubernetes' own OpenAPI schemas (the `kubernetes-validate` package, offline, strict: an
unknown field is an error) for the oldest and newest versions it ships, and wired the way
`switchyard up` wires one host. Why a generator rather than a Helm chart: docs/deploy.md."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import kubernetes_validate.utils as kv
import pytest
import yaml
from typer.testing import CliRunner

from switchyard.cli import app
from switchyard.k8s_manifests import manifests
from switchyard.k8s_values import IngressHost, Values
from tests.deploy.lockfiles import ROOT
from tests.deploy.settings_names import known_variables

K8S = ROOT / "deploy" / "k8s"
VERSIONS = sorted({v for v in kv.all_versions()}, key=lambda v: tuple(map(int, v.split("."))))
CHECKED_VERSIONS = ["1.29.0", VERSIONS[-1]]  # the oldest Kubernetes still commonly run, the newest known
CUSTOM_RESOURCES = {"monitoring.coreos.com/v1"}
# Every option turned the other way: the second shape the generator can take.
EVERYTHING_ELSE = Values.model_validate({
    "name": "gw", "namespace": "platform",
    "proxy": {"autoscaling": {"enabled": False}, "allowed_upstreams": '["https://api.anthropic.com"]'},
    "ingest": {"allowed_upstreams": '["https://api.anthropic.com"]'},
    "migrations": {"job": False}, "service_monitor": {"enabled": True},
    "ingress": {"ingest": {"host": "otel.example.com"}, "dashboard": None},
    "network_policy": {"monitoring_namespace": None}, "jobs": {"enabled": False},
})
SHAPES = {"defaults": Values(), "everything-else": EVERYTHING_ELSE}


def _by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def _pod_specs(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d["spec"]["template"]["spec"] for d in docs if d["kind"] in ("Deployment", "Job")}


@pytest.mark.parametrize("version", CHECKED_VERSIONS)
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_manifest_is_valid_against_the_kubernetes_schemas(shape: str, version: str) -> None:
    checked = 0
    for doc in manifests(SHAPES[shape]):
        if doc["apiVersion"] in CUSTOM_RESOURCES:
            continue
        kv.validate(doc, version, strict=True)  # raises ValidationError naming the field
        checked += 1
    assert checked >= 12


def test_the_validation_catches_a_wrong_manifest() -> None:
    deployment = next(d for d in manifests(Values()) if d["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFilesystem"] = True  # wrong level
    with pytest.raises(kv.ValidationError, match="readOnlyRootFilesystem"):
        kv.validate(deployment, CHECKED_VERSIONS[-1], strict=True)


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_pod_is_non_root_read_only_and_without_capabilities(shape: str) -> None:
    for name, pod in _pod_specs(manifests(SHAPES[shape])).items():
        assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] == 10001, name
        assert pod["automountServiceAccountToken"] is False, name
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True and context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            assert {"/tmp", "/var/lib/switchyard"} <= mounts, name  # the only writable paths


def _resolve_env(container: dict[str, Any], secrets: dict[tuple[str, str], str]) -> dict[str, str]:
    """A container's environment as the kubelet builds it: Secret keys read, $(VAR) expanded."""
    env: dict[str, str] = {}
    for item in container["env"]:
        if "valueFrom" in item:
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = secrets[(ref["name"], ref["key"])]
        else:
            env[item["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env.get(m[1], m[0]), item["value"])
    return env


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_tokens_are_wired_like_switchyard_up_wires_them(shape: str) -> None:
    values = SHAPES[shape]
    refs = values.secrets.model_dump()
    secrets = {(ref["name"], ref["key"]): f"secret-{field}-0123456789abcdef" for field, ref in refs.items()}
    pods = _pod_specs(manifests(values))
    ingest = _resolve_env(pods[f"{values.name}-ingest"]["containers"][0], secrets)
    proxy = _resolve_env(pods[f"{values.name}-proxy"]["containers"][0], secrets)
    ingest_tokens = json.loads(ingest["SWITCHYARD_INGEST_TOKENS"])
    assert ingest_tokens[proxy["SWITCHYARD_OTLP_TOKEN"]] == "proxy", "the proxies' exports must count as spend"
    assert ingest_tokens["secret-telemetry_token-0123456789abcdef"] == "telemetry"
    assert proxy["SWITCHYARD_SNAPSHOT_TOKEN"] in json.loads(ingest["SWITCHYARD_SNAPSHOT_TOKENS"])
    assert json.loads(ingest["SWITCHYARD_ADMIN_TOKENS"]) == {"secret-admin_token-0123456789abcdef": "ops"}
    service = f"http://{values.name}-ingest:4318"
    assert proxy["SWITCHYARD_OTLP_ENDPOINT"] == f"{service}/v1/traces"
    assert proxy["SWITCHYARD_SNAPSHOT_URL"] == f"{service}/v1/snapshot"
    assert "DATABASE_URL" not in proxy and "SWITCHYARD_ADMIN_TOKENS" not in proxy  # least privilege
    # one audit key for every process on the database
    on_database = [pod for pod in pods.values()
                   if any(e["name"] == "DATABASE_URL" for e in pod["containers"][0]["env"])]
    keys = {_resolve_env(pod["containers"][0], secrets)["SWITCHYARD_AUDIT_KEY"] for pod in on_database}
    assert len(keys) == 1 and len(on_database) == 2 + values.migrations.job + values.jobs.enabled
    assert ingest["SWITCHYARD_MIGRATE_ON_START"] == ("false" if values.migrations.job else "true")


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_no_credential_is_a_literal_value(shape: str) -> None:
    credential = re.compile(r"KEY|TOKEN|PASSWORD|SECRET|USERS|DATABASE_URL")
    for name, pod in _pod_specs(manifests(SHAPES[shape])).items():
        for item in pod["containers"][0]["env"]:
            if credential.search(item["name"]) and "value" in item:
                assert "$(" in item["value"], f"{name}: {item['name']} is a literal, not a Secret reference"


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_variable_set_is_a_setting_the_services_read(shape: str) -> None:
    helpers = {"INGEST_PROXY_TOKEN", "INGEST_TELEMETRY_TOKEN", "INGEST_SNAPSHOT_TOKEN", "INGEST_ADMIN_TOKEN"}
    for name, pod in _pod_specs(manifests(SHAPES[shape])).items():
        unknown = {e["name"] for e in pod["containers"][0]["env"]} - known_variables() - helpers
        assert not unknown, f"{name}: not in docs/configuration.md: {unknown}"


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_services_probes_autoscaler_and_budgets_point_at_the_right_pods(shape: str) -> None:
    values = SHAPES[shape]
    docs = manifests(values)
    deployments = _by_kind(docs, "Deployment")
    for service in _by_kind(docs, "Service").values():
        [target] = [d for d in deployments.values()
                    if service["spec"]["selector"].items() <= d["spec"]["template"]["metadata"]["labels"].items()]
        container = target["spec"]["template"]["spec"]["containers"][0]
        assert {p["name"] for p in container["ports"]} >= {service["spec"]["ports"][0]["targetPort"]}
        assert container["readinessProbe"] and container["livenessProbe"] and container["startupProbe"]
    ingest = deployments[f"{values.name}-ingest"]["spec"]["template"]["spec"]["containers"][0]
    assert ingest["readinessProbe"]["httpGet"]["path"] == "/readyz"  # ready = the database answers
    for pdb in _by_kind(docs, "PodDisruptionBudget").values():
        assert any(pdb["spec"]["selector"]["matchLabels"].items() <= d["spec"]["template"]["metadata"]["labels"].items()
                   for d in deployments.values())
    proxy = deployments[f"{values.name}-proxy"]
    hpas = _by_kind(docs, "HorizontalPodAutoscaler")
    if values.proxy.autoscaling.enabled:
        assert [h["spec"]["scaleTargetRef"]["name"] for h in hpas.values()] == [proxy["metadata"]["name"]]
        assert "replicas" not in proxy["spec"], "an autoscaled Deployment must not pin its replica count"
    else:
        assert not hpas and proxy["spec"]["replicas"] == values.proxy.replicas
    assert proxy["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 600  # streams finish


def test_the_proxy_ingress_is_safe_for_server_sent_events() -> None:
    proxy = _by_kind(manifests(Values()), "Ingress")["switchyard-proxy"]
    annotations = proxy["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert annotations["nginx.ingress.kubernetes.io/proxy-request-buffering"] == "off"
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 600
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-send-timeout"]) >= 600
    assert annotations["nginx.ingress.kubernetes.io/proxy-body-size"] == "64m"
    assert proxy["spec"]["tls"][0]["secretName"] == "claude-gateway-tls"


def test_network_policies_deny_by_default_and_let_only_proxies_reach_ingest() -> None:
    policies = _by_kind(manifests(Values()), "NetworkPolicy")
    deny = policies["switchyard-default-deny"]["spec"]
    assert deny["policyTypes"] == ["Ingress"] and "ingress" not in deny
    sources = policies["switchyard-ingest"]["spec"]["ingress"][0]["from"]
    pods = [s["podSelector"]["matchLabels"]["app.kubernetes.io/component"] for s in sources if "podSelector" in s]
    assert pods == ["proxy"]
    exposed = _by_kind(manifests(EVERYTHING_ELSE), "NetworkPolicy")["gw-ingest"]["spec"]["ingress"][0]["from"]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}} in exposed


def test_the_migrations_job_is_per_version_and_runs_before_the_sync() -> None:
    [job] = _by_kind(manifests(Values(image={"tag": "1.4.0-rc.1"})), "Job").values()
    assert job["metadata"]["name"] == "switchyard-migrate-1-4-0-rc-1"
    assert job["metadata"]["annotations"]["argocd.argoproj.io/hook"] == "PreSync"
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["store", "migrate"]
    assert not _by_kind(manifests(EVERYTHING_ELSE), "Job")


def test_the_service_monitor_scrapes_the_proxies_and_ingest() -> None:
    docs = manifests(EVERYTHING_ELSE)
    [monitor] = [d for d in docs if d["kind"] == "ServiceMonitor"]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    selected = {e["key"]: e["values"] for e in monitor["spec"]["selector"]["matchExpressions"]}
    assert selected["app.kubernetes.io/component"] == ["proxy", "ingest"]
    services = _by_kind(docs, "Service")
    for component in ("proxy", "ingest"):
        assert services[f"gw-{component}"]["spec"]["ports"][0]["name"] == monitor["spec"]["endpoints"][0]["port"]
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_each_container_runs_a_real_cli_invocation(shape: str) -> None:
    for name, pod in _pod_specs(manifests(SHAPES[shape])).items():
        args = pod["containers"][0]["args"]
        result = CliRunner().invoke(app, [*args, "--help"])
        assert result.exit_code == 0, f"{name}: switchyard {shlex.join(args)}: {result.output}"


def test_the_values_file_lists_every_field_with_its_default() -> None:
    listed = yaml.safe_load((K8S / "values.yaml").read_text())

    def keys(tree: Any, prefix: str = "") -> set[str]:
        if not isinstance(tree, dict):
            return set()
        return {f"{prefix}{k}" for k in tree} | {p for k, v in tree.items() for p in keys(v, f"{prefix}{k}.")}

    assert keys(listed) == keys(Values().model_dump())
    assert Values.model_validate(listed) == Values()


def test_the_committed_manifests_are_the_generators_output(tmp_path: Path) -> None:
    out = tmp_path / "switchyard.yaml"
    result = CliRunner().invoke(app, ["deploy", "k8s", "-f", str(K8S / "values.yaml"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text() == (K8S / "switchyard.yaml").read_text(), (
        "regenerate: switchyard deploy k8s -f deploy/k8s/values.yaml -o deploy/k8s/switchyard.yaml")


def test_a_typo_in_the_values_is_refused_with_its_name(tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("proxy:\n  autoscalling:\n    enabled: false\n")
    result = CliRunner().invoke(app, ["deploy", "k8s", "-f", str(values)])
    assert result.exit_code == 2 and "autoscalling" in result.output


def test_an_ingest_host_without_tls_gets_no_tls_block() -> None:
    values = Values(ingress={"ingest": IngressHost(host="otel.internal")})
    ingest = _by_kind(manifests(values), "Ingress")["switchyard-ingest"]
    assert "tls" not in ingest["spec"] and ingest["spec"]["rules"][0]["host"] == "otel.internal"
