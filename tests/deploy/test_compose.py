"""The compose file (issue 20, item 3): valid against the compose specification's JSON schema
(vendored in deploy/compose/schema), and wired the way `switchyard up` wires one host: the proxies'
span-export token is one of ingest's `proxy` tokens, their snapshot token one of ingest's snapshot
tokens, every process on the database shares the audit key, migrations run once before ingest, and
every switchyard container runs non-root on a read-only root filesystem."""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from switchyard.cli import app
from tests.deploy.lockfiles import ROOT
from tests.deploy.settings_names import known_variables

COMPOSE = ROOT / "deploy" / "compose"
SCHEMA = COMPOSE / "schema" / "compose-spec.json"
SWITCHYARD_SERVICES = {"migrate", "ingest", "proxy-1", "proxy-2", "dashboard", "jobs"}
_VARIABLE = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?:(?P<op>:\?|:-|\?|-)(?P<arg>[^}]*))?\}")


def load() -> dict[str, Any]:
    return yaml.safe_load((COMPOSE / "compose.yaml").read_text())  # type: ignore[no-any-return]


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error} on every string (the subset the file uses)."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if env.get(name):
            return env[name]
        if op in (":?", "?"):
            raise KeyError(f"{name}: {arg}")
        return arg if op in (":-", "-") else ""

    return _VARIABLE.sub(substitute, value)


def example_env() -> dict[str, str]:
    """env.example with every empty value filled in, as an operator would."""
    env = {}
    for line in (COMPOSE / "env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name] = value.strip("'") or f"value-of-{name.lower()}-0123456789"
    return env


def test_the_compose_file_is_valid_against_the_compose_specification() -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(load()), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)


def test_the_schema_check_catches_a_broken_file() -> None:
    broken = load()
    broken["services"]["ingest"]["healthcheck"]["interval"] = {"seconds": 10}
    broken["services"]["proxy-1"]["restartt"] = "always"  # a typo: unknown keys are refused
    assert len(list(jsonschema.Draft7Validator(json.loads(SCHEMA.read_text())).iter_errors(broken))) >= 2


def test_every_variable_the_file_needs_is_in_env_example() -> None:
    needed = {m["name"] for m in _VARIABLE.finditer((COMPOSE / "compose.yaml").read_text())}
    offered = set(example_env())
    optional = {"SWITCHYARD_INGEST_BIND", "SWITCHYARD_DASHBOARD_BIND"}  # defaults: loopback only
    assert needed - optional <= offered, needed - optional - offered
    with pytest.raises(KeyError, match="SWITCHYARD_OTLP_TOKEN"):  # a missing secret stops `docker compose up`
        interpolate(load(), {k: v for k, v in example_env().items() if k != "SWITCHYARD_OTLP_TOKEN"})


def test_tokens_are_wired_like_switchyard_up_wires_them() -> None:
    env = example_env()
    services = interpolate(load(), env)["services"]
    ingest = services["ingest"]["environment"]
    ingest_tokens = json.loads(ingest["SWITCHYARD_INGEST_TOKENS"])
    snapshot_tokens = json.loads(ingest["SWITCHYARD_SNAPSHOT_TOKENS"])
    admin_tokens = json.loads(ingest["SWITCHYARD_ADMIN_TOKENS"])
    assert admin_tokens == {env["SWITCHYARD_ADMIN_TOKEN"]: "ops"}
    assert ingest_tokens[env["SWITCHYARD_TELEMETRY_TOKEN"]] == "telemetry"
    for name in ("proxy-1", "proxy-2"):
        proxy = services[name]["environment"]
        assert ingest_tokens[proxy["SWITCHYARD_OTLP_TOKEN"]] == "proxy", "only proxies write spend"
        assert proxy["SWITCHYARD_SNAPSHOT_TOKEN"] in snapshot_tokens
        assert proxy["SWITCHYARD_OTLP_ENDPOINT"] == "http://ingest:4318/v1/traces"
        assert proxy["SWITCHYARD_SNAPSHOT_URL"] == "http://ingest:4318/v1/snapshot"
        assert proxy["SWITCHYARD_REDIS_URL"].startswith("redis://redis:")
        assert "SWITCHYARD_ADMIN_TOKENS" not in proxy and "DATABASE_URL" not in proxy  # least privilege
    # each proxy keeps its own turn journal
    journals = {services[name]["volumes"][0].split(":")[0] for name in ("proxy-1", "proxy-2")}
    assert len(journals) == 2
    on_database = [name for name, s in services.items() if "DATABASE_URL" in s.get("environment", {})]
    assert set(on_database) == {"migrate", "ingest", "dashboard", "jobs"}
    assert len({services[name]["environment"]["SWITCHYARD_AUDIT_KEY"] for name in on_database}) == 1
    assert "SWITCHYARD_UPSTREAM_API_KEY" not in json.dumps({k: v for k, v in services.items() if "proxy" not in k})


def test_migrations_run_once_before_ingest_and_ingest_does_not_migrate() -> None:
    services = load()["services"]
    assert services["migrate"]["command"] == ["store", "migrate"] and services["migrate"]["restart"] == "no"
    assert services["ingest"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["ingest"]["environment"]["SWITCHYARD_MIGRATE_ON_START"] == "false"


def test_every_switchyard_container_is_locked_down_and_health_checked() -> None:
    services = load()["services"]
    assert set(services) >= SWITCHYARD_SERVICES
    for name in SWITCHYARD_SERVICES:
        service = services[name]
        assert service["user"] == "10001:10001" and service["read_only"] is True, name
        assert service["cap_drop"] == ["ALL"] and "no-new-privileges:true" in service["security_opt"], name
        assert "/tmp" in service["tmpfs"], name
        if name not in ("migrate", "jobs"):
            check = " ".join(service["healthcheck"]["test"])
            assert re.search(r"http://127\.0\.0\.1:\d+/(healthz|readyz)", check), name
    assert "readyz" in " ".join(services["ingest"]["healthcheck"]["test"])  # ready = the database answers


@pytest.mark.parametrize("name", sorted(SWITCHYARD_SERVICES))
def test_each_command_is_a_real_cli_invocation(name: str) -> None:
    command = load()["services"][name]["command"]
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, f"switchyard {shlex.join(command)}: {result.output}"


def test_every_variable_set_is_a_setting_the_services_read() -> None:
    services = load()["services"]
    unknown = {(name, variable) for name in SWITCHYARD_SERVICES
               for variable in services[name].get("environment", {}) if variable not in known_variables()}
    assert not unknown, f"not in docs/configuration.md: {sorted(unknown)}"
