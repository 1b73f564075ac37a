"""The sandboxes' one error mechanism (services/sandbox/common/errors.py): every error of a vendor route, the
framework's own included, goes through the sandbox's renderer; the operator surface keeps problem+json.

A toy sandbox whose renderer echoes the vendor-neutral error it is given, so each case shows what a vendor
renderer receives (status, reason, message, field) and the status and headers that reach the client.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar import get, post
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.testing import TestClient

from services.sandbox.common.app import create_sandbox
from services.sandbox.common.catalogue import Catalogue
from services.sandbox.common.errors import VendorError
from services.sandbox.common.settings import SandboxSettings
from shared.problems import MEDIA_TYPE

ECHO = "application/vnd.test-vendor+json"


def echo(error: VendorError) -> tuple[bytes, str]:
    return msgspec.json.encode(error), ECHO


@get("/api/things/{thing_id:int}")
async def thing(thing_id: FromPath[int], limit: FromQuery[int] = 10) -> dict[str, int]:
    return {"id": thing_id, "limit": limit}


class Thing(msgspec.Struct):
    name: str


@post("/api/things", status_code=200)
async def add_thing(data: JSONBody[list[Thing]]) -> list[Thing]:
    return data


@get("/api/bug")
async def bug() -> None:
    raise RuntimeError("a bug, not a client error")


def _no_seed(conn: sqlite3.Connection, cat: Catalogue) -> None:
    return None


def _sandbox(tmp_path: Path, **errors: Any) -> TestClient[Any]:
    settings = SandboxSettings(data_dir=str(tmp_path), seed_skus=5, seed_stores=1, max_body_bytes=1000)
    app = create_sandbox(
        "sandbox-test",
        [thing, add_thing, bug],
        title="t",
        description="d",
        schema="CREATE TABLE t (x INTEGER);",
        seed=_no_seed,
        settings=settings,
        **errors,
    )
    return TestClient(app)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient[Any]]:
    with _sandbox(tmp_path, render_error=echo) as c:
        yield c


def _vendor(response: Any, status: int, reason: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(ECHO), response.headers
    error: dict[str, Any] = response.json()
    assert error["status"] == status and error["reason"] == reason, error
    return error


def test_unknown_route_and_method(client: TestClient[Any]) -> None:
    error = _vendor(client.get("/api/nothing"), 404, "not_found")
    assert error["message"] == "GET /api/nothing is not an endpoint of this API"
    wrong = client.delete("/api/things")
    error = _vendor(wrong, 405, "method_not_allowed")
    assert "POST" in wrong.headers["allow"] and "POST" in error["message"]


def test_invalid_parameter_names_the_field(client: TestClient[Any]) -> None:
    error = _vendor(client.get("/api/things/1", params={"limit": "many"}), 400, "invalid_value")
    assert error["field"] == "limit"


def test_unreadable_and_oversized_bodies(client: TestClient[Any]) -> None:
    headers = {"content-type": "application/json"}
    _vendor(client.post("/api/things", content=b"[not json", headers=headers), 400, "unreadable_body")
    error = _vendor(client.post("/api/things", content=b'[{"name": 1}]', headers=headers), 400, "invalid_value")
    assert error["field"] == "[0].name"
    _vendor(
        client.post("/api/things", content=b"[" + b'{"name": "x"},' * 100 + b'{"name": "x"}]', headers=headers),
        413,
        "too_large",
    )


def test_a_bug_is_a_logged_500_in_the_vendor_shape(client: TestClient[Any], caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        error = _vendor(client.get("/api/bug"), 500, "internal")
    assert "request id" in error["message"]
    assert [r for r in caplog.records if r.exc_info and "a bug" in str(r.exc_info[1])], "the traceback is logged"


def test_injected_faults_use_the_renderer(client: TestClient[Any]) -> None:
    client.put("/_faults", json={"route": "/api/things", "error_rate": 1.0}).raise_for_status()
    _vendor(client.get("/api/things/1"), 500, "internal")


def test_the_operator_surface_keeps_problem_json(client: TestClient[Any]) -> None:
    for response, status in (
        (client.put("/_faults", json={"latency_ms": -1}), 400),
        (client.get("/_nothing"), 404),
        (client.post("/healthz"), 405),
    ):
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith(MEDIA_TYPE), response.headers
