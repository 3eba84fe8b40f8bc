"""The upstream allowlist (core.upstreams): every spelling the issue found accepted on main is
refused, normalisation makes equal URLs match, and resolved addresses are classified."""

from __future__ import annotations

import ipaddress

import pytest
from pydantic import ValidationError

from core.policy.schema import Policy, Target
from core.upstreams import (
    Allowlist,
    UpstreamError,
    allowlist_from_setting,
    parse_base_url,
    parse_entry,
    policy_problems,
    resolution_refusal,
)

ALLOWED = Allowlist.of(["http://127.0.0.1:8787", "https://api.anthropic.com", "https://gw.example/anthropic"])

# (base URL, a word the refusal must contain)
REFUSED = [
    ("http://169.254.169.254/latest/meta-data", "not in SWITCHYARD_ALLOWED_UPSTREAMS"),
    ("http://metadata.google.internal", "not in"),
    ("https://api.anthropic.com@evil.example", "userinfo"),
    ("http://user:pass@evil.example", "userinfo"),
    ("https://api.anthropic.com:443@evil.example", "userinfo"),
    ("http://127.0.0.1:6379", "not in"),
    ("http://127.0.0.1:8787@evil.example", "userinfo"),
    ("http://", "no host"),
    ("https://", "no host"),
    ("https:///v1", "no host"),
    ("ftp://api.anthropic.com", "scheme"),
    ("api.anthropic.com", "scheme"),
    ("http://api.anthropic.com", "not in"),  # the right host over the wrong scheme
    ("https://api.anthropic.com:8443", "not in"),
    ("https://api.anthropic.com.evil.example", "not in"),
    ("https://evil.example/api.anthropic.com", "not in"),
    ("https://api.anthropic.com#@evil.example", "fragment"),
    ("https://api.anthropic.com/#x", "fragment"),
    ("https://api.anthropic.com?@evil.example", "query"),
    ("https://api.anthropic.com\\@evil.example", "backslash"),
    ("https://api.anthr\topic.com", "whitespace"),
    ("https://api.anthropic.com\n.evil.example", "whitespace"),
    ("https://api%2eanthropic.com", "percent"),
    ("https://api.anthropic.com:99999", "port"),
    ("https://api.anthropic.com:0", "port"),
    ("https://gw.example/anthropic/../admin", "segment"),
    ("https://gw.example/anthropic/%2e%2e/admin", "encoded"),
    ("https://gw.example/anthropic%2f..%2fadmin", "encoded"),
    ("https://gw.example/anthropic//x", "segment"),
    ("https://gw.example/anthropic/..;/admin", "';'"),
    ("https://gw.example/anthropicx", "not in"),  # a prefix only on a segment boundary
    ("https://gw.example", "not in"),  # outside the entry's path
    ("https://[::ffff:169.254.169.254]", "not in"),
    ("http://0x7f.1:8787", "not in"),  # 127.0.0.1 to inet_aton, a different host to the allowlist
    ("http://2130706433:8787", "not in"),
]


@pytest.mark.parametrize(("url", "why"), REFUSED)
def test_refused(url: str, why: str) -> None:
    reason = ALLOWED.refusal(url)
    assert reason is not None and why in reason, reason


@pytest.mark.parametrize("url", [
    "https://api.anthropic.com", "https://api.anthropic.com/", "HTTPS://API.Anthropic.COM:443",
    "https://api.anthropic.com./", "http://127.0.0.1:8787/", "http://127.0.0.1:8787/v1",
    "https://gw.example/anthropic", "https://gw.example/anthropic/v2",
])
def test_allowed(url: str) -> None:
    assert ALLOWED.refusal(url) is None


def test_normalisation() -> None:
    assert parse_base_url("HTTPS://Bücher.Example.:443/a/") == parse_base_url("https://xn--bcher-kva.example/a")
    assert str(parse_base_url("http://[0:0::1]:80/")) == "http://[::1]"


@pytest.mark.parametrize(("entry", "why"), [
    ("http://api.anthropic.com", "https is required"),
    ("http://10.0.0.5:8080", "https is required"),
    ("https://user@api.anthropic.com", "userinfo"),
    ("https://metadata.google.internal", "metadata"),
    ("https://169.254.169.254", "metadata"),
    ("https://[fd00:ec2::254]", "metadata"),
    ("not-a-url", "scheme"),
])
def test_bad_entries_are_refused_at_load(entry: str, why: str) -> None:
    with pytest.raises(UpstreamError, match=why):
        Allowlist.of([entry])


