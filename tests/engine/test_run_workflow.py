"""A whole workflow through the HTTP API, with a real HTTP server on the other end."""

from __future__ import annotations

from typing import Any

import pytest

from runcast.models import Notification, Task
from tests.helpers import WS, create_workflow, graphql
from tests.receiver import running_receiver

pytestmark = pytest.mark.settings(allow_private_network=True)


def five_steps(url: str) -> list[dict[str, Any]]:
    return [
        {
            "type": "send_notification",
            "config": {"message": "Welcome {{trigger.userId}}!", "recipient": "{{trigger.userId}}"},
        },
        {
            "type": "create_task",
            "config": {
                "title": "Onboarding checklist",
                "priority": "HIGH",
                "assignedTo": "{{trigger.userId}}",
            },
        },
        {
            "type": "condition",
            "config": {"field": "trigger.plan", "operator": "equals", "value": "pro"},
        },
        {"type": "wait", "config": {"durationMs": 50}},
        {
            "type": "call_api",
            "config": {
                "url": f"{url}/hooks/signup",
                "method": "POST",
                "headers": {"Authorization": "Bearer s3cret"},
                "body": {
                    "task": "{{steps.action-2.output.taskId}}",
                    "user": "{{trigger.userId}}",
                    "note": "for {{trigger.userId}}",
                    "count": "{{variables.count}}",
                },
            },
        },
    ]


