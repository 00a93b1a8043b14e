"""What REST can do, GraphQL can: `wait` on execute answers the finished execution."""

from __future__ import annotations

from tests.helpers import create_workflow, graphql, notify
from tests.streams.support import wait

EXECUTE = """
mutation($wf: ID!, $input: ExecuteInput) {
  executeWorkflow(workspaceSlug: "acme", workflowId: $wf, input: $input) {
    id status steps { actionId status } progress { percentage } workflow { id name }
  }
}
"""


async def test_execute_with_wait_answers_the_finished_execution(client, tokens):
    workflow = await create_workflow(client, tokens.headers(), wait(100), notify())
    answer = await graphql(
        client, EXECUTE, tokens.headers("editor"), wf=workflow["id"], input={"wait": True}
    )
    assert "errors" not in answer, answer["errors"]
    execution = answer["data"]["executeWorkflow"]
    assert execution["status"] == "COMPLETED"
    assert execution["steps"] == [
        {"actionId": "action-1", "status": "SUCCESS"},
        {"actionId": "action-2", "status": "SUCCESS"},
    ]
    assert execution["progress"] == {"percentage": 100}
    assert execution["workflow"] == {"id": workflow["id"], "name": "Onboarding"}


async def test_execute_without_wait_answers_at_once(client, tokens):
    workflow = await create_workflow(client, tokens.headers(), wait(2_000))
    answer = await graphql(
        client, EXECUTE, tokens.headers("editor"), wf=workflow["id"], input={"wait": False}
    )
    assert answer["data"]["executeWorkflow"]["status"] in ("PENDING", "RUNNING")


async def test_a_wait_that_is_not_a_boolean_is_a_validation_error(client, tokens):
    workflow = await create_workflow(client, tokens.headers(), notify())
    answer = await graphql(
        client, EXECUTE, tokens.headers("editor"), wf=workflow["id"], input={"wait": "yes"}
    )
    assert answer["data"] is None
    assert [e["extensions"]["code"] for e in answer["errors"]] == ["VALIDATION_ERROR"]
