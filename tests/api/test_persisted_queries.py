"""Automatic persisted queries (Apollo's protocol) on POST and GET, GET's refusals and cache
headers: what a client sees, on both configurations."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx
import pytest

from tests.helpers import WS

ME = "query Me { me { id } }"
INTROSPECTION = "{ __schema { types { name fields { name } } } }"
GRAPHQL_JSON = {"content-type": "application/json"}


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def persisted(sha256_hash: Any, version: Any = 1) -> dict[str, Any]:
    return {"persistedQuery": {"version": version, "sha256Hash": sha256_hash}}


async def post(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> httpx.Response:
    return await client.post("/graphql", json=body, headers=headers)


async def get(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    extensions: Any = None,
    **params: str,
) -> httpx.Response:
    if extensions is not None:
        params["extensions"] = json.dumps(extensions)
    return await client.get("/graphql", params=params, headers=headers)


def assert_not_found(response: httpx.Response) -> None:
    """The answer Apollo's persisted-query link retries on: HTTP 200, one error whose
    message is PersistedQueryNotFound and code PERSISTED_QUERY_NOT_FOUND, never cached."""
    assert response.status_code == 200, response.text
    assert response.json() == {
        "errors": [
            {
                "message": "PersistedQueryNotFound",
                "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"},
            }
        ]
    }
    assert response.headers["cache-control"] == "no-store"


def assert_refused(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    return dict(error)


def reason_of(response: httpx.Response) -> str:
    (error,) = assert_refused(response, 400, "VALIDATION_ERROR")["extensions"]["details"]
    return str(error["reason"])


async def test_post_by_hash_is_not_found_then_registered_with_the_text(client, tokens):
    headers = tokens.headers("viewer")
    extensions = persisted(sha256(ME))
    assert_not_found(await post(client, headers, extensions=extensions))

    registered = await post(client, headers, query=ME, extensions=extensions)
    assert registered.status_code == 200, registered.text
    me = registered.json()["data"]["me"]["id"]
    assert me.startswith("usr_")

    by_hash = await post(client, headers, extensions=extensions, operationName="Me")
    assert by_hash.status_code == 200
    assert by_hash.json() == {"data": {"me": {"id": me}}}
    assert by_hash.headers["cache-control"] == "no-store"  # POST answers are never cached


async def test_get_by_hash_runs_a_registered_query_with_cache_headers(client, tokens):
    headers = tokens.headers("viewer")
    query = "query Named($w: String!) { workflows(workspaceSlug: $w) { id } }"
    extensions = persisted(sha256(query))
    variables = json.dumps({"w": "acme"})
    # A browser's GET (Accept: text/html) that names a hash gets the answer, not GraphiQL.
    assert_not_found(
        await get(client, {**headers, "accept": "text/html"}, extensions, variables=variables)
    )
    assert (await post(client, headers, query=query, extensions=extensions)).status_code == 200

    answer = await get(client, headers, extensions, variables=variables)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"data": {"workflows": []}}
    assert answer.headers["cache-control"] == "private, max-age=1"
    assert answer.headers["vary"] == "Authorization"


async def test_get_with_text_and_hash_registers_it(client, tokens):
    headers = tokens.headers("viewer")
    extensions = persisted(sha256(ME))
    registered = await get(client, headers, extensions, query=ME)
    assert registered.status_code == 200
    by_hash = await get(client, headers, extensions)
    assert by_hash.json() == registered.json()
    assert by_hash.json()["data"]["me"]["id"].startswith("usr_")


async def test_a_hash_in_upper_case_names_the_same_query(client, tokens):
    headers = tokens.headers("viewer")
    await post(client, headers, query=ME, extensions=persisted(sha256(ME)))
    answer = await post(client, headers, extensions=persisted(sha256(ME).upper()))
    assert answer.json()["data"]["me"]["id"].startswith("usr_")


BAD_PERSISTED: dict[str, tuple[Any, str]] = {
    "a short hash": (persisted("abc123"), "PERSISTED_QUERY_INVALID_HASH"),
    "64 characters, not hex": (persisted("z" * 64), "PERSISTED_QUERY_INVALID_HASH"),
    "a number as hash": (persisted(12345), "PERSISTED_QUERY_INVALID_HASH"),
    "no hash": ({"persistedQuery": {"version": 1}}, "PERSISTED_QUERY_INVALID_HASH"),
    "version 2": (persisted(sha256(ME), version=2), "PERSISTED_QUERY_UNSUPPORTED_VERSION"),
    "version as text": (persisted(sha256(ME), "1"), "PERSISTED_QUERY_UNSUPPORTED_VERSION"),
    "version true": (persisted(sha256(ME), version=True), "PERSISTED_QUERY_UNSUPPORTED_VERSION"),
    "no version": (
        {"persistedQuery": {"sha256Hash": sha256(ME)}},
        "PERSISTED_QUERY_UNSUPPORTED_VERSION",
    ),
    "not an object": ({"persistedQuery": [1, sha256(ME)]}, "PERSISTED_QUERY_INVALID"),
}


@pytest.mark.parametrize("name", list(BAD_PERSISTED), ids=list(BAD_PERSISTED))
@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_a_malformed_persisted_query_is_a_coded_400(client, tokens, name, method):
    extensions, reason = BAD_PERSISTED[name]
    headers = tokens.headers("viewer")
    if method == "POST":
        response = await post(client, headers, extensions=extensions)
    else:
        response = await get(client, headers, extensions)
    assert reason_of(response) == reason


@pytest.mark.parametrize("method", ["POST", "GET"])
async def test_a_hash_that_is_not_the_texts_is_refused_and_not_stored(client, tokens, method):
    headers = tokens.headers("viewer")
    other = "{ __typename }"
    extensions = persisted(sha256(other))
    if method == "POST":
        response = await post(client, headers, query=ME, extensions=extensions)
    else:
        response = await get(client, headers, extensions, query=ME)
    error = assert_refused(response, 400, "VALIDATION_ERROR")
    assert "not the SHA-256 of the query text" in error["message"]
    assert error["extensions"]["details"] == [
        {
            "reason": "PERSISTED_QUERY_HASH_MISMATCH",
            "sha256Hash": sha256(other),
            "computed": sha256(ME),
        }
    ]
    assert_not_found(await post(client, headers, extensions=extensions))


async def test_a_text_that_does_not_parse_runs_but_is_not_stored(client, tokens):
    headers = tokens.headers("viewer")
    broken = "{ me { id }"
    extensions = persisted(sha256(broken))
    answer = await post(client, headers, query=broken, extensions=extensions)
    assert answer.json()["errors"][0]["extensions"]["code"] == "VALIDATION_ERROR"
    assert_not_found(await post(client, headers, extensions=extensions))


async def test_a_text_over_32_kib_runs_but_is_not_stored(client, tokens):
    headers = tokens.headers("viewer")
    alias = "a" * (32 * 1024)
    long = f"{{ {alias}: __typename }}"
    extensions = persisted(sha256(long))
    answer = await post(client, headers, query=long, extensions=extensions)
    assert answer.json() == {"data": {alias: "Query"}}
    assert_not_found(await post(client, headers, extensions=extensions))


@pytest.mark.settings(graphql_persisted_queries=2)
async def test_the_store_keeps_the_most_recently_used_queries(client, tokens):
    headers = tokens.headers("viewer")
    texts = ["{ a: __typename }", "{ b: __typename }", "{ c: __typename }"]
    for text in texts[:2]:
        await post(client, headers, query=text, extensions=persisted(sha256(text)))
    # Using the first makes the second the least recently used, evicted by the third.
    assert (await post(client, headers, extensions=persisted(sha256(texts[0])))).json() == {
        "data": {"a": "Query"}
    }
    await post(client, headers, query=texts[2], extensions=persisted(sha256(texts[2])))
    assert_not_found(await post(client, headers, extensions=persisted(sha256(texts[1]))))
    for text, key in ((texts[0], "a"), (texts[2], "c")):
        answer = await post(client, headers, extensions=persisted(sha256(text)))
        assert answer.json() == {"data": {key: "Query"}}


@pytest.mark.settings(graphql_persisted_queries=0)
async def test_a_store_of_size_zero_turns_the_protocol_off(client, tokens):
    headers = tokens.headers("viewer")
    answer = await post(client, headers, extensions=persisted(sha256(ME)))
    assert answer.status_code == 200
    assert answer.json()["errors"] == [
        {
            "message": "PersistedQueryNotSupported",
            "extensions": {"code": "PERSISTED_QUERY_NOT_SUPPORTED"},
        }
    ]
    plain = await post(client, headers, query=ME)
    assert plain.json()["data"]["me"]["id"].startswith("usr_")


MUTATION = (
    'mutation { createWorkflow(workspaceSlug: "acme", input: {name: "Over GET", '
    'actions: [{type: "send_notification", config: {message: "hi"}}]}) { id } }'
)


async def test_get_refuses_mutations_with_405_and_runs_nothing(client, tokens):
    headers = tokens.headers("admin")
    error = assert_refused(await get(client, headers, query=MUTATION), 405, "METHOD_NOT_ALLOWED")
    assert "POST" in error["message"]
    refused = await get(client, headers, query=MUTATION)
    assert refused.headers["allow"] == "POST"
    # A mutation named by hash is refused over GET too, though POST ran it.
    extensions = persisted(sha256(MUTATION))
    ran = await post(client, headers, query=MUTATION, extensions=extensions)
    assert ran.status_code == 200, ran.text
    by_hash = await get(client, headers, extensions)
    assert_refused(by_hash, 405, "METHOD_NOT_ALLOWED")
    listed = await client.get(f"{WS}/workflows", headers=headers)
    assert [w["name"] for w in listed.json()["workflows"]] == ["Over GET"]


async def test_get_refuses_subscriptions_like_post(client, tokens):
    subscription = 'subscription { workspaceExecutions(workspaceSlug: "acme") { __typename } }'
    response = await get(client, tokens.headers("viewer"), query=subscription)
    assert "websockets" in assert_refused(response, 400, "VALIDATION_ERROR")["message"]


async def test_get_answers_with_errors_and_post_answers_are_not_stored(client, tokens):
    anonymous = await get(client, {}, query=ME)
    assert anonymous.json()["errors"][0]["extensions"]["code"] == "UNAUTHORIZED"
    assert anonymous.headers["cache-control"] == "no-store"
    assert anonymous.headers["vary"] == "Authorization"
    elsewhere = await get(
        client, tokens.headers("viewer"), query='{ workflows(workspaceSlug: "nowhere") { id } }'
    )
    assert elsewhere.json()["errors"][0]["extensions"]["code"] == "WORKSPACE_NOT_FOUND"
    assert elsewhere.headers["cache-control"] == "no-store"
    created = await post(client, tokens.headers("admin"), query=MUTATION)
    assert created.json()["data"]["createWorkflow"]["id"].startswith("wf_")
    assert created.headers["cache-control"] == "no-store"


@pytest.mark.settings(graphql_get_max_age_seconds=30)
async def test_the_max_age_of_get_answers_is_configurable(client, tokens):
    answer = await get(client, tokens.headers("viewer"), query=ME)
    assert answer.json()["data"]["me"]["id"].startswith("usr_")
    assert answer.headers["cache-control"] == "private, max-age=30"


@pytest.mark.settings(graphql_max_response_bytes=1024)
async def test_a_get_answer_replaced_by_the_response_cap_is_not_stored(client, tokens):
    answer = await get(client, tokens.headers("viewer"), query=INTROSPECTION)
    assert answer.json()["data"] is None
    assert answer.json()["errors"][0]["extensions"]["details"][0]["reason"] == (
        "RESPONSE_TOO_LARGE"
    )
    assert answer.headers["cache-control"] == "no-store"
