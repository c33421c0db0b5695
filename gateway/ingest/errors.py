"""The one error type of ingest: which input, which line, which field, what was expected."""

from __future__ import annotations


class InputError(ValueError):
    """Bad input that no mapping can fix. ``code`` is a StUF-style fault code (StUF055, ...)."""

    def __init__(
        self,
        message: str,
        *,
        source: str = "<input>",
        line: int | None = None,
        field: str | None = None,
        code: str = "StUF055",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.source = source
        self.line = line
        self.field = field
        self.code = code

    def __str__(self) -> str:
        where = self.source + (f":{self.line}" if self.line else "")
        field = f" [{self.field}]" if self.field else ""
        return f"{where}{field}: {self.message}"
