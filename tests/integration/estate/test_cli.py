"""`omnigate seed`: the sandboxes' databases from the deterministic catalogue, refused over existing data."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from services.sandbox.common.catalogue import generate


def seed(data_dir: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNIGATE_")}
    env.update(OMNIGATE_SEED_SKUS="120", OMNIGATE_SEED_STORES="3")
    result = subprocess.run(
        [sys.executable, "-m", "estate.cli", "seed", "--data-dir", str(data_dir), *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return result.stdout


def skus_in(path: Path, query: str) -> list[str]:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return sorted(row[0] for row in conn.execute(query))


def test_seed_creates_consistent_sandboxes_and_refuses_to_overwrite(tmp_path: Path) -> None:
    out = seed(tmp_path)
    assert out.count("seeded") == 3
    expected = sorted(p.sku for p in generate(42, 120, 3, 2).products)
    erp = tmp_path / "sandbox" / "sandbox-erp.sqlite3"
    wms = tmp_path / "sandbox" / "sandbox-wms.sqlite3"
    assert skus_in(erp, "SELECT default_code FROM product_product") == expected
    assert skus_in(wms, "SELECT sku FROM inventory") == expected
    assert "exists" in seed(tmp_path) and "seeded" not in seed(tmp_path)
    assert seed(tmp_path, "--force").count("seeded") == 3
    assert skus_in(erp, "SELECT default_code FROM product_product") == expected
