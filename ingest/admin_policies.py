"""Admin API for routing policies: store a version (YAML or JSON; refused with every problem when
invalid), list, show, diff, activate, roll back. Every change is audited with the token's actor
(by the store functions, in the change's own transaction)."""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations at runtime, and
# they name dependencies local to the router factory.

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from core.policy.diff import diff
from core.policy.load import dump_policy, load_policy
from core.policy.problems import PolicyError, Problem, errors_in
from core.policy.rule_diff import render_rule_diff, rule_diff
from core.policy.schema import Policy
from core.policy.validate import validate
from ingest.admin_errors import AdminError, InvalidPolicyError, PayloadTooLargeError, problem_dicts
from ingest.body import read_capped
from ingest.errors import BodyTooLargeError
from ingest.openapi_admin import policy_body, responses
from ingest.upstreams import UpstreamCheck
from store.policies import (
    Activation,
    PolicyVersion,
    activate,
    active_state,
    create_version,
    get_version,
    list_versions,
    rollback,
)

Version = Annotated[str, Path(min_length=1, max_length=128, description="a policy version")]


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds") + "Z"


def summary(version: PolicyVersion, active: str | None) -> dict[str, Any]:
    return {"version": version.version, "parent": version.parent, "created_at": iso(version.created_at),
            "created_by": version.created_by, "note": version.note, "active": version.version == active}


def parse_policy(raw: bytes) -> tuple[Policy, list[Problem]]:
    """The policy and its warnings; InvalidPolicyError listing every problem when it has errors."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise AdminError(f"the policy must be UTF-8 text (YAML or JSON): {error.reason} at byte {error.start}") \
            from None
    try:
        policy = load_policy(text)
    except PolicyError as error:
        raise InvalidPolicyError("the policy cannot be loaded", error.problems) from None
    except RecursionError:
        raise InvalidPolicyError("the policy cannot be loaded",
                                 [Problem("(document)", "nested too deeply")]) from None
    problems = validate(policy)
    if "/" in policy.version:
        problems.insert(0, Problem("version", "must not contain '/': a version names a URL path segment"))
    errors = errors_in(problems)
    if errors:
        raise InvalidPolicyError(f"the policy has {len(errors)} error(s)", problems)
    return policy, problems


def refuse_outside_allowlist(policy: Policy, check: UpstreamCheck) -> list[Problem]:
    """The upstream check's warnings; InvalidPolicyError (422) naming each target it refuses."""
    problems = check(policy)
    errors = errors_in(problems)
    if errors:
        raise InvalidPolicyError(f"policy {policy.version!r} would send provider keys where "
                                 "SWITCHYARD_ALLOWED_UPSTREAMS does not allow: " + "; ".join(p.message for p in errors),
                                 errors)
    return problems


def _activation(result: Activation) -> dict[str, Any]:
    return {"version": result.version, "previous": result.previous, "changed": result.changed}


def policies_router(engine: Engine, actor: Callable[..., str], clock: Callable[[], datetime], *,
                    max_policy_bytes: int, upstreams: UpstreamCheck) -> APIRouter:
    router = APIRouter(prefix="/admin/policies", tags=["admin: policies"])
    Actor = Annotated[str, Depends(actor)]

    @router.post("", summary="Store a policy version (YAML or JSON body)", status_code=201,
                 responses=responses(200, 400, 401, 409, 413, 422, 503), openapi_extra=policy_body())
    async def create(request: Request, who: Actor,
                     note: Annotated[str | None, Query(max_length=2000)] = None) -> JSONResponse:
        try:
            raw = await read_capped(request.stream(), request.headers.get("content-length"), max_policy_bytes)
        except BodyTooLargeError as error:
            raise PayloadTooLargeError(error.message) from None
        policy, warnings = parse_policy(raw)
        warnings += await run_in_threadpool(refuse_outside_allowlist, policy, upstreams)  # resolves names
        stored, created = await run_in_threadpool(
            lambda: create_version(engine, policy, actor=who, note=note, now=clock()))
        state = await run_in_threadpool(active_state, engine)
        body = {**summary(stored, state.version if state else None), "created": created,
                "problems": problem_dicts(warnings)}
        return JSONResponse(body, status_code=201 if created else 200)

    @router.get("", summary="Policy versions, oldest first", responses=responses(401, 503))
    def list_all(_who: Actor) -> dict[str, Any]:
        state = active_state(engine)
        active = state.version if state else None
        return {"active": active, "activated_at": iso(state.activated_at) if state else None,
                "activated_by": state.activated_by if state else None,
                "versions": [summary(v, active) for v in list_versions(engine)]}

    @router.post("/rollback", summary="Go back to the previously active version",
                 responses=responses(401, 409, 503))
    def roll_back(who: Actor) -> dict[str, Any]:
        return _activation(rollback(engine, actor=who, now=clock(), check=upstreams))

    @router.get("/{version}", summary="One version: its document and its YAML",
                responses=responses(401, 404, 422, 503))
    def show(version: Version, _who: Actor) -> dict[str, Any]:
        stored = get_version(engine, version)
        state = active_state(engine)
        return {**summary(stored, state.version if state else None), "document": stored.document,
                "yaml": dump_policy(stored.policy())}

    @router.post("/{version}/activate", summary="Make a version the active policy",
                 responses=responses(401, 404, 422, 503))
    def activate_version(version: Version, who: Actor) -> dict[str, Any]:
        # stored versions were valid when stored; validation (and the allowlist) may have grown stricter since
        policy = get_version(engine, version).policy()
        errors = errors_in(validate(policy))
        if errors:
            raise InvalidPolicyError(f"version {version!r} has {len(errors)} error(s) now", errors)
        refuse_outside_allowlist(policy, upstreams)
        return _activation(activate(engine, version, actor=who, now=clock()))

    @router.get("/{old}/diff/{new}", summary="What changes from one version to another",
                responses=responses(401, 404, 422, 503))
    def difference(old: Version, new: Version, _who: Actor) -> dict[str, Any]:
        before, after = get_version(engine, old).policy(), get_version(engine, new).policy()
        change = diff(before, after)
        # the structured field-level diff for programs; the text is the rule-level review people read
        return {"diff": change.to_dict(), "text": render_rule_diff(rule_diff(before, after))}

    return router
