"""The rendered API reference at ``/docs/<channel>``, opened in a real browser (Chromium, driven by Playwright).

The renderer is Scalar's standalone bundle at the version the gateway pins, taken from the npm registry
(``npm pack``, no dependencies) and served from loopback, so the test needs no CDN; a gateway instance is pointed at
it with ``OMNIGATE_GATEWAY_DOCS_SCRIPT_URL``. The page must load the channel's own public contract (not the
gateway's internal document), render its title and every operation, and log no error.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, sync_playwright

from gateway.settings import GatewaySettings
from tests.estate import TestEstate

pytestmark = pytest.mark.estate

OPENAPI = Path(__file__).resolve().parents[3] / "openapi"
CACHE = Path(__file__).resolve().parents[3] / ".omnigate" / "test-cache"


def _chromium() -> str:
    found = os.environ.get("OMNIGATE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("no Chromium: `make test` installs Debian's chromium; elsewhere set OMNIGATE_CHROMIUM to a binary")
    return found


def _scalar_bundle() -> Path:
    """``dist/browser/standalone.js`` of the @scalar/api-reference release the gateway's default URL pins."""
    url = GatewaySettings.__struct_defaults__[GatewaySettings.__struct_fields__.index("gateway_docs_script_url")]
    version = url.split("@scalar/api-reference@", 1)[1].split("/", 1)[0]
    target = CACHE / f"scalar-{version}" / "standalone.js"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    npm = shutil.which("npm")
    assert npm, "the docs test needs npm to fetch the renderer"
    packed = subprocess.run(
        [npm, "pack", f"@scalar/api-reference@{version}", "--silent", "--pack-destination", str(target.parent)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()[-1]
    with tarfile.open(target.parent / packed) as tar:
        member = tar.extractfile("package/dist/browser/standalone.js")
        assert member is not None
        target.write_bytes(member.read())
    (target.parent / packed).unlink()
    return target


class _Static(http.server.SimpleHTTPRequestHandler):
    """The bundle as a CDN serves it: readable by a script of another origin (the page asks with ``crossorigin``)."""

    def end_headers(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


@pytest.fixture(scope="module")
def docs_gateway(estate: TestEstate) -> Iterator[str]:
    bundle = _scalar_bundle()
    handler = functools.partial(_Static, directory=str(bundle.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    script = f"http://127.0.0.1:{server.server_address[1]}/standalone.js"
    url = estate.start_instance("gateway", "docs", env={"OMNIGATE_GATEWAY_DOCS_SCRIPT_URL": script}, workers=1)
    try:
        yield url
    finally:
        estate.stop_instance("gateway", "docs")
        server.shutdown()


@pytest.mark.parametrize("channel", ["web", "partner"])
def test_the_reference_renders_the_channels_contract_in_a_browser(
    docs_gateway: str, channel: str, tmp_path: Path
) -> None:
    contract = json.loads((OPENAPI / f"public-{channel}.json").read_text())
    operations = [op for item in contract["paths"].values() for op in item.values()]
    errors: list[str] = []
    fetched: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.on("console", lambda m: errors.append(m.text) if _is_error(m) else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("requestfinished", lambda r: fetched.append(r.url))
            page.on("requestfailed", lambda r: errors.append(f"{r.url} failed"))
            page.on("response", lambda r: errors.append(f"{r.url} answered {r.status}") if r.status >= 400 else None)
            page.goto(f"{docs_gateway}/docs/{channel}", wait_until="networkidle")
            page.get_by_role("heading", name=contract["info"]["title"]).wait_for(timeout=15_000)
            page.screenshot(path=str(tmp_path / f"docs-{channel}.png"), full_page=False)
            text = page.inner_text("body")
        finally:
            browser.close()
    assert f"{docs_gateway}/openapi/public-{channel}.json" in fetched
    assert not any("/schema" in url for url in fetched), "the page loaded the gateway's own document"
    missing = [op["summary"] for op in operations if op["summary"].split(" (")[0] not in text]
    assert missing == [], f"operations not rendered: {missing}"
    assert errors == []


def _is_error(message: ConsoleMessage) -> bool:
    return message.type == "error"
