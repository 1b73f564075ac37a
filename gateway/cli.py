"""The gateway's ``omnigate`` commands (registered by the AppHost, estate/cli.py): ``clients create``,
``keys rotate``, ``token`` (a development shopper access token) and ``identity`` (a development identity token).
They act on the state Redis the gateway reads (``REDIS_URL``, ``OMNIGATE_KEY_PREFIX``), so
running gateway workers see the result on their next request, without a restart."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable, Mapping

import msgspec
from redis.asyncio import Redis

from gateway.clients import ClientStore, UnknownScope, parse_scopes
from gateway.keys import Keys
from gateway.settings import GatewaySettings
from gateway.tokens import keyring, mint
from shared.identity import Identity, Minter
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
    """A new OAuth client: its id and its secret (stored only as an HMAC)."""
    redis = Redis.from_url(settings.redis_url)
    try:
        store = ClientStore(redis, Keys(settings.key_prefix), pepper=settings.gateway_client_secret_pepper)
        client, secret = await store.create(name=name, scopes=scopes, partner=partner, channel=channel, plan=plan)
        return client.client_id, secret
    finally:
        await redis.aclose()


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
    create.add_argument("--plan", help="the rate-limit plan its tokens carry (claim plan)")
    create.add_argument("--data-dir")
    create.set_defaults(func=cmd_clients_create)
    keys = sub.add_parser("keys", help="the gateway's token signing keys")
    keys_what = keys.add_subparsers(dest="what", required=True)
    rotate = keys_what.add_parser(
        "rotate", help="new current key; the previous stays published until its tokens expire"
    )
    rotate.add_argument("--data-dir")
    rotate.set_defaults(func=cmd_keys_rotate)
