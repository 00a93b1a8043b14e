"""Bench-only instruments inside the server, on when BENCH_PROBE_DIR names a directory.

Loaded by `bench/plugin.py` (the server loads it through RUNCAST_PLUGINS); never part of
the product. Writes `gc.json` there every second: per generation, how many collections
ran, how many objects they looked at and how long they took (from `gc.callbacks`), with
`gc.get_stats()` and `gc.get_count()`. With BENCH_PROBE_TRACEMALLOC=1 it also traces
allocations, and SIGUSR1 writes a tracemalloc snapshot (`snap-N.pickle`) and the
process's RSS (`snap-N.json`), so a script can diff what the server holds between two
moments; with BENCH_PROBE_TRIM=1, SIGUSR1 also records the RSS after `malloc_trim(0)`.
`python -m bench fanout-memory` sends SIGUSR1 at each of its RSS readings.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import signal
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

_started: dict[int, float] = {}
_totals: dict[int, dict[str, float]] = {
    g: {"collections": 0, "seconds": 0.0, "collected": 0} for g in range(3)
}
_snapshots = 0
_log_reads = {"calls": 0, "events": 0}


def _count_log_reads() -> None:
    """Count the streams' reads of the event log (replays and gap fills)."""
    from runcast.events import stream

    read = stream.events_after

    async def counted(execution_id: str, after_seq: int) -> Any:
        events = await read(execution_id, after_seq)
        _log_reads["calls"] += 1
        _log_reads["events"] += len(events)
        return events

    stream.events_after = counted  # type: ignore[assignment]


def _multiplex() -> dict[str, int]:
    from dataclasses import asdict

    from runcast.schema.multiplex import stats

    return asdict(stats())


def _on_gc(phase: str, info: dict[str, Any]) -> None:
    generation = int(info["generation"])
    if phase == "start":
        _started[generation] = time.perf_counter()
        return
    totals = _totals[generation]
    totals["collections"] += 1
    totals["seconds"] += time.perf_counter() - _started.pop(generation, time.perf_counter())
    totals["collected"] += int(info["collected"])


def _write(directory: Path) -> None:
    while True:
        time.sleep(1.0)
        try:
            state = _state()
        except RuntimeError:  # a dict changed size under the loop's thread; next second
            continue
        (directory / "gc.json.tmp").write_text(json.dumps(state))
        (directory / "gc.json.tmp").replace(directory / "gc.json")


def _state() -> dict[str, Any]:
    return {
        "at": time.time(),
        "totals": _totals,
        "stats": gc.get_stats(),
        "count": gc.get_count(),
        "log_reads": _log_reads,
        "multiplex": _multiplex(),
    }


def _snapshot(directory: Path) -> None:
    global _snapshots
    _snapshots += 1
    gc.collect()
    if tracemalloc.is_tracing():
        tracemalloc.take_snapshot().dump(str(directory / f"snap-{_snapshots}.pickle"))
    current, peak = tracemalloc.get_traced_memory()
    state = {
        "rss_kib": int(Path("/proc/self/status").read_text().split("VmRSS:")[1].split()[0]),
        "traced_kib": current // 1024,
        "traced_peak_kib": peak // 1024,
        "gc_objects": len(gc.get_objects()),
        "mappings_rss_kib": _mappings(),
    }
    if os.environ.get("BENCH_PROBE_TRIM"):
        state["rss_kib_after_malloc_trim"] = _rss_after_trim()
    (directory / f"snap-{_snapshots}.json").write_text(json.dumps(state))


def _rss_after_trim() -> int:
    """RSS once glibc has returned its free pages (`malloc_trim(0)`): what is left above
    it is held by live objects or by pymalloc's partly used arenas. Evidence only: the
    probe runs this, the server never does."""
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    return int(Path("/proc/self/status").read_text().split("VmRSS:")[1].split()[0])


def _mappings() -> dict[str, int]:
    """Resident KiB per kind of mapping: the brk heap (glibc's main arena), anonymous
    mappings (pymalloc's arenas, glibc's other arenas and large blocks) and the rest."""
    kinds: dict[str, int] = {}
    kind = "other"
    for line in Path("/proc/self/smaps").read_text().splitlines():
        fields = line.split()
        if "-" in fields[0] and len(fields) >= 5:
            name = fields[5] if len(fields) > 5 else ""
            kind = "heap" if name == "[heap]" else "anonymous" if not name else "other"
        elif fields[0] == "Rss:":
            kinds[kind] = kinds.get(kind, 0) + int(fields[1])
    return kinds


def install(directory: str) -> None:
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    gc.callbacks.append(_on_gc)
    _count_log_reads()
    threading.Thread(target=_write, args=(path,), daemon=True, name="bench probe").start()
    if os.environ.get("BENCH_PROBE_TRACEMALLOC"):
        tracemalloc.start(int(os.environ.get("BENCH_PROBE_FRAMES", "8")))
    if os.environ.get("BENCH_PROBE_TRACEMALLOC") or os.environ.get("BENCH_PROBE_TRIM"):
        signal.signal(signal.SIGUSR1, lambda *_: _snapshot(path))
