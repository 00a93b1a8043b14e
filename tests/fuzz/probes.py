"""HTTP requests to every route the app serves, built by Hypothesis: real and hostile path
segments, query parameters, headers and bodies."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.routing import Mount, Route

from tests.fuzz.values import ACTION_CONFIGS, dumps, json_values, odd_json_text
from tests.fuzz.world import World

EXTRA_METHODS = ("PUT", "OPTIONS", "HEAD", "PATCH", "DELETE", "TRACE")


@dataclass(frozen=True)
class RouteSpec:
    template: str
    methods: tuple[str, ...]
    params: tuple[str, ...]


def http_routes(app: Starlette) -> list[RouteSpec]:
    """Every HTTP route of `app`, mounted ones with their full path."""

    def walk(routes: list[Any], prefix: str) -> list[RouteSpec]:
        found: list[RouteSpec] = []
        for route in routes:
            if isinstance(route, Mount):
                found += walk(route.routes, prefix + route.path)
            elif isinstance(route, Route):
                methods = tuple(sorted(route.methods or ("GET",)))
                found.append(RouteSpec(prefix + route.path, methods, tuple(route.param_convertors)))
        return found

    return walk(list(app.routes), "")


@dataclass(frozen=True)
class Probe:
    """One request, every part already encoded as sent."""

    method: str
    label: str
    path: str
    query: tuple[tuple[str, str], ...]
    headers: tuple[tuple[str, str], ...]
    content: bytes | None
    must_succeed: bool = False  # a valid request, which must answer 2xx

    @property
    def url(self) -> str:
        return self.path + (f"?{urlencode(self.query)}" if self.query else "")

    def describe(self, world: World) -> str:
        """The request with tokens named by role, for a reproduction."""
        headers = {name: _named_tokens(value, world) for name, value in self.headers}
        parts = [f"{self.method} {_named_tokens(self.url, world)}"]
        if headers:
            parts.append(f"headers={headers}")
        if self.content is not None:
            parts.append(f"body={self.content!r}")
        return " ".join(parts)


def _named_tokens(text: str, world: World) -> str:
    for role in ("owner", "admin", "editor", "viewer", "outsider"):
        text = text.replace(getattr(world.tokens, role), f"<{role} token>")
    return text


# Segments sent exactly as written: encodings a router or decoder may trip on.
RAW_SEGMENTS = (
    "%00",
    "%2e%2e",
    "%2E",
    "..%2F..%2Fetc%2Fpasswd",
    "%2F",
    "%ff",
    "%C3%28",
    "%E2%80%AE",
    "%F0%9F%99%82",
    "%25",
    "%20",
    "acme%00",
    "%7B%7D",
    "*",
    "-1",
    "0",
    "null",
    "undefined",
)


NEAR_MISSES: tuple[Callable[[str], str], ...] = (
    str.upper,
    lambda value: value + "x",
    lambda value: value[:-1],
    lambda value: value + " ",
    lambda value: value * 3,
    lambda value: value + "\x00",
)


def _segment(value: str) -> str:
    return quote(value, safe="")


def segments(real: tuple[str, ...]) -> st.SearchStrategy[str]:
    """Path segments: real ids (most often), near misses, random and overlong text, and
    odd encodings."""
    reals = st.sampled_from(real)
    near = st.builds(lambda value, miss: miss(value), reals, st.sampled_from(NEAR_MISSES))
    return st.one_of(
        reals.map(_segment),
        reals.map(_segment),
        reals.map(_segment),
        near.map(_segment),
        st.text(max_size=60).map(_segment),
        st.text(min_size=41, max_size=400).map(_segment),
        st.sampled_from(RAW_SEGMENTS),
        st.sampled_from(["ws_", "wf_", "exec_", "usr_"]).map(lambda prefix: prefix + "0" * 60),
    )


header_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80)
STATUSES = ("PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED")
instants = st.one_of(
    st.datetimes().map(lambda moment: moment.isoformat()),
    st.datetimes().map(lambda moment: moment.isoformat() + "Z"),
    st.sampled_from(
        [
            "2024-12-05T10:00:00Z",
            "2024-12-05",
            "2024-13-45T99:99:99Z",
            "99999-01-01T00:00:00Z",
            "0000-00-00",
            "2024-12-05T10:00:00 01:00",
            "2024-12-05T10:00:00+25:00",
            "1e10",
            "now",
            " ",
        ]
    ),
    st.text(max_size=40),
)
numbers = st.one_of(
    st.integers().map(str),
    st.sampled_from(["", " ", "1.5", "1e3", "-0", "0x10", "NaN", "Infinity", "9" * 5_000]),
    st.integers(min_value=2**31, max_value=2**70).map(str),
)


def query_parameters(world: World) -> st.SearchStrategy[list[tuple[str, str]]]:
    """The history listing's filters and paging, the SSE route's, and random names."""
    tokens = st.sampled_from([world.tokens.admin, world.tokens.viewer, world.tokens.outsider])
    known = st.one_of(
        st.tuples(st.sampled_from(["limit", "offset"]), numbers),
        st.tuples(
            st.just("status"),
            st.one_of(
                st.sampled_from(STATUSES),
                st.lists(st.sampled_from(STATUSES), max_size=5).map(",".join),
                st.sampled_from(STATUSES).map(str.lower),
                st.text(max_size=30),
            ),
        ),
        st.tuples(st.sampled_from(["from", "to"]), instants),
        st.tuples(st.sampled_from(["cursor", "after", "before"]), st.text(max_size=80)),
        st.tuples(
            st.just("executionId"),
            st.one_of(st.sampled_from(world.execution_ids), st.text(max_size=60)),
        ),
        st.tuples(st.just("access_token"), st.one_of(tokens, st.text(max_size=60))),
        st.tuples(st.just("lastEventId"), numbers),
    )
    return st.lists(
        st.one_of(known, known, st.tuples(st.text(max_size=12), st.text(max_size=40))), max_size=5
    )


# Ways to send a real token wrongly.
TOKEN_FORMS = ("bearer {0}", "Bearer  {0}", "{0}", "Basic {0}", "Bearer {0}x", "Bearer {0}{0}")


def authorization(world: World) -> st.SearchStrategy[str | None]:
    """Mostly a real token of a role that may do everything, then every way to get it wrong."""
    tokens = world.tokens
    real = st.sampled_from([tokens.owner, tokens.owner, tokens.admin, tokens.editor, tokens.viewer])
    return st.one_of(
        real.map("Bearer {}".format),
        real.map("Bearer {}".format),
        real.map("Bearer {}".format),
        st.just(f"Bearer {tokens.outsider}"),
        st.builds(lambda token, form: form.format(token), real, st.sampled_from(TOKEN_FORMS)),
        st.sampled_from(["", "Bearer", "Bearer ", "Bearer " + "x" * 5_000]),
        header_text,
        st.none(),
    )


CONTENT_TYPES = (
    "application/json",
    "application/json; charset=utf-8",
    "application/json; charset=utf-16",
    "application/graphql",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/octet-stream",
    "",
)


def headers(world: World) -> st.SearchStrategy[list[tuple[str, str]]]:
    """Authorization, a content type (JSON most of the time: without it GraphQL reads no
    body at all), and sometimes the other headers the API reads."""
    json_type = st.just("application/json")
    optional = st.fixed_dictionaries(
        {
            "Content-Type": st.one_of(
                json_type, json_type, json_type, st.sampled_from(CONTENT_TYPES), st.none()
            ),
        },
        optional={
            "Idempotency-Key": st.one_of(header_text, st.just("k" * 300)),
            "Last-Event-ID": st.one_of(numbers, header_text),
            "Accept": st.sampled_from(
                ["application/json", "text/event-stream", "text/html", "*/*"]
            ),
        },
    )

    def combine(auth: str | None, extra: dict[str, str | None]) -> list[tuple[str, str]]:
        # A header value never starts or ends with whitespace on the wire.
        pairs = [("Authorization", auth), *sorted(extra.items())]
        return [(name, value.strip()) for name, value in pairs if value is not None]

    return st.builds(combine, authorization(world), optional)


def _fuzzed(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`value` most of the time, otherwise any JSON value."""
    return st.one_of(value, value, json_values())


