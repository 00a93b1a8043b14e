"""`call_api` refuses internal addresses unless RUNCAST_ALLOW_PRIVATE_NETWORK is on."""

from __future__ import annotations

import pytest

from runcast.engine.http_guard import create_http_policy, is_blocked
from tests.conftest import start_server, stop_server
from tests.helpers import WS, create_workflow
from tests.receiver import running_receiver

BLOCKED_URLS = [
    "http://127.0.0.1:9/x",
    "http://10.0.0.1/x",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]:9/x",
    "http://[::ffff:127.0.0.1]:9/x",
    "http://localhost:9/x",
    "http://100.64.0.1/x",
    "http://192.168.1.1/x",
    "http://0.0.0.0:9/x",
]


@pytest.mark.parametrize("url", BLOCKED_URLS)
async def test_internal_addresses_are_refused(client, tokens, url):
    workflow = await create_workflow(
        client, tokens.headers(), {"type": "call_api", "config": {"url": url}}
    )
    response = await client.post(
        f"{WS}/workflows/{workflow['id']}/execute",
        json={"wait": True},
        headers=tokens.headers("editor"),
    )
    execution = response.json()["execution"]
    assert execution["status"] == "FAILED"
    assert "internal address" in execution["steps"][0]["error"]


@pytest.mark.parametrize(
    ("address", "blocked"),
    [
        ("127.0.0.1", True),
        ("10.0.0.1", True),
        ("172.16.0.1", True),
        ("192.168.0.1", True),
        ("169.254.169.254", True),
        ("100.64.0.1", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("fd00:ec2::254", True),
        ("fe80::1", True),
        ("::127.0.0.1", True),
        ("64:ff9b::a9fe:a9fe", True),
        ("2002:7f00:1::", True),
        ("224.0.0.1", True),
        ("93.184.216.34", False),
        ("2606:4700:4700::1111", False),
    ],
)
def test_address_classification(address, blocked):
    assert is_blocked(address) is blocked


async def test_redirect_to_a_blocked_address_is_refused():
    """127.0.0.2 plays a public server that redirects to 127.0.0.1 (internal)."""
    async with running_receiver() as internal:
        public = await start_server(internal_redirector(internal.url), host="127.0.0.2")
        policy = create_http_policy(False, blocked=lambda a: a != "127.0.0.2")
        try:
            response = await policy.client.get(f"{public.url}/hop")
        except Exception as exc:
            error = exc
        else:
            raise AssertionError(f"redirect was followed: {response.status_code}")
        finally:
            await policy.aclose()
            await stop_server(public)
    assert "internal address" in str(error.__cause__ or error.__context__ or error)
    assert internal.requests == []


def internal_redirector(target: str):
    from starlette.applications import Starlette
    from starlette.responses import RedirectResponse
    from starlette.routing import Route

    async def hop(request):
        return RedirectResponse(f"{target}/secret", status_code=302)

    return Starlette(routes=[Route("/hop", hop)])


@pytest.mark.settings(allow_private_network=True)
async def test_allowed_when_the_setting_is_on(client, tokens):
    async with running_receiver() as receiver:
        workflow = await create_workflow(
            client,
            tokens.headers(),
            {"type": "call_api", "config": {"url": f"{receiver.url}/redirect?to=/final"}},
        )
        response = await client.post(
            f"{WS}/workflows/{workflow['id']}/execute",
            json={"wait": True},
            headers=tokens.headers("editor"),
        )
    execution = response.json()["execution"]
    assert execution["status"] == "COMPLETED"
    assert execution["steps"][0]["output"]["url"].endswith("/final")
    assert [r.path for r in receiver.requests] == ["/redirect", "/final"]
