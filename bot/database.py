"""The SQLite file: one shared aiosqlite connection, transactions and numbered migrations."""

from __future__ import annotations

import asyncio
import functools
import logging
import queue
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, Concatenate, Final, ParamSpec, Protocol, TypeVar

import aiosqlite

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
PRAGMAS: Final = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA busy_timeout=10000",
    "PRAGMA foreign_keys=ON",
    "PRAGMA synchronous=NORMAL",
)
T = TypeVar("T")
P = ParamSpec("P")


class Row(Protocol):
    """A result row by column name: sqlite3's and asyncpg's alike."""

    def __getitem__(self, key: str, /) -> Any: ...

    def keys(self) -> Iterable[str]: ...


def utc_now() -> datetime:
    return datetime.now(UTC)


def to_db_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def from_db_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


class _GroupCommitWriter:
    """One thread owns the write connection and commits waiting transactions together.

    Each transaction is a plain function of the connection. The thread takes every transaction
    waiting in its queue, runs each inside its own SAVEPOINT (so one that raises is undone on
    its own) within a single `BEGIN IMMEDIATE ... COMMIT`, and only after the COMMIT hands the
    results back to the event loop. A hundred members paying at once cost one commit, not a
    hundred, and no write ever holds a lock across an `await`.
    """

    MAX_BATCH: Final = 256

    def __init__(self, path: Path, loop: asyncio.AbstractEventLoop) -> None:
        self._path = path
        self._loop = loop
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="sqlite-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    async def stop(self) -> None:
        self._queue.put(None)
        await asyncio.to_thread(self._thread.join)

    def submit(self, fn: Callable[..., object], args: tuple[object, ...]) -> asyncio.Future[object]:
        future: asyncio.Future[object] = self._loop.create_future()
        self._queue.put((future, fn, args))
        return future

    def _run(self) -> None:
        try:
            connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            connection.row_factory = sqlite3.Row
            for pragma in PRAGMAS:
                connection.execute(pragma)
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            while (item := self._queue.get()) is not None:
                batch = [item]
                stop = False
                while len(batch) < self.MAX_BATCH:
                    try:
                        more = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        stop = True
                        break
                    batch.append(more)
                self._commit(connection, batch)
                if stop:
                    break
        finally:
            connection.close()

    def _commit(self, connection: sqlite3.Connection, batch: list[_Item]) -> None:
        outcomes: list[tuple[asyncio.Future[object], object, BaseException | None]] = []
        try:
            connection.execute("BEGIN IMMEDIATE")
            for future, fn, args in batch:
                connection.execute("SAVEPOINT one")
                try:
                    result = fn(connection, *args)
                except Exception as exc:  # noqa: BLE001 - it belongs to the caller
                    connection.execute("ROLLBACK TO one")
                    connection.execute("RELEASE one")
                    outcomes.append((future, None, exc))
                else:
                    connection.execute("RELEASE one")
                    outcomes.append((future, result, None))
            connection.execute("COMMIT")
        except BaseException as exc:  # noqa: BLE001 - every caller must hear of it
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            outcomes = [(future, None, exc) for future, _, _ in batch]
        self._loop.call_soon_threadsafe(_settle, outcomes)


_Item = tuple["asyncio.Future[object]", Callable[..., object], tuple[object, ...]]


def _settle(outcomes: list[tuple[asyncio.Future[object], object, BaseException | None]]) -> None:
    for future, result, error in outcomes:
        if future.cancelled():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)


