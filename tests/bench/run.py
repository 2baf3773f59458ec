"""`make bench`: run the benchmarks and rewrite BENCHMARKS.md.

`python -m tests.bench.run [NAME...]` runs the named benchmarks (default: all).
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from tests.bench import devcluster

BENCHMARKS: dict[str, Callable[[], None]] = {
    "devcluster": devcluster.run,
}


def main(names: list[str]) -> None:
    for name in names or list(BENCHMARKS):
        if name not in BENCHMARKS:
            sys.exit(f"unknown benchmark '{name}'; choose from {', '.join(BENCHMARKS)}")
        print(f"== benchmark {name}", flush=True)
        BENCHMARKS[name]()


if __name__ == "__main__":
    main(sys.argv[1:])