async def execute(client, headers, workflow_id: str, **body: Any) -> dict[str, Any]:
    response = await client.post(
        f"{WS}/workflows/{workflow_id}/execute", json={"wait": True, **body}, headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()["execution"]


async def test_five_step_workflow_completes_with_seed_shapes(client, tokens):
    async with running_receiver() as receiver:
        workflow = await create_workflow(client, tokens.headers(), *five_steps(receiver.url))
        execution = await execute(
            client,
            tokens.headers("editor"),
            workflow["id"],
            triggerData={"userId": "user_123", "plan": "pro"},
            variables={"count": 3},
        )
    assert execution["status"] == "COMPLETED"
    assert execution["id"].startswith("exec_")
    assert execution["workflowId"] == workflow["id"]
    assert execution["triggerType"] == "manual"
    assert execution["isSimulation"] is False
    assert execution["triggerData"] == {"userId": "user_123", "plan": "pro"}
    assert execution["startedAt"].endswith("Z") and execution["completedAt"].endswith("Z")
    assert execution["durationMs"] >= 50
    steps = execution["steps"]
    assert [s["actionId"] for s in steps] == [f"action-{i}" for i in range(1, 6)]
    assert [s["status"] for s in steps] == ["success"] * 5
    for step in steps:
        assert set(step) >= {
            "actionId",
            "actionType",
            "status",
            "output",
            "startedAt",
            "completedAt",
            "durationMs",
        }
    assert steps[0]["output"]["notificationSent"] is True
    assert steps[0]["output"]["message"] == "Welcome user_123!"
    assert steps[0]["output"]["recipient"] == "user_123"
    task_output = steps[1]["output"]
    assert task_output["title"] == "Onboarding checklist" and task_output["status"] == "TODO"
    assert task_output["taskId"].startswith("task_")
    assert steps[2]["output"]["result"] is True
    assert steps[3]["durationMs"] >= 50
    assert steps[4]["output"]["status"] == 200

    [request] = receiver.to("/hooks/signup")
    assert request.method == "POST"
    assert request.body == {
        "task": task_output["taskId"],
        "user": "user_123",
        "note": "for user_123",
        "count": 3,
    }
    assert request.headers["idempotency-key"] == f"{execution['id']}:action-5"
    assert request.headers["authorization"] == "Bearer s3cret"

    task = await Task.get(id=task_output["taskId"])
    assert (task.title, task.priority, task.assigned_to) == (
        "Onboarding checklist",
        "HIGH",
        "user_123",
    )
    notification = await Notification.get(id=steps[0]["output"]["notificationId"])
    assert notification.message == "Welcome user_123!"

    status = await client.get(
        f"{WS}/workflows/executions/{execution['id']}", headers=tokens.headers("viewer")
    )
    assert status.status_code == 200
    body = status.json()
    assert body["progress"] == {
        "totalSteps": 5,
        "completedSteps": 5,
        "successfulSteps": 5,
        "failedSteps": 0,
        "runningSteps": 0,
        "percentage": 100,
    }
    assert body["timing"] == {
        "startedAt": execution["startedAt"],
        "completedAt": execution["completedAt"],
        "durationMs": execution["durationMs"],
        "isRunning": False,
    }
    assert body["execution"]["workflow"] == {
        "id": workflow["id"],
        "name": "Onboarding",
        "description": None,
        "trigger": {"type": "manual"},
        "status": "ACTIVE",
    }
    assert body["execution"]["steps"] == steps

    tasks = await graphql(
        client,
        '{ tasks(workspaceSlug: "acme") { id title status } '
        'notifications(workspaceSlug: "acme") { id message recipient } }',
        tokens.headers("viewer"),
    )
    assert tasks["data"]["tasks"] == [
        {"id": task.id, "title": "Onboarding checklist", "status": "TODO"}
    ]
    assert tasks["data"]["notifications"][0]["recipient"] == "user_123"


async def test_condition_false_skips_the_rest_and_completes(client, tokens):
    async with running_receiver() as receiver:
        workflow = await create_workflow(client, tokens.headers(), *five_steps(receiver.url))
        execution = await execute(
            client, tokens.headers(), workflow["id"], triggerData={"userId": "u1", "plan": "free"}
        )
    assert execution["status"] == "COMPLETED"
    assert [s["status"] for s in execution["steps"]] == [
        "success",
        "success",
        "success",
        "skipped",
        "skipped",
    ]
    assert execution["steps"][2]["output"]["result"] is False
    assert receiver.requests == []


async def test_graphql_execute_and_read(client, tokens):
    workflow = await create_workflow(
        client,
        tokens.headers(),
        {"type": "send_notification", "config": {"message": "hi", "recipient": "x"}},
    )
    result = await graphql(
        client,
        """mutation($wf: ID!) { executeWorkflow(workspaceSlug: "acme", workflowId: $wf,
             input: {triggerData: {a: 1}, idempotencyKey: "k-1"}) { id status triggerData } }""",
        tokens.headers("editor"),
        wf=workflow["id"],
    )
    execution_id = result["data"]["executeWorkflow"]["id"]
    again = await graphql(
        client,
        """mutation($wf: ID!) { executeWorkflow(workspaceSlug: "acme", workflowId: $wf,
             input: {triggerData: {a: 1}, idempotencyKey: "k-1"}) { id } }""",
        tokens.headers("editor"),
        wf=workflow["id"],
    )
    assert again["data"]["executeWorkflow"]["id"] == execution_id
    rest = await client.post(
        f"{WS}/workflows/{workflow['id']}/execute",
        json={"triggerData": {"a": 1}, "wait": True},
        headers={**tokens.headers("editor"), "Idempotency-Key": "k-1"},
    )
    assert rest.json()["execution"]["id"] == execution_id
    read = await graphql(
        client,
        """query($id: ID!) { execution(workspaceSlug: "acme", id: $id) { id status
             workflow { name } progress { totalSteps percentage } timing { isRunning }
             executionSummary { totalSteps successfulSteps }
             steps { actionId status output } } }""",
        tokens.headers("viewer"),
        id=execution_id,
    )
    data = read["data"]["execution"]
    assert data["status"] == "COMPLETED"
    assert data["progress"] == {"totalSteps": 1, "percentage": 100}
    assert data["executionSummary"] == {"totalSteps": 1, "successfulSteps": 1}
    assert data["steps"][0]["output"]["message"] == "hi"


async def test_event_log_is_written_with_each_step(client, tokens):
    from runcast.models import ExecutionEvent

    workflow = await create_workflow(
        client,
        tokens.headers(),
        {"type": "send_notification", "config": {"message": "m"}},
        {"type": "wait", "config": {"durationMs": "{{trigger.bad}}"}},
        {"type": "create_task", "config": {"title": "never"}},
    )
    execution = await execute(client, tokens.headers(), workflow["id"])
    assert execution["status"] == "FAILED"
    rows = (
        await ExecutionEvent.filter(execution_id=execution["id"])
        .order_by("seq")
        .values("seq", "type", "payload")
    )
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
    assert [r["type"] for r in rows] == [
        "step",
        "progress",
        "step",
        "progress",
        "step",
        "progress",
        "error",
        "complete",
    ]
    assert rows[0]["payload"] == {
        "actionId": "action-1",
        "actionType": "send_notification",
        "status": "success",
        "output": rows[0]["payload"]["output"],
        "durationMs": rows[0]["payload"]["durationMs"],
        "error": None,
    }
    assert rows[1]["payload"] == {
        "totalSteps": 3,
        "completedSteps": 1,
        "successfulSteps": 1,
        "failedSteps": 0,
        "percentage": 33,
        "status": "RUNNING",
    }
    assert rows[2]["payload"]["status"] == "failed"
    assert rows[4]["payload"]["status"] == "skipped"
    assert rows[6]["payload"] == {
        "message": "Execution failed: Action action-2 failed: "
        "durationMs rendered to an invalid value"
    }
    complete = rows[7]["payload"]
    assert complete["status"] == "FAILED"
    assert complete["completedAt"] == execution["completedAt"]
    assert complete["durationMs"] == execution["durationMs"]
