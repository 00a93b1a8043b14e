"""Schemathesis over the served GraphQL schema: every query and mutation, valid and invalid
arguments, real tokens and, most of the time, ids of objects that exist."""

from __future__ import annotations

import asyncio
import json

import graphql
import httpx
import pytest
import requests
import schemathesis
from hypothesis import example, given
from hypothesis import strategies as st
from schemathesis import APIOperation, BaseSchema, Case, GenerationMode
from schemathesis.graphql import scalar

from runcast.jsonsafe import MAX_DEPTH
from tests.fuzz.budget import READ_TIMEOUT_S, examples, fuzz_settings
from tests.fuzz.contract import graphql_problem, literal_depth, parse_json_body
from tests.fuzz.findings import Answer, Findings, Recorder, compact, server_errors
from tests.fuzz.values import json_literals
from tests.fuzz.world import World, health_problem

pytestmark = pytest.mark.fuzz

ACTION_TYPES = ["send_notification", "create_task", "call_api", "wait", "condition"]
# Who calls: mostly a member who may do everything, sometimes less or no one.
CALLERS = ["owner"] * 4 + ["editor", "viewer", "outsider", "unknown", "none"]
NON_NULL_VIOLATION = "Cannot return null for non-nullable field"


# Identifiers that are not: overlong, odd characters, near misses.
HOSTILE_IDS = [
    "x" * 41,
    "ws_" + "0" * 60,
    "exec_" + "0" * 200,
    "\U0001f642",
    "",
    " ",
    "acme\x00",
    "../acme",
    "ACME",
    "%2e%2e",
]


def schemathesis_config(world: World) -> schemathesis.Config:
    """Id-like arguments: usually real ids (the first of each kind, the one that lets the
    operation succeed, weighted up), else hostile ones; real types for new actions."""
    first_weighted = {
        "workspaces": [world.workspace_refs[0]] * 6 + list(world.workspace_refs) + HOSTILE_IDS,
        "ids": list(world.ids) + HOSTILE_IDS,
        "workflows": [world.workflow_ids[0]] * 6 + list(world.workflow_ids) + HOSTILE_IDS,
        "executions": list(world.execution_ids) * 2 + HOSTILE_IDS,
    }
    bindings = {
        "*.*.workspaceSlug": "workspaces",
        "*.*.id": "ids",
        "*.*.workflowId": "workflows",
        "*.*.executionId": "executions",
        "*.*.ids.[*]": "ids",
        "*.*.input.actions.[*].type": "actions",
        "Query.execution.id": "executions",
        "Query.workflow.id": "workflows",
        "Mutation.updateWorkflow.id": "workflows",
        "Mutation.deleteWorkflow.id": "workflows",
    }
    return schemathesis.Config.from_dict(
        {
            "dictionaries": {
                **{name: {"values": values} for name, values in first_weighted.items()},
                "actions": {"values": ACTION_TYPES},
            },
            "parameters": {
                key: {"dictionary": name, "probability": 0.8} for key, name in bindings.items()
            },
        }
    )


async def load_schema(base_url: str, world: World) -> BaseSchema:
    scalar("JSON", json_literals)
    async with httpx.AsyncClient(base_url=base_url, timeout=READ_TIMEOUT_S) as client:
        response = await client.post(
            "/graphql",
            json={"query": graphql.get_introspection_query()},
            headers=world.tokens.headers("admin"),
        )
    assert response.status_code == 200, response.text
    return schemathesis.graphql.from_dict(
        response.json()["data"], config=schemathesis_config(world)
    )


def valid_operations(world: World) -> dict[str, str]:
    """One call of each mutation (and of the queries generation cannot aim, such as a
    workspace by its slug) that should succeed, tried before the generated ones
    (generation alone rarely assembles a valid workflow)."""
    active, inactive = world.workflow_ids[0], world.workflow_ids[1]
    notify = '{type: "send_notification", config: {message: "Hi", recipient: "u1"}}'
    return {
        "Mutation.createWorkflow": (
            f'mutation {{ createWorkflow(workspaceSlug: "acme", input: {{name: "Fuzzed", '
            f"actions: [{notify}]}}) {{ id }} }}"
        ),
        "Mutation.updateWorkflow": (
            f'mutation {{ updateWorkflow(workspaceSlug: "acme", id: "{active}", '
            f'input: {{description: "fuzzed"}}) {{ id }} }}'
        ),
        "Mutation.deleteWorkflow": (
            f'mutation {{ deleteWorkflow(workspaceSlug: "acme", id: "{inactive}") {{ id }} }}'
        ),
        "Mutation.executeWorkflow": (
            f'mutation {{ executeWorkflow(workspaceSlug: "acme", workflowId: "{active}", '
            f'input: {{triggerData: {{userId: "u1"}}}}) {{ id }} }}'
        ),
        "Mutation.cancelExecution": (
            f'mutation {{ cancelExecution(workspaceSlug: "acme", '
            f'executionId: "{world.running_execution_ids[0]}") {{ success }} }}'
        ),
        "Mutation.rotateWebhook": (
            f'mutation {{ rotateWebhook(workspaceSlug: "acme", id: "{world.webhook[0]}") '
            "{ id webhookUrl } }"
        ),
        "Mutation.pauseSchedule": (
            f'mutation {{ pauseSchedule(workspaceSlug: "acme", workflowId: "{world.scheduled}") '
            "{ id } }"
        ),
        "Mutation.resumeSchedule": (
            f'mutation {{ resumeSchedule(workspaceSlug: "acme", workflowId: "{world.scheduled}") '
            "{ id } }"
        ),
        "Mutation.backfillSchedule": (
            f'mutation {{ backfillSchedule(workspaceSlug: "acme", workflowId: "{world.scheduled}", '
            'from: "2026-01-01T00:00:00Z", to: "2026-01-02T00:00:00Z") { ticks } }'
        ),
        "Mutation.emitEvent": (
            'mutation { emitEvent(workspaceSlug: "acme", input: {name: "fuzz.checked"}) '
            "{ executionIds } }"
        ),
        "Query.workspace": '{ workspace(slug: "acme") { id slug role } }',
        "Query.executions": '{ executions(workspaceSlug: "acme", first: 5) { totalCount } }',
    }


