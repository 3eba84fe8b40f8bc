"""Anthropic-shaped model objects for ``GET /v1/models`` and ``GET /v1/models/{id}``."""

from __future__ import annotations

import re
from typing import Any

_DATED = re.compile(r"^(?P<stem>.+)-(?P<date>\d{8})$")


def model_entry(model_id: str) -> dict[str, Any] | None:
    """The model object for any ``claude-*`` id (new ids arrive with every CLI release), else None."""
    if not model_id.startswith("claude-"):
        return None
    created_at = "2026-01-01T00:00:00Z"
    stem = model_id
    if dated := _DATED.match(model_id):
        stem = dated["stem"]
        day = dated["date"]
        created_at = f"{day[:4]}-{day[4:6]}-{day[6:]}T00:00:00Z"
    words = stem.split("-")[1:]
    family = [word.capitalize() for word in words if not word.isdigit()]
    version = ".".join(word for word in words if word.isdigit())
    display_name = " ".join(["Claude", *family, version]).strip()
    return {"type": "model", "id": model_id, "display_name": display_name, "created_at": created_at}


def model_list(model_ids: tuple[str, ...]) -> dict[str, Any]:
    entries = [entry for entry in map(model_entry, model_ids) if entry is not None]
    return {
        "data": entries,
        "has_more": False,
        "first_id": entries[0]["id"] if entries else None,
        "last_id": entries[-1]["id"] if entries else None,
    }
