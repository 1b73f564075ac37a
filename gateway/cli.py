"""The gateway's ``omnigate`` commands (registered by the AppHost, estate/cli.py): ``clients create``,
``keys rotate``, ``token`` (a development shopper access token), ``partners create|rotate|revoke|list`` (partner
API keys) and ``identity`` (a development identity token). They act on the state Redis the gateway reads
(``REDIS_URL``, ``OMNIGATE_KEY_PREFIX``), so
running gateway workers see the result on their next request, without a restart."""

from __future__ import annotations

import argparse
import asyncio
import functools
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import TypeVar

import msgspec
from redis.asyncio import Redis

from gateway.clients import ClientStore, UnknownScope, parse_scopes
from gateway.keys import Keys
from gateway.partners import PartnerKey, PartnerKeys
from gateway.plans import load as load_limits
from gateway.settings import GatewaySettings
from gateway.tokens import keyring, mint
from shared.identity import Identity, Minter
from shared.problems import ProblemError
from shared.settings import from_env

# What `omnigate token` grants a shopper unless told otherwise, and the client its tokens name (RFC 9068 §2.2).
SHOPPER_SCOPES = "catalog:read availability:read orders:read orders:write returns:write"
CLI_CLIENT = "omnigate-cli"

# The environment a command reads its settings from (the AppHost adds the generated secrets of a local estate).
Environ = Callable[[argparse.Namespace], Mapping[str, str]]


async def create_client(
    settings: GatewaySettings,
    *,
    name: str,
    scopes: str,
    partner: str | None,
    channel: str | None = None,
    plan: str | None = None,
) -> tuple[str, str]:
    """A new OAuth client: its id and its secret (stored only as an HMAC). A ``plan`` must be one of limits.toml's
    (:class:`~gateway.plans.UnknownPlan` otherwise)."""
    if plan:
        load_limits(settings.gateway_limits_file).plan(plan)
    redis = Redis.from_url(settings.redis_url)
    try:
        store = ClientStore(redis, Keys(settings.key_prefix), pepper=settings.gateway_client_secret_pepper)
        client, secret = await store.create(name=name, scopes=scopes, partner=partner, channel=channel, plan=plan)
        return client.client_id, secret
    finally:
        await redis.aclose()


T = TypeVar("T")


async def with_partner_keys(settings: GatewaySettings, action: Callable[[PartnerKeys], Awaitable[T]]) -> T:
    """Run ``action`` on the partner keys of the state Redis, the plans being those of the limits file."""
    limits = load_limits(settings.gateway_limits_file)
    redis = Redis.from_url(settings.redis_url)
    try:
        keys = PartnerKeys(
            redis, Keys(settings.key_prefix), pepper=settings.gateway_client_secret_pepper, plans=limits.plans
        )
        return await action(keys)
    finally:
        await redis.aclose()


DEMO_PARTNER = "demo"
DEMO_PLAN = "sandbox"


async def demo_partner_key(settings: GatewaySettings, kept: str | None) -> str:
    """The API key of the local estate's demo partner (``make run`` prints it): ``kept`` (the key an earlier run
    made) while the gateway still accepts it, else a new one, the demo partner's earlier keys revoked."""

    async def ensure(keys: PartnerKeys) -> str:
        if kept:
            try:
                await keys.authenticate(kept)
                return kept
            except ProblemError:
                pass  # a new Redis, or revoked by hand: start over
        for key in await keys.list(DEMO_PARTNER):
            if key.state == "active":
                await keys.revoke(key.key_id)
        return (await keys.create(DEMO_PARTNER, DEMO_PLAN))[1]

    return await with_partner_keys(settings, ensure)


def _print_key(key: PartnerKey, full: str) -> None:
    print(f"key_id:  {key.key_id}")
    print(f"partner: {key.partner_id}")
    print(f"plan:    {key.plan}")
    print(f"api_key: {full}")
    print("The key is shown once and stored only as an HMAC: keep it now (send it as X-API-Key).", file=sys.stderr)


def _iso(ms: int | None) -> str:
    return "-" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


async def rotate_keys(settings: GatewaySettings) -> tuple[str, list[str]]:
    """A new current signing key, published for the layers below; returns its kid and the kids now published."""
    redis = Redis.from_url(settings.redis_url)
    try:
        ring = keyring(redis, settings)
        keys = await ring.published(await ring.rotate())
        return str(keys.current.kid), [str(k.kid) for k in keys.published()]
    finally:
        await redis.aclose()


async def mint_identity(settings: GatewaySettings, identity: Identity, *, ttl_s: int = 300) -> str:
    """An internal identity token for ``identity``, signed with the gateway's ring (signer ``gateway``), as the
    gateway mints them for its callers. For operator commands and local development: whoever runs it already
    holds the state Redis, and with it the gateway's private keys (as ``keys rotate`` does)."""
    redis = Redis.from_url(settings.redis_url)
    try:
        ring = keyring(redis, settings)
        keys = await ring.published()
        return Minter(keys.current, ttl_s=ttl_s).mint(identity)
    finally:
        await redis.aclose()


