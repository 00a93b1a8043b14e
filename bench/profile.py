"""profile: a py-spy raw profile of the server (`--py-spy` of a benchmark) split by layer
and by caller.

`python -m bench profile out.raw`. Every sample is one stack of the thread holding the GIL.
By layer: which code holds the GIL at that instant (the top frame's package). By caller:
which part of runcast the work is done for (the first rule below that the stack matches),
so the ORM, JSON or asyncpg work a caller does is counted with it. A sample whose top frame
is the event loop's own `run` is the loop's C code (uvloop: sockets, callbacks, timers).
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

from bench.harness import print_table

_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^:()]+)(?::\d+)?\)$")

LAYERS: list[tuple[str, str]] = [
    ("asyncpg/", "asyncpg"),
    ("tortoise/", "Tortoise ORM"),
    ("pypika", "Tortoise ORM"),
    ("json/", "json (stdlib)"),
    ("uvicorn/", "uvicorn + httptools"),
    ("httptools", "uvicorn + httptools"),
    ("starlette/", "starlette"),
    ("sse_starlette/", "starlette"),
    ("strawberry/", "strawberry + graphql-core"),
    ("graphql/", "strawberry + graphql-core"),
    ("broadcaster/", "broadcaster"),
    ("runcast/store/", "runcast.store"),
    ("runcast/engine/", "runcast.engine"),
    ("runcast/events/", "runcast.events"),
    ("runcast/resolvers/", "runcast.resolvers"),
    ("runcast/rest/", "runcast.rest"),
    ("runcast/", "runcast (other)"),
    ("asyncio/", "asyncio (Python side)"),
    ("copy.py", "copy (stdlib)"),
    ("uuid.py", "uuid / ids"),
    ("datetime", "datetime"),
    ("threading.py", "threading"),
    ("queue.py", "threading"),
]

CALLERS: list[tuple[str, str]] = [
    ("_Thread._serve (runcast/store/sqlite.py", "SQLite work on the store's thread"),
    ("runcast/store/checkpoints.py", "WAL checkpointer"),
    ("GroupCommit._drain", "group commit, loop side (hand-offs)"),
    ("Connection.reset", "asyncpg pool: Connection.reset on release"),
    ("runcast/resolvers/auth.py", "auth: token + membership"),
    ("persistence.py:", "engine: persistence.commit"),
    ("runcast/engine/runner.py", "engine: runner (other than commit)"),
    ("Engine._run (", "engine: runner (other than commit)"),
    ("runcast/engine/scheduler.py", "engine: scheduler (submit, dispatch, claims)"),
    ("runcast/resolvers/", "resolvers (execute, answer views)"),
    ("runcast/rest/", "REST layer (routing, body, JSON answer)"),
    ("runcast/events/", "event bus (publish)"),
    ("run_to_end (runcast/tasks.py", "runs_to_end (the task a write runs in)"),
    ("uvicorn/", "HTTP: uvicorn, starlette, runcast's middleware"),
    ("starlette/", "HTTP: uvicorn, starlette, runcast's middleware"),
    ("runcast/connection_guard.py", "HTTP: uvicorn, starlette, runcast's middleware"),
    ("runcast/", "runcast (other)"),
    ("asyncpg/", "asyncpg (no runcast caller)"),
]
_LOOP = "Runner.run (asyncio/runners.py"


def _file(frame: str) -> str:
    match = _FRAME.match(frame)
    return match["file"] if match else frame


def classify(stack: list[str]) -> tuple[str, str]:
    """(layer, caller) of one sample's stack (outermost frame first)."""
    loop = next((i for i, frame in enumerate(stack) if frame.startswith(_LOOP)), None)
    top = stack[-1] if stack else ""
    if loop is not None:
        stack = stack[loop + 1 :]  # the frames of the task the loop is running
    if not top:
        layer = "no Python frame (GIL held by C code)"
    elif top.startswith(_LOOP):
        layer = "event loop (uvloop C code)"
    else:
        top_file = _file(top)
        layer = next((name for key, name in LAYERS if key in top_file), f"other: {top_file}")
    joined = ";".join(stack)
    caller = next((name for key, name in CALLERS if key in joined), None)
    if caller is None:
        caller = "event loop (uvloop C code)" if layer.startswith("event loop") else layer
    return layer, caller


def split(raw_path: str) -> tuple[int, Counter[str], Counter[str]]:
    layers: Counter[str] = Counter()
    callers: Counter[str] = Counter()
    total = 0
    for line in Path(raw_path).read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        if not samples.isdigit():
            continue
        n = int(samples)
        layer, caller = classify([f for f in stack.split(";") if f])
        layers[layer] += n
        callers[caller] += n
        total += n
    return total, layers, callers


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench profile")
    parser.add_argument("raw", help="py-spy raw output (a benchmark's --py-spy file)")
    args = parser.parse_args(argv)
    total, layers, callers = split(args.raw)
    for title, counts in (("by layer (top frame)", layers), ("by caller", callers)):
        print_table(
            f"{title}, % of {total} GIL-holding samples",
            [(name, 100 * n / total) for name, n in counts.most_common()],
        )


if __name__ == "__main__":
    main()
