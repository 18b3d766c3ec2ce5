"""Errors that tell the user what to fix in the input (file, line, field)."""

from __future__ import annotations

from pathlib import Path


class CohortInputError(Exception):
    """The input cannot be graded as it is; the message names the file, line and field."""

    def __init__(
        self, message: str, *, path: Path | str | None = None, line: int | None = None
    ) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        where = self.path or ""
        if where and line is not None:
            where += f", line {line}"
        super().__init__(f"{where}: {message}" if where else message)
