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


PROPOSAL_OUTPUTS = ["proposals-state.children", "proposals-status.children", "proposals-status.className",
                    "proposals-pick.options", "proposals-reason.value", "proposals-reason.disabled",
                    "proposals-approve.disabled", "proposals-reject.disabled"]


def decide_proposal(client: httpx.Client, proposal_id: str, button: str, reason: str = "a reason") -> httpx.Response:
    """Press the Proposals page's approve or reject button (``button``) on ``proposal_id``, with ``reason``."""
    return call_callback(client, PROPOSAL_OUTPUTS,
                         {"proposals-pick.value": proposal_id, "proposals-approve-confirm.submit_n_clicks":
                          1 if button == "approve" else None, "proposals-reject-confirm.submit_n_clicks":
                          1 if button == "reject" else None},
                         {"proposals-pick.value": proposal_id, "proposals-reason.value": reason},
                         f"proposals-{button}-confirm.submit_n_clicks")
