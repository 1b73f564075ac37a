"""The house rules that hold the layout (STYLE.md): the kernel knows no deployable, and no test imports
another test module (shared helpers are fixtures in a conftest.py, or live in tests/estate.py)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUTSIDE_THE_KERNEL = ("services", "gateway", "estate")


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def imported_test_modules(path: Path) -> set[str]:
    """The ``test_*`` modules a file imports, however spelled (``import``, ``from ... import``, relative)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if is_test_module(alias.name))
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            if is_test_module(base):
                found.add(base)
            else:  # `from package import test_module`
                joint = "." if node.module else ""
                found.update(base + joint + a.name for a in node.names if a.name.startswith("test_"))
    return found


def is_test_module(name: str) -> bool:
    return any(part.startswith("test_") for part in name.split("."))


def test_the_kernel_imports_no_deployable_and_not_the_apphost() -> None:
    offending = {
        str(path.relative_to(ROOT)): sorted(m for m in imports(path) if m.split(".")[0] in OUTSIDE_THE_KERNEL)
        for path in (ROOT / "shared").rglob("*.py")
    }
    assert {k: v for k, v in offending.items() if v} == {}


def test_the_rule_is_able_to_fail(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("from services.system.erp import connector\nimport estate.launcher\nfrom shared import http\n")
    assert {m for m in imports(sample) if m.split(".")[0] in OUTSIDE_THE_KERNEL} == {
        "services.system.erp",
        "estate.launcher",
    }


def test_only_app_and_deps_modules_reach_into_the_application_state() -> None:
    """Handlers declare their collaborators (deps.py, Litestar ``Provide``); background work is wired in app.py.
    The kernel's own factory (shared/service.py) builds the state every deployable starts from."""
    allowed = {"app.py", "deps.py"}
    found = sorted(
        f"{path.relative_to(ROOT)}:{n}"
        for folder in ("shared", "services", "gateway", "estate")
        if (ROOT / folder).exists()
        for path in (ROOT / folder).rglob("*.py")
        if path.name not in allowed and path.relative_to(ROOT).as_posix() != "shared/service.py"
        for n, line in enumerate(path.read_text().splitlines(), start=1)
        if ".app.state" in line or "app.state." in line
    )
    assert found == []


def test_no_test_imports_another_test_module() -> None:
    offending = {
        str(path.relative_to(ROOT)): sorted(imported_test_modules(path)) for path in (ROOT / "tests").rglob("*.py")
    }
    assert {k: v for k, v in offending.items() if v} == {}


def test_the_test_module_rule_is_able_to_fail(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "from tests.integration.process_orders.test_process_orders import place\n"
        "from tests.integration.process_orders import test_order_truths\n"
        "from .test_sibling import helper\n"
        "from . import test_other\n"
        "import tests.unit.test_layout\n"
        "from tests.estate import TestEstate\n"
        "from tests.integration.process_orders.conftest import Orders\n"
    )
    assert imported_test_modules(sample) == {
        "tests.integration.process_orders.test_process_orders",
        "tests.integration.process_orders.test_order_truths",
        ".test_sibling",
        ".test_other",
        "tests.unit.test_layout",
    }
