"""JSON-lines logs on stderr with the request id. Never personal data: no bodies, no query
strings, no exception messages (they can echo input), only types and code locations."""

from __future__ import annotations

import json
import logging
import sys
import traceback
from datetime import UTC, datetime
from typing import Any

from app.core.context import request_id_var


# Ours: python-json-logger writes tracebacks (messages can echo input) and copies every extra.
class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": request_id_var.get(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            entry["error_type"] = type(exc).__name__
            entry["stack"] = [
                f"{f.filename}:{f.lineno} in {f.name}"
                for f in traceback.extract_tb(exc.__traceback__)
            ]
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # uvicorn's access log prints the query string (it can hold a NIK or a name): ours is used.
    logging.getLogger("uvicorn.access").disabled = True
    quiet_chatty_loggers()


# Libraries that print SQL parameters or URLs with query strings at DEBUG/INFO.
# Alembic announces each of its plugins at INFO on every start (`db upgrade` reports what
# it migrated itself).
CHATTY_LOGGERS = ("sqlalchemy", "aiosqlite", "asyncpg", "httpx", "httpcore", "alembic")


def quiet_chatty_loggers() -> None:
    """Whatever RUJUKAN_LOG_LEVEL says, these never log below WARNING."""
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
