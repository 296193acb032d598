"""PostgreSQL: many rows of a table bound as one JSON array, read back as typed columns by
`jsonb_to_recordset`, so that one statement writes them whatever their number and its
text does not depend on it (prepared once per connection). The column lists and their
types come from the table's metadata: nothing here names a column.

Used where a transaction writes many rows of several tables at once (intake,
app/intake/store.py): a statement per table through SQLAlchemy costs a round trip and
its parameter processing per row, several times the rest of the work of an event
(docs/benchmarks.md).
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Date, DateTime, Table, Uuid
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeDecorator, TypeEngine

_PG = postgresql.dialect()  # type: ignore[no-untyped-call]


@functools.cache
def _typed(table: Table, columns: tuple[str, ...]) -> str:
    """`name type, ...` of these columns, their PostgreSQL types compiled from metadata."""
    return ", ".join(f"{name} {table.c[name].type.compile(dialect=_PG)}" for name in columns)


@dataclass(frozen=True, slots=True)
class RecordSet:
    """Rows of `table` (these `columns`, default all) bound in parameter `:<name>`."""

    name: str
    table: Table
    columns: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return self.columns or tuple(self.table.columns.keys())

    def source(self) -> str:
        """`jsonb_to_recordset(...) AS u(col type, ...)`."""
        typed = _typed(self.table, self.names)
        return f"jsonb_to_recordset(CAST(:{self.name} AS jsonb)) AS u({typed})"

    def select_list(self) -> str:
        return ", ".join(f"u.{name}" for name in self.names)

    def insert(self) -> str:
        """INSERT of every bound row (a statement text built from metadata, never input)."""
        names = ", ".join(self.names)
        return (
            f"INSERT INTO {self.table.name} ({names}) "  # noqa: S608
            f"SELECT {self.select_list()} FROM {self.source()}"
        )

    def bind(self, rows: Sequence[dict[str, Any]]) -> dict[str, str]:
        """The rows as JSON (keys beyond the columns are ignored by the statement)."""
        return {self.name: orjson.dumps(rows, default=_json_default).decode()}


def _json_default(value: Any) -> str:
    if isinstance(value, uuid.UUID):  # asyncpg's own UUID subclass too
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _reader(kind: TypeEngine[Any]) -> Callable[[Any], Any] | None:
    impl = kind.impl if isinstance(kind, TypeDecorator) else kind
    if isinstance(impl, Uuid):
        return uuid.UUID
    if isinstance(impl, DateTime):
        return dt.datetime.fromisoformat
    if isinstance(impl, Date):
        return dt.date.fromisoformat
    return None  # text, numbers, booleans and JSON arrive as they are


@functools.cache
def _readers(table: Table) -> tuple[tuple[str, Callable[[Any], Any] | None], ...]:
    return tuple((c.key, _reader(c.type)) for c in table.columns)


def from_json(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    """A row of `table` read back as JSON (`to_jsonb`), with its columns' Python types."""
    out: dict[str, Any] = {}
    for name, read in _readers(table):
        value = row[name]
        out[name] = read(value) if read is not None and value is not None else value
    return out
