"""Many rows in one statement, straight to the driver: what group commit writes with.

Batches of thousands of rows skip SQLAlchemy's per-row parameter processing (several times the
cost of the driver's own): each statement is compiled once per set of row keys and JSON values
are serialised here.  On PostgreSQL a plain insert is a ``COPY`` (psycopg's executemany spends
~15 µs of Python per row, COPY ~3 µs), and an upsert one ``INSERT ... SELECT * FROM unnest``
of one array per column.  On SQLite, rows go in one multi-row ``INSERT ... VALUES (...),
(...)`` per chunk rather than ``executemany``: the driver lets go of the GIL for every step,
and with the event loop waiting on the same core each of those is a thread switch.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import JSON, Engine, Insert

__all__ = ["BulkWriter"]

SQLITE_CHUNK_ROWS = 256  # rows per multi-row INSERT on SQLite
SQLITE_MAX_PARAMETERS = 32_766  # SQLite's own limit on ? in one statement


class BulkWriter:
    """Executes inserts and upserts of plain rows (dicts with the same keys) in bulk.

    :param engine: the store's engine (its dialect decides the SQL).
    """

    def __init__(self, engine: Engine) -> None:
        self._dialect = engine.dialect
        # (statement id, row keys) -> (SQL, the row getter in parameter order, JSON column
        # positions, bulk mode, the statement, kept so that its id is not reused).
        self._compiled: dict[tuple[int, tuple[str, ...]], Any] = {}

    def execute(
        self, connection: Any, statement: Insert, rows: list[dict[str, Any]], *, plain: bool
    ) -> None:
        """Run ``statement`` for every row, in the driver connection's transaction.

        :param connection: a DBAPI connection (sqlite3's or psycopg's), not SQLAlchemy's: the
            writer holds one and pays no pool or event cost per batch.
        :param plain: an INSERT without ON CONFLICT (COPY on PostgreSQL).
        """
        keys = tuple(rows[0])
        cache_key = (id(statement), keys)
        compiled = self._compiled.get(cache_key)
        if compiled is None:
            compiled = self._compiled[cache_key] = self._compile(statement, keys, plain=plain)
        sql, getter, json_at, bulk, _statement = compiled
        values: list[tuple[Any, ...]]
        if len(keys) == 1:
            values = [(getter(row),) for row in rows]
        elif json_at:
            values = []
            for row in rows:
                items = list(getter(row))
                for i in json_at:
                    items[i] = orjson.dumps(items[i]).decode()
                values.append(tuple(items))
        else:
            values = [getter(row) for row in rows]
        cursor = connection.cursor()
        try:
            if bulk == "rows":
                # sql is (head, one row's placeholders, tail, {rows: statement}).
                head, row_sql, tail, statements = sql
                chunk = min(SQLITE_CHUNK_ROWS, SQLITE_MAX_PARAMETERS // len(keys))
                for start in range(0, len(values), chunk):
                    part = values[start : start + chunk]
                    text = statements.get(len(part))
                    if text is None:
                        text = statements[len(part)] = (
                            head + ", ".join([row_sql] * len(part)) + tail
                        )
                    cursor.execute(text, [item for row in part for item in row])
            elif bulk is None:
                cursor.executemany(sql, values)
            elif bulk == "copy":
                with cursor.copy(sql) as copy:
                    for item in values:
                        copy.write_row(item)
            else:
                cursor.execute(sql, tuple(list(column) for column in zip(*values, strict=True)))
        finally:
            cursor.close()

    def _compile(self, statement: Insert, keys: tuple[str, ...], *, plain: bool) -> tuple[Any, ...]:
        table = statement.table
        dialect = self._dialect
        done = statement.compile(dialect=dialect, column_keys=list(keys))
        order = tuple(done.positiontup or ()) if done.positional else keys
        json_at = tuple(i for i, key in enumerate(order) if isinstance(table.c[key].type, JSON))
        sql, bulk = str(done), None
        if dialect.name == "sqlite":
            opening = sql.index(" VALUES (") + len(" VALUES ")
            closing = sql.index(")", opening) + 1
            bulk = "rows"
            return (
                (sql[:opening], sql[opening:closing], sql[closing:], {}),
                itemgetter(*order),
                json_at,
                bulk,
                statement,
            )
        if dialect.name == "postgresql":
            quote = dialect.identifier_preparer.quote
            columns = ", ".join(quote(key) for key in order)
            if plain:
                bulk = "copy"
                sql = f"COPY {quote(table.name)} ({columns}) FROM STDIN"
            else:
                # All rows in one statement, one array per column (unnest), the ON CONFLICT
                # clause as compiled (rows are unique per key: merged before they get here).
                arrays = ", ".join(
                    f"%b::{table.c[key].type.compile(dialect=dialect)}[]" for key in order
                )
                conflict = sql[sql.index(" ON CONFLICT") :]
                bulk = "unnest"
                # Names from the table's own metadata, quoted; values are parameters (%b:
                # binary, which psycopg dumps several times faster for arrays).
                sql = (
                    f"INSERT INTO {quote(table.name)} ({columns}) "  # noqa: S608
                    f"SELECT * FROM unnest({arrays}){conflict}"
                )
        return (sql, itemgetter(*order), json_at, bulk, statement)