def workflow_bodies() -> st.SearchStrategy[dict[str, Any]]:
    """Workflow definitions, mostly well formed, each field sometimes wrong."""
    action = st.fixed_dictionaries(
        {
            "type": _fuzzed(
                st.sampled_from(
                    ["send_notification", "create_task", "call_api", "wait", "condition"]
                )
            ),
            "config": _fuzzed(st.sampled_from(ACTION_CONFIGS)),
        },
        optional={
            "id": _fuzzed(st.text(max_size=50)),
            "name": _fuzzed(st.text(max_size=50)),
            "onError": _fuzzed(st.sampled_from(["stop", "continue", "retry"])),
            "timeout": _fuzzed(st.integers(min_value=-1, max_value=10**7)),
            "retries": st.integers(),
        },
    )
    return st.fixed_dictionaries(
        {},
        optional={
            "name": _fuzzed(st.text(max_size=300)),
            "description": _fuzzed(st.text(max_size=300)),
            "status": _fuzzed(st.sampled_from(["ACTIVE", "INACTIVE", "active"])),
            "trigger": _fuzzed(st.sampled_from([{"type": "manual"}, {"type": "webhook"}, {}])),
            "timeoutMs": _fuzzed(st.integers(min_value=-1, max_value=10**12)),
            "actions": _fuzzed(st.lists(action, max_size=4)),
        },
    )


