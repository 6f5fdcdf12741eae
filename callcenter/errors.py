"""Errors of the callcenter package (domain store, business rules, web, CLI).

    CallcenterError
    ├── SettingsError            a bad or missing setting; the message names the key
    ├── DatabaseUnavailable      the database URL is wrong or the server does not answer
    ├── ValidationError          bad input; ``field`` names the offending field
    ├── NotFound                 an entity that does not exist (merchant, task, user …)
    ├── Conflict                 a uniqueness or state rule refuses the change
    └── AuthError                login failed, or the role does not allow the action

HTTP handlers translate these in one middleware: each carries a stable ``error_id``.
"""

from __future__ import annotations


class CallcenterError(Exception):
    """Root of every error this package raises on purpose."""

    error_id = "callcenter_error"
    status = 500


class SettingsError(CallcenterError):
    """A bad or missing setting. ``key`` is the dotted key (``ami.port``)."""

    error_id = "bad_setting"

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"setting {key}: {problem}")
        self.key = key
        self.problem = problem


class DatabaseUnavailable(CallcenterError):
    """The database cannot be reached or opened."""

    error_id = "database_unavailable"
    status = 503


class ValidationError(CallcenterError):
    """Input that breaks a rule; ``field`` names the field."""

    error_id = "validation_failed"
    status = 422

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NotFound(CallcenterError):
    """The entity does not exist."""

    error_id = "not_found"
    status = 404


class Conflict(CallcenterError):
    """The change conflicts with existing data or the entity's state."""

    error_id = "conflict"
    status = 409


class AuthError(CallcenterError):
    """Not logged in, wrong credentials, or a role that may not do this."""

    error_id = "unauthorized"
    status = 401
