"""The house rules that hold the layout (STYLE.md): the kernel knows no deployable."""

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
