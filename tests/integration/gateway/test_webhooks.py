"""Back-end webhooks come in through the gateway (DESIGN §5): ``/webhooks/{wms|pos}`` is forwarded byte for byte,
signature headers kept, and the system API checks the vendor's signature against the public URL, the gateway's.
The sandboxes of the estate post their webhooks there too, so every POS and WMS test already rides this path;
these tests pin down what only a forwarder can break."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid

import httpx

from services.system.pos.settings import PosSettings
from tests.estate import TestEstate, assert_problem

SIGNATURE_HEADER = "x-square-hmacsha256-signature"


def square_signature(key: str, url: str, body: bytes) -> str:
    """Square's documented scheme: base64(HMAC-SHA256(signature key, notification URL + raw body))."""
    return base64.b64encode(hmac.new(key.encode(), url.encode() + body, hashlib.sha256).digest()).decode()


def notification(event_type: str) -> bytes:
    """A Square notification whose bytes a re-encoding proxy would change (spacing, key order, escapes)."""
    return (
        b'{ "merchant_id" : "M1",\n  "type": "'
        + event_type.encode()
        + b'", "event_id": "'
        + str(uuid.uuid4()).encode()
        + b'",  "created_at": "2026-12-01T00:00:00Z",\t"data": {"type": "x", "id": "caf\\u00e9", "object": {}} }'
    )


def access_lines(estate: TestEstate, route: str) -> list[dict[str, object]]:
    lines = []
    for raw in estate.log_path("gateway").read_text(errors="replace").splitlines():
        if raw.startswith("{") and '"route"' in raw:
            line = json.loads(raw)
            if line.get("route") == route:
                lines.append(line)
    return lines


def test_a_signed_notification_is_forwarded_byte_for_byte_and_checked_against_the_public_url(
    estate: TestEstate, gateway: httpx.Client
) -> None:
    key = estate.settings_of(PosSettings).pos_webhook_signature_key
    public_url = estate.url("gateway") + "/webhooks/pos"
    body = notification("catalog.version.updated")
    signed = {SIGNATURE_HEADER: square_signature(key, public_url, body), "Content-Type": "application/json"}
    answer = gateway.post("/webhooks/pos", content=body, headers=signed)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "ignored"
    assert answer.headers["x-served-by"].startswith("gateway/")

    # Signed for the system API's own address instead of the public one: refused by system-pos, and the
    # refusal comes back through the gateway as it was.
    inner_url = estate.url("system-pos") + "/webhooks/pos"
    wrong = {SIGNATURE_HEADER: square_signature(key, inner_url, body), "Content-Type": "application/json"}
    refused = gateway.post("/webhooks/pos", content=body, headers=wrong)
    problem = assert_problem(refused, 401, "invalid-signature")
    assert problem["instance"] == "/webhooks/pos"


def test_the_sandboxes_post_their_webhooks_through_the_gateway(estate: TestEstate) -> None:
    before = len(access_lines(estate, "webhooks-pos"))
    (sku,) = estate.fresh_skus(1)
    assert estate.settings_of(PosSettings).pos_webhook_url == estate.url("gateway") + "/webhooks/pos"
    store = httpx.get(estate.url("system-pos") + "/stores", timeout=10).json()[0]["id"]
    estate.count_at_till(sku, store, 7)
    lines = estate.wait_for(
        lambda: [line for line in access_lines(estate, "webhooks-pos")[before:] if line["status"] == 200],
        timeout=10,
        what="the sandbox's inventory webhook through the gateway",
    )
    assert all(line["consumer"] == "-" for line in lines)


def test_only_routes_of_the_table_leave_the_gateway(gateway: httpx.Client) -> None:
    assert_problem(gateway.get("/webhooks/pos"), 405)
    assert_problem(gateway.post("/webhooks/erp", content=b"{}"), 404)
    assert_problem(gateway.get("/internal/v1/orders"), 404)
