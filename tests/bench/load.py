"""Load tools for the benchmarks: wrk for saturation, an open-loop generator for latency at a fixed rate.

Saturation uses wrk (C, Debian package) so the load generator is not what saturates; latency at a fixed rate
uses an open-loop asyncio generator: requests are sent on a fixed schedule whatever the answers do, and each
latency is measured from its *scheduled* send time, so a stall is not hidden (no coordinated omission).
CPU is read from /proc (utime + stime of a process and its children: granian's workers).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (granian's main process and its workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by ``pid``'s process tree."""
    total = 0
    for member in process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / CLOCK_TICKS


@dataclass
class Saturation:
    requests: int
    seconds: float
    rps: float
    non_2xx: int
    tool: str


def ensure_tool(command: str, package: str | None = None) -> str | None:
    """The path of ``command``, installing its Debian ``package`` (default: the command's name) first when it is
    missing and this is root with apt-get (as on CI); None when it cannot be had."""
    found = shutil.which(command)
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-qq", package or command], check=False, capture_output=True)
    return shutil.which(command)


def ensure_wrk() -> str | None:
    return ensure_tool("wrk")


def saturate(
    url: str,
    *,
    seconds: int,
    connections: int,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Saturation:
    wrk = ensure_wrk()
    if wrk is None:
        return asyncio.run(_saturate_python(url, seconds, connections, method, body, headers or {}))
    script = _wrk_script(method, body, headers or {})
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(script)
    try:
        out = subprocess.run(
            [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", "-s", fh.name, url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(fh.name)
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non_2xx_match = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    return Saturation(requests, float(seconds), rps, int(non_2xx_match.group(1)) if non_2xx_match else 0, "wrk")


def _wrk_script(method: str, body: bytes | None, headers: dict[str, str]) -> str:
    lines = [f'wrk.method = "{method}"']
    if body is not None:
        lines.append("wrk.body = " + _lua_string(body.decode()))
    for name, value in headers.items():
        lines.append(f'wrk.headers["{name}"] = {_lua_string(value)}')
    return "\n".join(lines) + "\n"


def _lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


async def _saturate_python(
    url: str, seconds: int, connections: int, method: str, body: bytes | None, headers: dict[str, str]
) -> Saturation:
    done = 0
    bad = 0
    deadline = time.monotonic() + seconds

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal done, bad
        while time.monotonic() < deadline:
            async with session.request(method, url, data=body, headers=headers) as resp:
                await resp.read()
                done += 1
                bad += resp.status >= 400

    started = time.monotonic()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections)) as session:
        await asyncio.gather(*(worker(session) for _ in range(connections)))
    elapsed = time.monotonic() - started
    return Saturation(done, elapsed, done / elapsed, bad, "python")


@dataclass
class FixedRate:
    rate: float
    sent: int
    errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float


async def fixed_rate(
    url: str,
    *,
    rate: float,
    seconds: float,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    samples: list[float] | None = None,
    url_of: Callable[[int], str] | None = None,
) -> FixedRate:
    """Latency at a fixed ``rate`` for ``seconds``, measured from each request's scheduled send time.
    ``samples``, if given, also receives every latency (ms), so several rounds can be pooled (:func:`pooled`).
    ``url_of(i)``, if given, is the URL of the i-th request (``url`` otherwise)."""
    latencies: list[float] = []
    errors = 0
    interval = 1.0 / rate
    total = int(rate * seconds)

    async def one(session: aiohttp.ClientSession, scheduled: float, target: str) -> None:
        nonlocal errors
        try:
            async with session.request(method, target, data=body, headers=headers) as resp:
                await resp.read()
                if resp.status >= 400:
                    errors += 1
        except aiohttp.ClientError:
            errors += 1
        latencies.append(time.perf_counter() - scheduled)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as session:
        start = time.perf_counter()
        tasks = []
        for i in range(total):
            scheduled = start + i * interval
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(session, scheduled, url_of(i) if url_of else url)))
        await asyncio.gather(*tasks)
    ms = [x * 1000 for x in latencies]
    if samples is not None:
        samples.extend(ms)
    return pooled(ms, rate=rate, sent=total, errors=errors)


def pooled(ms: list[float], *, rate: float, sent: int, errors: int) -> FixedRate:
    """The percentiles of latencies ``ms`` (one round's, or several interleaved rounds' pooled)."""
    ms = sorted(ms)
    return FixedRate(
        rate=rate,
        sent=sent,
        errors=errors,
        p50_ms=round(statistics.median(ms), 3),
        p90_ms=round(ms[int(len(ms) * 0.90) - 1], 3),
        p99_ms=round(ms[int(len(ms) * 0.99) - 1], 3),
        max_ms=round(ms[-1], 3),
    )