async def mint_shopper_token(
    settings: GatewaySettings, *, customer: str, channel: str, scopes: str = SHOPPER_SCOPES, ttl_s: int | None = None
) -> str:
    """An access token of the embedded issuer for a shopper (RFC 9068 claims plus ``channel`` and
    ``customer_id``; client ``omnigate-cli``), signed with the gateway's current key in the state Redis, as
    ``POST /oauth/token`` signs. At most the gateway's token lifetime: a rotated-out key is kept published only
    that long. For local development and tests; whoever runs it already holds the state Redis."""
    if channel not in ("web", "mobile"):
        raise ValueError(f"a shopper is on the web or mobile channel, not {channel!r}")
    lifetime = settings.gateway_token_ttl_s if ttl_s is None else ttl_s
    if not 0 < lifetime <= settings.gateway_token_ttl_s:
        raise ValueError(f"the lifetime is 1 to {settings.gateway_token_ttl_s} seconds (the gateway's token TTL)")
    granted = " ".join(parse_scopes(scopes))
    redis = Redis.from_url(settings.redis_url)
    try:
        keys = await keyring(redis, settings).published()
    finally:
        await redis.aclose()
    return mint(
        keys.current,
        issuer=settings.gateway_issuer.rstrip("/"),
        client_id=CLI_CLIENT,
        scope=granted,
        ttl_s=lifetime,
        now=int(time.time()),
        channel=channel,
        subject=customer,
        customer_id=customer,
    )


def identity_of(channel: str, subject: str, scopes: str = "") -> Identity:
    """The identity a caller on ``channel`` has: a customer on web/mobile, a partner, or an operator (``ops:*``)."""
    if channel not in _CALLER_ID:
        raise ValueError(f"a caller's channel is web, mobile, partner or ops, not {channel!r}")
    scoped = set(scopes.split()) | ({"ops:*"} if channel == "ops" else set())
    fields: dict[str, object] = {"sub": subject, "channel": channel, "scopes": sorted(scoped)}
    id_field = _CALLER_ID[channel]
    if id_field:
        fields[id_field] = subject
    try:
        return msgspec.convert(fields, Identity)
    except msgspec.ValidationError as exc:
        raise ValueError(str(exc)) from exc


# A caller's channel -> the claim naming who it is (an operator is its sub).
_CALLER_ID = {"web": "customer_id", "mobile": "customer_id", "partner": "partner_id", "ops": None}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], environ: Environ) -> None:
    def settings(args: argparse.Namespace) -> GatewaySettings:
        return from_env(GatewaySettings, environ(args))

    def cmd_clients_create(args: argparse.Namespace) -> int:
        try:
            client_id, secret = asyncio.run(
                create_client(
                    settings(args),
                    name=args.name,
                    scopes=args.scopes,
                    partner=args.partner,
                    channel=args.channel,
                    plan=args.plan,
                )
            )
        except (UnknownScope, ValueError) as exc:
            print(f"omnigate clients create: {exc}", file=sys.stderr)
            return 2
        print(f"client_id:     {client_id}")
        print(f"client_secret: {secret}")
        print("The secret is shown once and stored only as an HMAC: keep it now.", file=sys.stderr)
        return 0

    def cmd_keys_rotate(args: argparse.Namespace) -> int:
        current, published = asyncio.run(rotate_keys(settings(args)))
        print(f"current kid: {current}")
        print(f"published:   {' '.join(published)}")
        return 0

    def cmd_token(args: argparse.Namespace) -> int:
        try:
            token = asyncio.run(
                mint_shopper_token(
                    settings(args), customer=args.sub, channel=args.channel, scopes=args.scopes, ttl_s=args.ttl
                )
            )
        except (UnknownScope, ValueError) as exc:
            print(f"omnigate token: {exc}", file=sys.stderr)
            return 2
        print(token)
        return 0

    def cmd_identity(args: argparse.Namespace) -> int:
        try:
            identity = identity_of(args.channel, args.subject, args.scopes)
        except ValueError as exc:
            print(f"omnigate identity: {exc}", file=sys.stderr)
            return 2
        print(asyncio.run(mint_identity(settings(args), identity, ttl_s=args.ttl)))
        return 0

    ident = sub.add_parser(
        "identity", help="print an internal identity token (X-Omnigate-Identity) signed as the gateway (development)"
    )
    ident.add_argument("--channel", required=True, choices=["web", "mobile", "partner", "ops"])
    ident.add_argument("--subject", required=True, help="the customer, partner or operator id")
    ident.add_argument("--scopes", default="", help='space-separated scopes ("ops:*" is implied for ops)')
    ident.add_argument("--ttl", type=int, default=900, help="lifetime in seconds (at most 900)")
    ident.add_argument("--data-dir")
    ident.set_defaults(func=cmd_identity)
    tok = sub.add_parser(
        "token", help="print a shopper's access token (Bearer) from the gateway's own issuer (development)"
    )
    tok.add_argument("--sub", required=True, help="the customer id (the token's sub and customer_id)")
    tok.add_argument("--channel", required=True, choices=["web", "mobile"])
    tok.add_argument("--scopes", default=SHOPPER_SCOPES, help=f'space-separated (default "{SHOPPER_SCOPES}")')
    tok.add_argument("--ttl", type=int, help="lifetime in seconds (default and at most the gateway's token TTL)")
    tok.add_argument("--data-dir")
    tok.set_defaults(func=cmd_token)
    clients = sub.add_parser("clients", help="OAuth clients of the gateway's authorization server")
    clients_what = clients.add_subparsers(dest="what", required=True)
    create = clients_what.add_parser("create", help="register a client; prints its id and (once) its secret")
    create.add_argument("--name", required=True, help="who the client is (for operators)")
    create.add_argument("--scopes", required=True, help='space-separated, e.g. "orders:read orders:write"')
    create.add_argument("--partner", help="the partner this client acts for (its tokens carry partner_id)")
    create.add_argument(
        "--channel", choices=["web", "mobile"], help="the channel of a client without a partner (default web)"
    )
    create.add_argument("--plan", help="the partner's plan (of limits.toml) whose rate limit applies; needs --partner")
    create.add_argument("--data-dir")
    create.set_defaults(func=cmd_clients_create)
    register_partners(sub, settings)
    keys = sub.add_parser("keys", help="the gateway's token signing keys")
    keys_what = keys.add_subparsers(dest="what", required=True)
    rotate = keys_what.add_parser(
        "rotate", help="new current key; the previous stays published until its tokens expire"
    )
    rotate.add_argument("--data-dir")
    rotate.set_defaults(func=cmd_keys_rotate)


