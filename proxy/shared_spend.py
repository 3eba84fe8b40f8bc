"""Budget spend shared by every proxy through Redis, so a hard budget holds across a fleet of
proxies within one request: each turn's cost is added with an atomic INCRBY (micro-dollars, exact
integers), and each budgeted request reads its principals' totals with one MGET.

Keys: ``switchyard:spend:<YYYY-MM>:<scope>:<name>``, expiring 40 days after their month's last
write. If Redis lost its data (it keeps nothing on disk here), the snapshot's balances from the
database still count: the proxy takes the larger of the two.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

import redis.asyncio as aioredis

Key = tuple[str, str]
_MICRO = Decimal(1_000_000)
_TTL_S = 40 * 24 * 3600


def _name(month: str, key: Key) -> str:
    return f"switchyard:spend:{month}:{key[0]}:{key[1]}"


class SharedSpend:
    def __init__(self, url: str, *, timeout_s: float = 0.5) -> None:
        self.url = url
        self._client = aioredis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)

    async def totals(self, month: str, keys: Iterable[Key]) -> dict[Key, Decimal]:
        wanted = list(keys)
        if not wanted:
            return {}
        values = await self._client.mget([_name(month, k) for k in wanted])
        return {k: Decimal(int(v)) / _MICRO for k, v in zip(wanted, values, strict=True) if v is not None}

    async def add(self, month: str, keys: Iterable[Key], usd: Decimal) -> None:
        micro = int((usd * _MICRO).to_integral_value())
        if micro <= 0:
            return
        async with self._client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.incrby(_name(month, key), micro)
                pipe.expire(_name(month, key), _TTL_S)
            await pipe.execute()

    async def close(self) -> None:
        await self._client.aclose()


def merged(local: Mapping[Key, Decimal], shared: Mapping[Key, Decimal]) -> dict[Key, Decimal]:
    """Per principal, the larger of this proxy's view (snapshot + local) and the fleet's."""
    out = dict(local)
    for key, value in shared.items():
        if value > out.get(key, Decimal(0)):
            out[key] = value
    return out
