"""The service's errors: each carries the HTTP status and the OperationOutcome it answers with.

A route raises; one handler (cds_service/app.py `answer_error`) writes the OperationOutcome,
logs and counts refusals and sets the headers. The classes stay free of Flask so that the
request readers below the routes (validation, request_body, the store) can raise them too.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any


class ServiceError(Exception):
    """An error answered with `status` and one OperationOutcome issue (`code`: the FHIR
    IssueType, `expression`: the field at fault, when there is one)."""

    status = 500
    code = "exception"
    headers: Mapping[str, str] = MappingProxyType({})

    def __init__(self, diagnostics: str, expression: str | None = None) -> None:
        super().__init__(diagnostics)
        self.diagnostics = diagnostics
        self.expression = expression

    def issues(self) -> list[dict[str, Any]]:
        issue: dict[str, Any] = {"severity": "error", "code": self.code}
        issue["diagnostics"] = self.diagnostics
        if self.expression:
            issue["expression"] = [self.expression]
        return [issue]

    def operation_outcome(self) -> dict[str, Any]:
        """The FHIR OperationOutcome of this error."""
        return {"resourceType": "OperationOutcome", "issue": self.issues()}


class RequestValidationError(ServiceError, ValueError):
    """A request body breaks its schema; `field` names the offending field for the 400 answer."""

    status = 400
    code = "invalid"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field} {message}", field)
        self.args = (f"{field}: {message}",)  # str(): "field: message", as before
        self.field = field
        self.message = message


class AuthFailedError(ServiceError):
    """401, one answer for every reason (WWW-Authenticate: Bearer, no reason in the body;
    decision 0019). `reason` (a RefusalReason value, or "other" for an authenticator that gives
    none) goes to the log and /metrics only."""

    status = 401
    code = "login"
    headers = MappingProxyType({"WWW-Authenticate": "Bearer"})

    def __init__(self, reason: str = "other", diagnostics: str = "authentication required") -> None:
        super().__init__(diagnostics)
        self.args = (reason,)
        self.reason = reason


class ForbiddenError(ServiceError):
    """403: the caller may not have this; `reason` is logged and counted (closed set)."""

    status = 403
    code = "forbidden"

    def __init__(self, reason: str, diagnostics: str, expression: str | None = None) -> None:
        super().__init__(diagnostics, expression)
        self.reason = reason


class NotFoundError(ServiceError):
    status = 404
    code = "not-found"


class DataUnavailableError(ServiceError):
    """412: required data could be had neither from prefetch nor from the FHIR server."""

    status = 412
    code = "incomplete"

    def __init__(self, keys: tuple[str, ...], reasons: tuple[str, ...]) -> None:
        super().__init__(f"required data unavailable: {'; '.join(reasons)}")
        self.args = ("; ".join(reasons),)  # str(): the reasons, as before
        self.keys = keys
        self.reasons = reasons


NOT_ISSUED = "was not issued by this service to this client"


class CardsNotIssuedError(ServiceError):
    """400, one issue per refused feedback entry: the same answer for an unknown card and for
    another client's, so that it tells nothing about other clients' cards (decision 0017)."""

    status = 400
    code = "not-found"

    def __init__(self, indexes: tuple[int, ...]) -> None:
        super().__init__("feedback names cards not issued to this client")
        self.indexes = indexes

    def issues(self) -> list[dict[str, Any]]:
        return [
            {
                "severity": "error",
                "code": self.code,
                "diagnostics": f"feedback[{index}].card {NOT_ISSUED}",
                "expression": [f"feedback[{index}].card"],
            }
            for index in self.indexes
        ]


class TooLargeError(ServiceError):
    status = 413
    code = "too-costly"


class ThrottledError(ServiceError):
    """429 with Retry-After (whole seconds, as text)."""

    status = 429
    code = "throttled"

    def __init__(
        self, diagnostics: str, retry_after: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(diagnostics)
        self.headers = MappingProxyType({"Retry-After": retry_after, **(headers or {})})


class StoreUnavailableError(ServiceError):
    """503: the replay cache and the feedback store live in the database: without it, no
    answer."""

    status = 503
    code = "transient"

    def __init__(self) -> None:
        super().__init__("the service's database is unavailable")
