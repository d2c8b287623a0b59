"""Errors the storage layer and the services raise.

Domain errors are answers (the same in every storage mode) and never trigger a fallback.
`StorageUnavailable` is the one infrastructure fault the storage adapter falls back on;
drivers' errors are wrapped into it `from` the original.
"""

from __future__ import annotations

# Both storage backends answer constraint violations with exactly these messages.
DUPLICATE = "{name}: a record with this key or unique field already exists"
MISSING_REFERENCE = "{name}: a referenced record does not exist"
STILL_REFERENCED = "{name}: the record is still referenced by other records"
CHANGED_MEANWHILE = "{name}: the record changed meanwhile"


# Validation details name what a client sent (unknown field names, keys of free-form
# objects, paths): bounded, so no request makes an error answer large.
MAX_DETAIL_ITEMS = 20  # entries per object or list
MAX_DETAIL_TEXT = 200  # characters per key or string
MAX_DETAIL_DEPTH = 12
MORE = "…"


def bounded(details: object, depth: int = 0) -> object:
    """`details` cut to at most MAX_DETAIL_ITEMS entries per level (the rest counted under
    "…"), MAX_DETAIL_TEXT characters per key or string and MAX_DETAIL_DEPTH levels. Keys
    become strings, as JSON has them (list positions are ints in marshmallow's details)."""
    if isinstance(details, str):
        return details if len(details) <= MAX_DETAIL_TEXT else details[:MAX_DETAIL_TEXT] + MORE
    if not isinstance(details, dict | list | tuple):
        return details
    if depth == MAX_DETAIL_DEPTH:
        return MORE
    items = list(details.items() if isinstance(details, dict) else enumerate(details))
    kept = [
        (bounded(str(key)), bounded(value, depth + 1)) for key, value in items[:MAX_DETAIL_ITEMS]
    ]
    more = f"and {len(items) - MAX_DETAIL_ITEMS} more" if len(items) > MAX_DETAIL_ITEMS else None
    if isinstance(details, dict):
        return dict(kept) | ({MORE: more} if more else {})
    return [value for _, value in kept] + ([more] if more else [])


def error_body(code: str, message: str, details: object = None) -> dict:
    """The one error shape of the API: {"error": {"code", "message", "details"}}."""
    return {"error": {"code": code, "message": message, "details": details}}


class DomainError(Exception):
    """A request that cannot be honoured whatever the storage mode."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, details: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict:
        return error_body(self.code, self.message, self.details)


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class ValidationFailed(DomainError):
    status = 422
    code = "validation_failed"

    def to_dict(self) -> dict:
        return error_body(self.code, self.message, bounded(self.details))


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class TooManyAttempts(DomainError):
    """Failed authentications back off: try again in `retry_after` seconds."""

    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class GuardRefused(Conflict):
    """A mode switch refused because it could lose or hide data."""

    code = "guard_refused"


class StorageUnavailable(Exception):
    """An infrastructure fault: connection refused, timeout, server gone."""

    status = 503
    code = "storage_unavailable"

    def __init__(self, backend: str, message: str) -> None:
        super().__init__(f"{backend} unavailable: {message}")
        self.backend = backend
        self.message = message

    def to_dict(self) -> dict:
        return error_body(self.code, "storage is unavailable; try again shortly")
