"""The role check against the memberships read with the token: a user in more workspaces
than the token's check reads, and changes of role between requests."""

from __future__ import annotations

from runcast.bootstrap import ensure_membership
from runcast.models import Membership, Role
from runcast.resolvers.auth import MEMBERSHIPS_WITH_TOKEN
from tests.helpers import WS, workflow_body


async def test_member_of_many_workspaces_reaches_each(client, tokens):
    """A token's check reads its user's memberships only up to a limit; past it, the role
    check reads the one workspace asked for, with the same answers."""

    slugs = [f"team-{n}" for n in range(MEMBERSHIPS_WITH_TOKEN + 2)]
    for slug in slugs:
        await ensure_membership("adam", slug, Role.VIEWER)
    headers = tokens.headers("admin")
    for slug in (slugs[0], slugs[-1]):
        response = await client.get(f"/api/workspaces/{slug}/workflows", headers=headers)
        assert response.status_code == 200
        denied = await client.post(
            f"/api/workspaces/{slug}/workflows", json=workflow_body(), headers=headers
        )
        assert denied.status_code == 403
        assert denied.json()["error"]["code"] == "FORBIDDEN"
    assert (await client.get(f"{WS}/workflows", headers=headers)).status_code == 200
    assert (await client.get("/api/workspaces/other/workflows", headers=headers)).status_code == 403
    assert (await client.get("/api/workspaces/nope/workflows", headers=headers)).status_code == 404


async def test_role_change_applies_to_the_next_request(client, tokens):
    headers = tokens.headers("viewer")
    body = workflow_body()
    assert (await client.post(f"{WS}/workflows", json=body, headers=headers)).status_code == 403
    await Membership.filter(user__name="victor").update(role=Role.ADMIN)
    assert (await client.post(f"{WS}/workflows", json=body, headers=headers)).status_code == 201
    await Membership.filter(user__name="victor").delete()
    response = await client.get(f"{WS}/workflows", headers=headers)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "FORBIDDEN"
