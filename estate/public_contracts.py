"""The public contracts: ``openapi/public-{web,mobile,partner}.json``, what integrators build against (issue 9).

Each is made from two things the code already holds, so it cannot drift from either:

- the channel's experience API document (its paths, parameters, bodies, answers and examples), and
- the gateway's route table (gateway/routes.toml): only the paths and methods the gateway forwards are public, each
  with the credential its entry takes (``oauth``: an RFC 9068 JWT access token, from our token endpoint or a
  configured issuer; ``apikey``: ``X-API-Key``) and the scopes it needs.

What only concerns the layers below is left out (the internal ``X-Omnigate-Identity`` header, probes). What the
gateway adds is put in: 401/403 (RFC 6750 challenges), 429 with ``Retry-After`` and the ``RateLimit`` /
``RateLimit-Policy`` fields (draft-ietf-httpapi-ratelimit-headers-11) on every limited answer, the cache's
``Cache-Status`` (RFC 9211) and ``Age`` on cached routes, and the problem catalogue (RFC 9457 types, with their
status and title) under ``x-problem-types``. The documents say that a client must ignore fields it does not know:
later versions add fields without a new major version.

The gateway serves them (``/openapi/public-<channel>.json``) and a rendered reference (``/docs``).
"""

from __future__ import annotations

import copy
from typing import Any

from estate.contract_examples import EXAMPLES
from gateway.routing import Route, RouteTable
from shared.identity import HEADER as IDENTITY_HEADER
from shared.problems import CATALOGUE, MEDIA_TYPE, type_uri

CHANNELS = ("web", "mobile", "partner")
GATEWAY_URL = "http://127.0.0.1:8000"
_METHODS = ("get", "head", "post", "put", "patch", "delete")
_PROBLEM = {"$ref": "#/components/schemas/Problem"}

_SCOPES = {
    "catalog:read": "Read the catalogue and prices",
    "availability:read": "Read availability (ATP)",
    "orders:read": "Read the caller's orders",
    "orders:write": "Place and cancel the caller's orders",
    "returns:write": "Return items of the caller's orders",
}

_LIMIT_HEADERS = {
    "RateLimit-Policy": {
        "description": "The limits this request counted against (draft-ietf-httpapi-ratelimit-headers-11): a "
        'Structured Field List of policies, e.g. `"web-shopper";q=100;w=60`.',
        "schema": {"type": "string"},
    },
    "RateLimit": {
        "description": "What is left of each limit: remaining units `r` within `t` seconds, e.g. "
        '`"web-shopper";r=97;t=41`.',
        "schema": {"type": "string"},
    },
}
_CACHE_HEADERS = {
    "Cache-Status": {
        "description": "How the gateway's cache handled the request (RFC 9211), e.g. `omnigate;hit;ttl=12`.",
        "schema": {"type": "string"},
    },
    "Age": {"description": "Seconds since the answer was fetched (RFC 9111 §5.1).", "schema": {"type": "integer"}},
}


def public_document(channel: str, experience: dict[str, Any], table: RouteTable) -> dict[str, Any]:
    """The public contract of ``channel`` from its experience API's document and the gateway's route table."""
    routes = [route for route in table.route if route.channel == channel]
    doc: dict[str, Any] = {
        "openapi": experience["openapi"],
        "info": {
            "title": f"Omnigate {channel} API",
            "version": experience["info"]["version"],
            "description": _description(channel, experience["info"].get("description", "")),
        },
        "servers": [{"url": GATEWAY_URL, "description": "the gateway of a local estate (`make run`)"}],
        "paths": {},
        "components": copy.deepcopy(experience.get("components", {})),
    }
    for path, item in sorted(experience["paths"].items()):
        public = _public_path(path, item, routes)
        if public:
            doc["paths"][path] = public
    components = doc["components"]
    for name, schema in components.setdefault("schemas", {}).items():
        _closed(schema)
        if name in EXAMPLES and "examples" not in schema:
            schema["examples"] = copy.deepcopy(EXAMPLES[name])
    _link(doc)
    components["securitySchemes"] = _security_schemes(channel)
    doc["x-problem-types"] = [
        {"type": type_uri(slug), "status": status, "title": title} for slug, (status, title) in CATALOGUE.items()
    ]
    return doc


