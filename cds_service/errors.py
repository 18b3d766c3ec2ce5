"""Error types shared by the transport layer."""

from __future__ import annotations


class RequestValidationError(ValueError):
    """A request body breaks its schema; `field` names the offending field for the 400 answer."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
