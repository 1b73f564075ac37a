"""The public contracts (openapi/public-*.json, estate/public_contracts.py): valid OpenAPI, exactly the paths and
methods the gateway forwards, each with the credential and scopes its routes.toml entry takes, nothing internal,
and the problem catalogue."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

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


@pytest.mark.parametrize("channel", CHANNELS)
def test_every_example_in_a_public_contract_is_valid_against_its_schema(channel: str) -> None:
    """estate/contract_examples.py's examples, as the document carries them, each checked by a JSON Schema 2020-12
    validator against its own schema with the document's components; and every request body and main answer of the
    channel has at least one."""
    doc = _doc(channel)
    registry = Registry().with_resource("urn:contract", Resource.from_contents(doc, default_specification=DRAFT202012))
    checked = 0
    for name, schema in doc["components"]["schemas"].items():
        for example in schema.get("examples", []):
            validator = Draft202012Validator({"$ref": f"urn:contract#/components/schemas/{name}"}, registry=registry)
            errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(example)]
            assert errors == [], (name, errors)
            checked += 1
    described = {n for n, s in doc["components"]["schemas"].items() if s.get("examples")}
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if "requestBody" in op:
                body = op["requestBody"]["content"]["application/json"]["schema"]
                named = (body.get("$ref") or body.get("allOf", [{}])[0].get("$ref", "")).rsplit("/", 1)[-1]
                assert body.get("examples") or named in described, f"{method} {path}: a request body with no example"
    assert "Problem" in described and checked >= 4
