"""The upstream check ingest runs on every policy it stores, activates or approves: the targets
against SWITCHYARD_ALLOWED_UPSTREAMS, and their host names resolved now (the I/O edge of
core.upstreams), so a name that points at an internal address is refused with the target named."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable

from core.policy.problems import Problem
from core.policy.schema import Policy
from core.upstreams import Address, Allowlist, policy_problems

UpstreamCheck = Callable[[Policy], list[Problem]]


def resolve(host: str, port: int) -> list[Address]:
    """Every address ``host`` resolves to (the system resolver; OSError when it does not)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    # an IPv6 link-local answer may carry a zone ("fe80::1%eth0"): the address is what is classified
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


def upstream_check(allowlist: Allowlist) -> UpstreamCheck:
    return lambda policy: policy_problems(policy, allowlist, resolve)
