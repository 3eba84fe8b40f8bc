"""Control-plane tokens: read from the environment as JSON, refused when weak (without the token
appearing in the message), matched to their actor."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine

from ingest.app import create_app
from ingest.auth import BearerTokens
from ingest.settings import IngestSettings


def test_tokens_come_from_the_environment_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHYARD_ADMIN_TOKENS", '{"admin-token-0123456789": "alice"}')
    monkeypatch.setenv("SWITCHYARD_SNAPSHOT_TOKENS", '["proxy-token-0123456789"]')
    settings = IngestSettings()
    assert settings.admin_tokens == {"admin-token-0123456789": "alice"}
    assert settings.snapshot_tokens == ["proxy-token-0123456789"]
    assert "admin-token-0123456789" not in repr(settings)


def test_a_short_token_is_refused_when_the_app_is_built() -> None:
    engine = create_engine("sqlite://")
    try:
        with pytest.raises(ValueError, match="'alice' is shorter than 16") as refused:
            create_app(IngestSettings(admin_tokens={"guessable": "alice"}), engine)
        assert "guessable" not in str(refused.value)
        with pytest.raises(ValueError, match="needs a name"):
            BearerTokens({"a-long-enough-token-0123": " "})
    finally:
        engine.dispose()


def test_a_token_names_its_actor() -> None:
    tokens = BearerTokens({"token-of-alice-0123456789": "alice", "token-of-bob-0123456789": "bob"})
    assert tokens.name_of("token-of-bob-0123456789") == "bob"
    assert tokens.name_of("token-of-bob-012345678") is None
    assert tokens.name_of("") is None and tokens.name_of(None) is None
    assert len(BearerTokens({})) == 0
