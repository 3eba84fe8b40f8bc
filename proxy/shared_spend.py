"""Budget spend shared by every proxy through Redis, so a hard budget holds across a fleet of
proxies: each turn reserves its worst-case cost at admission and settles it to the real cost when
it ends, both atomically (one Lua script each), so every proxy sees every turn in flight.

Keys, per spend key (period bucket, scope, name; core.policy.budgets.SpendKey; amounts in
micro-dollars, exact integers):

- ``switchyard:spend:<bucket>:<scope>:<name>``: spent in that day (``2026-12-03``), ISO week
  (``2026-W49``) or month (``2026-12``) (INCRBY), expiring 40 days after the bucket's last write;
  a new period is a new bucket, so it starts at zero at its UTC boundary.
- ``switchyard:held:<bucket>:<scope>:<name>``: a sorted set of the reservations in flight, each
  scored by when it expires; ``switchyard:held-usd:<bucket>:<scope>:<name>``: a hash of each one's
  amount and their sum (field ``_sum``). Per bucket, so a principal with a daily and a monthly
  budget holds a turn's reservation once against each. A reservation whose proxy died mid-turn
  is never settled: it expires after
  ``reservation_ttl_s`` and the next reservation on that principal sweeps it (amount out of the
  sum), so a dead proxy blocks a budget's headroom for at most that long. A sorted set scored by
  expiry, rather than a key per reservation with a TTL, because the sum must shrink when one
  expires and Redis tells nobody when a key expires; the sweep is a range query, and the sum a
  field read, so neither grows with the number of turns in flight. The time is Redis's own
  (``TIME``), so proxies with skewed clocks agree on what has expired.

If Redis lost its data (it keeps nothing on disk here), the snapshot's balances from the database
still count: the reservation script judges each principal on the larger of Redis's spent + reserved
and the proxy's own (its floor).

A reservation is bounded by ``timeout_s`` as a whole (connect, send, read; no retries): on a
failure the proxy fails open to its own view (see ``ProxyApp._shared``). The bound is the event
loop's clock, and a busy loop (a burst of requests being parsed) runs late: an answer that reached
the socket before the deadline but was not read yet gets a few more turns of the loop before the
call is given up, so a busy proxy fails open against a healthy Redis less often. A black-holed
Redis still costs the timeout and no more. Settling (after the client has its last byte) may take
up to ``settle_timeout_s``.

The scripts touch several principals' keys at once, so they need one Redis (or keys hashed to one
slot on a cluster, which these names are not).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

Key = tuple[str, str, str]  # (period bucket, scope, name)
_MICRO = Decimal(1_000_000)
_TTL_S = 40 * 24 * 3600
_GRACE_TURNS = 3  # loop turns an answer already in the socket gets after the deadline (see _bounded)
_SWEEP = 256
_POOL_SIZE = 16  # connections per proxy
_WARM = 4  # of them opened at start-up  # expired reservations swept per principal per call (bounds the script's time)

# KEYS: spend, held, held-usd for each principal. ARGV: id, micro, ttl_ms, sweep, then per
# principal: limit (micro, -1: none), floor (micro: the proxy's own spent + reserved, which counts
# when larger, e.g. after Redis lost its data). Reply: admitted (0/1), then per principal its spent
# and reserved on Redis, both before this reservation.
_RESERVE = """
local now_s = redis.call('TIME')
local now = tonumber(now_s[1]) * 1000 + math.floor(tonumber(now_s[2]) / 1000)
local id, micro, ttl, sweep = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local n = #KEYS / 3
local reply = {1}
for i = 0, n - 1 do
  local spend, held, amounts = KEYS[3 * i + 1], KEYS[3 * i + 2], KEYS[3 * i + 3]
  local expired = redis.call('ZRANGEBYSCORE', held, '-inf', now, 'LIMIT', 0, sweep)
  if #expired > 0 then
    local gone = 0
    for _, value in ipairs(redis.call('HMGET', amounts, unpack(expired))) do
      gone = gone + (tonumber(value) or 0)
    end
    redis.call('ZREM', held, unpack(expired))
    redis.call('HDEL', amounts, unpack(expired))
    redis.call('HINCRBY', amounts, '_sum', -gone)
  end
  local spent = tonumber(redis.call('GET', spend) or '0')
  local reserved = tonumber(redis.call('HGET', amounts, '_sum') or '0')
  local limit = tonumber(ARGV[5 + 2 * i])
  if limit >= 0 and math.max(spent + reserved, tonumber(ARGV[6 + 2 * i])) >= limit then reply[1] = 0 end
  reply[2 + 2 * i] = spent
  reply[3 + 2 * i] = reserved
