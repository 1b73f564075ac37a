"""Shared set-up of the connector contract tests."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import ClientResponse
from aioresponses import core as aioresponses_core


class _FinishedStreamWriter:
    output_size = 0


class _ReplayedResponse(ClientResponse):
    """aiohttp 3.14 made ``stream_writer`` a required argument of ``ClientResponse`` and aioresponses 0.7.9
    does not pass one (pnuckowski/aioresponses#289, fix not released). A replayed response has nothing left to
    send, so a finished writer is the truthful stand-in. Remove once aioresponses ships the fix."""

    def __init__(self, method: str, url: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", _FinishedStreamWriter())
        super().__init__(method, url, **kwargs)


@pytest.fixture(autouse=True)
def _aioresponses_on_aiohttp_314(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aioresponses_core, "ClientResponse", _ReplayedResponse)
