"""The ASGI types the proxy speaks (it is a plain ASGI app: no framework on the hot path)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Protocol

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class MountedApp(Protocol):
    """An app served on the proxy's base URL for the paths it claims (the sign-in service, whose
    endpoints Claude Code looks for there); built by the composition root, which the proxy never
    imports."""

    def serves(self, path: str) -> bool: ...

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None: ...