def _link(doc: dict[str, Any]) -> None:
    """OpenAPI links (3.1 §4.8.20) from each operation's 2xx answers to the operations that take what it names, so
    a client (and schemathesis' stateful run) can follow them: a creation (``POST .../orders``, ``.../returns``)
    answers the new resource's ``id``, which is the ``{order_id}``/``{return_id}`` of the operations on it; an
    answer field named like a path parameter (a return's ``order_id``) is that parameter; and an operation on a
    resource leads to the other operations on the same one (``$request.path``)."""
    operations = [(path, op) for path, item in doc["paths"].items() for op in item.values() if "operationId" in op]
    schemas = doc["components"].get("schemas", {})
    for path, source in operations:
        for status, answer in source.get("responses", {}).items():
            if not status.startswith("2"):
                continue
            fields = _fields(answer, schemas)
            links = {
                target["operationId"]: {"operationId": target["operationId"], "parameters": {name: value}}
                for _, target in operations
                if target is not source
                for name, value in [_linked(path, source, target, fields)]
                if value
            }
            if links:
                answer["links"] = links


def _path_parameters(operation: dict[str, Any]) -> list[str]:
    return [p["name"] for p in operation.get("parameters", []) if p.get("in") == "path"]


def _linked(path: str, source: dict[str, Any], target: dict[str, Any], fields: set[str]) -> tuple[str, str | None]:
    """The one path parameter of ``target`` and where an answer of ``source`` (on ``path``, with top-level
    ``fields``) gives its value (an OpenAPI runtime expression), or None when it does not."""
    needed = _path_parameters(target)
    if len(needed) != 1:
        return "", None
    name = needed[0]
    created = path.rstrip("/").rsplit("/", 1)[-1].removesuffix("s") + "_id"  # POST .../orders creates an order_id
    if name in _path_parameters(source):
        return name, f"$request.path.{name}"
    if name == created and "id" in fields:
        return name, "$response.body#/id"
    if name in fields:
        return name, f"$response.body#/{name}"
    return name, None


def _fields(answer: dict[str, Any], schemas: dict[str, Any]) -> set[str]:
    """The top-level fields of a JSON answer's schema (through one ``$ref``)."""
    schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
    ref = schema.get("$ref", "")
    if ref.startswith("#/components/schemas/"):
        schema = schemas.get(ref.rsplit("/", 1)[-1], {})
    return set(schema.get("properties", {}))


def _closed(schema: dict[str, Any]) -> None:
    """An object schema lists every field this version sends or takes (``additionalProperties: false``): the
    experience APIs refuse unknown request fields, and conformance tests refuse an undocumented answer field. A
    client still ignores unknown fields (the compatibility rule above), so a later version may add some."""
    if "properties" in schema and "additionalProperties" not in schema:
        schema["additionalProperties"] = False
    for member in schema.get("oneOf", []) + schema.get("anyOf", []):
        if isinstance(member, dict):
            _closed(member)


def _description(channel: str, below: str) -> str:
    credential = (
        "a partner API key (`X-API-Key`) or an OAuth 2.0 access token of a client mapped to the partner"
        if channel == "partner"
        else "an OAuth 2.0 access token naming the shopper (RFC 9068 JWT, `Authorization: Bearer`)"
    )
    return (
        f"Served by the Omnigate gateway. Every request needs {credential}; each operation lists the scopes it "
        "needs. Errors are RFC 9457 problem documents (`application/problem+json`) whose `type` is one of "
        "`x-problem-types`. Limited answers carry `RateLimit-Policy` and `RateLimit` "
        "(draft-ietf-httpapi-ratelimit-headers-11); a refusal is 429 with `Retry-After`.\n\n"
        "**Compatibility:** clients must ignore fields they do not know. Later versions of this contract add "
        "fields and operations without changing its major version; removing or changing one is a new major "
        "version.\n\n" + below.replace(f"`{IDENTITY_HEADER}`", "the caller's identity")
    )


