"""CORS at the edge: the configured web shop may call the gateway from a browser, no other origin may."""

from __future__ import annotations

import httpx

SHOP = "https://shop.example.test"  # OMNIGATE_GATEWAY_CORS_ORIGINS of the test estate


def test_a_preflight_from_the_shop_is_allowed_with_the_headers_an_api_client_sends(gateway: httpx.Client) -> None:
    answer = gateway.options(
        "/web/v1/orders",
        headers={
            "Origin": SHOP,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
        },
    )
    assert answer.status_code in (200, 204), answer.text
    assert answer.headers["access-control-allow-origin"] == SHOP
    assert "POST" in answer.headers["access-control-allow-methods"]
    allowed = answer.headers["access-control-allow-headers"].lower()
    assert {"authorization", "content-type", "idempotency-key"} <= {h.strip() for h in allowed.split(",")}
    assert "access-control-allow-credentials" not in answer.headers


def test_another_origin_gets_no_cors_grant(gateway: httpx.Client) -> None:
    answer = gateway.options(
        "/web/v1/orders",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in answer.headers
    simple = gateway.get("/.well-known/jwks.json", headers={"Origin": "https://evil.example"})
    assert simple.status_code == 200
    assert "access-control-allow-origin" not in simple.headers


def test_an_answer_to_the_shop_exposes_the_limit_and_correlation_headers(gateway: httpx.Client) -> None:
    answer = gateway.get("/.well-known/jwks.json", headers={"Origin": SHOP})
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == SHOP
    exposed = {h.strip().lower() for h in answer.headers["access-control-expose-headers"].split(",")}
    assert {"ratelimit", "ratelimit-policy", "retry-after", "x-request-id"} <= exposed
