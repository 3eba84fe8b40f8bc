"""The upstream allowlist: which base URLs a policy target may point at, so the provider keys the
proxy attaches go only where the operator said (SWITCHYARD_ALLOWED_UPSTREAMS).

Pure: parsing, normalising and matching URLs, and classifying addresses someone else resolved.
Resolution itself is I/O and happens at the edges (ingest when a policy is applied).

A base URL is refused outright when it is not plain ``http(s)://host[:port][/path]``: userinfo
(``https://api.anthropic.com@evil.example``), a query or fragment, no host, whitespace, control
characters or backslashes (parsers disagree on those, which is how URL allowlists get bypassed),
dot segments, path parameters or encoded separators in the path. A target is allowed when its
scheme, host and port equal an entry's and its path starts with the entry's path (segment-wise).
``http`` is for loopback only (a fake upstream in development). docs/security.md has the rules.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from core.policy.problems import Problem

if TYPE_CHECKING:  # the schema checks base URLs with parse_base_url: no import cycle at run time
    from core.policy.schema import Policy

ANTHROPIC_API = "https://api.anthropic.com"
SETTING = "SWITCHYARD_ALLOWED_UPSTREAMS"
DEFAULT_PORTS = {"https": 443, "http": 80}
# Names that answer with cloud credentials on the instance's own network (AWS, GCP, Azure, Alibaba, OCI…).
METADATA_NAMES = frozenset({"metadata.google.internal", "metadata.goog", "metadata", "instance-data",
                            "instance-data.ec2.internal", "metadata.azure.internal"})
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "169.254.169.253", "100.100.100.200", "192.0.0.192", "fd00:ec2::254"))
# Any whitespace, control character or backslash: urlsplit strips tabs and newlines, other URL
# parsers (yarl, browsers, proxies) treat them and ``\`` differently; refusing them keeps one reading.
_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")
_ENCODED_SEPARATOR = re.compile(r"%(2f|5c|2e)", re.IGNORECASE)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> the addresses it resolves to; OSError when it does not. The edges pass getaddrinfo.
Resolve = Callable[[str, int], Sequence[Address]]


class UpstreamError(ValueError):
    """A base URL that cannot be an upstream; the message says why."""


@dataclass(frozen=True, slots=True)
class Origin:
    """A base URL, normalised: lower-case scheme and host (IDNA-encoded, no trailing dot, IPv6
    without brackets and in canonical form), the port made explicit, the path without a trailing
    slash (``""`` for the root)."""

    scheme: str
    host: str
    port: int
    path: str

    @property
    def address(self) -> Address | None:
        """The host as an IP address when it is a literal one."""
        try:
            return ipaddress.ip_address(self.host)
        except ValueError:
            return None

    @property
    def loopback(self) -> bool:
        address = self.address
        return self.host == "localhost" or (address is not None and _unmapped(address).is_loopback)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = "" if DEFAULT_PORTS[self.scheme] == self.port else f":{self.port}"
        return f"{self.scheme}://{host}{port}{self.path}"

    def covers(self, other: Origin) -> bool:
        return (self.scheme, self.host, self.port) == (other.scheme, other.host, other.port) and (
            not self.path or other.path == self.path or other.path.startswith(self.path + "/"))


def parse_base_url(url: str) -> Origin:
    """``url`` normalised; UpstreamError naming what is wrong with it."""
    if _UNSAFE.search(url):
        raise UpstreamError("contains whitespace, a control character or a backslash")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise UpstreamError(f"scheme {parts.scheme or '(none)'!r} is not http or https")
    if "@" in parts.netloc:
        raise UpstreamError("has userinfo (user:password@ or a host hidden behind '@')")
    if "#" in url:
        raise UpstreamError("has a fragment ('#')")
    if "?" in url:
        raise UpstreamError("has a query ('?'): a base URL is scheme, host, port and path")
    if not parts.hostname:
        raise UpstreamError("has no host")
    try:
        port = parts.port
    except ValueError as error:
        raise UpstreamError(f"bad port: {error}") from None
    if port == 0:
        raise UpstreamError("bad port: 0")
    return Origin(scheme, normal_host(parts.hostname), port or DEFAULT_PORTS[scheme], _path(parts.path))


def normal_host(raw: str) -> str:
    """A host name or address as the allowlist compares it; UpstreamError when it is neither."""
    host = raw.lower().rstrip(".")  # urlsplit already dropped IPv6 brackets and lower-cased ASCII
    if not host:
        raise UpstreamError("has no host")
    try:
        return ipaddress.ip_address(host).compressed
    except ValueError:
        pass
    if "%" in host:
        raise UpstreamError(f"host {raw!r} is percent-encoded")
    try:
        encoded = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise UpstreamError(f"host {raw!r} is not a valid domain name") from None
    if not re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*", encoded):
        raise UpstreamError(f"host {raw!r} is not a valid domain name")
    return encoded


def _path(raw: str) -> str:
    if _ENCODED_SEPARATOR.search(raw):
        raise UpstreamError("path has an encoded '.', '/' or '\\'")
    if ";" in raw:  # `/..;/` is `..` to servlet containers
        raise UpstreamError("path has a ';' (path parameters)")
    path = raw.rstrip("/")
    segments = path.split("/")[1:]
    if any(unquote(s) in ("", ".", "..") for s in segments):
        raise UpstreamError("path has an empty, '.' or '..' segment")
    return path


def _unmapped(address: Address) -> Address:
    """An IPv4-mapped IPv6 address (::ffff:169.254.169.254) is the IPv4 address it carries."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def address_refusal(address: Address) -> str | None:
    """Why a connection to ``address`` must be listed explicitly, or None for a public address."""
    address = _unmapped(address)
    if address in METADATA_ADDRESSES:
        return f"{address} is a cloud metadata address"
    if address.is_loopback:
        return f"{address} is loopback"
    if address.is_link_local:
        return f"{address} is link-local"
    if address.is_unspecified:
        return f"{address} is unspecified (this host)"
    if address.is_private or not address.is_global:
        return f"{address} is private or reserved"
    return None


