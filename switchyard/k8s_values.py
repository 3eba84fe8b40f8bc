"""What `switchyard deploy k8s` takes: the values of a Kubernetes deployment (a YAML file; every field
has a default, unknown fields are refused so a typo never silently does nothing). The manifests are
built from these by ``switchyard.k8s_manifests``. See docs/deploy.md."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Values(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Image(_Values):
    repository: str = "switchyard"
    tag: str = "0.1.0"
    pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"


class SecretRef(_Values):
    """One credential: a key of an existing Secret (switchyard never writes secret values)."""

    name: str = "switchyard"
    key: str


class Secrets(_Values):
    """Every credential, each from a Secret the operator made (kubectl, Sealed Secrets, External
    Secrets…). By default all are keys of one Secret named ``switchyard``."""

    database_url: SecretRef = SecretRef(key="database-url")
    upstream_api_key: SecretRef = SecretRef(key="upstream-api-key")
    otlp_token: SecretRef = SecretRef(key="otlp-token")  # proxies → ingest (role proxy)
    telemetry_token: SecretRef = SecretRef(key="telemetry-token")  # Claude Code telemetry → ingest
    snapshot_token: SecretRef = SecretRef(key="snapshot-token")  # proxies → /v1/snapshot
    admin_token: SecretRef = SecretRef(key="admin-token")
    audit_key: SecretRef = SecretRef(key="audit-key")
    dashboard_secret_key: SecretRef = SecretRef(key="dashboard-secret-key")
    dashboard_users: SecretRef = SecretRef(key="dashboard-users")


class Resources(_Values):
    cpu_request: str
    memory_request: str
    cpu_limit: str | None = None  # no CPU limit by default: throttling a streaming proxy adds latency
    memory_limit: str


class Autoscaling(_Values):
    enabled: bool = True
    min_replicas: int = Field(2, ge=1)
    max_replicas: int = Field(10, ge=1)
    cpu_utilization: int = Field(60, ge=10, le=100)
    # bursts of Claude Code sessions arrive at once: scale up at once, scale down slowly (streams
    # last minutes and the next burst is usually near)
    scale_down_stabilization_s: int = Field(600, ge=0)


class Proxy(_Values):
    replicas: int = Field(2, ge=1)
    resources: Resources = Resources(cpu_request="500m", memory_request="256Mi", memory_limit="1Gi")
    autoscaling: Autoscaling = Autoscaling()
    redis_url: str = "redis://redis:6379/0"
    # a pod being replaced finishes its streams first: the longest Claude Code stream, plus margin
    termination_grace_s: int = Field(660, ge=30)
    allowed_upstreams: str | None = None  # SWITCHYARD_ALLOWED_UPSTREAMS, passed through when set


class Ingest(_Values):
    replicas: int = Field(2, ge=1)
    resources: Resources = Resources(cpu_request="250m", memory_request="512Mi", memory_limit="2Gi")
    allowed_upstreams: str | None = None


class Dashboard(_Values):
    # sign-ins live in the dashboard process: one replica (several would need sticky sessions)
    resources: Resources = Resources(cpu_request="100m", memory_request="512Mi", memory_limit="2Gi")
    cookie_secure: bool = True


class Jobs(_Values):
    enabled: bool = True
    every_s: int = Field(300, ge=10)
    resources: Resources = Resources(cpu_request="250m", memory_request="1Gi", memory_limit="4Gi")


class Migrations(_Values):
    # a Job run before the services change (an Argo CD PreSync hook; with kubectl, apply it and wait
    # first); ingest then never migrates on start. False: ingest migrates on start instead.
    job: bool = True


class IngressHost(_Values):
    host: str
    tls_secret: str | None = None


class Ingress(_Values):
    enabled: bool = True
    class_name: str = "nginx"
    proxy: IngressHost = IngressHost(host="claude-gateway.example.com", tls_secret="claude-gateway-tls")
    ingest: IngressHost | None = None  # only when Claude Code's telemetry comes from outside the cluster
    dashboard: IngressHost | None = IngressHost(host="switchyard.example.com", tls_secret="switchyard-tls")
    read_timeout_s: int = Field(3600, ge=600)  # a 60 s ingress timeout kills long streams
    max_body: str = "64m"  # the proxy's SWITCHYARD_MAX_BODY_BYTES


class NetworkPolicy(_Values):
    enabled: bool = True
    # where the ingress controller's pods run: it alone reaches the services from outside
    ingress_controller_namespace: str = "ingress-nginx"
    monitoring_namespace: str | None = "monitoring"


class ServiceMonitor(_Values):
    enabled: bool = False
    interval: str = "30s"


class Values(_Values):
    name: str = "switchyard"
    namespace: str = "switchyard"
    image: Image = Image()
    secrets: Secrets = Secrets()
    proxy: Proxy = Proxy()
    ingest: Ingest = Ingest()
    dashboard: Dashboard = Dashboard()
    jobs: Jobs = Jobs()
    migrations: Migrations = Migrations()
    ingress: Ingress = Ingress()
    network_policy: NetworkPolicy = NetworkPolicy()
    service_monitor: ServiceMonitor = ServiceMonitor()
