"""Keep credentials out of the access log.

The SSE route accepts `?access_token=` (a browser `EventSource` cannot send headers), and
uvicorn logs each request's path with its query string. `RedactCredentials` sits on the
"uvicorn.access" logger (installed through uvicorn's `log_config`, see runcast/server.py)
and rewrites a record's arguments before any handler formats them.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus

# Query parameters whose value is a credential, compared after percent-decoding and
# lower-casing (Starlette decodes names too, so `access%5Ftoken` authenticates as well).
SENSITIVE_PARAMETERS = frozenset(
    {
        "access_token",
        "token",
        "id_token",
        "refresh_token",
        "api_key",
        "apikey",
        "key",
        "password",
        "secret",
        "client_secret",
        "authorization",
    }
)
REDACTED = "[redacted]"
_PARAMETER = re.compile(r"(?P<lead>[?&;])(?P<name>[^=&;#\s]*)=(?P<value>[^&;#\s\"]*)")
# A runcast token anywhere else in the line (e.g. under an unexpected parameter name).
_TOKEN = re.compile(r"rc_[A-Za-z0-9_\-]{16,}")


def redact(text: str) -> str:
    """`text` with the values of credential query parameters and runcast tokens replaced."""

    def parameter(match: re.Match[str]) -> str:
        if unquote_plus(match["name"]).strip().lower() not in SENSITIVE_PARAMETERS:
            return match[0]
        return f"{match['lead']}{match['name']}={REDACTED}"

    return _TOKEN.sub(REDACTED, _PARAMETER.sub(parameter, text))


class RedactCredentials(logging.Filter):
    """Redact credentials in a log record's message and string arguments; never drops it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = _clean(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_clean(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {key: _clean(value) for key, value in record.args.items()}
        return True


def _clean(value: object) -> object:
    return redact(value) if isinstance(value, str) else value
