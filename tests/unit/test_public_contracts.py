"""The public contracts (openapi/public-*.json, estate/public_contracts.py): valid OpenAPI, exactly the paths and
methods the gateway forwards, each with the credential and scopes its routes.toml entry takes, nothing internal,
and the problem catalogue."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import schemathesis

from estate.public_contracts import CHANNELS
from gateway.routing import load
from shared.problems import CATALOGUE

OPENAPI = Path(__file__).resolve().parents[2] / "openapi"
METHODS = ("get", "head", "post", "put", "patch", "delete")


def _doc(channel: str) -> dict[str, Any]:
    return json.loads((OPENAPI / f"public-{channel}.json").read_text())


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_public_contract_is_valid_openapi_naming_only_what_the_gateway_forwards(channel: str) -> None:
    doc = _doc(channel)
    schema = schemathesis.openapi.from_dict(doc)  # refuses a document that is not valid OpenAPI
    assert list(schema.get_all_operations()), "a contract without operations"
    table = load()
    for path, item in doc["paths"].items():
        for method in (m for m in METHODS if m in item):
            route = table.match(method.upper(), path)[1]  # a path parameter is one segment, as "*" takes
            assert route is not None and route.channel == channel, (method, path)
            operation = item[method]
            scopes = list(route.scopes)
            assert {"oauth2": scopes} in operation["security"], operation["security"]
            assert ({"apiKey": []} in operation["security"]) == (route.auth in ("apikey", "oauth_or_apikey"))
            assert {"401", "403", "503"} <= operation["responses"].keys()
            if route.limits:
                assert "429" in operation["responses"]
                assert "RateLimit" in operation["responses"]["429"]["headers"]
    text = json.dumps(doc)
    assert "X-Omnigate-Identity" not in text and "/healthz" not in text
    assert {p["title"] for p in doc["x-problem-types"]} == {title for _, title in CATALOGUE.values()}
    assert "must ignore fields they do not know" in doc["info"]["description"]
    assert doc["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]["tokenUrl"].endswith(
        "/oauth/token"
    )
