"""The one SQLite connection of the process, its pragmas, transactions and migrations."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from bot.storage.migrations import MIGRATIONS

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000
# Bookkeeping gives way to another process's write at once; it is retried in a few seconds.
WAIT_IF_BUSY_MS = 20


# Instants are fixed-width UTC text, 'YYYY-MM-DD HH:MM:SS', so that text order is time order.
# strftime('%Y') does not zero-pad years below 1000 on every platform (a stored '26-11-28 ...'
# sorted after every real date and broke each reader), so the text is built digit by digit.
# Reading: a positional check of the shape (length, separators, ASCII), then
# `datetime.fromisoformat`, which rejects any non-digit in a number field; about twice as
# fast as a regex with datetime(*groups), which mattered when start-up read every session.
_SEPARATORS = ((4, "-"), (7, "-"), (10, " "), (13, ":"), (16, ":"))


class BadStoredValue(ValueError):
    """A row holds a value that is not in the stored form; readers skip the row and say so."""


def to_db(moment: datetime) -> str:
    """An aware datetime as a sortable UTC text, the only form instants take in the database."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to the database")
    u = moment.astimezone(UTC)
    return f"{u.year:04d}-{u.month:02d}-{u.day:02d} {u.hour:02d}:{u.minute:02d}:{u.second:02d}"


def from_db(text: str | None) -> datetime | None:
    """Reads an instant back strictly: anything else raises BadStoredValue."""
    if text is None:
        return None
    if (
        type(text) is not str
        or len(text) != 19
        or not text.isascii()
        or any(text[i] != sep for i, sep in _SEPARATORS)
    ):
        raise BadStoredValue(f"not a stored instant: {str(text)[:40]!r}")
    try:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    except ValueError as exc:
        raise BadStoredValue(f"not a stored instant: {text!r}") from exc


T = TypeVar("T")
BadRowHook = Callable[[str, str], None]


