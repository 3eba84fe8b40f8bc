"""How the control-plane endpoints (admin API, snapshot) fail, and the one place those failures
become HTTP responses: ``install_error_handlers``. Bodies are JSON ``{"detail": …}``, plus
``problems`` (every one found, with where it is) on a 422: a refused policy or request parameters
FastAPI refused (the OTLP endpoints read raw bodies and never raise those)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError

from core.policy.problems import Problem, location
from store.errors import ConflictError, NotFoundError

log = logging.getLogger(__name__)


class AdminError(Exception):
    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnauthorizedError(AdminError):
    status_code = 401


class PayloadTooLargeError(AdminError):
    status_code = 413


class InvalidInputError(AdminError):
    """Input the schema admits but the store refuses (e.g. a control character in a developer's name)."""

    status_code = 422


class InvalidPolicyError(AdminError):
    status_code = 422

    def __init__(self, message: str, problems: Sequence[Problem]) -> None:
        super().__init__(message)
        self.problems = tuple(problems)


def problem_dicts(problems: Sequence[Problem]) -> list[dict[str, str]]:
    return [{"path": p.path, "message": p.message, "severity": p.severity} for p in problems]


def _json(status: int, detail: str, **extra: object) -> JSONResponse:
    headers = {"www-authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"detail": detail, **extra}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AdminError)
    async def admin_error(_request: Request, error: AdminError) -> JSONResponse:
        if isinstance(error, InvalidPolicyError):
            return _json(error.status_code, error.message, problems=problem_dicts(error.problems))
        return _json(error.status_code, error.message)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, error: RequestValidationError) -> JSONResponse:
        # the same shape as a refused policy, so clients read one kind of 422
        problems = [Problem(location(e.get("loc", ())), str(e.get("msg", "invalid"))) for e in error.errors()]
        return _json(422, "the request is invalid", problems=problem_dicts(problems))

    @app.exception_handler(NotFoundError)
    async def not_found(_request: Request, error: NotFoundError) -> JSONResponse:
        return _json(404, str(error))

    @app.exception_handler(ConflictError)
    async def conflict(_request: Request, error: ConflictError) -> JSONResponse:
        return _json(409, str(error))

    @app.exception_handler(DBAPIError)
    async def database(request: Request, error: DBAPIError) -> JSONResponse:
        if isinstance(error, DataError):  # a value the database cannot hold (e.g. a NUL character)
            return _json(422, f"the database refused a value: {type(error.orig).__name__}")
        log.exception("database error on %s %s", request.method, request.url.path)
        return _json(503, f"the database is unavailable: {type(error.orig).__name__}")
