"""`switchyard doctor`'s sign-in check: with ``SWITCHYARD_OIDC_ISSUER`` set, the settings are complete,
the IdP answers its discovery document as that issuer, and the signing keys' file is private."""

from __future__ import annotations

import httpx
from pydantic import ValidationError

from signin.settings import SigninSettings

from .doctor import Check


def signin_check() -> Check | None:
    try:
        settings = SigninSettings()
    except ValidationError as error:
        return Check("sign-in (/login)", False, "; ".join(e["msg"].removeprefix("Value error, ")
                                                            for e in error.errors()))
    if not settings.enabled:
        return None
    assert settings.oidc_issuer is not None
    issuer = settings.oidc_issuer.rstrip("/")
    discovery = f"{issuer}/.well-known/openid-configuration"
    try:
        response = httpx.get(discovery, timeout=5)
        document = response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError) as error:
        return Check("sign-in (/login)", False, f"{discovery}: {type(error).__name__} (is the IdP reachable?)")
    if not isinstance(document, dict):
        return Check("sign-in (/login)", False,
                     f"{discovery} answered {response.status_code}, not a discovery document")
    if str(document.get("issuer", "")).rstrip("/") != issuer:
        return Check("sign-in (/login)", False, f"the IdP calls itself {document.get('issuer')!r}, not {issuer!r}: "
                                                "set SWITCHYARD_OIDC_ISSUER to exactly that")
    keys = settings.keys_file
    if keys.exists() and keys.stat().st_mode & 0o077:
        return Check("sign-in (/login)", False, f"{keys} is readable by group or others: chmod 600 it")
    return Check("sign-in (/login)", True, f"IdP {issuer} answers; developers /login to {settings.public_url}")
