"""Errors the service raises, each with the HTTP status and the field it is about.

The API turns them into RFC 9457 problem documents; the CLI prints them as
one line. They never carry a key, a resident ID or other personal data.
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """A request the service refuses: `status`, a short `title`, `detail`, the `field`."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str, field: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.extra = extra


class Invalid(ServiceError):
    status = 422
    title = "Invalid request"


class Unauthorized(ServiceError):
    status = 401
    title = "Authentication required"


class Forbidden(ServiceError):
    status = 403
    title = "Forbidden"


class NotFound(ServiceError):
    status = 404
    title = "Not found"


class Conflict(ServiceError):
    status = 409
    title = "Conflict"


class Unavailable(ServiceError):
    """The service cannot answer yet (still warming up); the client may retry soon."""

    status = 503
    title = "Service unavailable"
