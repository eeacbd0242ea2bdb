"""`python -m bench [name ...]`: run the named benchmarks (all by default)."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = ["startup", "tenant_create", "engine_ttft", "stream_cpu", "widget"]


def main(argv: list[str]) -> int:
    # Names pick benchmarks; options (--samples 100 ...) are left for them in sys.argv.
    names = [arg for arg in argv if not arg.startswith("-") and arg in BENCHMARKS]
    for name in names or BENCHMARKS:
        print(f"== {name}", flush=True)
        importlib.import_module(f"bench.{name}").main()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
