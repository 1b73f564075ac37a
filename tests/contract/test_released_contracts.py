"""The public contracts never break a released one (estate/released.py, api-smart-diff), and the check can fail.

The first test is the gate itself: every ``openapi/public-<channel>.json`` against ``openapi/released/``. The
others hand the same check a copy of the web contract with one change each, to show it refuses every kind of
breaking change a client would hit and lets additions through.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from estate import released

Doc = dict[str, Any]


def test_no_public_contract_breaks_its_released_version() -> None:
    for before, now in released.pairs():
        assert before.exists(), f"{before} is missing: run `make openapi-release`"
        assert released.breaking(before, now) == [], now.name


def _web() -> Doc:
    doc: Doc = json.loads((released.OPENAPI_DIR / "public-web.json").read_text())
    return doc


def _param(doc: Doc, path: str, method: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(p for p in doc["paths"][path][method]["parameters"] if p["name"] == name)
    return found


def _remove_operation(doc: Doc) -> None:
    del doc["paths"]["/web/v1/orders/{order_id}/cancel"]


def _require_optional_parameter(doc: Doc) -> None:
    _param(doc, "/web/v1/orders", "get", "status")["required"] = True


def _remove_response_field(doc: Doc) -> None:
    del doc["components"]["schemas"]["WebProduct"]["properties"]["availability"]


def _require_new_request_field(doc: Doc) -> None:
    order = doc["components"]["schemas"]["OrderRequest"]
    order["properties"]["gift_message"] = {"type": "string", "maxLength": 200}
    order["required"].append("gift_message")


def _narrow_input_bound(doc: Doc) -> None:
    _param(doc, "/web/v1/products", "get", "q")["schema"]["maxLength"] = 20


def _change_field_type(doc: Doc) -> None:
    doc["components"]["schemas"]["WebProduct"]["properties"]["name"]["type"] = "integer"


BREAKING: dict[str, Callable[[Doc], None]] = {
    "operation removed": _remove_operation,
    "optional parameter made required": _require_optional_parameter,
    "response field removed": _remove_response_field,
    "required request field added": _require_new_request_field,
    "input bound narrowed": _narrow_input_bound,
    "field type changed": _change_field_type,
}


def _add_response_field(doc: Doc) -> None:
    doc["components"]["schemas"]["WebProduct"]["properties"]["badge"] = {"type": "string"}


def _add_operation(doc: Doc) -> None:
    doc["paths"]["/web/v1/wishlist"] = copy.deepcopy(doc["paths"]["/web/v1/returns/{return_id}"])


def _add_optional_request_field(doc: Doc) -> None:
    doc["components"]["schemas"]["OrderRequest"]["properties"]["gift_message"] = {"type": "string"}


ADDITIVE: dict[str, Callable[[Doc], None]] = {
    "response field added": _add_response_field,
    "operation added": _add_operation,
    "optional request field added": _add_optional_request_field,
}


def _changed(tmp_path: Path, change: Callable[[Doc], None]) -> tuple[Path, Path]:
    before, after = tmp_path / "released.json", tmp_path / "current.json"
    doc = _web()
    before.write_text(json.dumps(doc))
    change(doc)
    after.write_text(json.dumps(doc))
    return before, after


@pytest.mark.parametrize("kind", sorted(BREAKING))
def test_the_check_refuses_a_breaking_change(tmp_path: Path, kind: str) -> None:
    found = released.breaking(*_changed(tmp_path, BREAKING[kind]))
    assert found, f"{kind} was not reported as breaking"


@pytest.mark.parametrize("kind", sorted(ADDITIVE))
def test_the_check_lets_an_addition_through(tmp_path: Path, kind: str) -> None:
    changes = released.compare(*_changed(tmp_path, ADDITIVE[kind]))
    assert changes, f"{kind} was not seen at all"
    assert [c for c in changes if c.kind == "breaking"] == []


def test_the_command_exits_1_and_names_the_change(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before, after = _changed(tmp_path, _remove_operation)
    monkeypatch.setattr(released, "pairs", lambda: [(before, after)])
    assert released.main(["--check"]) == 1
    monkeypatch.setattr(released, "pairs", lambda: [(before, before)])
    assert released.main(["--check"]) == 0
