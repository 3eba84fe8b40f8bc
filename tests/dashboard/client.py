"""An HTTP client for the served dashboard: sign in through the real form, call a Dash callback the
way the browser does (POST /_dash-update-component)."""

from __future__ import annotations

import re
from typing import Any

import httpx

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def sign_in(client: httpx.Client, user: str, password: str, next_path: str = "/") -> httpx.Response:
    form = client.get("/login")
    token = _CSRF.search(form.text)
    assert token is not None, form.text
    return client.post("/login", data={"username": user, "password": password, "csrf": token[1], "next": next_path})


def _prop(name: str) -> dict[str, str]:
    component, _, prop = name.partition(".")
    return {"id": component, "property": prop}


def call_callback(client: httpx.Client, outputs: list[str], inputs: dict[str, Any], state: dict[str, Any],
                  changed: str) -> httpx.Response:
    """``outputs`` like ["policies-state.children"], ``inputs``/``state`` {"id.prop": value}."""
    output = outputs[0] if len(outputs) == 1 else ".." + "...".join(outputs) + ".."
    body = {
        "output": output,
        "outputs": _prop(outputs[0]) if len(outputs) == 1 else [_prop(name) for name in outputs],
        "inputs": [{**_prop(name), "value": value} for name, value in inputs.items()],
        "state": [{**_prop(name), "value": value} for name, value in state.items()],
        "changedPropIds": [changed],
    }
    return client.post("/_dash-update-component", json=body)
