"""A whole batch of rows in as few statements as possible, straight to the driver: what group
commit writes with.

Batches skip SQLAlchemy's per-row parameter processing (several times the cost of the
driver's own): each statement is compiled once per set of row keys and JSON values are
serialised here.  The writer's thread shares the core with the event loop, so every round trip
and every time the driver lets go of the GIL is a thread switch; the SQL keeps them few:

- PostgreSQL: the whole batch is ONE statement, run in autocommit (so it is its own
  transaction: no BEGIN, no COMMIT round trip): a data-modifying CTE per table, each an
  ``INSERT ... SELECT * FROM unnest(...)`` of one array per column, the arrays sent as the
  text of array literals (psycopg dumps a str in C, a list element by element in Python).
- SQLite: one multi-row ``INSERT ... VALUES (...), (...)`` per table and chunk, rather than
  ``executemany`` (which steps, and lets go of the GIL, once per row), then the commit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import JSON, Engine, Insert

__all__ = ["BulkWriter", "Part"]

SQLITE_CHUNK_ROWS = 256  # rows per multi-row INSERT on SQLite
SQLITE_MAX_PARAMETERS = 32_766  # SQLite's own limit on ? in one statement


@dataclass(frozen=True, slots=True)
class Part:
    """Rows (dicts with the same keys) for one INSERT (or upsert) statement."""

    statement: Insert
    rows: Sequence[Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class _Compiled:
    table: str
    columns: str  # quoted, in parameter order
    getter: Any  # row -> values in parameter order
    json_at: tuple[int, ...]  # positions of JSON values, serialised here
    conflict: str  # " ON CONFLICT ..." or ""
    casts: tuple[str, ...]  # PostgreSQL: the array type of each column
    statement: Insert  # kept so that its id, the cache key, is not reused


class BulkWriter:
    """Writes :class:`Part` s of a batch in bulk, in the driver connection's transaction.

    :param engine: the store's engine (its dialect decides the SQL).
    """

    def __init__(self, engine: Engine) -> None:
        self._dialect = engine.dialect
        self.postgresql = engine.dialect.name == "postgresql"
        self._compiled: dict[tuple[int, tuple[str, ...]], _Compiled] = {}
        self._sql: dict[tuple[Any, ...], str] = {}  # assembled statements, by shape

    def write(self, connection: Any, parts: Sequence[Part], touches: dict[str, float]) -> None:
        """Write every part, and the auth tokens' last-used times.

        :param connection: a DBAPI connection (sqlite3's or psycopg's, the latter in
            autocommit), not SQLAlchemy's: the writer holds one and pays no pool or event cost
            per batch.  On SQLite the caller commits.
        """
        parts = [part for part in parts if part.rows]
        if self.postgresql:
            self._write_postgresql(connection, parts, touches)
        else:
            self._write_sqlite(connection, parts, touches)

    def _write_postgresql(
        self, connection: Any, parts: list[Part], touches: dict[str, float]
    ) -> None:
        shape: list[Any] = []
        params: list[str] = []
        for part in parts:
            compiled = self._compile(part)
            shape.append(id(compiled))
            for column in zip(*self._values(compiled, part.rows), strict=True):
                params.append(_array_literal(column))
        if touches:
            shape.append("touches")
            params.append(_array_literal(tuple(touches)))
            params.append(_array_literal(tuple(touches.values())))
        if not params:
            return
        key = tuple(shape)
        sql = self._sql.get(key)
        if sql is None:
            sql = self._sql[key] = self._postgresql_statement(parts, bool(touches))
        cursor = connection.cursor()
        try:
            cursor.execute(sql, params)
        finally:
            cursor.close()

    def _postgresql_statement(self, parts: list[Part], touches: bool) -> str:
        steps = []
        for part in parts:
            compiled = self._compile(part)
            arrays = ", ".join(f"%s::{cast}[]" for cast in compiled.casts)
            steps.append(
                f"INSERT INTO {compiled.table} ({compiled.columns}) "  # noqa: S608
                f"SELECT * FROM unnest({arrays}){compiled.conflict}"
            )
        if touches:
            steps.append(
                "UPDATE auth_tokens SET last_used_at = v.at "
                "FROM unnest(%s::VARCHAR(64)[], %s::FLOAT[]) AS v(id, at) "
                "WHERE auth_tokens.id = v.id"
            )
        # Names from the tables' own metadata, quoted; values are parameters.  Data-modifying
        # CTEs all run, in one statement: one transaction, one round trip.
        ctes = ", ".join(f"s{n} AS ({step})" for n, step in enumerate(steps))
        return f"WITH {ctes} SELECT 1"

    def _write_sqlite(self, connection: Any, parts: list[Part], touches: dict[str, float]) -> None:
        cursor = connection.cursor()
        try:
            for part in parts:
                compiled = self._compile(part)
                values = self._values(compiled, part.rows)
                width = len(compiled.casts)
                chunk = min(SQLITE_CHUNK_ROWS, SQLITE_MAX_PARAMETERS // width)
                for start in range(0, len(values), chunk):
                    rows = values[start : start + chunk]
                    key = (id(compiled), len(rows))
                    sql = self._sql.get(key)
                    if sql is None:
                        marks = "(" + ", ".join("?" for _ in range(width)) + ")"
                        sql = self._sql[key] = (
                            f"INSERT INTO {compiled.table} ({compiled.columns}) VALUES "  # noqa: S608
                            + ", ".join([marks] * len(rows))
                            + compiled.conflict
                        )
                    cursor.execute(sql, [item for row in rows for item in row])
            if touches:
                cursor.executemany(
                    "UPDATE auth_tokens SET last_used_at = ? WHERE id = ?",
                    [(at, token_id) for token_id, at in touches.items()],
                )
        finally:
            cursor.close()

    def _values(
        self, compiled: _Compiled, rows: Sequence[Mapping[str, Any]]
    ) -> list[tuple[Any, ...]]:
        getter, json_at = compiled.getter, compiled.json_at
        if len(compiled.casts) == 1:
            return [(getter(row),) for row in rows]
        if not json_at:
            return [getter(row) for row in rows]
        values = []
        for row in rows:
            items = list(getter(row))
            for i in json_at:
                items[i] = orjson.dumps(items[i]).decode()
            values.append(tuple(items))
        return values

    def _compile(self, part: Part) -> _Compiled:
        statement, keys = part.statement, tuple(part.rows[0])
        cache_key = (id(statement), keys)
        compiled = self._compiled.get(cache_key)
        if compiled is not None:
            return compiled
        table = statement.table
        dialect = self._dialect
        done = statement.compile(dialect=dialect, column_keys=list(keys))
        order = tuple(done.positiontup or ()) if done.positional else keys
        sql = str(done)
        quote = dialect.identifier_preparer.quote
        compiled = self._compiled[cache_key] = _Compiled(
            table=quote(table.name),
            columns=", ".join(quote(key) for key in order),
            getter=itemgetter(*order),
            json_at=tuple(i for i, key in enumerate(order) if isinstance(table.c[key].type, JSON)),
            conflict=sql[sql.index(" ON CONFLICT") :] if " ON CONFLICT" in sql else "",
            casts=tuple(table.c[key].type.compile(dialect=dialect) for key in order),
            statement=statement,
        )
        return compiled


def _array_literal(values: tuple[Any, ...]) -> str:
    """PostgreSQL's text form of an array of these values (each quoted, NULL for None)."""
    items = []
    for value in values:
        if value is None:
            items.append("NULL")
        else:
            text = value if isinstance(value, str) else repr(value)
            if "\\" in text or '"' in text:
                text = text.replace("\\", "\\\\").replace('"', '\\"')
            items.append(f'"{text}"')
    return "{" + ",".join(items) + "}"
