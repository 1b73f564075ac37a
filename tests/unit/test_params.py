"""The kernel's parameter types (shared.params): the framework refuses a bad id as the kernel's 400 problem, and no
handler declares a constraint Litestar would silently ignore."""

from __future__ import annotations

from typing import Annotated

import msgspec
import pytest
from litestar import Litestar, get
from litestar.params import KwargDefinition, Parameter
from litestar.testing import TestClient
from litestar.typing import FieldDefinition

from estate.launcher import load_estate
from shared import params
from shared.problems import MEDIA_TYPE
from shared.service import create_service
from shared.settings import Settings, from_env


@get("/items/{sku:str}")
async def by_sku(sku: params.Sku) -> str:
    return sku


@get("/documents/{ref:str}")
async def by_ref(ref: params.Ref, location: params.OptionalLocationId = None, cursor: params.Cursor = None) -> str:
    return ref


@get("/orders/{order_id:str}")
async def by_order(order_id: params.OrderId) -> str:
    return order_id


@get("/stock")
async def at(location: params.LocationId, ref: params.OptionalRef = None) -> str:
    return location


@pytest.fixture(scope="module")
def client() -> TestClient[Litestar]:
    app = create_service(
        "svc-params",
        [by_sku, by_ref, by_order, at],
        title="t",
        description="d",
        uses_redis=False,
        settings=from_env(Settings, {}),
    )
    return TestClient(app)


@pytest.mark.parametrize(
    "path",
    [
        "/items/OG-1000-BLK-XS-000000",
        "/documents/o1a2b3c4d5e6f7a8b9c0d1-2",
        "/documents/r:9?location=dc-tlb&cursor=WyJvcmRlcnMiLDFd",
        "/orders/o-demo-0001",
        "/stock?location=store-kfr9qs7nff0n5",
        "/stock?location=dc-zwl&ref=RMA-100",
    ],
)
def test_valid_values_pass(client: TestClient[Litestar], path: str) -> None:
    assert client.get(path).status_code == 200


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/items/bad%20sku!", "sku"),
        ("/items/" + "A" * 65, "sku"),
        ("/documents/has%20space", "ref"),
        ("/documents/ok?location=nowhere", "location"),
        ("/documents/ok?cursor=" + "a" * 257, "cursor"),
        ("/orders/nope!", "order_id"),
        ("/stock", "location"),
        ("/stock?location=warehouse-1", "location"),
        ("/stock?location=dc-tlb&ref=a%20b", "ref"),
    ],
)
def test_a_bad_value_is_the_kernels_400_problem(client: TestClient[Litestar], path: str, field: str) -> None:
    response = client.get(path)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(MEDIA_TYPE)
    problem = response.json()
    assert problem["type"].endswith("/invalid-request") and problem["status"] == 400
    if "errors" in problem:  # a missing parameter is named in the detail, a bad one in errors
        assert [e.get("key") for e in problem["errors"]] == [field], problem
    else:
        assert field in problem["detail"], problem


def _unenforced(field: FieldDefinition) -> str | None:
    """Why Litestar would not check this parameter's declared constraint, if it would not."""
    if any(isinstance(m, msgspec.Meta) for m in field.metadata):
        return "a msgspec Meta on a handler parameter is dropped: use a shared.params type or Parameter(...)"
    if field.is_union:
        for inner in field.inner_types:
            constrained = isinstance(inner.kwarg_definition, KwargDefinition) and inner.kwarg_definition.is_constrained
            if constrained or any(isinstance(m, msgspec.Meta) for m in inner.metadata):
                return "a constraint inside `Annotated[...] | None` is not enforced: put `| None` inside Annotated"
    return None


def _apps() -> list[tuple[str, Litestar]]:
    apps = []
    for deployable in load_estate():
        apps.append((deployable.name, deployable.build({"OMNIGATE_DATA_DIR": "/nonexistent"})))
    return apps


def test_no_handler_declares_a_constraint_litestar_ignores() -> None:
    found = {}
    for name, app in _apps():
        for route in app.routes:
            for handler in getattr(route, "route_handlers", ()):
                for param, field in handler.parsed_fn_signature.parameters.items():
                    reason = _unenforced(field)
                    if reason:
                        found[f"{name} {handler.handler_name}({param})"] = reason
    assert found == {}


def test_the_rule_is_able_to_fail() -> None:
    @get("/x/{sku:str}")
    async def dropped(
        sku: Annotated[str, msgspec.Meta(pattern="^x$")],
        ref: Annotated[str, Parameter(pattern="^x$")] | None = None,
        fine: params.OptionalRef = None,
    ) -> None:
        return None

    fields = dropped.parsed_fn_signature.parameters
    assert _unenforced(fields["sku"]) and _unenforced(fields["ref"]) and _unenforced(fields["fine"]) is None
