"""Sign-in state in the store, on SQLite and PostgreSQL: each state change happens once (conditional
updates), revocations are idempotent and expire, and what no longer matters is forgotten."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, func, select

from core.identity.claims import Identity
from core.identity.device import GrantStatus
from core.identity.refresh import RefreshState
from store import signin
from store.schema import signin_device_grants, signin_refresh_tokens, signin_revocations

NOW = datetime(2026, 12, 3, 12, 0, 0)
ALICE = Identity(subject="u1", developer="alice@example.com", email="alice@example.com", groups=("platform", "x"))


def _grant(engine: Engine, code_hash: str = "d" * 64, user_code: str = "BCDF-GHJK") -> bool:
    return signin.create_grant(engine, device_code_hash=code_hash, user_code=user_code, box=b"\x01" * 32, now=NOW,
                               expires_at=NOW + timedelta(minutes=10), interval_s=5, client_ip="10.0.0.1",
                               surface="claude_code")


def test_a_grant_moves_through_its_states_once(db_engine: Engine) -> None:
    assert _grant(db_engine)
    assert not _grant(db_engine, "e" * 64)  # the user code is taken
    code = "d" * 64
    assert signin.begin_login(db_engine, code, state_hash="s" * 64, nonce="n", verifier="v", browser_hash="b" * 64)
    assert signin.grant_by_state(db_engine, "s" * 64) is not None
    assert signin.record_sign_in(db_engine, code, ALICE, approval_hash="a" * 64, idp_refresh_sealed=b"sealed")
    assert not signin.record_sign_in(db_engine, code, ALICE, approval_hash="a" * 64, idp_refresh_sealed=None)
    assert signin.grant_by_state(db_engine, "s" * 64) is None  # the state is spent
    stored = signin.grant_by_user_code(db_engine, "BCDF-GHJK")
    assert stored is not None and stored.identity == ALICE and stored.grant.status is GrantStatus.SIGNED_IN
    assert stored.idp_refresh_sealed == b"sealed" and stored.client_ip == "10.0.0.1"
    assert not signin.mark_issued(db_engine, code)  # not approved yet
    assert signin.decide(db_engine, code, approve=True)
    assert not signin.decide(db_engine, code, approve=False)  # decided already
    assert signin.mark_issued(db_engine, code)
    assert not signin.mark_issued(db_engine, code)  # one poll gets the tokens
    issued = signin.grant_by_device_code(db_engine, code)
    assert issued is not None and issued.grant.status is GrantStatus.ISSUED and issued.idp_refresh_sealed is None


def test_refresh_tokens_are_spent_once_given_back_and_revoked_by_sign_in(db_engine: Engine) -> None:
    ends = NOW + timedelta(days=7)
    for token in ("r1", "r2"):
        signin.store_refresh(db_engine, token_hash=token * 32, sid="sid-1", identity=ALICE, now=NOW,
                             session_ends_at=ends, idp_refresh_sealed=b"s-" + token.encode())
    assert signin.spend_refresh(db_engine, "r1" * 32, now=NOW)
    assert not signin.spend_refresh(db_engine, "r1" * 32, now=NOW)
    signin.unspend_refresh(db_engine, "r1" * 32, used_at=NOW)  # the IdP was down: the client keeps it
    row = signin.refresh_by_hash(db_engine, "r1" * 32)
    assert row is not None and row.state is RefreshState.ACTIVE and row.used_at is None and row.identity == ALICE
    assert signin.spend_refresh(db_engine, "r1" * 32, now=NOW)
    signin.store_refresh(db_engine, token_hash="r3" * 32, sid="sid-1", identity=ALICE, now=NOW, session_ends_at=ends,
                         idp_refresh_sealed=b"s-r3", replaces="r1" * 32)
    replaced = signin.refresh_by_hash(db_engine, "r1" * 32)
    assert replaced is not None and replaced.state is RefreshState.ROTATED and replaced.idp_refresh_sealed is None
    for _ in range(2):  # twice: idempotent
        signin.revoke(db_engine, token_id="sid-1", kind="sid", now=NOW, forget_after=ends, reason="signed out")
    states = {signin.refresh_by_hash(db_engine, t * 32).state for t in ("r1", "r2", "r3")}  # type: ignore[union-attr]
    assert states == {RefreshState.REVOKED}
    assert signin.live_revocations(db_engine, NOW) == frozenset({"sid-1"})
    assert signin.live_revocations(db_engine, ends) == frozenset()


def test_what_no_longer_matters_is_forgotten(db_engine: Engine) -> None:
    _grant(db_engine)
    signin.store_refresh(db_engine, token_hash="r" * 64, sid="s", identity=ALICE, now=NOW,
                         session_ends_at=NOW + timedelta(hours=1), idp_refresh_sealed=None)
    signin.revoke(db_engine, token_id="j", kind="jti", now=NOW, forget_after=NOW + timedelta(hours=1), reason="x")
    assert signin.forget_expired(db_engine, NOW + timedelta(hours=2), grace=timedelta(days=1)) == 0
    assert signin.forget_expired(db_engine, NOW + timedelta(days=1, hours=2), grace=timedelta(days=1)) == 3
    with db_engine.connect() as connection:
        for table in (signin_device_grants, signin_refresh_tokens, signin_revocations):
            assert connection.execute(select(func.count()).select_from(table)).scalar_one() == 0
