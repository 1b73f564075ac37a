"""The committed OpenAPI documents are what the code serves (integrators read the files)."""

from __future__ import annotations

import pytest

from estate.launcher import load_estate
from estate.openapi_export import OPENAPI_DIR, document, render


@pytest.mark.parametrize("deployable", load_estate(), ids=lambda d: d.name)
def test_committed_openapi_matches_app(deployable) -> None:  # type: ignore[no-untyped-def]
    path = OPENAPI_DIR / f"{deployable.name}.json"
    assert path.exists(), f"{path} missing: run `make openapi`"
    assert path.read_text() == render(document(deployable)), f"{path} is stale: run `make openapi`"
