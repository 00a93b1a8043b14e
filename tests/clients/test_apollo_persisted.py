"""Apollo Client's persisted-queries link against a live server: the first request sends only
the hash, the server's PersistedQueryNotFound makes the link send the text, and later
requests send the hash alone, over POST and over GET."""

from __future__ import annotations

import pytest

from tests.clients.support import graphql_url

ME = "query Me { me { id name } }"


@pytest.mark.parametrize("use_get", [False, True], ids=["POST", "GET"])
async def test_apollo_registers_a_query_by_hash_and_then_sends_the_hash_alone(
    tokens, live, node_clients, use_get
):
    answer = await node_clients.run(
        "apollo-persisted.mjs",
        {
            "url": graphql_url(live),
            "token": tokens.viewer,
            "useGET": use_get,
            "queries": [{"name": "first", "document": ME}, {"name": "again", "document": ME}],
        },
    )
    assert "timedOut" not in answer, answer
    first, again = answer["results"]
    assert "errors" not in first and "errors" not in again, answer
    assert first["data"] == again["data"]
    assert first["data"]["me"]["id"].startswith("usr_")

    # One hash throughout: the SHA-256 of the document as Apollo Client prints it.
    hashes = {request["hash"] for request in answer["requests"]}
    assert len(hashes) == 1 and all(len(h) == 64 for h in hashes), answer["requests"]
    hashed = "GET" if use_get else "POST"
    assert [(r["method"], r["query"], r["status"]) for r in answer["requests"]] == [
        (hashed, False, 200),  # PersistedQueryNotFound
        ("POST", True, 200),  # the text with its hash: run and stored
        (hashed, False, 200),  # the hash alone
    ]