end
if reply[1] == 1 and micro > 0 then
  for i = 0, n - 1 do
    local held, amounts = KEYS[3 * i + 2], KEYS[3 * i + 3]
    redis.call('ZADD', held, now + ttl, id)
    redis.call('HSET', amounts, id, micro)
    redis.call('HINCRBY', amounts, '_sum', micro)
    -- every member expires by now + ttl, so the whole set may too (an idle principal leaves nothing)
    redis.call('PEXPIRE', held, ttl)
    redis.call('PEXPIRE', amounts, ttl)
  end
end
return reply
"""

# KEYS: spend, held, held-usd for each principal. ARGV: id ('' for none), cost (micro), spend TTL (s).
# A reservation already swept (it outlived its TTL) is not taken out twice: ZREM says it is gone.
_SETTLE = """
local id, cost, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
for i = 0, #KEYS / 3 - 1 do
  local spend, held, amounts = KEYS[3 * i + 1], KEYS[3 * i + 2], KEYS[3 * i + 3]
  if id ~= '' and redis.call('ZREM', held, id) == 1 then
    local amount = tonumber(redis.call('HGET', amounts, id) or '0')
    redis.call('HDEL', amounts, id)
    redis.call('HINCRBY', amounts, '_sum', -amount)
  end
  if cost > 0 then
    redis.call('INCRBY', spend, cost)
    redis.call('EXPIRE', spend, ttl)
  end
