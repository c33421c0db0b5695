"""Structured JSON logs for the sidecar: one object per line, BSN-like numbers masked, never a payload.

Log calls in the gateway pass references (message and delivery ids, referentienummers, routes) and
reasons; as a last line of defence the formatter masks every free-standing nine-digit number,
which is how a BSN would slip through in an error text, and tells what an exception's own text quotes
by its shape (a bug's ``int()`` quotes the name it choked on).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from gateway.deliver.replies import mask
from gateway.mapping.privacy import unquoted

_STANDARD = set(vars(logging.makeLogRecord({})))


class JsonFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", ...extra}``; exceptions as type and message, masked."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": mask(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in ("message", "asctime", "color_message"):
                out[key] = mask(value) if isinstance(value, str) else value
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            out["error"] = mask(f"{type(exc).__name__}: {unquoted(str(exc))}")  # what a bug's text quotes: its shape
        return json.dumps(out, ensure_ascii=False, default=str)


def configure(level: str = "info", stream: Any = None) -> None:
    """Route every logger (ours and uvicorn's) through one JSON handler on stderr."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    # Alembic says a dozen lines at info when a store is made or migrated (its plugins, its DDL mode, each
    # revision): the store logs one line of its own instead (gateway.schema.run).
    logging.getLogger("alembic").setLevel(logging.WARNING)
