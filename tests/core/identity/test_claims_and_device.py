"""Who a developer is from IdP claims; user codes; the device flow's answers to a poll; refresh rules."""

from __future__ import annotations

import secrets

import pytest

from core.identity.claims import MAX_GROUPS, IdentityProblem, admission_problem, identity_from_claims
from core.identity.device import (
    USER_CODE_ALPHABET,
    DeviceGrant,
    GrantStatus,
    answer_poll,
    new_user_code,
    normalize_user_code,
)
from core.identity.refresh import REUSE_GRACE_S, RefreshState, refresh_refusal

BASE = {"sub": "00u1", "email": "alice@example.com", "email_verified": True, "groups": ["platform", "eng"]}


def test_identity_from_the_default_claims() -> None:
    identity = identity_from_claims(BASE)
    assert (identity.subject, identity.developer, identity.email) == ("00u1", "alice@example.com", "alice@example.com")
    assert identity.groups == ("platform", "eng") and identity.team == "platform"


def test_other_claims_name_the_developer_and_groups() -> None:
    claims = {**BASE, "preferred_username": "alice", "roles": "claude-users"}  # one group as a plain string
    identity = identity_from_claims(claims, developer_claim="preferred_username", groups_claim="roles")
    assert (identity.developer, identity.groups) == ("alice", ("claude-users",))
    assert identity_from_claims({**BASE, "groups": None}).team is None


@pytest.mark.parametrize(("claims", "says"), [
    ({**BASE, "sub": ""}, "no subject"),
    ({k: v for k, v in BASE.items() if k != "email"}, "no 'email' claim"),
    ({**BASE, "email": "a\x00b"}, "control character"),
    ({**BASE, "email": "x" * 300}, "longer than 256"),
    ({**BASE, "email_verified": False}, "not verified"),
    ({**BASE, "groups": [1, 2]}, "not a list of group names"),
    ({**BASE, "groups": ["ok", "bad\nname"]}, "group that cannot be used"),
    ({**BASE, "groups": [f"g{i}" for i in range(MAX_GROUPS + 1)]}, f"at most {MAX_GROUPS}"),
    ({k: v for k, v in BASE.items() if k != "groups"} | {"_claim_names": {"groups": "src1"}}, "overage"),
])
def test_claims_that_name_no_usable_developer_are_refused(claims: dict[str, object], says: str) -> None:
    with pytest.raises(IdentityProblem, match=says):
        identity_from_claims(claims)


def test_user_codes_are_base_20_and_typed_forgivingly() -> None:
    codes = {new_user_code(secrets.randbelow) for _ in range(200)}
    assert len(codes) == 200
    assert all(len(c) == 9 and c[4] == "-" and set(c.replace("-", "")) <= set(USER_CODE_ALPHABET) for c in codes)
    assert normalize_user_code(" wdjb mjht ") == "WDJB-MJHT"
    assert normalize_user_code("wdjb-mjht") == "WDJB-MJHT"
    for bad in ("WDJB-MJH", "WDJB-MJHA", "0000-0000", "x" * 100, ""):
        assert normalize_user_code(bad) is None


def grant(status: GrantStatus, *, last_poll: float | None = None) -> DeviceGrant:
    return DeviceGrant(status, expires_at=1000.0, interval_s=5, last_poll_at=last_poll)


@pytest.mark.parametrize(("stored", "now", "error", "interval"), [
    (None, 10.0, "expired_token", 0),
    (grant(GrantStatus.PENDING), 1000.0, "expired_token", 0),
    (grant(GrantStatus.PENDING), 10.0, "authorization_pending", 5),
    (grant(GrantStatus.PENDING, last_poll=8.0), 10.0, "slow_down", 10),  # 2 s after the last poll
    (grant(GrantStatus.PENDING, last_poll=6.0), 10.0, "authorization_pending", 5),  # 4 s: on time, give or take
    (grant(GrantStatus.SIGNED_IN), 10.0, "authorization_pending", 5),
    (grant(GrantStatus.DENIED), 10.0, "access_denied", 5),
    (grant(GrantStatus.ISSUED), 10.0, "invalid_grant", 5),
    (grant(GrantStatus.APPROVED, last_poll=9.9), 10.0, None, 5),  # approved: issued, however early
])
def test_a_poll_is_answered_by_the_grants_state(stored: DeviceGrant | None, now: float, error: str | None,
                                                interval: int) -> None:
    answer = answer_poll(stored, now)
    assert (answer.error, answer.interval_s, answer.issue) == (error, interval, error is None)


@pytest.mark.parametrize(("state", "ends", "now", "used", "refused", "revokes"), [
    (None, None, 10.0, None, "unknown", False),
    (RefreshState.ACTIVE, 100.0, 10.0, None, None, False),
    (RefreshState.ACTIVE, 100.0, 100.0, None, "maximum age", False),
    (RefreshState.REVOKED, 100.0, 10.0, None, "revoked", False),
    (RefreshState.ROTATED, 100.0, 10.0, 10.0 - REUSE_GRACE_S + 1, None, False),  # a concurrent refresh
    (RefreshState.ROTATED, 100.0, 10.0, 10.0 - REUSE_GRACE_S - 1, "already used", True),  # a stolen copy
    (RefreshState.ROTATED, 100.0, 10.0, None, "already used", True),
])
def test_refresh_rules(state: RefreshState | None, ends: float | None, now: float, used: float | None,
                       refused: str | None, revokes: bool) -> None:
    refusal = refresh_refusal(state, ends, now, used)
    if refused is None:
        assert refusal is None
    else:
        assert refusal is not None and refused in refusal.reason and refusal.revoke_sign_in is revokes


@pytest.mark.parametrize(("identity_claims", "domains", "groups", "refused"), [
    (BASE, (), (), None),
    (BASE, ("example.com",), (), None),
    (BASE, ("@EXAMPLE.com",), ("eng",), None),
    (BASE, ("example.org",), (), "not in an email domain allowed"),
    ({**BASE, "email_verified": False, "preferred_username": "alice"}, ("example.com",), (), "no verified email"),
    (BASE, (), ("payments",), "not in a group allowed"),
])
def test_who_may_use_the_gateway(identity_claims: dict[str, object], domains: tuple[str, ...],
                                 groups: tuple[str, ...], refused: str | None) -> None:
    claim = "preferred_username" if "preferred_username" in identity_claims else "email"
    identity = identity_from_claims(identity_claims, developer_claim=claim)
    problem = admission_problem(identity, allowed_domains=domains, allowed_groups=groups)
    assert (problem is None) if refused is None else (problem is not None and refused in problem)
