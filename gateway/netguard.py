"""Which hosts the gateway may call: the guard against requests to internal hosts (SSRF).

Every address is one of three kinds (`classify`): public; private (RFC 1918, loopback, unique
local, CGNAT, documentation ranges...); or forbidden (link-local, cloud metadata, unspecified,
multicast, reserved), which is never called. A `UrlPolicy` says what one kind of URL may reach:

- `OPERATOR`: URLs only an operator sets (core and provider API bases): private is fine (a core
  inside the cluster is normal), forbidden never.
- `app_policy(...)`: URLs an app team sets (the lifecycle webhook): `https://` to a public
  address, unless private webhooks are allowed (tests, private deployments) or the host is one
  the operator named.

The policy is checked when a URL is saved (`check_saved`, which resolves the host) and again on
every connection (`guarded_connector`), so a name that later resolves elsewhere (DNS rebinding)
does not get through. This module sits below every other one: any layer may import it.
"""

from __future__ import annotations

import asyncio
import enum
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
from yarl import URL

if TYPE_CHECKING:
    from aiohttp.abc import ResolveResult
    from aiohttp.tracing import Trace

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_H = "[0-9A-Fa-f]{1,4}"
_IPV6 = "|".join(
    (
        f"(?:{_H}:){{7}}{_H}",
        f"(?:{_H}:){{1,7}}:",
        f"(?:{_H}:){{1,6}}:{_H}",
        f"(?:{_H}:){{1,5}}(?::{_H}){{1,2}}",
        f"(?:{_H}:){{1,4}}(?::{_H}){{1,3}}",
        f"(?:{_H}:){{1,3}}(?::{_H}){{1,4}}",
        f"(?:{_H}:){{1,2}}(?::{_H}){{1,5}}",
        f"{_H}:(?::{_H}){{1,6}}",
        f":(?:(?::{_H}){{1,7}}|:)",
    )
)
_LABEL = "[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_NAME = rf"(?:{_LABEL}\.)*[A-Za-z](?:[A-Za-z0-9_-]{{0,61}}[A-Za-z0-9_])?\.?"
_PORT = "(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
URL_PATTERN = (
    rf"^https?://(?:{_NAME}|[0-9]{{1,3}}(?:\.[0-9]{{1,3}}){{3}}|\[(?:{_IPV6})\])"
    rf"(?::{_PORT})?(?:[/?#][^\x00]*)?$"
)
"""An http(s) URL with a host name (its last label starts with a letter), an IPv4 address or a
bracketed IPv6 address, and no user info (credentials never sit in a stored URL)."""
NEVER_PATTERN = (
    r"^https?://(?:(?:0[0-9]*|169\.254|22[4-9]|2[3-9][0-9])\."
    r"|(?:100\.100\.100\.200|168\.63\.129\.16|192\.0\.0\.192)(?:[:/?#]|$)"
    r"|\[(?:::(?!1\])|0{1,4}:|[fF][eE][89aAbB]|[fF][fF]|64:[fF][fF]9[bB]:|2002:"
    r"|[fF][dD]00:0{0,2}[eE][cC]2:))"
)
"""URLs whose host is written as an address never called (`classify`: FORBIDDEN), as far as a
pattern can tell; the OpenAPI document states it as `not: {pattern: ...}`. IPv6 addresses
written from `::` (other than `[::1]`) or a zero first group are refused outright: they are
unspecified, IPv4-mapped or -compatible forms. Resolved names are judged by `classify`."""
_NEVER = re.compile(NEVER_PATTERN)


def written_as_never_called(url: str) -> bool:
    """Whether `url` names a never-called address literally (`NEVER_PATTERN`)."""
    return _NEVER.match(url) is not None


class Reach(enum.Enum):
    PUBLIC = "public"
    PRIVATE = "private"
    FORBIDDEN = "forbidden"


METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure IMDS, OpenStack, Oracle, DigitalOcean...
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS IMDS over IPv6 (inside the unique-local range)
        "100.100.100.200",  # Alibaba Cloud (inside CGNAT 100.64/10)
        "168.63.129.16",  # Azure wire server (a public address)
        "192.0.0.192",  # Oracle Cloud (classic)
    )
)
"""Cloud metadata services: they hand out credentials to whoever asks from inside."""

_FORBIDDEN_NETS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",  # "this network": 0.0.0.0 reaches the local host on Linux
        "169.254.0.0/16",  # link-local (metadata services live here)
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and the broadcast address
        "::/128",  # unspecified
        "fe80::/10",  # link-local
        "ff00::/8",  # multicast
    )
)

_EMBEDS_V4 = tuple(
    ipaddress.ip_network(n)
    for n in (
        "64:ff9b::/96",  # NAT64: the gateway's NAT64 router reaches the embedded IPv4 address
        "::/96",  # IPv4-compatible (deprecated)
    )
)


def classify(address: str | Address) -> Reach:
    """The kind of `address`; an IPv6 address that carries an IPv4 one (mapped, NAT64, 6to4,
    compatible) is the kind of the IPv4 address it carries."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if ip in METADATA or any(ip in net for net in _FORBIDDEN_NETS):
        return Reach.FORBIDDEN
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:  # fe80::1%eth0 and the like: an interface-scoped address
            return Reach.FORBIDDEN
        embedded = _embedded_v4(ip)
        if embedded is not None:
            return classify(embedded)  # where a connection to it actually goes
    return Reach.PUBLIC if ip.is_global else Reach.PRIVATE


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if any(ip in net for net in _EMBEDS_V4) and int(ip) > 1:  # not ::1 / ::
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


class RefusedAddress(OSError):
    """A URL or address the policy refuses. An OSError, so aiohttp reports it as a connection
    error (`ClientConnectorError`) and every caller's error handling applies unchanged. The
    message names the rule, never a secret."""


@dataclass(frozen=True)
class UrlPolicy:
    """What one kind of URL may reach."""

    public_only: bool
    """Refuse private addresses (except for `allowed_hosts`)."""
    https_only: bool
    allowed_hosts: frozenset[str] = frozenset()
    """Host names (lower case) the operator named: private addresses are fine for them."""

    def check_url(self, url: str) -> str:
        """Check what the URL itself says (scheme, an address written as the host); the host."""
        try:
            parsed = URL(url)
        except (ValueError, TypeError):
            raise RefusedAddress(f"{url!r} is not a URL") from None
        schemes = ("https",) if self.https_only else ("http", "https")
        if parsed.scheme not in schemes:
            raise RefusedAddress(
                "must be an https:// URL" if self.https_only else "must be an http(s) URL"
            )
        host = (parsed.raw_host or "").rstrip(".").lower()
        if not host:
            raise RefusedAddress("the URL has no host")
        address = _literal(host)
        if address is not None:
            self.check_address(host, address)
        return host

    def check_address(self, host: str, address: str | Address) -> None:
        """Refuse connecting to `address` (which `host` resolved to)."""
        reach = classify(address)
        if reach is Reach.FORBIDDEN:
            raise RefusedAddress(
                f"{host} is a link-local, metadata or reserved address ({address}): never called"
            )
        if reach is Reach.PRIVATE and self.public_only and not self.allows(host):
            raise RefusedAddress(
                f"{host} resolves to a private or loopback address ({address}); set "
                "GATEWAY_ALLOW_PRIVATE_WEBHOOKS=1 or list the host in "
                "GATEWAY_WEBHOOK_ALLOWED_HOSTS to allow it"
            )

    def allows(self, host: str) -> bool:
        return host.rstrip(".").lower() in self.allowed_hosts


OPERATOR = UrlPolicy(public_only=False, https_only=False)
"""URLs only an operator sets: core and provider API bases."""


def app_policy(allow_private: bool, allowed_hosts: str | Iterable[str] = ()) -> UrlPolicy:
    """URLs an app team sets (the lifecycle webhook). `allow_private`
    (GATEWAY_ALLOW_PRIVATE_WEBHOOKS) also allows http://; `allowed_hosts`
    (GATEWAY_WEBHOOK_ALLOWED_HOSTS, comma-separated) may resolve to private addresses but still
    need https://."""
    names = allowed_hosts.split(",") if isinstance(allowed_hosts, str) else allowed_hosts
    hosts = frozenset(n.strip().rstrip(".").lower() for n in names if n.strip())
    return UrlPolicy(
        public_only=not allow_private, https_only=not allow_private, allowed_hosts=hosts
    )


