"""The ways a control-plane change is refused. Raised by store functions, translated to HTTP in one
place by the service that calls them (ingest's admin API: 404 and 409)."""

from __future__ import annotations


class NotFoundError(LookupError):
    """The named policy version or key does not exist."""


class ConflictError(ValueError):
    """The change contradicts what is stored: a version number reused for a different document,
    or a rollback with nothing to roll back to."""
