"""Who a signed-in developer is, read off the IdP's ID token claims.

The developer name comes from one claim (``SWITCHYARD_OIDC_DEVELOPER_CLAIM``, default ``email``) and
groups from another (``SWITCHYARD_OIDC_GROUPS_CLAIM``, default ``groups``). Everything read here ends
up in budgets, reports and CSV cells, so it is held to the same bounds as a virtual key's developer
and team (core.turn_bounds): a bad claim refuses the sign-in with the reason, never a silent cut.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from core.turn_bounds import identity_problem

MAX_GROUPS = 200


class IdentityProblem(ValueError):
    """The IdP's claims cannot make a developer; the message says which claim and why."""


@dataclass(frozen=True, slots=True)
class Identity:
    subject: str  # the IdP's stable user id (``sub``)
    developer: str
    email: str | None
    groups: tuple[str, ...] = ()

    @property
    def team(self) -> str | None:
        """The team spend is attributed to: the first group (None without groups)."""
        return self.groups[0] if self.groups else None


def _groups(claims: Mapping[str, object], groups_claim: str) -> tuple[str, ...]:
    value = claims.get(groups_claim)
    if value is None:
        names = claims.get("_claim_names")
        if isinstance(names, Mapping) and groups_claim in names:
            # Entra ID leaves groups out past 200 (the "overage"): they must be fetched from Graph.
            raise IdentityProblem(f"the IdP left the {groups_claim!r} claim out (too many groups: Entra ID's "
                                  "overage); emit only the groups switchyard needs (group filtering)")
        return ()
    if isinstance(value, str):  # some IdPs send one group as a plain string
        value = [value]
    if not isinstance(value, list) or not all(isinstance(g, str) for g in value):
        raise IdentityProblem(f"the {groups_claim!r} claim is not a list of group names")
    if len(value) > MAX_GROUPS:
        raise IdentityProblem(f"the {groups_claim!r} claim lists {len(value)} groups; at most {MAX_GROUPS} "
                              "(filter the groups the IdP puts in the token)")
    for group in value:
        problem = identity_problem("group", group)
        if problem is not None:
            raise IdentityProblem(f"the {groups_claim!r} claim has a group that cannot be used: {problem}")
    return tuple(dict.fromkeys(value))


def identity_from_claims(claims: Mapping[str, object], *, developer_claim: str = "email",
                         groups_claim: str = "groups") -> Identity:
    """The developer the (already verified) ID token names; IdentityProblem when it names none."""
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise IdentityProblem("the ID token has no subject (sub)")
    developer = claims.get(developer_claim)
    if not isinstance(developer, str) or not developer.strip():
        raise IdentityProblem(f"the ID token has no {developer_claim!r} claim to name the developer by "
                              "(SWITCHYARD_OIDC_DEVELOPER_CLAIM)")
    problem = identity_problem("developer", developer)
    if problem is not None:
        raise IdentityProblem(f"the {developer_claim!r} claim cannot name a developer: {problem}")
    email = claims.get("email")
    email = email if isinstance(email, str) and email else None
    if claims.get("email_verified") is False:
        # An unverified address is whatever the user typed: it must not name whose budget is spent,
        # nor pass an email-domain check.
        if developer_claim == "email":
            raise IdentityProblem("the IdP says this email address is not verified")
        email = None
    if email is not None and identity_problem("email", email) is not None:
        email = None
    return Identity(subject=subject, developer=developer, email=email, groups=_groups(claims, groups_claim))


def admission_problem(identity: Identity, *, allowed_domains: tuple[str, ...] = (),
                      allowed_groups: tuple[str, ...] = ()) -> str | None:
    """Why this developer may not use the gateway although the IdP vouched for them (an IdP such as
    Google signs in any account), or None. Empty lists admit everyone."""
    if allowed_domains:
        domain = identity.email.rpartition("@")[2].lower() if identity.email else ""
        if domain not in {d.lower().lstrip("@") for d in allowed_domains}:
            shown = identity.email or "this account (no verified email)"
            return f"{shown} is not in an email domain allowed to use this gateway"
    if allowed_groups and not set(identity.groups) & set(allowed_groups):
        return "you are not in a group allowed to use this gateway: ask your administrator to add you to one"
    return None
