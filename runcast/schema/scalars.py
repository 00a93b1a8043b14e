"""Scalars of the schema beyond GraphQL's own: `DateTime`, the wire's timestamp.

Fields are annotated with `datetime`; the schema maps that type to this scalar
(`SCALAR_OVERRIDES`), in place of Strawberry's own `DateTime`, whose text differs from REST's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import strawberry

from runcast.domain.clock import iso


def _serialize(value: datetime | str) -> str | None:
    """A datetime as the wire's text; an event payload's timestamp is that text already."""
    return value if isinstance(value, str) else iso(value)


def _parse(value: object) -> datetime:
    """An ISO 8601 date-time; one without an offset is taken as UTC."""
    if not isinstance(value, str):
        raise ValueError("DateTime must be ISO 8601 text, like 2024-12-05T10:00:00.000Z")
    moment = datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


DateTime: Any = strawberry.scalar(
    datetime,
    name="DateTime",
    description="An instant as ISO 8601 text in UTC, to the millisecond: 2024-12-05T10:00:00.123Z",
    serialize=_serialize,
    parse_value=_parse,
)

SCALAR_OVERRIDES: dict[object, Any] = {datetime: DateTime}
