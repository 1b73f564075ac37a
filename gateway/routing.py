"""The gateway's route table: ``gateway/routes.toml``, decoded strictly, one entry per method set and path prefix.

Each entry says where a public path goes (the upstream deployable, the path kept as it is) and which policies
guard it: how the caller authenticates (``oauth``, ``apikey``, ``oauth_or_apikey`` or ``none``), the channel it
must be on, the scopes it must hold, which limits it counts against and at what cost, what to do when the limit
counters cannot be reached, the upstream timeout and whether a failed call may be retried. A path no entry covers
never leaves the gateway (its own 404), so the table is the whole public surface.

Unknown keys, unknown auth modes, a retried write or an ``oauth`` route without scopes fail at start with the
entry named: a typo in a policy must not silently open a route.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

Method = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
AuthMode = Literal["oauth", "apikey", "oauth_or_apikey", "none"]
Channel = Literal["web", "mobile", "partner"]
LimitKind = Literal["plan", "shopper", "ip"]
# A literal path, whose segments may be ``*`` (exactly one segment, any value: ``/web/v1/orders/*/returns``).
Prefix = Annotated[str, Meta(pattern=r"^(/([A-Za-z0-9._~-]+|\*))+$")]
RouteName = Annotated[str, Meta(pattern=r"^[a-z][a-z0-9-]{0,62}$")]

SAFE_METHODS = frozenset({"GET", "HEAD"})
DEFAULT_FILE = Path(__file__).with_name("routes.toml")
_PATH_PARAM = re.compile(r"[{}]")


class CachePolicy(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A route's response cache (gateway/cache.py): answers stay fresh for at most ``ttl_s`` seconds (less if the
    upstream's ``Cache-Control`` says so), a stale answer may stand in for ``stale_if_error_s`` more while the
    upstream fails (RFC 5861), and the request headers named in ``vary`` (lower case) key the entry besides the
    route, the consumer class, the path and the query."""

    ttl_s: Annotated[int, Meta(ge=1, le=3600)]
    stale_if_error_s: Annotated[int, Meta(ge=0, le=86_400)] = 300
    vary: tuple[Annotated[str, Meta(pattern=r"^[a-z0-9-]{1,64}$")], ...] = ()


class Route(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One entry of routes.toml.

    ``cache`` (GET/HEAD routes only) is its response cache policy. ``limits`` names the limits a request counts against: ``ip`` (per client IP, checked before the credentials,
    against credential stuffing), ``shopper`` (per customer on web and mobile), ``plan`` (the partner's or OAuth
    client's plan). ``cost`` is what one request takes from each. ``when_limits_down`` is the explicit choice when
    the limit counters (Redis) cannot be reached: ``closed`` answers 503, ``open`` lets the request through
    unlimited (and says so in the access log); writes are closed unless an entry says otherwise.
    """

    name: RouteName
    prefix: Prefix
    methods: frozenset[Method]
    upstream: Annotated[str, Meta(pattern=r"^[a-z][a-z0-9-]{0,62}$")]
    auth: AuthMode
    channel: Channel | None = None
    scopes: tuple[str, ...] = ()
    limits: tuple[LimitKind, ...] = ()
    cost: Annotated[int, Meta(ge=1, le=1000)] = 1
    when_limits_down: Literal["open", "closed"] | None = None
    timeout_s: Annotated[float, Meta(gt=0, le=60)] = 5.0
    retry: bool = False
    max_body_bytes: Annotated[int, Meta(ge=0, le=10_485_760)] = 262_144
    cache: CachePolicy | None = None

    def __post_init__(self) -> None:
        if not self.methods:
            raise ValueError(f"route {self.name}: no methods")
        if self.cache is not None and not self.methods <= SAFE_METHODS:
            raise ValueError(f"route {self.name}: only GET/HEAD answers are cached")
        if self.retry and not self.methods <= SAFE_METHODS:
            raise ValueError(f"route {self.name}: only GET/HEAD routes may retry (a write may have been acted on)")
        if self.auth == "none" and (self.scopes or self.channel or {"plan", "shopper"} & set(self.limits)):
            raise ValueError(f"route {self.name}: an unauthenticated route has no caller to scope or limit")
        if self.auth != "none" and (not self.scopes or self.channel is None):
            raise ValueError(f"route {self.name}: an authenticated route names its channel and its scopes")
        if "shopper" in self.limits and self.channel not in ("web", "mobile"):
            raise ValueError(f"route {self.name}: shopper limits are for the web and mobile channels")

    @property
    def fails_open(self) -> bool:
        """Whether the route serves unlimited when the limit counters are unreachable (see the class)."""
        if self.when_limits_down is not None:
            return self.when_limits_down == "open"
        return self.methods <= SAFE_METHODS

    def covers(self, path: str) -> bool:
        """Whether ``path`` is the prefix itself or below it, segment by segment (``/web/v1/orders`` covers
        ``/web/v1/orders/o-1``, not ``/web/v1/ordersx``; a ``*`` segment takes any one non-empty segment)."""
        if "*" not in self.prefix:
            return path == self.prefix or path.startswith(self.prefix) and path[len(self.prefix)] == "/"
        wanted = self.prefix.split("/")
        given = path.split("/", len(wanted))
        if len(given) < len(wanted):
            return False
        return all(w == g or (w == "*" and g != "") for w, g in zip(wanted, given, strict=False))

    @property
    def specificity(self) -> tuple[int, int]:
        """How closely the prefix names a path: more segments first, then more literal ones (``/orders/*/returns``
        before ``/orders``)."""
        segments = self.prefix.split("/")
        return len(segments), sum(segment != "*" for segment in segments)


class RouteTable(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    route: tuple[Route, ...]

    def __post_init__(self) -> None:
        seen: dict[tuple[str, str], str] = {}
        for entry in self.route:
            for method in entry.methods:
                clash = seen.setdefault((entry.prefix, method), entry.name)
                if clash != entry.name:
                    raise ValueError(f"routes {clash} and {entry.name} both take {method} {entry.prefix}")
        names = [entry.name for entry in self.route]
        if len(set(names)) != len(names):
            raise ValueError("route names must be unique")

    @property
    def upstreams(self) -> frozenset[str]:
        return frozenset(entry.upstream for entry in self.route)

    def match(self, method: str, path: str) -> tuple[str | None, Route | None, frozenset[str]]:
        """The most specific prefix covering ``path`` (:attr:`Route.specificity`), its entry that takes ``method``
        (None if none does) and every method its entries take (the ``Allow`` of a 405); ``(None, None, frozenset())`` when no prefix covers
        the path (the gateway's own routes, or a 404)."""
        best: list[Route] = []
        for entry in self.route:
            if entry.covers(path):
                if not best or entry.specificity > best[0].specificity:
                    best = [entry]
                elif entry.prefix == best[0].prefix:
                    best.append(entry)
        if not best:
            return None, None, frozenset()
        taken = next((entry for entry in best if method in entry.methods), None)
        return best[0].prefix, taken, frozenset(m for entry in best for m in entry.methods)


def load(path: Path = DEFAULT_FILE) -> RouteTable:
    """The route table in ``path``; ``ValueError`` naming the file and the entry when it is not valid."""
    try:
        raw = tomllib.loads(path.read_text())
        return msgspec.convert(raw, RouteTable)
    except (tomllib.TOMLDecodeError, msgspec.ValidationError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from exc
