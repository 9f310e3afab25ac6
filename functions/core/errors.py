"""Typed domain errors; the API maps each class to one HTTP status in one place."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base class. ``field`` names the input at fault when there is one."""

    code = "error"

    def __init__(self, message: str, *, field: str | None = None, details: dict[str, Any] | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details or {}


class ValidationError(DomainError):
    code = "invalid"


class NotFoundError(DomainError):
    code = "not_found"


class ConflictError(DomainError):
    code = "conflict"


class ForbiddenError(DomainError):
    code = "forbidden"


class UnauthorizedError(DomainError):
    code = "unauthorized"


class InvalidStateError(DomainError):
    code = "invalid_state"


class RateLimitedError(DomainError):
    code = "rate_limited"


class UnavailableError(DomainError):
    """A dependency (router, gateway, provider) could not be reached."""

    code = "unavailable"
