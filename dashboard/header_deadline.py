"""A waitress channel that closes connections whose request headers do not arrive in time.

waitress's own ``channel_timeout`` closes a connection only after that long with no bytes at all, so a
client sending a header byte every few seconds (slowloris) holds a connection, and one of the
dashboard's few threads' worth of sockets, forever. This deadline runs from the connection (or the end
of the previous request) to the end of the headers, however the bytes trickle in.
"""

from __future__ import annotations

import time
from typing import Any

from waitress.channel import HTTPChannel


class HeaderDeadlineChannel(HTTPChannel):  # type: ignore[misc]
    header_timeout_s = 15.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._headers_since: float | None = time.monotonic()

    def received(self, data: bytes) -> bool:
        result: bool = super().received(data)
        if self.request is not None and not self.request.headers_finished:
            if self._headers_since is None:  # a new request's first bytes
                self._headers_since = time.monotonic()
        else:
            self._headers_since = None  # headers done (or between requests: channel_timeout's job)
        return result

    def readable(self) -> bool:
        # Called by waitress's loop for every channel at least once a second.
        since = self._headers_since
        if since is not None and not self.requests and time.monotonic() - since > self.header_timeout_s:
            self.will_close = True  # the loop closes the socket
        return bool(super().readable())


def with_header_deadline(timeout_s: float) -> type[HeaderDeadlineChannel]:
    return type("HeaderDeadlineChannel", (HeaderDeadlineChannel,), {"header_timeout_s": timeout_s})