@dataclass(frozen=True, slots=True)
class Entry:
    """One allowlist entry. ``private``: its host name may resolve to private or loopback
    addresses (a VPC endpoint, an internal gateway); a literal address or ``localhost`` is
    explicit by itself."""

    origin: Origin
    private: bool = False

    @property
    def explicit(self) -> bool:
        """The entry names its host's address itself: nothing to resolve, nothing to refuse."""
        return self.origin.address is not None or self.origin.host == "localhost"


def parse_entry(url: str, *, private: bool = False) -> Entry:
    """An allowlist entry; UpstreamError when it is not a plain base URL, or is ``http`` to
    anything but loopback."""
    try:
        origin = parse_base_url(url)
    except UpstreamError as error:
        raise UpstreamError(f"{SETTING} entry {url!r} {error}") from None
    if origin.scheme != "https" and not origin.loopback:
        raise UpstreamError(f"{SETTING} entry {url!r}: https is required (http only for loopback, in development)")
    address = origin.address
    if origin.host in METADATA_NAMES or (address is not None and _unmapped(address) in METADATA_ADDRESSES):
        raise UpstreamError(f"{SETTING} entry {url!r} is a cloud metadata endpoint")
    return Entry(origin, private)


@dataclass(frozen=True, slots=True)
class Allowlist:
    entries: tuple[Entry, ...]

    @classmethod
    def of(cls, urls: Iterable[str | tuple[str, bool]]) -> Allowlist:
        """From base URLs, or (base URL, private) pairs; UpstreamError naming the first bad entry."""
        entries = [parse_entry(u) if isinstance(u, str) else parse_entry(u[0], private=u[1]) for u in urls]
        return cls(tuple(dict.fromkeys(entries)))

    def __str__(self) -> str:
        return ", ".join(str(e.origin) for e in self.entries) or "(nothing)"

    def entries_for(self, base_url: str) -> list[Entry]:
        """The entries that allow ``base_url`` (at least one); UpstreamError saying why none does."""
        origin = parse_base_url(base_url)
        entries = [entry for entry in self.entries if entry.origin.covers(origin)]
        if not entries:
            raise UpstreamError(f"is not in {SETTING} (allowed: {self})")
        return entries

    def refusal(self, base_url: str) -> str | None:
        """Why ``base_url`` may not be a target, or None."""
        try:
            self.entries_for(base_url)
        except UpstreamError as error:
            return str(error)
        return None

    def problems(self, policy: Policy) -> list[Problem]:
        """One error per target the allowlist does not cover, naming the target."""
        return [Problem(f"targets[{index}].base_url", f"target {target.name!r}: {target.base_url!r} {reason}")
                for index, target in enumerate(policy.targets)
                if (reason := self.refusal(target.base_url)) is not None]


