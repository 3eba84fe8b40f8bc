"""Kubernetes manifests for switchyard, built from ``Values`` (pure: data in, a list of manifests
out; `switchyard deploy k8s` writes them as YAML). One image for every role, each role its own
Deployment; the credentials are references to existing Secrets, never values; wired the way
`switchyard up` wires one host (the proxies' span-export token is ingest's `proxy` token, their
snapshot token one of ingest's snapshot tokens). Checked offline against Kubernetes' schemas by
tests/deploy/test_k8s.py. See docs/deploy.md."""

from __future__ import annotations

import re
from typing import Any

from .k8s_values import Resources, SecretRef, Values

Manifest = dict[str, Any]

DATA_DIR = "/var/lib/switchyard"
UID = 10001
PORTS = {"proxy": 4000, "ingest": 4318, "dashboard": 8050}


def manifests(values: Values) -> list[Manifest]:
    out: list[Manifest] = [_service_account(values)]
    if values.migrations.job:
        out.append(_migrations_job(values))
    out += [_ingest(values), _service(values, "ingest"), _pdb(values, "ingest"),
            _proxy(values), _service(values, "proxy"), _pdb(values, "proxy"),
            _dashboard(values), _service(values, "dashboard")]
    if values.proxy.autoscaling.enabled:
        out.append(_proxy_hpa(values))
    if values.jobs.enabled:
        out.append(_jobs(values))
    if values.ingress.enabled:
        out += _ingresses(values)
    if values.network_policy.enabled:
        out += _network_policies(values)
    if values.service_monitor.enabled:
        out.append(_service_monitor(values))
    return out


# ---- labels and names ------------------------------------------------------------------------

def _name(values: Values, component: str) -> str:
    return f"{values.name}-{component}"


def _selector(values: Values, component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": "switchyard", "app.kubernetes.io/instance": values.name,
            "app.kubernetes.io/component": component}


def _labels(values: Values, component: str) -> dict[str, str]:
    return {**_selector(values, component), "app.kubernetes.io/version": values.image.tag,
            "app.kubernetes.io/part-of": "switchyard", "app.kubernetes.io/managed-by": "switchyard-deploy"}


def _metadata(values: Values, component: str, name: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"name": name or _name(values, component), "namespace": values.namespace,
            "labels": _labels(values, component), **extra}


# ---- environment -----------------------------------------------------------------------------

def _secret(name: str, ref: SecretRef) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}}


def _store_env(values: Values) -> list[dict[str, Any]]:
    """Every process on the database: the store and the audit log's key (one key for all)."""
    return [_secret("DATABASE_URL", values.secrets.database_url),
            _secret("SWITCHYARD_AUDIT_KEY", values.secrets.audit_key)]


def _optional(name: str, value: str | None) -> list[dict[str, Any]]:
    return [] if value is None else [{"name": name, "value": value}]


def _ingest_env(values: Values) -> list[dict[str, Any]]:
    s = values.secrets
    # The JSON settings are built from the Secret's keys by Kubernetes' $(VAR) expansion, so each
    # token lives in one place and the proxies' token is ingest's `proxy` token by construction.
    return [*_store_env(values),
            _secret("INGEST_PROXY_TOKEN", s.otlp_token), _secret("INGEST_TELEMETRY_TOKEN", s.telemetry_token),
            _secret("INGEST_SNAPSHOT_TOKEN", s.snapshot_token), _secret("INGEST_ADMIN_TOKEN", s.admin_token),
            {"name": "SWITCHYARD_INGEST_TOKENS",
             "value": '{"$(INGEST_PROXY_TOKEN)": "proxy", "$(INGEST_TELEMETRY_TOKEN)": "telemetry"}'},
            {"name": "SWITCHYARD_SNAPSHOT_TOKENS", "value": '["$(INGEST_SNAPSHOT_TOKEN)"]'},
            {"name": "SWITCHYARD_ADMIN_TOKENS", "value": '{"$(INGEST_ADMIN_TOKEN)": "ops"}'},
            {"name": "SWITCHYARD_MIGRATE_ON_START", "value": "false" if values.migrations.job else "true"},
            *_optional("SWITCHYARD_ALLOWED_UPSTREAMS", values.ingest.allowed_upstreams)]


