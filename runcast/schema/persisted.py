"""Automatic persisted queries, in Apollo's protocol.

A client sends `extensions.persistedQuery = {"version": 1, "sha256Hash": "<hex>"}` without
the query text. When this process knows the hash it runs the stored text; otherwise it
answers `PersistedQueryNotFound` (`extensions.code: PERSISTED_QUERY_NOT_FOUND`) and the
client sends the request again with the text, which is checked against the hash, run and
stored. The store is a bounded LRU per process: behind a load balancer a node that has not
seen a hash yet costs the client one retry.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from dataclasses import replace
from typing import Any

from strawberry.http import GraphQLRequestData

from runcast.errors import RuncastError, ValidationError
from runcast.schema.build import parsed_document

VERSION = 1
# Texts longer than this run but are not stored (a query within the token limit is far
# shorter), so the store holds at most its size times this many characters.
MAX_STORED_CHARS = 32 * 1024
_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")


class PersistedQueryNotFound(RuncastError):
    """PersistedQueryNotFound"""

    code = "PERSISTED_QUERY_NOT_FOUND"
    # Apollo's protocol: a 200 answer whose error makes the client retry with the text.
    http_status = 200

    def __init__(self) -> None:
        super().__init__("PersistedQueryNotFound")


class PersistedQueryNotSupported(RuncastError):
    """PersistedQueryNotSupported"""

    code = "PERSISTED_QUERY_NOT_SUPPORTED"
    # A 200 answer too: the client then stops sending hashes and sends texts.
    http_status = 200

    def __init__(self) -> None:
        super().__init__("PersistedQueryNotSupported")


def _refused(message: str, reason: str, **facts: Any) -> ValidationError:
    return ValidationError(message, [{"reason": reason, **facts}])


def sha256_hex(query: str) -> str:
    return hashlib.sha256(query.encode("utf-8", "surrogatepass")).hexdigest()


def requested_hash(extensions: dict[str, Any] | None) -> str | None:
    """The lower-case hash a request names in `extensions.persistedQuery`, None when it
    names none; a malformed `persistedQuery` is a VALIDATION_ERROR saying what is wrong."""
    if not extensions or extensions.get("persistedQuery") is None:
        return None
    persisted = extensions["persistedQuery"]
    if not isinstance(persisted, dict):
        raise _refused(
            "extensions.persistedQuery must be an object {version, sha256Hash}",
            "PERSISTED_QUERY_INVALID",
        )
    version = persisted.get("version")
    if type(version) is not int or version != VERSION:
        raise _refused(
            f"Unsupported persisted query version {version!r}: only version {VERSION} is supported",
            "PERSISTED_QUERY_UNSUPPORTED_VERSION",
            supportedVersions=[VERSION],
        )
    sha256_hash = persisted.get("sha256Hash")
    if not isinstance(sha256_hash, str) or not _SHA256_HEX.fullmatch(sha256_hash):
        raise _refused(
            "extensions.persistedQuery.sha256Hash must be the SHA-256 of the query text "
            "as 64 hexadecimal characters",
            "PERSISTED_QUERY_INVALID_HASH",
        )
    return sha256_hash.lower()


class PersistedQueries:
    """Query texts by their SHA-256, the `size` most recently used (0 turns the protocol
    off: hashes are then answered `PersistedQueryNotSupported`)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._texts: OrderedDict[str, str] = OrderedDict()

    def __len__(self) -> int:
        return len(self._texts)

    def get(self, sha256_hash: str) -> str | None:
        text = self._texts.get(sha256_hash)
        if text is not None:
            self._texts.move_to_end(sha256_hash)
        return text

    def put(self, sha256_hash: str, text: str) -> None:
        """Remember `text` if it is worth it: a document that parses, not overly long."""
        if self.size == 0 or len(text) > MAX_STORED_CHARS or parsed_document(text) is None:
            return
        self._texts[sha256_hash] = text
        self._texts.move_to_end(sha256_hash)
        while len(self._texts) > self.size:
            self._texts.popitem(last=False)

    def resolve(self, request: GraphQLRequestData) -> GraphQLRequestData:
        """`request` with the query text it stands for: the stored text for a hash alone,
        its own text (checked against the hash and stored) when it sends both; requests
        without a hash pass unchanged."""
        sha256_hash = requested_hash(request.extensions)
        if sha256_hash is None:
            return request
        if self.size == 0:
            raise PersistedQueryNotSupported()
        if request.query is None:
            text = self.get(sha256_hash)
            if text is None:
                raise PersistedQueryNotFound()
            return replace(request, query=text)
        computed = sha256_hex(request.query)
        if computed != sha256_hash:
            raise _refused(
                "extensions.persistedQuery.sha256Hash is not the SHA-256 of the query text",
                "PERSISTED_QUERY_HASH_MISMATCH",
                sha256Hash=sha256_hash,
                computed=computed,
            )
        self.put(sha256_hash, request.query)
        return request