Settings = Callable[[argparse.Namespace], GatewaySettings]


def _run(settings: Settings, args: argparse.Namespace, action: Callable[[PartnerKeys], Awaitable[T]]) -> T | None:
    try:
        return asyncio.run(with_partner_keys(settings(args), action))
    except ValueError as exc:  # PartnerKeyError, UnknownPlan, LimitsConfigError: the message says what to do
        print(f"omnigate partners {args.what}: {exc}", file=sys.stderr)
        return None


def _cmd_partners_create(settings: Settings, args: argparse.Namespace) -> int:
    issued = _run(settings, args, lambda keys: keys.create(args.partner, args.plan))
    if issued is None:
        return 2
    _print_key(*issued)
    return 0


def _cmd_partners_rotate(settings: Settings, args: argparse.Namespace) -> int:
    issued = _run(settings, args, lambda keys: keys.rotate(args.partner))
    if issued is None:
        return 2
    _print_key(*issued)
    print("Both keys are live: revoke the old one once the partner uses the new one.", file=sys.stderr)
    return 0


def _cmd_partners_revoke(settings: Settings, args: argparse.Namespace) -> int:
    revoked = _run(settings, args, lambda keys: keys.revoke(args.key))
    if revoked is None:
        return 2
    print(f"revoked: {revoked.key_id} (partner {revoked.partner_id}, plan {revoked.plan})")
    return 0


def _cmd_partners_list(settings: Settings, args: argparse.Namespace) -> int:
    found = _run(settings, args, lambda keys: keys.list(args.partner))
    if found is None:
        return 2
    for k in found:
        print(f"{k.key_id}  {k.state:<7}  {k.plan:<12}  created {_iso(k.created_ms)}  revoked {_iso(k.revoked_ms)}")
    return 0


_PARTNER = ("--partner", "the partner id")
# command -> (what it does, its arguments, the function)
_PARTNER_COMMANDS: dict[str, tuple[str, list[tuple[str, str]], Callable[[Settings, argparse.Namespace], int]]] = {
    "create": (
        "issue a key of a plan to a partner; prints it once",
        [_PARTNER, ("--plan", "a plan of limits.toml, e.g. sandbox, standard, premium")],
        _cmd_partners_create,
    ),
    "rotate": (
        "issue a second key with the plan of the partner's live one; both stay live",
        [_PARTNER],
        _cmd_partners_rotate,
    ),
    "revoke": (
        "revoke a key: refused from its next request on",
        [("--key", "the key id (the part after og_, before the secret)")],
        _cmd_partners_revoke,
    ),
    "list": ("a partner's keys, live and revoked (never their secrets)", [_PARTNER], _cmd_partners_list),
}


def register_partners(sub: argparse._SubParsersAction[argparse.ArgumentParser], settings: Settings) -> None:
    """``omnigate partners create|rotate|revoke|list``: partner API keys (gateway/partners.py)."""
    partners = sub.add_parser("partners", help="partner API keys (X-API-Key) and their plans")
    what = partners.add_subparsers(dest="what", required=True)
    for name, (help_text, arguments, func) in _PARTNER_COMMANDS.items():
        cmd = what.add_parser(name, help=help_text)
        for flag, flag_help in arguments:
            cmd.add_argument(flag, required=True, help=flag_help)
        cmd.add_argument("--data-dir")
        cmd.set_defaults(func=functools.partial(func, settings))