def _proxy_env(values: Values) -> list[dict[str, Any]]:
    s, ingest = values.secrets, f"http://{_name(values, 'ingest')}:{PORTS['ingest']}"
    return [_secret("SWITCHYARD_UPSTREAM_API_KEY", s.upstream_api_key),
            {"name": "SWITCHYARD_OTLP_ENDPOINT", "value": f"{ingest}/v1/traces"},
            _secret("SWITCHYARD_OTLP_TOKEN", s.otlp_token),
            {"name": "SWITCHYARD_SNAPSHOT_URL", "value": f"{ingest}/v1/snapshot"},
            _secret("SWITCHYARD_SNAPSHOT_TOKEN", s.snapshot_token),
            {"name": "SWITCHYARD_REDIS_URL", "value": values.proxy.redis_url},
            {"name": "SWITCHYARD_SPOOL_DIR", "value": f"{DATA_DIR}/spool"},
            *_optional("SWITCHYARD_ALLOWED_UPSTREAMS", values.proxy.allowed_upstreams)]


def _dashboard_env(values: Values) -> list[dict[str, Any]]:
    s = values.secrets
    return [*_store_env(values),
            _secret("SWITCHYARD_DASHBOARD_SECRET_KEY", s.dashboard_secret_key),
            _secret("SWITCHYARD_DASHBOARD_USERS", s.dashboard_users),
            {"name": "SWITCHYARD_DASHBOARD_COOKIE_SECURE", "value": str(values.dashboard.cookie_secure).lower()}]


# ---- pods ------------------------------------------------------------------------------------

def _resources(resources: Resources) -> dict[str, Any]:
    limits = {"memory": resources.memory_limit}
    if resources.cpu_limit is not None:
        limits["cpu"] = resources.cpu_limit
    return {"requests": {"cpu": resources.cpu_request, "memory": resources.memory_request}, "limits": limits}


def _http_probe(path: str, port: str, period_s: int, failures: int) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": port}, "periodSeconds": period_s, "timeoutSeconds": 5,
            "failureThreshold": failures}


def _container(values: Values, role: str, args: list[str], env: list[dict[str, Any]], resources: Resources,
               health: tuple[str, str] | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": role,
        "image": f"{values.image.repository}:{values.image.tag}",
        "imagePullPolicy": values.image.pull_policy,
        "args": args,
        "env": env,
        "resources": _resources(resources),
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "data", "mountPath": DATA_DIR}, {"name": "tmp", "mountPath": "/tmp"}],
    }
    if health is not None:
        live, ready = health
        container["ports"] = [{"name": "http", "containerPort": PORTS[role], "protocol": "TCP"}]
        # imports take seconds (scikit-learn, Dash): a startup probe, so liveness can be strict after
        container["startupProbe"] = _http_probe(live, "http", 2, 60)
        container["livenessProbe"] = _http_probe(live, "http", 10, 3)
        container["readinessProbe"] = _http_probe(ready, "http", 5, 2)
    return container


def _pod(values: Values, container: dict[str, Any], grace_s: int = 30,
         restart: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "serviceAccountName": values.name,
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "runAsUser": UID, "runAsGroup": UID, "fsGroup": UID,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "terminationGracePeriodSeconds": grace_s,
        "containers": [container],
        # the only writable paths: the data directory (the proxy's turn journal; ingest's and the
        # dashboard's audit checkpoint) and /tmp
        "volumes": [{"name": "data", "emptyDir": {"sizeLimit": "1Gi"}},
                    {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}],
    }
    if restart is not None:
        spec["restartPolicy"] = restart
    return spec


