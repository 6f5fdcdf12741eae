"""Errors of the business package (wrap-up records, tasks, delivery to the business system).

    BusinessError (CallcenterError)
    ├── WrapupInvalid (ValidationError)      422 ``validation_failed``; ``errors`` lists every
    │                                        bad field, ``field`` is the first one
    ├── PossibleDuplicate (Conflict)         409 ``possible_duplicate``: an open task of the same
    │                                        kind (and terminal) exists; link the call to it or
    │                                        confirm a new one
    ├── TaskStateConflict (Conflict)         409 ``task_state_conflict``: the action does not
    │                                        apply to the task's status (done → on_site …)
    ├── UnknownTask (NotFound)               404 ``unknown_task``
    ├── BadSignature (AuthError)             401 ``bad_signature``: webhook HMAC missing/wrong
    ├── NotYourCall (AuthError)              403 ``forbidden``: another agent's call
    ├── MalformedEvent (ValidationError)     422 ``malformed_event``: a webhook body we cannot read
    └── DeliveryError                        one delivery attempt to the business system failed
        ├── DeliveryTemporary                5xx, 408, 425, 429, timeout, connection refused:
        │                                    retry later with back-off
        └── DeliveryRejected                 any other 4xx: the same body will never be taken

The ``CallcenterError`` subclasses give the web middleware the HTTP status and ``error_id``; the
two delivery errors never reach HTTP: the outbox worker turns them into retries or a dead letter.
"""

from __future__ import annotations

from dataclasses import dataclass

from callcenter.errors import AuthError, CallcenterError, Conflict, NotFound, ValidationError


class BusinessError(CallcenterError):
    """Root of every error this package raises on purpose."""

    error_id = "business_error"


@dataclass(frozen=True, slots=True)
class FieldError:
    """One rule a wrap-up field breaks."""

    field: str
    message: str


class WrapupInvalid(ValidationError, BusinessError):
    """Every field of a wrap-up that breaks a rule, found in one pass (the form shows all)."""

    def __init__(self, errors: list[FieldError]) -> None:
        if not errors:
            raise ValueError("WrapupInvalid needs at least one error")
        super().__init__(errors[0].field, "; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = tuple(errors)

    def __str__(self) -> str:
        return self.message


class PossibleDuplicate(Conflict, BusinessError):
    """An open task the call probably belongs to; ``task_numbers`` lists them."""

    error_id = "possible_duplicate"

    def __init__(self, task_numbers: list[str]) -> None:
        super().__init__(
            f"open task(s) {', '.join(task_numbers)} already cover this; link the call to one "
            "(link_task_number) or confirm a new task (new_despite_open)")
        self.task_numbers = tuple(task_numbers)


class TaskStateConflict(Conflict, BusinessError):
    """The action is not allowed from the task's current status."""

    error_id = "task_state_conflict"


class UnknownTask(NotFound, BusinessError):
    error_id = "unknown_task"


class BadSignature(AuthError, BusinessError):
    error_id = "bad_signature"


class MalformedEvent(ValidationError, BusinessError):
    error_id = "malformed_event"


class DeliveryError(BusinessError):
    """A delivery attempt failed; ``http_status`` is the answer's status (0: no answer)."""

    def __init__(self, message: str, http_status: int = 0) -> None:
        super().__init__(message)
        self.http_status = http_status


class DeliveryTemporary(DeliveryError):
    """Worth retrying: the system is down, slow, overloaded or briefly refusing."""


class DeliveryRejected(DeliveryError):
    """Not worth retrying: the system understood the request and refuses it."""


class NotYourCall(AuthError, BusinessError):
    """Only the agent who took the call records its wrap-up (403)."""

    error_id = "forbidden"
    status = 403
