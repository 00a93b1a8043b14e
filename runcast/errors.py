"""The exception tree. Each error carries its contract code and HTTP status.

RuncastError
 ├── ConfigError              bad settings (raised at start-up, never to clients)
 ├── ValidationError          400 VALIDATION_ERROR
 ├── Unauthorized             401 UNAUTHORIZED
 ├── Forbidden                403 FORBIDDEN
 ├── NotFound                 404 (WORKSPACE_/WORKFLOW_/EXECUTION_NOT_FOUND; NOT_FOUND for an
 │                                 id of no particular kind: GraphQL `node`, webhook ids)
 ├── RequestTimeout           408 REQUEST_TIMEOUT (a request body not sent in time)
 ├── Conflict                 409 (WORKFLOW_INACTIVE, EXECUTION_NOT_RUNNING,
 │                                 IDEMPOTENCY_KEY_REUSED)
 ├── WorkflowInvalid          422 WORKFLOW_INVALID
 └── TooManyConnections       429 TOO_MANY_CONNECTIONS (per client address)
"""

from __future__ import annotations

from typing import Any


class RuncastError(Exception):
    """Something went wrong that a client should hear about in the contract's terms."""

    code = "INTERNAL_ERROR"
    http_status = 500

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_body(self) -> dict[str, Any]:
        """The REST error body: `{"error": {"code", "message", "details"?}}`."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            error["details"] = self.details
        return {"error": error}

    @property
    def extensions(self) -> dict[str, Any]:
        """GraphQL error extensions; graphql-core copies them onto the located error."""
        extensions: dict[str, Any] = {"code": self.code}
        if self.details:
            extensions["details"] = self.details
        return extensions

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"


class ConfigError(RuncastError):
    """The server's settings are invalid."""

    code = "CONFIG_ERROR"


class ValidationError(RuncastError):
    """The request is malformed: bad JSON, wrong types, unknown enum, out-of-range number."""

    code = "VALIDATION_ERROR"
    http_status = 400


class Unauthorized(RuncastError):
    """Authentication required."""

    code = "UNAUTHORIZED"
    http_status = 401

    def __init__(self, message: str = "Authentication required") -> None:
        super().__init__(message)


class Forbidden(RuncastError):
    """Insufficient permissions."""

    code = "FORBIDDEN"
    http_status = 403

    def __init__(self, message: str = "Insufficient permissions") -> None:
        super().__init__(message)


class NotFound(RuncastError):
    """The named resource does not exist in this workspace."""

    http_status = 404


class WorkspaceNotFound(NotFound):
    """Workspace doesn't exist."""

    code = "WORKSPACE_NOT_FOUND"


class WorkflowNotFound(NotFound):
    """Workflow doesn't exist."""

    code = "WORKFLOW_NOT_FOUND"


class ExecutionNotFound(NotFound):
    """Execution doesn't exist."""

    code = "EXECUTION_NOT_FOUND"


class ObjectNotFound(NotFound):
    """No object the caller may reach has this id (API.md: `node(id)` answers null with
    NOT_FOUND; an unknown or rotated webhook id likewise), so the answer never tells what
    kind of object it was or whether one exists."""

    code = "NOT_FOUND"


class Conflict(RuncastError):
    """The resource is in a state that does not allow the operation."""

    http_status = 409


class WorkflowInactive(Conflict):
    """Workflow is not active."""

    code = "WORKFLOW_INACTIVE"


class ExecutionNotRunning(Conflict):
    """The execution has already finished."""

    code = "EXECUTION_NOT_RUNNING"


class IdempotencyKeyReused(Conflict):
    """The idempotency key was used before with a different request body."""

    code = "IDEMPOTENCY_KEY_REUSED"


class NotScheduled(Conflict):
    """The workflow has no schedule trigger to pause, resume or backfill."""

    code = "WORKFLOW_NOT_SCHEDULED"


class BackfillTooLarge(RuncastError):
    """A backfill's range holds more ticks than one request may start."""

    code = "BACKFILL_TOO_LARGE"
    http_status = 422


class WorkflowInvalid(RuncastError):
    """Workflow validation failed."""

    code = "WORKFLOW_INVALID"
    http_status = 422


class RequestTimeout(RuncastError):
    """The client did not finish sending its request body in time."""

    code = "REQUEST_TIMEOUT"
    http_status = 408


class TooManyConnections(RuncastError):
    """The client's address already holds as many connections as the server allows."""

    code = "TOO_MANY_CONNECTIONS"
    http_status = 429