def _route_of(path: str, method: str, routes: list[Route]) -> Route | None:
    """The entry the gateway forwards ``method`` on the path template ``path`` by (as RouteTable.match does)."""
    if not routes:
        return None
    return RouteTable(route=tuple(routes)).match(method.upper(), path)[1]


def _public_path(path: str, item: dict[str, Any], routes: list[Route]) -> dict[str, Any]:
    public: dict[str, Any] = {}
    for method in _METHODS:
        operation = item.get(method)
        route = _route_of(path, method, routes) if operation is not None else None
        if operation is None or route is None:
            continue
        public[method] = _public_operation(copy.deepcopy(operation), route)
    return public


def _public_operation(operation: dict[str, Any], route: Route) -> dict[str, Any]:
    operation["parameters"] = [
        p for p in operation.get("parameters", []) if not (p.get("in") == "header" and p.get("name") == IDENTITY_HEADER)
    ]
    if not operation["parameters"]:
        del operation["parameters"]
    operation["security"] = _security(route)
    responses = operation.setdefault("responses", {})
    responses["401"] = _problem("No valid credential (RFC 6750 `WWW-Authenticate` says why)")
    responses["403"] = _problem("The credential is of another channel or lacks a scope (`insufficient_scope`)")
    if route.limits:
        responses["429"] = _problem("A rate limit is spent: retry after `Retry-After` seconds", limited=True)
    responses.setdefault("503", _problem("A layer below is away: retry after `Retry-After` seconds"))
    for status, answer in responses.items():
        if route.limits and status != "429":
            answer.setdefault("headers", {}).update(copy.deepcopy(_LIMIT_HEADERS))
        if route.cache is not None and status in ("200", "304"):
            answer.setdefault("headers", {}).update(copy.deepcopy(_CACHE_HEADERS))
    return operation


def _problem(description: str, *, limited: bool = False) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description, "content": {MEDIA_TYPE: {"schema": dict(_PROBLEM)}}}
    if limited:
        answer["headers"] = {
            **copy.deepcopy(_LIMIT_HEADERS),
            "Retry-After": {"description": "Seconds to wait (RFC 9110 §10.2.3)", "schema": {"type": "integer"}},
        }
    return answer


def _security(route: Route) -> list[dict[str, list[str]]]:
    scopes = list(route.scopes)
    if route.auth == "apikey":
        return [{"apiKey": []}]
    if route.auth == "oauth_or_apikey":
        return [{"oauth2": scopes}, {"bearer": scopes}, {"apiKey": []}]
    if route.auth == "oauth":
        return [{"oauth2": scopes}, {"bearer": scopes}]
    return []


def _security_schemes(channel: str) -> dict[str, Any]:
    schemes: dict[str, Any] = {
        "oauth2": {
            "type": "oauth2",
            "description": "Our embedded authorization server (RFC 6749 §4.4 client credentials; RFC 9068 JWT "
            "access tokens; metadata at `/.well-known/oauth-authorization-server`, RFC 8414).",
            "flows": {"clientCredentials": {"tokenUrl": f"{GATEWAY_URL}/oauth/token", "scopes": dict(_SCOPES)}},
        },
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An RFC 9068 access token from our issuer or a configured external issuer (a "
            "shopper's authorization-code + PKCE token, for example).",
        },
    }
    if channel == "partner":
        schemes["apiKey"] = {
            "type": "apiKey",
            "in": "header",
            "name": "X-API-Key",
            "description": "The partner's key, `og_<key id>_<secret>`, as `omnigate partners create` printed it.",
        }
    return schemes