def _literal(host: str) -> Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


Resolve = Callable[[str], Awaitable[Sequence[str]]]
"""Host name -> addresses (injectable in tests)."""


async def system_resolve(host: str) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def check_saved(
    url: str,
    policy: UrlPolicy,
    *,
    resolve: Resolve = system_resolve,
    timeout: float = 5.0,
    unresolved_ok: bool = False,
) -> None:
    """The save-time check: the URL itself, then every address its host resolves to.

    A host that does not resolve is refused only where a public address is required (it cannot
    be shown to be public) and `unresolved_ok` is false (at start-up a DNS outage must not stop
    the gateway); the connect-time check still guards every other case."""
    host = policy.check_url(url)
    if _literal(host) is not None:
        return
    try:
        addresses = await asyncio.wait_for(resolve(host), timeout)
    except (OSError, TimeoutError, ValueError):  # ValueError: a name IDNA cannot encode
        addresses = []
    if not addresses:
        if policy.public_only and not policy.allows(host) and not unresolved_ok:
            raise RefusedAddress(f"{host} does not resolve, so it cannot be checked")
        return
    for address in addresses:
        policy.check_address(host, address)


class GuardedConnector(aiohttp.TCPConnector):
    """A connector that checks every address it is about to connect to against a policy:
    resolved names (DNS rebinding) and addresses written in the URL (which aiohttp never hands
    to a resolver) alike. A redirect is checked the same way."""

    def __init__(self, policy: UrlPolicy, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.policy = policy

    async def _resolve_host(
        self, host: str, port: int, traces: Sequence[Trace] | None = None
    ) -> list[ResolveResult]:
        found = await super()._resolve_host(host, port, traces=traces)
        name = host.rstrip(".").lower()
        for result in found:
            self.policy.check_address(name, result["host"])
        return found


def guarded_connector(policy: UrlPolicy = OPERATOR, **kwargs: Any) -> GuardedConnector:
    """A `TCPConnector` for a session the gateway builds (kwargs as for `TCPConnector`)."""
    return GuardedConnector(policy, **kwargs)


def refused(exc: BaseException) -> bool:
    """Whether an aiohttp error (or its cause) is the guard's refusal."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, RefusedAddress):
            return True
        seen = getattr(seen, "os_error", None) or seen.__cause__
    return False


def failure_class(exc: BaseException) -> str:
    """A coarse class for a failed request to a URL someone else controls: what is stored and
    listed (`last_error`), never the exception's text, which would let the URL's owner read
    the gateway's network from the answers (port scans) and can quote secrets."""
    if refused(exc):
        return "refused_address"
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, aiohttp.ClientSSLError):
        return "tls_error"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "dns_error"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "connect_error"
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return "disconnected"
    if isinstance(exc, aiohttp.InvalidURL):
        return "invalid_url"
    return "request_error"


def status_class(status: int) -> str:
    """A coarse class for an answer that is not a success (3xx: a redirect, never followed)."""
    if 300 <= status < 400:
        return "redirect"
    if 400 <= status < 500:
        return "http_4xx"
    if 500 <= status < 600:
        return "http_5xx"
    return "http_other"