def minified(query: str) -> str:
    """The printed query without its indentation (a literal nested 5,000 deep would
    otherwise print as megabytes of spaces). Printed strings never span lines."""
    return " ".join(line.strip() for line in query.splitlines())


def caller_headers(world: World, caller: str) -> dict[str, str]:
    if caller == "none":
        return {}
    if caller == "unknown":
        return {"Authorization": "Bearer rc_not_a_token"}
    return world.tokens.headers(caller)


def check_case(
    case: Case,
    caller: str,
    must_succeed: bool,
    world: World,
    session: requests.Session,
    url: str,
    recorder: Recorder,
) -> None:
    """Send one operation and judge the answer against the contract (`must_succeed`: a
    valid call, which must be carried out)."""
    recorder.before_request()
    label = case.operation.label
    case.body = minified(case.body)
    request = f"[{caller} token] POST /graphql {compact(json.dumps({'query': case.body}))}"
    try:
        response = case.call(
            base_url=url,
            session=session,
            headers=caller_headers(world, caller),
            timeout=READ_TIMEOUT_S,
        )
    except requests.RequestException as exc:
        request = f"{request} (sent right after: {recorder.previous_request})"
        recorder.answered(Answer(label, request, None, str(exc), problem=type(exc).__name__))
        return
    codes, problem, body = "-", None, None
    if response.status_code >= 500:
        problem = f"HTTP {response.status_code}"
    else:
        body, problem = parse_json_body(response.content)
        if problem is None:
            codes, problem = graphql_problem(body)
        if problem is None and NON_NULL_VIOLATION in response.text:
            problem = "null in a non-null field"
    succeeded = isinstance(body, dict) and body.get("data") is not None and "errors" not in body
    if problem is None and must_succeed and not succeeded:
        problem = "a valid call failed"
    # A list argument of the schema's own (e.g. `actions`) may hold the JSON: one level more.
    if problem is None and succeeded and literal_depth(case.body) > MAX_DEPTH + 1:
        problem = f"accepted a JSON literal nested {literal_depth(case.body)} deep"
    observed = f"HTTP {response.status_code} {compact(response.text)}"
    recorder.answered(
        Answer(label, request, response.status_code, observed, codes, problem, succeeded)
    )


def in_safe_order(schema: BaseSchema) -> list[APIOperation]:
    """Every operation, those that end or delete the real objects last."""
    last = {"Mutation.cancelExecution": 1, "Mutation.deleteWorkflow": 2}
    operations = [result.ok() for result in schema.get_all_operations()]
    return sorted(operations, key=lambda operation: last.get(operation.label, 0))


def fuzz_operations(
    schema: BaseSchema,
    url: str,
    world: World,
    per_operation: int,
    loop: asyncio.AbstractEventLoop,
) -> Findings:
    """Every query and mutation, `per_operation` examples each, in a worker thread while
    the server runs in `loop`."""
    findings = Findings()
    session = requests.Session()
    valid = valid_operations(world)
    with server_errors() as logged:
        recorder = Recorder(findings, logged, loop)
        for operation in in_safe_order(schema):
            positive = operation.as_strategy(GenerationMode.POSITIVE)
            # Three valid queries to one invalid.
            cases = st.one_of(
                positive, positive, positive, operation.as_strategy(GenerationMode.NEGATIVE)
            )

            @fuzz_settings(per_operation)
            @given(case=cases, caller=st.sampled_from(CALLERS), must_succeed=st.just(False))
            def run(case: Case, caller: str, must_succeed: bool) -> None:
                check_case(case, caller, must_succeed, world, session, url, recorder)

            if operation.label in valid:
                valid_case = operation.Case(body=valid[operation.label])
                run = example(case=valid_case, caller="owner", must_succeed=True)(run)
            run()
        recorder.finish()
    return findings


async def test_graphql_operations_answer_within_the_contract(
    live: str, world: World, backend: str
) -> None:
    schema = await load_schema(live, world)
    count, loop = examples("graphql", backend), asyncio.get_running_loop()
    findings = await asyncio.to_thread(
        fuzz_operations, schema, f"{live}/graphql", world, count, loop
    )
    unhealthy = await health_problem(live, world)
    assert not findings, findings.report() + f"\nafterwards: {unhealthy or 'healthy'}"
    assert unhealthy is None, unhealthy
    operations = {operation.label for operation in in_safe_order(schema)}
    never = sorted(operations - findings.succeeded)
    assert not never, f"never carried out, so the fuzzing did not reach them: {never}"
