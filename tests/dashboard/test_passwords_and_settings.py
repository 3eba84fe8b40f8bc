"""Password hashes (scrypt, PBKDF2) and the dashboard settings read from the environment."""

from __future__ import annotations

import json

import pytest

from dashboard.passwords import PasswordHashError, hash_password, verify_password
from dashboard.settings import DashboardSettings, Role


@pytest.mark.parametrize("scheme", ["scrypt", "pbkdf2_sha256"])
def test_a_hash_verifies_its_password_only(scheme: str) -> None:
    hashed = hash_password("correct horse", scheme=scheme)
    assert hashed.startswith(f"{scheme}$") and "correct horse" not in hashed
    assert verify_password("correct horse", hashed)
    assert not verify_password("correct horsE", hashed)
    assert hash_password("correct horse", scheme=scheme) != hashed  # salted


def test_an_unknown_user_never_verifies() -> None:
    assert not verify_password("", None) and not verify_password("anything", None)


@pytest.mark.parametrize("stored", ["plaintext", "scrypt$1$2$3", "scrypt$x$8$1$AAAA$AAAA", "md5$abc$def",
                                    "pbkdf2_sha256$1000$not base64!$AAAA"])
def test_an_unreadable_hash_is_an_error_not_a_match(stored: str) -> None:
    with pytest.raises(PasswordHashError):
        verify_password("x", stored)


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    users = {"alice": {"password_hash": hash_password("pw"), "role": "approver"}, "bob": {"password_hash": "scrypt$"}}
    monkeypatch.setenv("SWITCHYARD_DASHBOARD_USERS", json.dumps(users))
    monkeypatch.setenv("SWITCHYARD_DASHBOARD_SECRET_KEY", "k" * 32)
    monkeypatch.setenv("SWITCHYARD_DASHBOARD_PORT", "9000")
    monkeypatch.setenv("DATABASE_URL", "sqlite:///x.db")
    settings = DashboardSettings()
    assert settings.users["alice"].role is Role.approver and settings.users["bob"].role is Role.viewer
    assert settings.port == 9000 and settings.database_url == "sqlite:///x.db"
    assert "k" * 32 not in repr(settings) and "scrypt" not in repr(settings)


def test_roles_include_the_ones_below() -> None:
    assert Role.admin.at_least(Role.approver) and Role.approver.at_least(Role.viewer)
    assert not Role.viewer.at_least(Role.approver) and not Role.approver.at_least(Role.admin)
