"""The gateway's plans and rate limits, from ``gateway/limits.toml`` (or ``OMNIGATE_GATEWAY_LIMITS_FILE``).

Why a file and not settings: limits are a table (plans, channels, consumers) that operators review as one
document, and one file is read the same way by every worker and replica. It is decoded strictly (msgspec,
unknown keys refused) and every rate is parsed at load with the `limits` library's own parser, so a typo fails
the start with the key that holds it (``$.plans.sandbox``) instead of silently not limiting anyone.

Shape of the file::

    [plans]            <plan name> = "<rate>"   partner plans (the plan of an API key or of a partner's client)
    [clients]          default = "<rate>"       an OAuth client without a plan
    [channels.web]     shopper = "<rate>"  ip = "<rate>"
    [channels.mobile]  shopper = "<rate>"  ip = "<rate>"

A rate is one ``<amount>/<granularity>`` in `limits`' string notation
(https://limits.readthedocs.io/en/stable/quickstart.html#rate-limit-string-notation), e.g. ``"100/minute"``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import msgspec
from limits import RateLimitItem, parse_many
from msgspec import Meta

DEFAULT_FILE = Path(__file__).with_name("limits.toml")

PLAN_PATTERN = r"^[a-z][a-z0-9-]{0,31}$"
PlanName = Annotated[str, Meta(pattern=PLAN_PATTERN)]
_PLAN = re.compile(PLAN_PATTERN)


class LimitsConfigError(ValueError):
    """The limits file cannot be used: unreadable, not TOML, an unknown key or a bad rate (the message says where)."""


class UnknownPlan(ValueError):
    """A plan name that limits.toml does not define."""


@dataclass(frozen=True, slots=True)
class Policy:
    """One rate limit: ``name`` (advertised in ``RateLimit-Policy`` and naming the counters), ``limit`` units per
    ``window_s`` seconds, as the `limits` item the limiter enforces."""

    name: str
    item: RateLimitItem

    @property
    def limit(self) -> int:
        return int(self.item.amount)

    @property
    def window_s(self) -> int:
        return int(self.item.get_expiry())

    @classmethod
    def parse(cls, name: str, rate: str) -> Policy:
        """``rate`` in `limits`' notation, exactly one rate of at least 1 unit; ``ValueError`` otherwise."""
        items = parse_many(rate)  # ValueError: "couldn't parse rate limit string '...'"
        if len(items) != 1:
            raise ValueError(f"one rate per policy, not {len(items)} ({rate!r})")
        if items[0].amount < 1:
            raise ValueError(f"a rate allows at least 1 unit per window ({rate!r})")
        return cls(name, items[0])


def _checked(key: str, rate: str) -> None:
    # msgspec reports a ValueError raised in __post_init__ with the path of the table; the message names the key.
    try:
        Policy.parse(key, rate)
    except ValueError as exc:
        raise ValueError(f"{key} = {rate!r}: {exc}") from None


class _Rates(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    def __post_init__(self) -> None:
        for field in self.__struct_fields__:
            _checked(field, getattr(self, field))


class ChannelLimits(_Rates, frozen=True, forbid_unknown_fields=True):
    shopper: str  # per customer id
    ip: str  # per client IP


class Channels(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    web: ChannelLimits
    mobile: ChannelLimits


class ClientLimits(_Rates, frozen=True, forbid_unknown_fields=True):
    default: str  # an OAuth client without a plan


class LimitsFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    plans: dict[PlanName, str]
    clients: ClientLimits
    channels: Channels

    def __post_init__(self) -> None:
        if not self.plans:
            raise ValueError("at least one plan is needed")
        for name, rate in self.plans.items():
            _checked(name, rate)


@dataclass(frozen=True, slots=True)
class Limits:
    """The decoded limits, as policies: ``plan(name)`` (named ``partner-<plan>``), ``client`` (``client``),
    ``shopper(channel)`` and ``ip(channel)`` (``<channel>-shopper``, ``<channel>-ip``)."""

    plans: dict[str, Policy]
    client: Policy
    channels: dict[str, tuple[Policy, Policy]]  # channel -> (shopper, ip)

    def plan(self, name: str) -> Policy:
        """The policy of a plan; :class:`UnknownPlan` (naming the known ones) if limits.toml has no such plan."""
        try:
            return self.plans[name]
        except KeyError:
            known = ", ".join(sorted(self.plans))
            raise UnknownPlan(f"unknown plan {name!r}; limits.toml defines: {known}") from None

    def shopper(self, channel: str) -> Policy:
        return self.channels[channel][0]

    def ip(self, channel: str) -> Policy:
        return self.channels[channel][1]


def check_plan_name(name: str) -> str:
    if not _PLAN.match(name):
        raise UnknownPlan(f"a plan name matches {PLAN_PATTERN}, not {name!r}")
    return name


def decode(text: str | bytes) -> Limits:
    """Limits from TOML text; :class:`LimitsConfigError` naming the offending key otherwise."""
    try:
        raw = msgspec.toml.decode(text, type=LimitsFile)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise LimitsConfigError(f"invalid rate limits: {exc}") from exc
    return Limits(
        plans={name: Policy.parse(f"partner-{name}", rate) for name, rate in raw.plans.items()},
        client=Policy.parse("client", raw.clients.default),
        channels={
            channel: (Policy.parse(f"{channel}-shopper", c.shopper), Policy.parse(f"{channel}-ip", c.ip))
            for channel, c in (("web", raw.channels.web), ("mobile", raw.channels.mobile))
        },
    )


def load(path: str | Path = "") -> Limits:
    """The limits at ``path`` (empty: the packaged ``gateway/limits.toml``); :class:`LimitsConfigError` if the
    file is missing or invalid, with its path in the message."""
    where = Path(path) if path else DEFAULT_FILE
    try:
        text = where.read_bytes()
    except OSError as exc:
        raise LimitsConfigError(f"cannot read the rate limits file {where}: {exc.strerror}") from exc
    try:
        return decode(text)
    except LimitsConfigError as exc:
        raise LimitsConfigError(f"{where}: {exc}") from exc