def test_loopback_may_be_http() -> None:
    for url in ("http://127.0.0.1:1", "http://localhost:2", "http://[::1]:3", "http://127.9.9.9"):
        assert parse_entry(url).origin.loopback


def test_policy_problems_name_the_target() -> None:
    policy = Policy.model_validate({
        "version": "v", "default": {"route": ["ok"]},
        "targets": [{"name": "ok", "base_url": "https://api.anthropic.com"},
                    {"name": "redis", "base_url": "http://127.0.0.1:6379"}]})
    [problem] = ALLOWED.problems(policy)
    assert problem.path == "targets[1].base_url"
    assert "'redis'" in problem.message and "http://127.0.0.1:6379" in problem.message


@pytest.mark.parametrize("url", ["https://api.anthropic.com@evil.example", "http://user:pass@evil.example",
                                 "http://", "https://x.example#f", "https://x.example?q", "https://a\\b"])
def test_the_schema_refuses_malformed_base_urls(url: str) -> None:
    with pytest.raises(ValidationError, match="base_url"):
        Target(name="t", base_url=url)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


@pytest.mark.parametrize(("address", "why"), [
    ("169.254.169.254", "metadata"), ("fd00:ec2::254", "metadata"), ("::ffff:169.254.169.254", "metadata"),
    ("169.254.1.1", "link-local"), ("fe80::1", "link-local"), ("127.0.0.1", "loopback"), ("::1", "loopback"),
    ("10.1.2.3", "private"), ("172.16.0.1", "private"), ("192.168.1.1", "private"), ("fc00::1", "private"),
    ("100.64.0.1", "private"), ("0.0.0.0", "unspecified"),
])
def test_names_resolving_to_internal_addresses_are_refused(address: str, why: str) -> None:
    entry = parse_entry("https://gw.example")
    reason = resolution_refusal(entry, [_ip("160.79.104.10"), _ip(address)])
    assert reason is not None and why in reason and "gw.example" in reason
    assert resolution_refusal(entry, [_ip("160.79.104.10"), _ip("2607:6bc0::10")]) is None


def test_a_private_entry_may_resolve_privately_but_never_to_metadata() -> None:
    entry = parse_entry("https://bedrock.vpce.example", private=True)
    assert resolution_refusal(entry, [_ip("10.0.0.7")]) is None
    reason = resolution_refusal(entry, [_ip("169.254.169.254")])
    assert reason is not None and "metadata" in reason


def test_literal_addresses_are_explicit() -> None:
    assert resolution_refusal(parse_entry("http://127.0.0.1:8787"), [_ip("127.0.0.1")]) is None


def _gateway_policy(base_url: str) -> Policy:
    return Policy.model_validate({"version": "v", "default": {"route": ["gw"]},
                                  "targets": [{"name": "gw", "base_url": base_url}]})


def test_policy_problems_resolve_names_through_the_given_resolver() -> None:
    def rebinding(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        return [_ip("169.254.169.254")]

    def unresolvable(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        raise OSError("no such name")

    def private(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        return [_ip("10.0.0.7")]

    policy = _gateway_policy("https://gw.example/anthropic")
    [problem] = policy_problems(policy, ALLOWED, rebinding)
    assert problem.path == "targets[0].base_url" and "'gw'" in problem.message and "metadata" in problem.message
    assert policy_problems(policy, ALLOWED, unresolvable) == []
    assert policy_problems(policy, ALLOWED) == []  # no resolver: the allowlist alone
    [hinted] = policy_problems(policy, ALLOWED, private)
    assert '"private": true' in hinted.message
    both = Allowlist.of(["https://gw.example/anthropic", ("https://gw.example", True)])
    assert policy_problems(policy, both, private) == []  # the most permissive entry decides


def test_the_setting_accepts_urls_and_private_objects() -> None:
    allowlist = allowlist_from_setting(["https://api.anthropic.com", {"url": "https://vpce.example", "private": True}],
                                       "http://127.0.0.1:1")
    assert [e.private for e in allowlist.entries] == [False, True]
    assert str(allowlist_from_setting(None, "http://127.0.0.1:1")) == "http://127.0.0.1:1, https://api.anthropic.com"
    for bad in ([3], [{"url": "https://x.example", "privat": True}], [{"url": 1}]):
        with pytest.raises(UpstreamError, match="expected a base URL"):
            allowlist_from_setting(bad, "https://api.anthropic.com")  # type: ignore[arg-type]
