"""Run every benchmark (or those named) and write JSON results to tests/bench/results/."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import time
from pathlib import Path

BENCHES = [
    "system_hop",
    "webhook_lag",
    "availability",
    "orders",
    "gateway",
    "freshness",
    "gateway_cache",
    "product_page",
]
RESULTS = Path(__file__).with_name("results")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default: all of {', '.join(BENCHES)})")
    parser.add_argument("--quick", action="store_true", help="shorter runs, for a smoke check")
    args = parser.parse_args()
    unknown = set(args.names) - set(BENCHES)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    args.names = args.names or BENCHES
    RESULTS.mkdir(exist_ok=True)
    for name in args.names:
        module = importlib.import_module(f"tests.bench.{name}")
        started = time.time()
        result = module.run(quick=args.quick)
        result["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(), "kernel": platform.release()}
        result["wall_s"] = round(time.time() - started, 1)
        path = RESULTS / f"{name}.json"
        path.write_text(json.dumps(result, indent=2) + "\n")
        print(f"\n== {name} -> {path}\n{json.dumps(result.get('summary', result), indent=2)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
