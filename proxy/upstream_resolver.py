"""Name resolution for the upstream connections, checked against the upstream allowlist at connect
time: the allowlist is checked on base URLs when a policy loads, but a listed name can later
resolve somewhere else (DNS rebinding, a hijacked record). This resolver answers only for hosts an
allowlist entry names and refuses addresses that entry does not allow (core.upstreams), so the
connection — and the key it carries — never reaches an internal address by a public name.

aiohttp caches answers (``ttl_dns_cache``), so this runs once per host per cache period, never per
request. Literal addresses are not resolved by aiohttp at all: the base-URL check covers them.
"""

from __future__ import annotations

import ipaddress
import logging
import socket

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from core.upstreams import SETTING, Allowlist, Entry, UpstreamError, normal_host, resolution_refusal

log = logging.getLogger("switchyard.proxy.resolver")


class AllowlistResolver(AbstractResolver):
    def __init__(self, allowlist: Allowlist, inner: AbstractResolver | None = None) -> None:
        self._entries: dict[str, list[Entry]] = {}
        for entry in allowlist.entries:
            self._entries.setdefault(entry.origin.host, []).append(entry)
        self._inner = inner or DefaultResolver()

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        try:
            entries = self._entries.get(normal_host(host), [])
        except UpstreamError:
            entries = []
        if not entries:
            raise OSError(f"{host} is not in {SETTING}: not resolved")
        answers = await self._inner.resolve(host, port, family)
        addresses = [ipaddress.ip_address(answer["host"].split("%")[0]) for answer in answers]
        # the most permissive entry for this host decides (one marked private allows private answers)
        reasons = [resolution_refusal(entry, addresses) for entry in entries]
        if all(reason is not None for reason in reasons):
            log.error("refused to connect to %s: %s", host, reasons[0])
            raise OSError(f"{reasons[0]} (refused by {SETTING})")
        return answers

    async def close(self) -> None:
        await self._inner.close()
