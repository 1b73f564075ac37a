"""The ``omnigate`` command: run the estate, serve one deployable, (re)seed the sandboxes, reconcile."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

from estate.launcher import Estate, LaunchError, load_estate, serve_command
from gateway import cli as gateway_cli
from gateway.settings import GatewaySettings
from services.sandbox.common.settings import SandboxSettings
from services.sandbox.erp.settings import SandboxErpSettings
from shared import logs
from shared.identity import HEADER
from shared.settings import env_name, from_env

DEFAULT_DATA_DIR = ".omnigate"
# Written by `omnigate up` while the estate runs: the Redis it uses, so that commands run beside it (`omnigate
# token`, `partners create`...) reach the same Redis, also when it is a private one the launcher started.
REDIS_URL_FILE = "redis-url"


def _data_dir(value: str | None) -> Path:
    return Path(value or os.environ.get("OMNIGATE_DATA_DIR") or DEFAULT_DATA_DIR)


def command_environ(args: argparse.Namespace) -> dict[str, str]:
    """The environment a deployable's command reads its settings from: this process's, plus the secrets a local
    estate generated in its data directory (``secrets.json``) for those the environment does not set."""
    env = dict(os.environ)
    running = _data_dir(getattr(args, "data_dir", None)) / REDIS_URL_FILE
    if running.exists():  # a running local estate's Redis (a private one on a laptop without Redis)
        env.setdefault("REDIS_URL", running.read_text().strip())
    path = _data_dir(getattr(args, "data_dir", None)) / "secrets.json"
    if path.exists():
        for name, value in json.loads(path.read_text()).items():
            env.setdefault(env_name(name), value)
    return env


def _print_gateway_try(estate: Estate) -> None:
    """How a newcomer gets in through the gateway: a shopper's token, and the demo partner's API key (made at the
    first run and kept in the data directory, like the sandboxes' credentials)."""
    settings = estate.settings_of(GatewaySettings)
    key_file = estate.data_dir / "demo-partner-key"
    kept = key_file.read_text().strip() if key_file.exists() else None
    key = asyncio.run(gateway_cli.demo_partner_key(settings, kept))
    if key != kept:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(key + "\n")
    gateway = estate.url("gateway")
    print(f"\nThrough the gateway ({gateway}), as a shopper (a development token from its own issuer):")
    print("  TOKEN=$(.venv/bin/omnigate token --sub c-1001 --channel web)")
    print(f'  curl -s {gateway}/web/v1/orders -H "Authorization: Bearer $TOKEN"')
    print(f"As the demo partner (plan {gateway_cli.DEMO_PLAN}; the key is kept in {key_file}):")
    print(f'  curl -s -i {gateway}/partner/v1/orders -H "X-API-Key: {key}"')
    print("Your own: .venv/bin/omnigate partners create --partner ID --plan sandbox; clients create --help.")


def cmd_up(args: argparse.Namespace) -> int:
    estate = Estate(data_dir=_data_dir(args.data_dir), only=args.only or None, free_ports=args.free_ports)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print(f"Starting the Omnigate estate (data in {estate.data_dir}) ...", flush=True)
    try:
        estate.start(timeout=args.timeout, on_ready=lambda name: print(f"  ready: {name}", flush=True))
    except LaunchError as exc:
        print(f"omnigate up failed: {exc}", file=sys.stderr)
        return 1
    (estate.data_dir / REDIS_URL_FILE).write_text(f"{estate.redis_url}\n")
    print(f"\nAll {len(estate.names)} deployables ready in {estate.startup_s:.1f}s.")
    print(f"Redis: {estate.redis_url} ({estate.redis_source})")
    width = max(len(n) for n in estate.names)
    for name in estate.names:
        print(f"  {name:<{width}}  {estate.url(name)}   docs: {estate.url(name)}/schema/swagger")
    erp_api_key = estate.settings_of(SandboxErpSettings).erp_api_key
    print("\nTry:")
    if "system-erp" in estate.names:
        print(f"  curl -s {estate.url('system-erp')}/items?limit=3")
    if "sandbox-pos" in estate.names:
        print(f"  curl -s {estate.url('system-pos')}/stores")
    if "gateway" in estate.names:
        _print_gateway_try(estate)
    print(f"\nSandbox credentials are in {estate.data_dir / 'secrets.json'}; logs in {estate.data_dir / 'logs'}.")
    print(f"ERP sandbox API key: {erp_api_key[:6]}... (full value in secrets.json)")
    print("Press Ctrl-C to stop.", flush=True)
    try:
        while not stop.wait(0.5):
            dead = estate.exited()
            if dead:
                print(f"\n{', '.join(dead)} exited; see {estate.data_dir / 'logs'}", file=sys.stderr)
                break
    finally:
        print("\nStopping ...", flush=True)
        (estate.data_dir / REDIS_URL_FILE).unlink(missing_ok=True)
        estate.stop()
        print("Stopped.", flush=True)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve one deployable in the foreground (what a container runs)."""
    by_name = {d.name: d for d in load_estate()}
    if args.name not in by_name:
        print(f"unknown deployable {args.name!r}; known: {', '.join(by_name)}", file=sys.stderr)
        return 2
    d = by_name[args.name]
    # A restarted container keeps its emptyDir: samples of the dead processes would be summed in forever.
    metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if metrics_dir:
        for stale in Path(metrics_dir).glob("*.db"):
            stale.unlink(missing_ok=True)
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix=f"{d.name}-logging-", delete=False) as fh:
        json.dump(logs.granian_config(d.name), fh)
    cmd = serve_command(
        d, port=args.port or d.port, workers=args.workers or d.workers, host=args.host, log_config=Path(fh.name)
    )
    os.environ.setdefault("OMNIGATE_SERVICE", d.name)
    os.execvp(cmd[0], cmd)  # replaces this process: nothing after it runs


def cmd_seed(args: argparse.Namespace) -> int:
    """Create the sandbox databases afresh from the deterministic catalogue (the estate must be stopped): each
    back-end of estate.toml names its own seeding entry point, which reads the sandboxes' common settings."""
    os.environ["OMNIGATE_DATA_DIR"] = str(_data_dir(args.data_dir))
    settings = from_env(SandboxSettings)
    for d in load_estate():
        if d.seed is None:
            continue
        module, _, function = d.seed.partition(":")
        path = getattr(importlib.import_module(module), function)(settings, force=args.force)
        if path is None:
            print(f"{d.name}: its database exists (use --force to re-seed)")
        else:
            print(
                f"{d.name}: seeded {path} ({settings.seed_skus} SKUs, {settings.seed_stores} stores, "
                f"seed {settings.seed})"
            )
    return 0


def cmd_reconcile_documents(args: argparse.Namespace) -> int:
    """Start a document sweep on process-orders, wait for its report and print it (JSON); exit 1 if it found
    mismatches it could not repair, 2 if it failed.

    It calls as an operator (``channel=ops``, ``ops:*``) with an identity token signed by the gateway's ring:
    like ``keys rotate``, it runs with the state Redis, which holds that ring, so a separate ops signer would
    add a second edge key without separating anything."""
    import httpx

    base = (args.url or os.environ.get("OMNIGATE_URL_PROCESS_ORDERS") or "http://127.0.0.1:8202").rstrip("/")
    settings = from_env(GatewaySettings, command_environ(args))
    token = asyncio.run(gateway_cli.mint_identity(settings, gateway_cli.identity_of("ops", args.operator)))
    headers = {HEADER: token}
    body: dict[str, object] = {}
    if args.order:
        body["order_ids"] = args.order
    if args.days is not None:
        body["days"] = args.days
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        response = client.post("/reconciliations/documents", json=body)
        if response.status_code != 202:
            print(response.text, file=sys.stderr)
            return 2
        report = response.json()
        deadline = time.monotonic() + args.timeout
        while report["state"] == "running" and time.monotonic() < deadline:
            time.sleep(0.5)
            report = client.get(f"/reconciliations/documents/{report['id']}").raise_for_status().json()
    print(json.dumps(report, indent=2))
    if report["state"] != "done":
        return 2
    return 1 if any(not m["repaired"] for m in report["mismatches"]) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="omnigate", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the whole estate locally (Redis included) until Ctrl-C")
    up.add_argument("--data-dir")
    up.add_argument("--only", nargs="*", help="start only these deployables")
    up.add_argument("--timeout", type=float, default=120.0)
    up.add_argument("--free-ports", action="store_true", help="any free ports instead of the fixed local ones")
    up.set_defaults(func=cmd_up)
    serve = sub.add_parser("serve", help="serve one deployable in the foreground")
    serve.add_argument("name")
    serve.add_argument("--host", default=os.environ.get("OMNIGATE_HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int)
    serve.set_defaults(func=cmd_serve)
    seed = sub.add_parser("seed", help="(re)create the sandbox databases from the deterministic catalogue")
    seed.add_argument("--data-dir")
    seed.add_argument("--force", action="store_true")
    seed.set_defaults(func=cmd_seed)
    reconcile = sub.add_parser("reconcile", help="compare Omnigate's state with the back-ends' and repair it")
    what = reconcile.add_subparsers(dest="what", required=True)
    documents = what.add_parser("documents", help="each order's state against the ERP, WMS and POS documents")
    documents.add_argument("--url", help="process-orders (default: $OMNIGATE_URL_PROCESS_ORDERS or :8202)")
    documents.add_argument("--order", action="append", help="only this order id (repeatable)")
    documents.add_argument("--days", type=float, help="orders created in the last N days (default: the service's)")
    documents.add_argument("--operator", default=os.environ.get("USER", "cli"), help="who runs it (ops:<id>)")
    documents.add_argument("--data-dir")
    documents.add_argument("--timeout", type=float, default=600.0)
    documents.set_defaults(func=cmd_reconcile_documents)
    gateway_cli.register(sub, command_environ)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
