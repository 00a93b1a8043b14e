"""`python -m bench <name> [options]`: run one benchmark (each takes --help).

Every benchmark starts its own server on a fresh database (`bench.harness.server`), drives it
over 127.0.0.1, runs a floor (the least work the same result needs) in the same run, prints
a table with the ratio engine/floor, and writes the figures to `--json PATH` if given.
"""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = {
    "throughput": "bench.throughput",
    "step-overhead": "bench.step_overhead",
    "graphql": "bench.graphql",
    "stream-latency": "bench.stream_latency",
    "fanout-memory": "bench.fanout_memory",
    "history": "bench.history",
    "profile": "bench.profile",
    "webhooks": "bench.webhooks",
    "schedules": "bench.schedules",
}


def _history(argv: list[str]) -> None:
    """bench/history.py parses sys.argv itself and runs on SQLite only."""
    args = list(argv)
    if "--backend" in args:
        at = args.index("--backend")
        backend = args[at + 1] if at + 1 < len(args) else ""
        if backend != "sqlite":
            sys.exit("history runs on SQLite only (--backend sqlite)")
        del args[at : at + 2]
    module = importlib.import_module("bench.history")
    sys.argv = ["python -m bench history", *args]
    module.main()


def usage() -> str:
    names = "\n".join(f"  {name}" for name in BENCHMARKS)
    return (
        "usage: python -m bench <name> [--backend sqlite|postgres] [--json out.json] [...]\n"
        f"benchmarks:\n{names}\n"
        "`python -m bench <name> --help` lists a benchmark's own options."
    )


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return
    name, rest = argv[0], argv[1:]
    if name not in BENCHMARKS:
        sys.exit(f"unknown benchmark {name!r}\n{usage()}")
    if name == "history":
        _history(rest)
        return
    importlib.import_module(BENCHMARKS[name]).main(rest)


if __name__ == "__main__":
    main()