def execute_bodies() -> st.SearchStrategy[dict[str, Any]]:
    """Execute requests; `wait` is never true (it holds the answer until a run ends)."""
    return st.fixed_dictionaries(
        {},
        optional={
            "triggerData": _fuzzed(
                st.dictionaries(st.text(max_size=10), json_values(), max_size=4)
            ),
            "variables": _fuzzed(st.dictionaries(st.text(max_size=10), json_values(), max_size=4)),
            "dryRun": st.one_of(st.booleans(), json_values()),
            "wait": st.sampled_from([False, None, "true", 1, 0, [], {}]),
        },
    )


def graphql_bodies() -> st.SearchStrategy[Any]:
    """GraphQL request envelopes with real and broken parts."""
    queries = st.one_of(
        st.sampled_from(
            [
                "{ me { id } }",
                "query($w: String!) { workflows(workspaceSlug: $w) { id } }",
                'subscription { workspaceExecutions(workspaceSlug: "acme") { status } }',
                'mutation { deleteWorkflow(workspaceSlug: "acme", id: "x") { id } }',
                "{ __typename }",
                "{",
                "",
            ]
        ),
        st.text(max_size=100),
        json_values(),
    )
    return st.fixed_dictionaries(
        {"query": queries},
        optional={
            "variables": st.one_of(
                st.fixed_dictionaries({"w": st.one_of(st.just("acme"), json_values())}),
                json_values(),
            ),
            "operationName": st.one_of(st.none(), st.text(max_size=20), json_values()),
            "extensions": json_values(),
        },
    )


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _shaped(template: str) -> tuple[st.SearchStrategy[Any], str]:
    """Well-formed-ish bodies for the route, and a body around `{}` that puts a raw JSON
    text where the route stores it."""
    if template.endswith("/execute"):
        return execute_bodies(), '{{"triggerData": {{"deep": {}}}}}'
    if template == "/graphql":
        return graphql_bodies(), '{{"query": "{{ me {{ id }} }}", "variables": {{"deep": {}}}}}'
    action = '{{"type": "send_notification", "config": {{"message": "hi", "extra": {}}}}}'
    return workflow_bodies(), '{{"name": "Deep", "actions": [' + action + "]}}"


def bodies(template: str) -> st.SearchStrategy[bytes | None]:
    """Bodies for a route: no body, JSON (shaped for the route or not), and hostile bytes."""
    shaped, around = _shaped(template)
    encoded = shaped.map(dumps).map(_utf8)
    return st.one_of(
        st.none(),
        encoded,
        encoded,
        encoded,
        json_values().map(dumps).map(_utf8),
        odd_json_text.map(_utf8),
        odd_json_text.map(lambda text: _utf8(around.format(text))),
        shaped.map(lambda body: json.dumps(body).encode("utf-16")),
        shaped.map(lambda body: json.dumps(body).encode("utf-16-le")),
        shaped.map(lambda body: b"\xef\xbb\xbf" + _utf8(dumps(body))),
        shaped.map(lambda body: _utf8(dumps(body))[:-1] + b"\xff}"),
        st.binary(max_size=200),
        st.sampled_from([b"", b" ", b"null", b"1", b'"s"', b"[]", b"{}", b"\x00"]),
        st.just(b" " * 1_000_001),
    )


