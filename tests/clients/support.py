"""Running the Node client scripts, and the operations they send."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CLIENTS_DIR = Path(__file__).parent
RUN_LIMIT_S = 30

EXECUTION_FIELDS = """
    id status workflowId isSimulation error startedAt completedAt
    progress { totalSteps completedSteps percentage }
    steps { actionId status }
"""

EVENTS = """
subscription Events($ws: String!, $id: ID!) {
  executionEvents(workspaceSlug: $ws, executionId: $id) {
    __typename
    ... on ExecutionConnected { seq executionId timestamp }
    ... on StepEvent { seq actionId actionType status output durationMs error }
    ... on ProgressEvent {
      seq totalSteps completedSteps successfulSteps failedSteps percentage status
    }
    ... on CompleteEvent { seq status durationMs completedAt }
    ... on ErrorEvent { seq message }
  }
}
"""


@dataclass(frozen=True)
class NodeClients:
    """Runs one of this directory's scripts with a JSON scenario on stdin."""

    node: str

    async def run(self, script: str, scenario: dict[str, Any]) -> dict[str, Any]:
        """The script's JSON answer. Asynchronous, so the live server in this event loop
        keeps serving while the client talks to it."""
        process = await asyncio.create_subprocess_exec(
            self.node,
            str(CLIENTS_DIR / script),
            cwd=CLIENTS_DIR,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            async with asyncio.timeout(RUN_LIMIT_S):
                out, err = await process.communicate(json.dumps(scenario).encode())
        except TimeoutError:
            process.kill()
            await process.wait()
            raise
        failure = f"{script} exited {process.returncode}:\n{err.decode()}\n{out.decode()}"
        assert process.returncode == 0, failure
        return dict(json.loads(out))


def graphql_url(base_url: str) -> str:
    return base_url + "/graphql"


def ws_url(base_url: str) -> str:
    return base_url.replace("http://", "ws://") + "/graphql"


def by_name(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {result["name"]: result for result in answer["results"]}


def codes(result: dict[str, Any]) -> list[str]:
    """The `extensions.code` of each GraphQL error in a result."""
    return [error["extensions"]["code"] for error in result.get("errors", [])]
