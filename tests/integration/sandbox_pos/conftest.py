"""sandbox-pos as a Square developer meets it: Square's official Python SDK (``squareup``, pinned in pyproject's test
extras) pointed at the running sandbox.

The SDK builds its answers without validating them (Fern's ``construct_type``), so a wrong field type or an
unknown field would pass unseen. ``Sdk`` records every raw answer and checks it against the SDK's own pydantic model
of that answer, validating: every field the sandbox sends must be one the model knows, of the type it declares.
An error answer must be Square's envelope exactly: ``{"errors": [Error, ...]}`` with a documented category and code.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator
from typing import Any

import httpx
import pydantic
import pytest
from square import Square
from square.core.api_error import ApiError
from square.types.error import Error
from square.types.error_category import ErrorCategory
from square.types.error_code import ErrorCode

from services.sandbox.pos.settings import SandboxPosSettings
from tests.estate import TestEstate

SQUARE_VERSION = "2025-08-20"
CATEGORIES = frozenset(typing.get_args(typing.get_args(ErrorCategory)[0]))
CODES = frozenset(typing.get_args(typing.get_args(ErrorCode)[0]))


def unknown_fields(model: pydantic.BaseModel, path: str = "$") -> list[str]:
    """Fields of a validated answer that its SDK model does not declare (Square's models allow extras)."""
    found = [f"{path}.{name}" for name in (model.model_extra or {})]
    for name in type(model).model_fields:
        found += _unknown_in(getattr(model, name), f"{path}.{name}")
    return found


def _unknown_in(value: Any, path: str) -> list[str]:
    if isinstance(value, pydantic.BaseModel):
        return unknown_fields(value, path)
    if isinstance(value, list):
        return [f for i, item in enumerate(value) for f in _unknown_in(item, f"{path}[{i}]")]
    if isinstance(value, dict):
        return [f for key, item in value.items() for f in _unknown_in(item, f"{path}.{key}")]
    return []


M = typing.TypeVar("M", bound=pydantic.BaseModel)


class Sdk:
    """A Square SDK client of the session's sandbox-pos, with every raw answer kept for the strict check."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.answers: list[httpx.Response] = []
        self.http = httpx.Client(timeout=15, event_hooks={"response": [self._keep]})
        self.client = Square(token=token, base_url=base_url, httpx_client=self.http, version=SQUARE_VERSION)

    def _keep(self, response: httpx.Response) -> None:
        response.read()
        self.answers.append(response)

    def as_(self, token: str) -> Square:
        """The same sandbox with another access token."""
        return Square(token=token, base_url=self.base_url, httpx_client=self.http, version=SQUARE_VERSION)

    def last(self) -> httpx.Response:
        return self.answers[-1]

    def conforms(self, model: type[M], response: httpx.Response | None = None) -> M:
        """The last (or given) 2xx answer, validated by the SDK's model of it, with no field the model lacks."""
        response = response or self.last()
        assert 200 <= response.status_code < 300, response.text
        assert response.headers["content-type"].startswith("application/json")
        parsed = model.model_validate(response.json())
        assert not unknown_fields(parsed), f"fields the SDK does not know: {unknown_fields(parsed)}"
        return parsed


def square_error(exc: ApiError | httpx.Response, status: int, category: str, code: str) -> Error:
    """The one error of a Square error answer, as the SDK parsed it, after checking the envelope is exactly
    Square's (nothing but ``errors``; each error an SDK ``Error`` with a documented category and code)."""
    if isinstance(exc, httpx.Response):
        body = exc.json()
        exc = ApiError(status_code=exc.status_code, headers=dict(exc.headers), body=body)
    assert exc.status_code == status, exc
    body = exc.body
    assert isinstance(body, dict) and set(body) == {"errors"}, body
    for raw in body["errors"]:
        strict = Error.model_validate(raw)
        assert not unknown_fields(strict), raw
        assert raw["category"] in CATEGORIES and raw["code"] in CODES, raw
    (error,) = exc.errors
    assert (error.category, error.code) == (category, code), exc.errors
    assert error.detail, exc.errors
    return error


@pytest.fixture(scope="module")
def sdk(estate: TestEstate) -> Iterator[Sdk]:
    client = Sdk(estate.url("sandbox-pos"), estate.settings_of(SandboxPosSettings).pos_access_token)
    yield client
    client.http.close()