def resolution_refusal(entry: Entry, addresses: Sequence[Address]) -> str | None:
    """Why connecting to ``entry``'s host at ``addresses`` (what its name resolved to) is refused:
    a name must resolve to public addresses only, unless the entry is marked private (then
    link-local and metadata addresses are still refused: no real upstream lives there)."""
    if entry.explicit:
        return None
    for address in addresses:
        reason = address_refusal(address)
        if reason is None:
            continue
        unmapped = _unmapped(address)
        if entry.private and not (unmapped in METADATA_ADDRESSES or unmapped.is_link_local
                                  or unmapped.is_unspecified):
            continue
        return f"{entry.origin.host} resolves to {reason}"
    return None


def policy_problems(policy: Policy, allowlist: Allowlist, resolve: Resolve | None = None) -> list[Problem]:
    """Every target the allowlist refuses and, with ``resolve``, every target whose host name
    resolves to an internal address its entry does not allow (errors, naming the target). A name
    that does not resolve now is let through: nothing can be sent there now, and it is resolved
    again whenever a policy naming it is applied."""
    problems = allowlist.problems(policy)
    if resolve is None:
        return problems
    refused = {problem.path for problem in problems}
    for index, target in enumerate(policy.targets):
        path = f"targets[{index}].base_url"
        if path in refused:
            continue
        entries = allowlist.entries_for(target.base_url)
        if any(entry.explicit for entry in entries):
            continue
        origin = parse_base_url(target.base_url)
        try:
            addresses = resolve(origin.host, origin.port)
        except OSError:  # nothing can be sent there now; a policy is checked again whenever it is applied
            continue
        # the most permissive entry decides (one marked private allows private answers)
        reasons = [resolution_refusal(entry, addresses) for entry in entries]
        if all(reason is not None for reason in reasons):
            hint = "" if any(e.private for e in entries) else (
                f'; if that is intended, list it as {{"url": "{entries[0].origin}", "private": true}} in {SETTING}')
            problems.append(Problem(path, f"target {target.name!r}: {reasons[0]}{hint}"))
    return problems


def allowlist_from_setting(values: Sequence[str | Mapping[str, object]] | None, upstream_url: str) -> Allowlist:
    """SWITCHYARD_ALLOWED_UPSTREAMS as the services read it: base URLs, or ``{"url": …, "private":
    true}`` objects; None (unset) means the configured upstream and Anthropic's API."""
    if values is None:
        return Allowlist.of([upstream_url, ANTHROPIC_API])
    entries: list[str | tuple[str, bool]] = []
    for value in values:
        if isinstance(value, str):
            entries.append(value)
            continue
        if not isinstance(value, Mapping):  # JSON gives whatever it was given
            raise UpstreamError(f"{SETTING} entry {value!r}: expected a base URL or {{\"url\": …, \"private\": true}}")
        url, private = value.get("url"), value.get("private", False)
        if not isinstance(url, str) or not isinstance(private, bool) or set(value) - {"url", "private"}:
            raise UpstreamError(f"{SETTING} entry {dict(value)!r}: expected a base URL or "
                                '{"url": …, "private": true}')
        entries.append((url, private))
    return Allowlist.of(entries)
