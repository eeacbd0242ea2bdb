"""`python -m bench [name ...]`: run the named benchmarks (all by default)."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = ["startup", "tenant_create"]


def main(argv: list[str]) -> int:
    for name in argv or BENCHMARKS:
        print(f"== {name}", flush=True)
        importlib.import_module(f"bench.{name}").main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