end
return 1
"""


@dataclass(frozen=True, slots=True)
class Reserved:
    """The reservation script's answer: whether the turn was admitted (and its reservation taken,
    under ``id``), and per principal the spend and reservations it was judged on."""

    admitted: bool
    id: str
    spent: dict[Key, Decimal]
    reserved: dict[Key, Decimal]


def new_reservation_id() -> str:
    return secrets.token_hex(8)


def _micro(usd: Decimal) -> int:
    return int((usd * _MICRO).to_integral_value())


class SharedSpend:
    def __init__(self, url: str, *, timeout_s: float = 0.05, reservation_ttl_s: float = 1800.0,
                 prefix: str = "switchyard:") -> None:
        self.url = url
        self.timeout_s = timeout_s
        self._ttl_ms = max(int(reservation_ttl_s * 1000), 1)
        self._prefix = prefix
        # The per-call bound is _bounded's; the socket timeouts are only a backstop.
        backstop = max(timeout_s * 10, 1.0)
        # Settling runs after the client has its last byte, so nobody waits on it, and a settle
        # given up too early leaves its reservation holding headroom until it expires: it may wait
        # up to the backstop.
        self.settle_timeout_s = backstop
        # A bounded pool, kept warm (see connect): a burst of turns queues for a connection (a few
        # hundred microseconds each) instead of opening dozens at once, each a TCP handshake that a
        # busy loop can stretch past the timeout. No retries: a retry after a timeout doubles the
        # wait the caller promised to bound. No CLIENT SETINFO round trip on connect.
        pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=_POOL_SIZE, timeout=backstop, socket_timeout=backstop,
            socket_connect_timeout=backstop, retry=Retry(NoBackoff(), 0), driver_info=None)
        self._client = aioredis.Redis.from_pool(pool)  # closes the pool with the client
        self._reserve = self._client.register_script(_RESERVE)
        self._settle = self._client.register_script(_SETTLE)

    def _spend(self, key: Key) -> str:
        return f"{self._prefix}spend:{key[0]}:{key[1]}:{key[2]}"

    def _names(self, keys: Sequence[Key]) -> list[str]:
        names: list[str] = []
        for bucket, scope, name in keys:
            names += [self._spend((bucket, scope, name)), f"{self._prefix}held:{bucket}:{scope}:{name}",
                      f"{self._prefix}held-usd:{bucket}:{scope}:{name}"]
        return names

    async def _bounded(self, call: Awaitable[Any], timeout_s: float | None = None) -> Any:
        timeout_s = self.timeout_s if timeout_s is None else timeout_s
        task = asyncio.ensure_future(call)
        done, _ = await asyncio.wait((task,), timeout=timeout_s)
        if not done:
            # The loop runs the deadline's callback in the same turn as (and before) the reading of
            # an answer that arrived meanwhile: give such an answer its turns before giving up.
            for _ in range(_GRACE_TURNS):
                await asyncio.sleep(0)
                if task.done():
                    break
        if not task.done():
            task.cancel()  # redis-py drops a connection cancelled mid-command: none is reused half-read
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            raise TimeoutError(f"Redis did not answer within {timeout_s * 1000:.0f} ms")
        return task.result()

    async def connect(self) -> None:
        """Open some of the pool's connections and load the scripts before the first turn needs
        them (a cold start under a burst is when a call is likeliest to time out). Bounded by the
        backstop, not the per-call timeout: nothing waits on it."""
        async with asyncio.timeout(max(self.timeout_s * 10, 1.0)):
            await asyncio.gather(*(self._client.ping() for _ in range(_WARM)))
            await self._client.script_load(_RESERVE)
            await self._client.script_load(_SETTLE)

    async def add(self, keys: Iterable[Key], usd: Decimal) -> None:
        micro = _micro(usd)
        if micro <= 0:
            return
        async with self._client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.incrby(self._spend(key), micro)
                pipe.expire(self._spend(key), _TTL_S)
            await self._bounded(pipe.execute(), self.settle_timeout_s)

    async def reserve(self, keys: Sequence[Key], usd: Decimal, limits: Mapping[Key, Decimal],
                      floors: Mapping[Key, Decimal], reservation: str) -> Reserved:
        """Admit and reserve in one step: admitted when every principal in ``limits`` has spent
        plus reserved (or its ``floors``, this proxy's own view, when larger) below its limit;
        then ``usd`` is reserved against every one of ``keys`` under the id ``reservation`` (the
        caller's, from :func:`new_reservation_id`, so a call that timed out can still be settled:
        the script may have run)."""
        args: list[str | int] = [reservation, _micro(usd), self._ttl_ms, _SWEEP]
        for key in keys:
            limit = limits.get(key)
            args += [-1 if limit is None else _micro(limit), _micro(floors.get(key, Decimal(0)))]
        reply = await self._bounded(self._reserve(keys=self._names(keys), args=args))
        spent = {key: Decimal(int(reply[1 + 2 * i])) / _MICRO for i, key in enumerate(keys)}
        reserved = {key: Decimal(int(reply[2 + 2 * i])) / _MICRO for i, key in enumerate(keys)}
        return Reserved(bool(int(reply[0])), reservation, spent, reserved)

    async def settle(self, keys: Sequence[Key], reservation: str | None, usd: Decimal) -> None:
        """Take the reservation out (if there is one and it has not expired) and add the turn's
        real cost to its principals' spend, in one step."""
        micro = max(_micro(usd), 0)
        if reservation is None and not micro:
            return
        await self._bounded(self._settle(keys=self._names(keys), args=[reservation or "", micro, _TTL_S]),
                            self.settle_timeout_s)

    async def close(self) -> None:
        await self._client.aclose()

