"""What a fuzz run found: distinct failures with their shortest reproduction, each with the
exception the server logged for it."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

# How long the last request of a run may take to have its errors logged.
LAST_LOG_WAIT_S = 0.2
_REPEATS = re.compile(r"(.{1,6}?)\1{7,}", re.DOTALL)
_REPEAT_SEEN_WITHIN = 6 * 8
"""Characters from its start within which any repeat is recognised: its longest unit, 8 times."""


def compact(text: str, limit: int = 400) -> str:
    """`text` with long repeats written as `(unit)*count`, cut to `limit` characters.

    Reads no further than the cut and the repeats that begin before it: a repeat is looked
    for only where the cut may keep its start, and its units are counted by comparing
    whole blocks. (Bodies run to megabytes, and substituting them whole with the pattern
    took a quarter of the fuzz stage's time.)"""
    pieces: list[str] = []
    size = position = 0
    while size <= limit and position < len(text):
        room = limit - size + 1  # what takes the output past the limit
        found = _REPEATS.search(text, position, position + room + _REPEAT_SEEN_WITHIN)
        if found is None or found.start() >= position + room:
            pieces.append(text[position : position + room])
            break
        unit = found.group(1)
        times = _times(text, found.start(), unit)
        pieces += [text[position : found.start()], f"({unit})*{times}"]
        size += len(pieces[-2]) + len(pieces[-1])
        position = found.start() + times * len(unit)
    short = "".join(pieces)
    return short if len(short) <= limit else f"{short[:limit]}… ({len(text)} chars)"


def _times(text: str, start: int, unit: str) -> int:
    """How many times `unit` follows itself in `text` from `start` on: blocks of doubling
    size, then of halving size for the rest."""
    times, block, units = 0, unit, 1
    while text.startswith(block, start):
        start, times = start + len(block), times + units
        block, units = block + block, units * 2
    while units > 1:
        block, units = block[: len(block) // 2], units // 2
        if text.startswith(block, start):
            start, times = start + len(block), times + units
    return times


@dataclass
class Finding:
    request: str
    observed: str
    count: int = 1


class Findings:
    """Failures keyed by what makes them distinct; each keeps its shortest reproduction."""

    def __init__(self) -> None:
        self._found: dict[tuple[str, ...], Finding] = {}
        self.succeeded: set[str] = set()

    def add(self, key: tuple[str, ...], request: str, observed: str) -> None:
        found = self._found.get(key)
        if found is None:
            self._found[key] = Finding(request, observed)
            return
        found.count += 1
        if len(request) < len(found.request):
            found.request, found.observed = request, observed

    def __bool__(self) -> bool:
        return bool(self._found)

    def report(self) -> str:
        lines = [f"{len(self._found)} distinct failures:"]
        for key, found in sorted(self._found.items()):
            lines += [
                f"- {' | '.join(key)} (x{found.count})",
                f"    request:  {found.request}",
                f"    observed: {found.observed}",
            ]
        return "\n".join(lines)


class ServerErrors(logging.Handler):
    """Collects what the server logs at ERROR, one line per record."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self._lines: list[str] = []
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            line = f"{type(exc).__name__}: {str(exc)[:160]}"
        else:
            line = record.getMessage()[:160]
        with self._guard:
            self._lines.append(line)

    def drain(self) -> list[str]:
        with self._guard:
            lines, self._lines = self._lines, []
        return lines


@contextmanager
def server_errors() -> Iterator[ServerErrors]:
    """Capture ERROR records from every logger while the block runs (uvicorn's loggers do
    not propagate to the root)."""
    handler = ServerErrors()
    loggers = [logging.getLogger(), logging.getLogger("uvicorn")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


@dataclass(frozen=True)
class Answer:
    """One request and what came back, judged against the contract."""

    label: str
    request: str
    status: int | None  # None: no answer
    observed: str
    codes: str = "-"
    problem: str | None = None
    succeeded: bool = False


class Recorder:
    """Turns answers into findings once the server is done logging about them.

    An exception re-raised after a 500 was sent is logged after the client has its answer:
    before the next request, the recorder lets the server's event loop (`loop`, serving in
    another thread) finish what it was doing, and whatever was logged by then belongs to
    the previous request.
    """

    def __init__(
        self, findings: Findings, logged: ServerErrors, loop: asyncio.AbstractEventLoop
    ) -> None:
        self.findings = findings
        self.logged = logged
        self.loop = loop
        self._pending: Answer | None = None

    @property
    def previous_request(self) -> str:
        return self._pending.request if self._pending is not None else "-"

    def before_request(self) -> None:
        asyncio.run_coroutine_threadsafe(asyncio.sleep(0), self.loop).result()
        self._settle(self.logged.drain())

    def answered(self, answer: Answer) -> None:
        if answer.succeeded:
            self.findings.succeeded.add(answer.label)
        self._pending = answer

    def finish(self) -> None:
        time.sleep(LAST_LOG_WAIT_S)
        self._settle(self.logged.drain())

    def _settle(self, lines: list[str]) -> None:
        answer, self._pending = self._pending, None
        if answer is None:
            return
        problem = answer.problem or ("server logged an error" if lines else None)
        if problem is None:
            return
        cause = lines[0].split(":", 1)[0] if lines else "-"
        observed = answer.observed + (f" | logged: {lines[0]}" if lines else "")
        status = "no answer" if answer.status is None else str(answer.status)
        self.findings.add(
            (answer.label, status, answer.codes, problem, cause), answer.request, observed
        )
