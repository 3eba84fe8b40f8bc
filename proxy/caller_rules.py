"""Who a request is attributed to and what its caller may ask for: the fronting gateway's identity
headers (core/fronting.py) and the caller's groups' model allowlists (core/policy/access.py), as
the proxy applies them: a refusal is a ProxyError the request path answers."""

from __future__ import annotations

from core.facts import RequestFacts
from core.fronting import asserted
from core.keys import KeyRecord
from core.policy.access import check_model
from core.policy.facts import Decision, RouteFacts

from .errors import ProxyError
from .routing import Routing


def attributed(record: KeyRecord | None, headers: dict[str, str]) -> KeyRecord:
    """The record the request is attributed to: a fronting gateway's key may name the developer in
    x-claude-gateway-user-*; from any other caller (pass-through included) those headers are refused
    with a 400 (core/fronting.py), so a misconfigured deployment is loud instead of billing the
    wrong person."""
    decided = asserted(record or _NOBODY, headers)
    if decided.refused is not None or decided.record is None:
        raise ProxyError("invalid_request_error", decided.refused or "identity headers refused",
                         headers=[(b"x-should-retry", b"false")])
    return decided.record


# Pass-through has no key record; for the identity check it is a caller that is not a fronting gateway.
_NOBODY = KeyRecord(key_id="", salt="", secret_hash="", developer="")


def allowed(routing: Routing, facts: RouteFacts, request: RequestFacts, decision: Decision) -> Decision:
    """The decision under the caller's groups' model allowlists: unchanged, downgraded (the policy's
    ``on_denied: downgrade``), or ProxyError 400 ``invalid_request_error`` naming the allowlist."""
    denial = check_model(routing.compiled.access, facts.groups, request.model, facts.requested_tier)
    if denial is None:
        return decision
    if denial.downgrade_to is None:
        raise ProxyError("invalid_request_error", denial.message, status=400)
    return Decision(chain=(denial.downgrade_to,), rule="model-access-downgrade", version=decision.version,
                    propensity=1.0)