class Database:
    """The SQLite file: writes through the group-commit writer, reads through aiosqlite.

    In WAL mode a reader never waits for the writer, and it only ever sees committed data.
    """

    def __init__(self, path: Path, *, on_write: Callable[[float], None] | None = None) -> None:
        self.path = path
        self._connection: aiosqlite.Connection | None = None
        self._writer: _GroupCommitWriter | None = None
        self._on_write = on_write  # told each write's seconds, from asking to commit
        # Reads that are functions of a connection (like the writes) run here, one at a time,
        # each in its own short transaction, so they see one consistent, committed state.
        self._reader: ThreadPoolExecutor | None = None
        self._read_connection: sqlite3.Connection | None = None

    async def open(self) -> None:
        """Open (creating and migrating the file if needed); a second call does nothing."""
        if self._connection is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = await aiosqlite.connect(self.path, isolation_level=None)
        connection.row_factory = aiosqlite.Row
        try:
            for pragma in PRAGMAS:
                await connection.execute(pragma)
            self._connection = connection
            await self._migrate()
            writer = _GroupCommitWriter(self.path, asyncio.get_running_loop())
            await asyncio.to_thread(writer.start)
            self._writer = writer
            self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-reader")
        except BaseException:
            self._connection = None
            await connection.close()
            raise

    async def close(self) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            await writer.stop()
        if self._reader is not None:
            reader, self._reader = self._reader, None
            await asyncio.get_running_loop().run_in_executor(reader, self._close_reader)
            reader.shutdown(wait=True)
        if self._connection is not None:
            connection, self._connection = self._connection, None
            await connection.close()

    async def __aenter__(self) -> Database:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def connection(self) -> aiosqlite.Connection:
        if self._connection is None:
            raise RuntimeError("the database is not open")
        return self._connection

    async def write(
        self, fn: Callable[Concatenate[sqlite3.Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run `fn(connection, *args, **kwargs)` as one atomic transaction; never across a
        network call. The type checker checks the arguments against `fn`'s signature.

        `fn` runs on the writer thread: plain `sqlite3`, no awaits. An exception it raises
        undoes everything it wrote and is raised here.
        """
        if self._writer is None:
            raise RuntimeError("the database is not open")
        call = functools.partial(fn, **kwargs) if kwargs else fn
        began = time.perf_counter()
        result = await self._writer.submit(call, args)
        if self._on_write is not None:
            self._on_write(time.perf_counter() - began)
        return result  # type: ignore[return-value]

    async def read(
        self, fn: Callable[Concatenate[sqlite3.Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run `fn(connection, *args, **kwargs)` on the reader connection, in one read
        transaction that ends with it. `fn` must not write (the connection is read-only)."""
        if self._reader is None:
            raise RuntimeError("the database is not open")
        call = functools.partial(self._run_read, fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._reader, call)

    def _run_read(
        self, fn: Callable[Concatenate[sqlite3.Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        if self._read_connection is None:
            uri = f"{self.path.resolve().as_uri()}?mode=ro"
            connection = sqlite3.connect(uri, uri=True, isolation_level=None)
            connection.row_factory = sqlite3.Row
            connection.execute("PRAGMA busy_timeout=10000")
            self._read_connection = connection
        connection = self._read_connection
        connection.execute("BEGIN")
        try:
            return fn(connection, *args, **kwargs)
        finally:
            connection.execute("COMMIT")

    def _close_reader(self) -> None:
        if self._read_connection is not None:
            self._read_connection.close()
            self._read_connection = None

    async def fetch_all(self, sql: str, parameters: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        """Read committed data. The statement runs to completion in one call: a SELECT left
        half-read would hold this connection's snapshot open, and every later read would see
        the database as it was then, blind to the writer's commits."""
        rows = await self.connection.execute_fetchall(sql, tuple(parameters))
        return list(rows)

    async def fetch_one(self, sql: str, parameters: Iterable[Any] = ()) -> aiosqlite.Row | None:
        rows = await self.fetch_all(sql, parameters)
        return rows[0] if rows else None

    async def ping(self) -> None:
        """Take the write lock and let it go: proves that money could move right now."""
        await self.write(_ping)

    async def get_state(self, key: str) -> str | None:
        row = await self.fetch_one("SELECT value FROM bot_state WHERE key = ?", (key,))
        return None if row is None else str(row["value"])

    async def set_state(self, key: str, value: str) -> None:
        await self.write(_set_state, key, value)

    async def _migrate(self) -> None:
        connection = self.connection
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        cursor = await connection.execute("SELECT version FROM schema_migrations")
        applied = {int(row[0]) for row in await cursor.fetchall()}
        await cursor.close()
        for version, name, sql in _bundled_migrations():
            if version in applied:
                continue
            log.info("applying database migration %s", name)
            stamp = to_db_time(utc_now()).replace("'", "")
            try:
                await connection.executescript(
                    f"BEGIN IMMEDIATE;\n{sql}\n"
                    f"INSERT INTO schema_migrations (version, name, applied_at) "
                    f"VALUES ({version}, '{name}', '{stamp}');\nCOMMIT;"
                )
            except BaseException:
                if connection.in_transaction:
                    await connection.execute("ROLLBACK")
                raise


def _ping(connection: sqlite3.Connection) -> None:
    connection.execute("SELECT 1").fetchone()


def _set_state(connection: sqlite3.Connection, key: str, value: str) -> None:
    connection.execute(
        "INSERT INTO bot_state (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def _bundled_migrations() -> list[tuple[int, str, str]]:
    found: list[tuple[int, str, str]] = []
    for entry in resources.files("bot.migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)
