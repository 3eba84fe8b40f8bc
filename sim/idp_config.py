"""Who the test IdP knows: users (with passwords and groups) and registered clients.

Frozen values passed to the server; tests build them directly, the standalone IdP from flags.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class IdpUser:
    username: str
    password: str
    email: str
    groups: tuple[str, ...] = ()
    name: str = ""
    # The stable subject (an IdP's opaque user id); by default derived from the username.
    sub: str = ""

    @property
    def subject(self) -> str:
        return self.sub or f"user-{self.username}"


@dataclass(frozen=True, slots=True)
class IdpClient:
    client_id: str
    client_secret: str | None  # None: a public client (PKCE only, no secret)
    # Exact redirect URIs, as OAuth 2.1 wants (no prefix matching); empty: any loopback http URI.
    redirect_uris: tuple[str, ...] = ()


DEMO_USERS: tuple[IdpUser, ...] = (
    IdpUser("alice", "alice-password", "alice@example.com", ("platform", "claude-users"), "Alice Adams"),
    IdpUser("bob", "bob-password", "bob@example.com", ("payments", "claude-users"), "Bob Brown"),
    IdpUser("carol", "carol-password", "carol@example.com", (), "Carol Clark"),
)
DEMO_CLIENT = IdpClient("switchyard", "switchyard-secret")


@dataclass(frozen=True)
class IdpConfig:
    users: tuple[IdpUser, ...] = DEMO_USERS
    clients: tuple[IdpClient, ...] = (DEMO_CLIENT,)
    # The first signing key's algorithm (RS256 or ES256); rotate() can switch it.
    alg: str = "RS256"
    # Retired keys stay in the JWKS until this many newer ones exist (the current one included).
    keep_keys: int = 2
    id_token_ttl_s: int = 3600
    code_ttl_s: int = 60
    # The claim that carries groups (Okta and Keycloak: configurable; Entra ID: "groups").
    groups_claim: str = "groups"
    # Extra claims put in every ID token (e.g. a wrong "aud" in a test of the relying party).
    extra_claims: dict[str, object] = field(default_factory=dict)