def _deployment(values: Values, role: str, container: dict[str, Any], replicas: int | None,
                grace_s: int = 30, recreate: bool = False) -> Manifest:
    spec: dict[str, Any] = {"selector": {"matchLabels": _selector(values, role)}}
    if replicas is not None:  # left out when an autoscaler owns the count (GitOps must not fight it)
        spec["replicas"] = replicas
    spec["strategy"] = ({"type": "Recreate"} if recreate else
                        {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}})
    spec["template"] = {"metadata": {"labels": _labels(values, role)}, "spec": _pod(values, container, grace_s)}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _metadata(values, role), "spec": spec}


def _ingest(values: Values) -> Manifest:
    container = _container(values, "ingest", ["ingest", "--host", "0.0.0.0", "--port", str(PORTS["ingest"])],
                           _ingest_env(values), values.ingest.resources, ("/healthz", "/readyz"))
    return _deployment(values, "ingest", container, values.ingest.replicas)


def _proxy(values: Values) -> Manifest:
    container = _container(values, "proxy", ["proxy", "--host", "0.0.0.0", "--port", str(PORTS["proxy"])],
                           _proxy_env(values), values.proxy.resources, ("/healthz", "/readyz"))
    replicas = None if values.proxy.autoscaling.enabled else values.proxy.replicas
    return _deployment(values, "proxy", container, replicas, grace_s=values.proxy.termination_grace_s)


def _dashboard(values: Values) -> Manifest:
    container = _container(values, "dashboard", ["dashboard", "--host", "0.0.0.0", "--port",
                                                 str(PORTS["dashboard"])],
                           _dashboard_env(values), values.dashboard.resources, ("/healthz", "/healthz"))
    return _deployment(values, "dashboard", container, 1, recreate=True)


def _jobs(values: Values) -> Manifest:
    container = _container(values, "jobs", ["jobs", "--every", str(values.jobs.every_s)], _store_env(values),
                           values.jobs.resources)
    return _deployment(values, "jobs", container, 1, grace_s=120, recreate=True)  # one at a time


def _migrations_job(values: Values) -> Manifest:
    container = _container(values, "migrate", ["store", "migrate"], _store_env(values), values.jobs.resources)
    # Jobs are immutable: one per version. Several at once are safe (PostgreSQL advisory lock).
    version = re.sub(r"[^a-z0-9-]", "-", values.image.tag.lower()).strip("-")[:20] or "latest"
    annotations = {"argocd.argoproj.io/hook": "PreSync",
                   "argocd.argoproj.io/hook-delete-policy": "BeforeHookCreation"}
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": _metadata(values, "migrate", f"{_name(values, 'migrate')}-{version}",
                                  annotations=annotations),
            "spec": {"backoffLimit": 3, "activeDeadlineSeconds": 1800, "ttlSecondsAfterFinished": 86400,
                     "template": {"metadata": {"labels": _labels(values, "migrate")},
                                  "spec": _pod(values, container, restart="OnFailure")}}}


def _service_account(values: Values) -> Manifest:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _metadata(values, "switchyard", values.name),
            "automountServiceAccountToken": False}


def _service(values: Values, role: str) -> Manifest:
    return {"apiVersion": "v1", "kind": "Service", "metadata": _metadata(values, role),
            "spec": {"type": "ClusterIP", "selector": _selector(values, role),
                     "ports": [{"name": "http", "port": PORTS[role], "targetPort": "http", "protocol": "TCP"}]}}


def _pdb(values: Values, role: str) -> Manifest:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": _metadata(values, role),
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": _selector(values, role)}}}


def _proxy_hpa(values: Values) -> Manifest:
    scaling = values.proxy.autoscaling
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": _metadata(values, "proxy"),
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": _name(values, "proxy")},
                "minReplicas": scaling.min_replicas, "maxReplicas": scaling.max_replicas,
                "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                    "type": "Utilization", "averageUtilization": scaling.cpu_utilization}}}],
                "behavior": {
                    "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max", "policies": [
                        {"type": "Percent", "value": 100, "periodSeconds": 30},
                        {"type": "Pods", "value": 4, "periodSeconds": 30}]},
                    "scaleDown": {"stabilizationWindowSeconds": scaling.scale_down_stabilization_s,
                                  "policies": [{"type": "Pods", "value": 1, "periodSeconds": 120}]}}}}