def probes(world: World, routes: list[RouteSpec]) -> st.SearchStrategy[Probe]:
    """Any route, mostly with its own methods and real ids (the first workflow, which most
    requests aim at, is never deleted)."""
    parameters = {
        "workspace": segments(world.workspace_refs[:1] * 3 + world.workspace_refs),
        "workflow_id": segments(world.workflow_ids[:1] * 3 + world.workflow_ids),
        "execution_id": segments(world.execution_ids),
    }
    deletable = segments(world.workflow_ids[1:])
    other = segments(world.ids)
    # Built once: building strategies costs more than drawing from them.
    route_bodies = {route.template: bodies(route.template) for route in routes}
    queries, all_headers = query_parameters(world), headers(world)
    any_route = st.sampled_from(routes)
    methods = {
        route.template: st.one_of(
            st.sampled_from(route.methods),
            st.sampled_from(route.methods),
            st.sampled_from(EXTRA_METHODS),
        )
        for route in routes
    }

    @st.composite
    def probe(draw: st.DrawFn) -> Probe:
        route = draw(any_route)
        method = draw(methods[route.template])
        path = route.template
        for name in route.params:
            chosen = parameters.get(name, other)
            if (method, name) == ("DELETE", "workflow_id"):
                chosen = deletable
            path = path.replace("{" + name + "}", draw(chosen))
        return Probe(
            method=method,
            label=f"{method} {route.template}",
            path=path,
            query=tuple(draw(queries)),
            headers=tuple(draw(all_headers)),
            content=draw(route_bodies[route.template]),
        )

    return probe()


def valid_probes(world: World, routes: list[RouteSpec]) -> list[Probe]:
    """One request per route and method that should succeed, tried before the generated ones."""
    active, inactive = world.workflow_ids[0], world.workflow_ids[1]
    done = world.execution_ids[0]
    first, second = world.running_execution_ids
    me = json.dumps({"query": "{ me { id } }"}).encode()
    chosen: dict[tuple[str, str], tuple[dict[str, str], bytes | None]] = {
        ("POST", "/api/workspaces/{workspace}/workflows"): (
            {},
            json.dumps(
                {"name": "Checked", "actions": [{"type": "wait", "config": {"durationMs": 1}}]}
            ).encode(),
        ),
        ("PATCH", "/api/workspaces/{workspace}/workflows/{workflow_id}"): (
            {},
            b'{"description": "Checked"}',
        ),
        ("DELETE", "/api/workspaces/{workspace}/workflows/{workflow_id}"): (
            {"workflow_id": inactive},
            None,
        ),
        ("POST", "/api/workspaces/{workspace}/workflows/{workflow_id}/execute"): (
            {},
            b'{"triggerData": {"userId": "u1"}}',
        ),
        ("POST", "/api/workspaces/{workspace}/workflows/executions/{execution_id}"): (
            {"execution_id": first},
            None,
        ),
        ("DELETE", "/api/workspaces/{workspace}/workflows/executions/{execution_id}"): (
            {"execution_id": second},
            None,
        ),
        ("POST", "/graphql"): ({}, me),
        ("POST", "/api/workspaces/{workspace}/events"): ({}, b'{"name": "fuzz.checked"}'),
        ("POST", "/api/workspaces/{workspace}/workflows/{workflow_id}/webhook/rotate"): (
            {"workflow_id": world.webhook[0]},
            None,
        ),
        ("POST", "/api/workspaces/{workspace}/workflows/{workflow_id}/schedule/pause"): (
            {"workflow_id": world.scheduled},
            None,
        ),
        ("POST", "/api/workspaces/{workspace}/workflows/{workflow_id}/schedule/resume"): (
            {"workflow_id": world.scheduled},
            None,
        ),
        ("POST", "/api/workspaces/{workspace}/workflows/{workflow_id}/backfill"): (
            {"workflow_id": world.scheduled},
            b'{"from": "2026-01-01T00:00:00Z", "to": "2026-01-02T00:00:00Z"}',
        ),
    }
    defaults = {
        "workspace": "acme",
        "workflow_id": active,
        "execution_id": done,
        "hook_id": world.webhook[1],
    }
    found: list[Probe] = []
    for route in routes:
        for method in route.methods:
            ids, content = chosen.get((method, route.template), ({}, None))
            path = route.template
            for name in route.params:
                path = path.replace("{" + name + "}", ids.get(name, defaults.get(name, "")))
            query = (("query", "{ me { id } }"),) if route.template == "/graphql" else ()
            headers = [("Authorization", f"Bearer {world.tokens.owner}")]
            if content is not None:
                headers.append(("Content-Type", "application/json"))
            label = f"{method} {route.template}"
            found.append(Probe(method, label, path, query, tuple(headers), content, True))
    return found
