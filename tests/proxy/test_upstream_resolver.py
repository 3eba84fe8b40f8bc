"""Connect-time checks (proxy.upstream_resolver): a listed name that resolves to an internal
address is refused when the connection is made, so a record changed after the policy was checked
(DNS rebinding) still gets no key; hosts no entry names are not even resolved."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from core.upstreams import Allowlist
from proxy.upstream_resolver import AllowlistResolver
from sim.upstream import FakeUpstream


class FixedResolver(AbstractResolver):
    """Answers every name with one address, as a rebinding DNS server would."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.asked: list[str] = []

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        self.asked.append(host)
        kind = socket.AF_INET6 if ":" in self.address else socket.AF_INET
        return [ResolveResult(hostname=host, host=self.address, port=port, family=kind, proto=0,
                              flags=socket.AI_NUMERICHOST)]

    async def close(self) -> None:
        pass


def _resolve(allowlist: Allowlist, host: str, answer: str) -> tuple[list[ResolveResult] | OSError, list[str]]:
    inner = FixedResolver(answer)
    resolver = AllowlistResolver(allowlist, inner)
    try:
        return asyncio.run(resolver.resolve(host, 443)), inner.asked
    except OSError as error:
        return error, inner.asked


@pytest.mark.parametrize("answer", ["169.254.169.254", "10.0.0.8", "127.0.0.1", "fd00:ec2::254", "::ffff:10.0.0.1"])
def test_a_public_name_rebound_to_an_internal_address_is_refused(answer: str) -> None:
    result, _ = _resolve(Allowlist.of(["https://api.anthropic.com"]), "api.anthropic.com", answer)
    assert isinstance(result, OSError) and "api.anthropic.com resolves to" in str(result)


def test_a_public_answer_passes() -> None:
    result, _ = _resolve(Allowlist.of(["https://api.anthropic.com"]), "API.anthropic.com.", "160.79.104.10")
    assert isinstance(result, list) and result[0]["host"] == "160.79.104.10"


def test_a_private_entry_may_resolve_privately() -> None:
    allowlist = Allowlist.of([("https://bedrock.vpce.example", True)])
    result, _ = _resolve(allowlist, "bedrock.vpce.example", "10.0.0.8")
    assert isinstance(result, list)


def test_a_host_no_entry_names_is_not_even_resolved() -> None:
    result, asked = _resolve(Allowlist.of(["https://api.anthropic.com"]), "evil.example", "160.79.104.10")
    assert isinstance(result, OSError) and asked == []


def test_a_refused_connection_sends_nothing() -> None:
    """Through aiohttp as the proxy uses it: the request fails to connect, the upstream sees nothing."""
    with FakeUpstream() as upstream:
        allowlist = Allowlist.of([f"http://localhost:{upstream.port}", "https://upstream.example"])

        async def attempt() -> None:
            connector = aiohttp.TCPConnector(resolver=AllowlistResolver(allowlist, FixedResolver("127.0.0.1")))
            async with aiohttp.ClientSession(connector=connector) as session:
                with pytest.raises(aiohttp.ClientConnectorError):
                    await session.get(f"https://upstream.example:{upstream.port}/v1/models",
                                      headers={"x-api-key": "sk-ant-secret"})
                async with session.get(f"http://localhost:{upstream.port}/v1/models") as allowed:
                    assert allowed.status in (200, 401)

        asyncio.run(attempt())
        assert all(r.header("x-api-key") != "sk-ant-secret" for r in upstream.requests)
        assert len(upstream.requests) == 1
