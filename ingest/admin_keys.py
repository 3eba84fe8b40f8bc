"""Admin API for virtual keys: create (the plaintext is in this one response and nowhere else),
list (never salts or hashes), revoke, set the repos a key may tag. Proxies learn of changes through
the snapshot."""

# No `from __future__ import annotations`: FastAPI reads the endpoints' annotations at runtime, and
# they name dependencies local to the router factory.

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Engine

from core.keys import MAX_GROUPS, MAX_REPOS, groups_from, repos_problem
from ingest.admin_errors import InvalidInputError
from ingest.openapi_admin import responses
from store.keys import create_key, list_keys, revoke_key, set_key_repos

_PRINCIPAL = r"^\S(.*\S)?$"  # no leading or trailing blanks: budgets and reports match names exactly
_REPOS_DESCRIPTION = ('the repos its requests may tag with x-switchyard-repo (["*"]: any, said explicitly); '
                      "null: no list (any repo, recorded as unverified)")


def _checked_repos(repos: list[str] | None) -> list[str] | None:
    problem = None if repos is None else repos_problem(repos)
    if problem is not None:
        raise ValueError(problem)  # pydantic answers 422 with the field's location
    return repos


class NewKey(BaseModel):
    # strict: the schema says integer, so `true` is refused rather than read as 1 (found by schemathesis)
    model_config = ConfigDict(extra="forbid", strict=True)

    developer: str = Field(min_length=1, max_length=200, pattern=_PRINCIPAL)
    team: str | None = Field(None, min_length=1, max_length=200, pattern=_PRINCIPAL)
    rate_limit_rpm: int | None = Field(None, ge=1, le=1_000_000, description="requests a minute; null: unlimited")
    repos: list[str] | None = Field(None, min_length=1, max_length=MAX_REPOS, description=_REPOS_DESCRIPTION)
    fronting_gateway: bool = Field(False, description="a fronting gateway's key (Anthropic's gateway with "
                                   "forward_user_identity): it may name each request's developer in "
                                   "x-claude-gateway-user-id / -email (docs/identity.md)")

    groups: list[str] = Field([], max_length=MAX_GROUPS,
                              description="the policy groups of its turns (group rules, model allowlists, group "
                                          "budgets); none by default, and a client can never claim one")

    _repos = field_validator("repos")(_checked_repos)

    @field_validator("groups")
    @classmethod
    def _checked_groups(cls, groups: list[str]) -> list[str]:
        return list(groups_from(groups))  # ValueError (a 422) naming the problem


class KeyRepos(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    repos: list[str] | None = Field(min_length=1, max_length=MAX_REPOS, description=_REPOS_DESCRIPTION)

    _repos = field_validator("repos")(_checked_repos)


def keys_router(engine: Engine, actor: Callable[..., str], clock: Callable[[], datetime]) -> APIRouter:
    router = APIRouter(prefix="/admin/keys", tags=["admin: keys"])
    Actor = Annotated[str, Depends(actor)]

    @router.post("", summary="Create a key; the response is the only place its plaintext appears",
                 status_code=201, responses=responses(400, 401, 422, 503))
    def create(new: NewKey, who: Actor) -> JSONResponse:
        try:
            plaintext, stored = create_key(engine, developer=new.developer, team=new.team, actor=who,
                                           rate_limit_rpm=new.rate_limit_rpm,
                                           repos=None if new.repos is None else tuple(new.repos),
                                           fronting_gateway=new.fronting_gateway, groups=tuple(new.groups),
                                           now=clock())
        except ValueError as error:  # a name ingest would refuse to store (core.turn_bounds.identity_problem)
            raise InvalidInputError(str(error)) from None
        return JSONResponse({"key": plaintext, **stored.public_dict()}, status_code=201,
                            headers={"cache-control": "no-store"})

    @router.get("", summary="Keys, oldest first (no secrets)", responses=responses(401, 503))
    def list_all(_who: Actor) -> dict[str, Any]:
        return {"keys": [stored.public_dict() for stored in list_keys(engine)]}

    @router.post("/{key_id}/revoke", summary="Revoke a key", responses=responses(401, 404, 422, 503))
    def revoke(key_id: Annotated[str, Path(min_length=1, max_length=64)], who: Actor) -> dict[str, Any]:
        return revoke_key(engine, key_id, actor=who, now=clock()).public_dict()

    @router.put("/{key_id}/repos", summary="Set the repos a key may tag (null: no list)",
                responses=responses(400, 401, 404, 422, 503))
    def set_repos(key_id: Annotated[str, Path(min_length=1, max_length=64)], body: KeyRepos,
                  who: Actor) -> dict[str, Any]:
        repos = None if body.repos is None else tuple(body.repos)
        return set_key_repos(engine, key_id, repos, actor=who, now=clock()).public_dict()

    return router
