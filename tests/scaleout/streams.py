"""Reading an execution's SSE stream the way EventSource does, and its stored events."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import httpx
from httpx_sse import aconnect_sse

from tests.scaleout.cluster import API, HEADERS


async def stored_events(database_url: str, execution_id: str) -> list[tuple[int, str, dict]]:
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "SELECT seq, type, payload FROM execution_event WHERE execution_id = $1 ORDER BY seq",
            execution_id,
        )
    finally:
        await connection.close()
    return [(r["seq"], r["type"], json.loads(r["payload"])) for r in rows]


async def follow(
    base_urls: list[str], execution_id: str, within_s: float = 40
) -> list[tuple[int, str, dict]]:
    """Read the SSE stream to its end, reconnecting (to the next node) with Last-Event-ID
    whenever the connection breaks, as EventSource does."""
    received: list[tuple[int, str, dict]] = []
    attempt = 0
    async with asyncio.timeout(within_s):
        while True:
            headers = dict(HEADERS)
            if received:
                headers["Last-Event-ID"] = str(received[-1][0])
            base = base_urls[attempt % len(base_urls)]
            attempt += 1
            try:
                async with (
                    httpx.AsyncClient(base_url=base, timeout=10) as http,
                    aconnect_sse(
                        http,
                        "GET",
                        f"{API}/workflows/executions/{execution_id}/stream",
                        headers=headers,
                    ) as sse,
                ):
                    if sse.response.status_code == 204:
                        return received
                    async for event in sse.aiter_sse():
                        if event.event == "connected":
                            continue
                        received.append((int(event.id), event.event, json.loads(event.data)))
                        if event.event == "complete":
                            return received
            except (httpx.TransportError, httpx.RemoteProtocolError):
                await asyncio.sleep(0.2)
