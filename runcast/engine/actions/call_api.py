"""`call_api`: sends an HTTP request through the guarded shared client."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from runcast.engine.actions.base import ActionContext, ActionResult
from runcast.engine.actions.checks import (
    is_template,
    optional_choice,
    rendered_text,
    shown,
    unknown_keys,
)
from runcast.engine.actions.registry import ActionType
from runcast.engine.http_guard import BlockedAddressError
from runcast.jsonsafe import json_problem

SETTING = ("a call_api setting", "call_api settings")
KEYS = ("url", "method", "headers", "body")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
MAX_URL = 8_192
MAX_HEADERS = 50
MAX_HEADER_NAME = 256
MAX_HEADER_VALUE = 8_192
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
KEPT_RESPONSE_HEADERS = ("content-type", "content-length", "location", "retry-after", "etag")
MAX_BODY_BYTES = 64 * 1024
MAX_RETRY_AFTER_S = 60.0
SECRET_MARKERS = ("authorization", "cookie", "token", "secret", "password", "api-key", "apikey")


def _valid_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        return False


def _header_problems(headers: Any) -> list[str]:
    if headers is None:
        return []
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        return ["config.headers must be an object of string values"]
    if len(headers) > MAX_HEADERS:
        return [f"config.headers may hold at most {MAX_HEADERS} headers"]
    problems: list[str] = []
    for name, value in headers.items():
        if len(name) > MAX_HEADER_NAME or not HEADER_NAME.match(name):
            problems.append(
                f"config.headers: {shown(name)!r} is not a header name (1-{MAX_HEADER_NAME} "
                "letters, digits or !#$%&'*+.^_`|~-)"
            )
        elif len(value) > MAX_HEADER_VALUE or any(c in value for c in "\r\n\x00"):
            problems.append(
                f"config.headers.{name} must be at most {MAX_HEADER_VALUE} characters "
                "without line breaks"
            )
    return problems


def validate(config: dict[str, Any]) -> list[str]:
    errors = unknown_keys(config, KEYS, SETTING, "config.")
    url = config.get("url")
    if not isinstance(url, str) or not url.strip():
        errors.append("config.url is required: an http(s) URL")
    elif len(url) > MAX_URL:
        errors.append(f"config.url must be at most {MAX_URL} characters")
    elif not is_template(url) and not _valid_url(url):
        errors.append("config.url must be an absolute http or https URL")
    optional_choice(config, "method", METHODS, errors)
    errors.extend(_header_problems(config.get("headers")))
    return errors


def redact(headers: dict[str, str]) -> dict[str, str]:
    """Hide the values of headers that look like credentials."""
    return {
        name: "[redacted]" if any(m in name.lower() for m in SECRET_MARKERS) else value
        for name, value in headers.items()
    }


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def _parse_body(raw: bytes, content_type: str, truncated: bool) -> Any:
    text = raw.decode("utf-8", errors="replace")
    if "json" in content_type and not truncated:
        try:
            parsed = json.loads(text)
        except ValueError:
            return text
        return parsed if json_problem(parsed) is None else text
    return text


def _request(config: dict[str, Any], context: ActionContext) -> dict[str, Any]:
    method = str(config.get("method") or ("POST" if "body" in config else "GET")).upper()
    headers = {str(k): str(v) for k, v in (config.get("headers") or {}).items()}
    headers.setdefault("Idempotency-Key", context.idempotency_key)
    return {
        "url": str(config.get("url")),
        "method": method,
        "headers": headers,
        "body": config.get("body"),
    }


def _rendered_problem(config: dict[str, Any]) -> str | None:
    """Why the rendered url, method or a header value is not text, or None."""
    _, problem = rendered_text(config.get("method"), "method")
    if problem is not None:
        return problem
    needed = [("url", config.get("url"))]
    needed += [(f"headers.{k}", v) for k, v in (config.get("headers") or {}).items()]
    for key, value in needed:
        if value is None:
            return f"{key} rendered to null, not text"
        _, problem = rendered_text(value, key)
        if problem is not None:
            return problem
    return None


async def run(action: dict[str, Any], context: ActionContext) -> ActionResult:
    problem = _rendered_problem(action["config"])
    if problem is not None:
        return ActionResult(False, error=problem, retryable=False)
    request = _request(action["config"], context)
    if request["method"] not in METHODS:
        return ActionResult(
            False, error=f"method {shown(request['method'])} is not allowed", retryable=False
        )
    if not _valid_url(request["url"]):
        return ActionResult(
            False, error=f"url {shown(request['url'])!r} is not an http(s) URL", retryable=False
        )
    if context.dry_run:
        preview = {**request, "headers": redact(request["headers"])}
        return ActionResult(True, {"request": preview, "simulated": True})
    assert context.http is not None
    body = request["body"]
    kwargs: dict[str, Any] = {"headers": request["headers"]}
    if body is not None:
        if isinstance(body, str):
            kwargs["content"] = body.encode()
        else:
            kwargs["json"] = body
    try:
        async with context.http.client.stream(request["method"], request["url"], **kwargs) as resp:
            raw = b""
            truncated = False
            async for chunk in resp.aiter_bytes():
                raw += chunk
                if len(raw) > MAX_BODY_BYTES:
                    raw, truncated = raw[:MAX_BODY_BYTES], True
                    break
    except BlockedAddressError as exc:
        return ActionResult(False, error=str(exc), retryable=False)
    except httpx.HTTPError as exc:
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, BlockedAddressError):
            return ActionResult(False, error=str(cause), retryable=False)
        return ActionResult(
            False, error=f"request failed: {type(exc).__name__}: {exc}".rstrip(": ")
        )
    output: dict[str, Any] = {
        "status": resp.status_code,
        "url": str(resp.url),
        "headers": {h: resp.headers[h] for h in KEPT_RESPONSE_HEADERS if h in resp.headers},
        "body": _parse_body(raw, resp.headers.get("content-type", ""), truncated),
    }
    if truncated:
        output["bodyTruncated"] = True
    if resp.is_success:
        return ActionResult(True, output)
    status = resp.status_code
    return ActionResult(
        False,
        output,
        error=f"HTTP {status}",
        retryable=status >= 500 or status in (408, 429),
        retry_after_s=_retry_after(resp.headers.get("retry-after")),
    )


ACTION = ActionType("call_api", run, validate, dry_run=True, builtin=True)
