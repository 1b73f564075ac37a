"""The gateway's ``omnigate`` commands (registered by the AppHost, estate/cli.py): ``clients create`` and
``keys rotate``. Both act on the state Redis the gateway reads (``REDIS_URL``, ``OMNIGATE_KEY_PREFIX``), so
running gateway workers see the result on their next request, without a restart."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Mapping

from redis.asyncio import Redis

from gateway.clients import ClientStore, UnknownScope
from gateway.keys import Keys
from gateway.settings import GatewaySettings
from gateway.tokens import SIGNER, keyring
from shared.identity import publish_keys
from shared.settings import from_env

# The environment a command reads its settings from (the AppHost adds the generated secrets of a local estate).
Environ = Callable[[argparse.Namespace], Mapping[str, str]]


async def create_client(settings: GatewaySettings, *, name: str, scopes: str, partner: str | None) -> tuple[str, str]:
    """A new OAuth client: its id and its secret (stored only as an HMAC)."""
    redis = Redis.from_url(settings.redis_url)
    try:
        store = ClientStore(redis, Keys(settings.key_prefix), pepper=settings.gateway_client_secret_pepper)
        client, secret = await store.create(name=name, scopes=scopes, partner=partner)
        return client.client_id, secret
    finally:
        await redis.aclose()


async def rotate_keys(settings: GatewaySettings) -> tuple[str, list[str]]:
    """A new current signing key, published for the layers below; returns its kid and the kids now published."""
    redis = Redis.from_url(settings.redis_url)
    try:
        ring = keyring(redis, settings)
        keys = await ring.rotate()
        await publish_keys(redis, settings.key_prefix, SIGNER, keys.jwks())
        return str(keys.current.kid), [str(k.kid) for k in keys.published()]
    finally:
        await redis.aclose()


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser], environ: Environ) -> None:
    def settings(args: argparse.Namespace) -> GatewaySettings:
        return from_env(GatewaySettings, environ(args))

    def cmd_clients_create(args: argparse.Namespace) -> int:
        try:
            client_id, secret = asyncio.run(
                create_client(settings(args), name=args.name, scopes=args.scopes, partner=args.partner)
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

    clients = sub.add_parser("clients", help="OAuth clients of the gateway's authorization server")
    clients_what = clients.add_subparsers(dest="what", required=True)
    create = clients_what.add_parser("create", help="register a client; prints its id and (once) its secret")
    create.add_argument("--name", required=True, help="who the client is (for operators)")
    create.add_argument("--scopes", required=True, help='space-separated, e.g. "orders:read orders:write"')
    create.add_argument("--partner", help="the partner this client acts for (its tokens carry partner_id)")
    create.add_argument("--data-dir")
    create.set_defaults(func=cmd_clients_create)
    keys = sub.add_parser("keys", help="the gateway's token signing keys")
    keys_what = keys.add_subparsers(dest="what", required=True)
    rotate = keys_what.add_parser(
        "rotate", help="new current key; the previous stays published until its tokens expire"
    )
    rotate.add_argument("--data-dir")
    rotate.set_defaults(func=cmd_keys_rotate)