def _ingresses(values: Values) -> list[Manifest]:
    ingress = values.ingress
    timeout = str(ingress.read_timeout_s)
    # Server-sent events: nothing buffered either way, and read/send timeouts longer than the
    # longest stream (nginx's 60 s default cuts Claude Code off mid-answer).
    streaming = {"nginx.ingress.kubernetes.io/proxy-buffering": "off",
                 "nginx.ingress.kubernetes.io/proxy-request-buffering": "off",
                 "nginx.ingress.kubernetes.io/proxy-read-timeout": timeout,
                 "nginx.ingress.kubernetes.io/proxy-send-timeout": timeout,
                 "nginx.ingress.kubernetes.io/proxy-http-version": "1.1"}
    exposed = [("proxy", ingress.proxy, {**streaming, "nginx.ingress.kubernetes.io/proxy-body-size": ingress.max_body}),
               ("ingest", ingress.ingest, {"nginx.ingress.kubernetes.io/proxy-body-size": "32m"}),
               ("dashboard", ingress.dashboard, {"nginx.ingress.kubernetes.io/proxy-body-size": "8m"})]
    out = []
    for role, host, notes in exposed:
        if host is None:
            continue
        spec: dict[str, Any] = {"ingressClassName": ingress.class_name, "rules": [{"host": host.host, "http": {
            "paths": [{"path": "/", "pathType": "Prefix", "backend": {"service": {
                "name": _name(values, role), "port": {"name": "http"}}}}]}}]}
        if host.tls_secret is not None:
            spec["tls"] = [{"hosts": [host.host], "secretName": host.tls_secret}]
        out.append({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                    "metadata": _metadata(values, role, annotations=notes), "spec": spec})
    return out


def _from_namespace(namespace: str) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}


def _network_policies(values: Values) -> list[Manifest]:
    """Ingress traffic only from who needs it: the ingress controller to the proxy, the dashboard
    (and ingest when it is exposed), the proxies to ingest, the monitoring namespace to /metrics.
    Egress stays open: the proxies reach the providers, everyone the database and Redis."""
    policy = values.network_policy
    instance = {"app.kubernetes.io/name": "switchyard", "app.kubernetes.io/instance": values.name}
    controller = [_from_namespace(policy.ingress_controller_namespace)]
    monitoring = [_from_namespace(policy.monitoring_namespace)] if policy.monitoring_namespace else []
    allowed = {"proxy": controller + monitoring,
               "ingest": [{"podSelector": {"matchLabels": _selector(values, "proxy")}}]
               + (controller if values.ingress.ingest is not None else []) + monitoring,
               "dashboard": controller}
    out: list[Manifest] = [{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                            "metadata": _metadata(values, "switchyard", f"{values.name}-default-deny"),
                            "spec": {"podSelector": {"matchLabels": instance}, "policyTypes": ["Ingress"]}}]
    for role, sources in allowed.items():
        out.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": _metadata(values, role),
                    "spec": {"podSelector": {"matchLabels": _selector(values, role)}, "policyTypes": ["Ingress"],
                             "ingress": [{"from": sources, "ports": [{"port": PORTS[role], "protocol": "TCP"}]}]}})
    return out


def _service_monitor(values: Values) -> Manifest:
    """For the Prometheus Operator (a custom resource: the tests check its shape, not a schema)."""
    return {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
            "metadata": _metadata(values, "switchyard", values.name),
            "spec": {"selector": {"matchExpressions": [
                        {"key": "app.kubernetes.io/instance", "operator": "In", "values": [values.name]},
                        {"key": "app.kubernetes.io/component", "operator": "In", "values": ["proxy", "ingest"]}]},
                     "namespaceSelector": {"matchNames": [values.namespace]},
                     "endpoints": [{"port": "http", "path": "/metrics", "interval": values.service_monitor.interval}]}}
