"""The few ways a whole request fails. Raised anywhere in ingest, translated to an HTTP response in
exactly one place (the exception handler in ``ingest.app``). Per-span problems are not exceptions:
they become rejections in ``partial_success``."""

from __future__ import annotations


class RequestRejectedError(Exception):
    """A request ingest will not process at all; ``status_code`` says which kind."""

    status_code = 400
    # google.rpc.Code for the Status body (INVALID_ARGUMENT)
    rpc_code = 3

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UndecodableBodyError(RequestRejectedError):
    status_code = 400


class UnsupportedMediaTypeError(RequestRejectedError):
    status_code = 415


class BodyTooLargeError(RequestRejectedError):
    status_code = 413
    rpc_code = 8  # RESOURCE_EXHAUSTED


class StoreUnavailableError(RequestRejectedError):
    """The database refused or failed the write; OTLP clients retry a 503 later."""

    status_code = 503
    rpc_code = 14  # UNAVAILABLE