class Database:
    """Wraps the process's aiosqlite connections: one that writes, one that only reads.

    Handlers run concurrently on one event loop and share the writing connection, so a
    transaction holds a lock: statements from other tasks wait instead of slipping into it.
    Reads outside the reader's own transaction go to the second connection: in WAL mode a
    reader never waits for a writer, so an answer never queues behind a write that waits for
    another process's lock (an import), nor behind this process's own transactions.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path) if str(path) != ":memory:" else path
        self._conn: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None  # None for ":memory:" (one database)
        self._lock = asyncio.Lock()
        self._tx_owner: asyncio.Task[Any] | None = None
        # Called once per bad row (what, detail): the application alerts coordinators.
        self.on_bad_row: BadRowHook | None = None
        self._bad_rows: set[str] = set()

    @property
    def conn(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise RuntimeError("database is not open")
        return self._conn

    async def open(self) -> None:
        if isinstance(self.path, Path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = await aiosqlite.connect(str(self.path), isolation_level=None)
        self._conn.row_factory = aiosqlite.Row
        try:
            # foreign_keys is off on every new connection and ignored inside a transaction.
            await self._conn.execute("PRAGMA foreign_keys = ON")
            await self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            await self._conn.execute("PRAGMA journal_mode = WAL")
            await self._conn.execute("PRAGMA synchronous = NORMAL")
            await self.migrate()
            if isinstance(self.path, Path):
                self._reader = await aiosqlite.connect(str(self.path), isolation_level=None)
                self._reader.row_factory = aiosqlite.Row
                await self._reader.execute("PRAGMA foreign_keys = ON")  # as the writer, alike
                await self._reader.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                await self._reader.execute("PRAGMA query_only = ON")
        except BaseException:
            # An open aiosqlite connection keeps its thread alive and hangs process exit.
            await self.close()
            raise

    async def close(self) -> None:
        if self._reader is not None:
            await self._reader.close()
            self._reader = None
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def __aenter__(self) -> Database:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def each(
        self, rows: Iterable[aiosqlite.Row], convert: Callable[[aiosqlite.Row], T]
    ) -> list[T]:
        """Converts rows to models, skipping (and reporting once) any row that cannot be read:
        one bad row must never stop a listing, a periodic job or the start-up."""
        result = []
        for row in rows:
            item = self.one(row, convert)
            if item is not None:
                result.append(item)
        return result

    def one(self, row: aiosqlite.Row | None, convert: Callable[[aiosqlite.Row], T]) -> T | None:
        if row is None:
            return None
        try:
            return convert(row)
        except (ValueError, TypeError, KeyError) as exc:  # BadStoredValue is a ValueError
            self._report_bad_row(row, convert, exc)
            return None

    def _report_bad_row(
        self, row: aiosqlite.Row, convert: Callable[..., Any], exc: Exception
    ) -> None:
        keys = row.keys()
        ident = next((f"{k}={row[k]}" for k in ("id", "telegram_id", "code") if k in keys), "?")
        self.report(f"{convert.__name__.strip('_')} {ident}", str(exc))

    def report(self, what: str, detail: str) -> None:
        """Logs a row that had to be skipped and tells the application, once per row."""
        if what in self._bad_rows:
            return
        self._bad_rows.add(what)
        log.error("skipping %s: %s", what, detail)
        if self.on_bad_row is not None:
            self.on_bad_row(what, detail)

    async def schema_version(self) -> int:
        row = await self.fetchone("PRAGMA user_version")
        return int(row[0]) if row else 0

    async def migrate(self) -> None:
        """Brings the schema up to date in place, one version per transaction."""
        current = await self.schema_version()
        for version, script in enumerate(MIGRATIONS, start=1):
            if version <= current:
                continue
            log.info("migrating database to schema version %d", version)
            async with self.transaction():
                for statement in _split_sql(script):
                    await self.conn.execute(statement)
                await self.conn.execute(f"PRAGMA user_version = {version}")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any exception; one task at a time."""
        task = asyncio.current_task()
        if self._tx_owner is task:
            yield  # nested use inside the same task joins the outer transaction
            return
        async with self._lock:
            self._tx_owner = task
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                await self.conn.execute("ROLLBACK")
                raise
            else:
                await self.conn.execute("COMMIT")
            finally:
                self._tx_owner = None

    @asynccontextmanager
    async def _statement(self) -> AsyncIterator[None]:
        if self._tx_owner is not None and self._tx_owner is asyncio.current_task():
            yield
        else:
            async with self._lock:
                yield

    async def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> int:
        """Runs one statement; returns lastrowid for an INSERT, else the changed row count."""
        async with self._statement():
            cursor = await self.conn.execute(sql, params)
            try:
                if sql.lstrip()[:6].upper() == "INSERT" and cursor.rowcount == 1:
                    return int(cursor.lastrowid or 0)
                return cursor.rowcount
            finally:
                await cursor.close()

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        async with self._statement():
            await self.conn.executemany(sql, rows)

    async def write_if_free(
        self, sql: str, rows: Sequence[Sequence[Any]], wait_ms: int = WAIT_IF_BUSY_MS
    ) -> bool:
        """One statement for many rows in its own transaction, unless another process holds
        the write lock for longer than `wait_ms`: then nothing is written and False returned.

        For bookkeeping that can wait for its next round (who was seen when). Statements of
        this process queue behind this one on the shared connection, so it must never sit in
        the busy timeout while answers wait.
        """
        if not rows:
            return True
        async with self._lock:
            conn = self.conn
            await conn.execute(f"PRAGMA busy_timeout = {int(wait_ms)}")
            try:
                try:
                    await conn.execute("BEGIN IMMEDIATE")
                except sqlite3.OperationalError as exc:
                    if _busy(exc):
                        return False
                    raise
                try:
                    await conn.executemany(sql, rows)
                    await conn.execute("COMMIT")
                except BaseException as exc:
                    await conn.execute("ROLLBACK")
                    if isinstance(exc, sqlite3.OperationalError) and _busy(exc):
                        return False
                    raise
                return True
            finally:
                await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")

    async def fetchall(
        self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> list[aiosqlite.Row]:
        """One hand-off to a database thread: the reader's, unless this task is inside a
        transaction (which must see its own writes)."""
        reader = self._reader
        if reader is not None and self._tx_owner is not asyncio.current_task():
            return list(await reader.execute_fetchall(sql, params))
        async with self._statement():
            return list(await self.conn.execute_fetchall(sql, params))

    async def fetchone(
        self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> aiosqlite.Row | None:
        """For statements of one row (a key, LIMIT 1, an aggregate)."""
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None


def _busy(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


def _split_sql(script: str) -> list[str]:
    """Migrations are plain statements separated by semicolons at line ends (no triggers)."""
    return [s.strip() for s in script.split(";\n") if s.strip()]
