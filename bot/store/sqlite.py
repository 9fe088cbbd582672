"""The SQLite engine: one file, every write through one thread, numbered migrations, backups.

Writes are bodies (see `bot/store/driver.py`) run by a single writer thread that owns the write
connection. It takes every body waiting in its queue, runs each inside its own SAVEPOINT (so one
that raises is undone on its own) within one `BEGIN IMMEDIATE ... COMMIT`, and only after the
COMMIT hands the results back to the event loop: a hundred members paying at once cost one
commit, not a hundred, and no write ever holds the lock across a network call. A body's awaits
never suspend here (its `Tx` answers at once), so the thread drives it to the end without an
event loop.

Reads never wait for the writer (WAL mode) and only ever see committed data: single statements
through aiosqlite, and read bodies on a read-only connection of their own, in one snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import pwd
import queue
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Any, Final, TypeVar

import aiosqlite

from bot.clock import utc_now
from bot.errors import HailuoBotError
from bot.store.driver import (
    Body,
    Opened,
    Row,
    StoreUnavailable,
    Tx,
    bundled_migrations,
    sqlite_sql,
    sqlite_value,
    to_db_time,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
PRAGMAS: Final = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA busy_timeout=10000",
    "PRAGMA foreign_keys=ON",
    "PRAGMA synchronous=NORMAL",
)


def _bound(args: Iterable[object]) -> tuple[object, ...]:
    return tuple(sqlite_value(arg) for arg in args)


class SqliteTx:
    """A transaction's statements on a plain `sqlite3` connection. The methods are coroutines
    only to share the `Tx` interface: none of them ever suspends."""

    row_lock = ""  # one writer at a time: nothing to lock

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        return list(self._connection.execute(sqlite_sql(sql), _bound(args)).fetchall())

    async def fetch_one(self, sql: str, *args: object) -> Row | None:
        row: Row | None = self._connection.execute(sqlite_sql(sql), _bound(args)).fetchone()
        return row

    async def value(self, sql: str, *args: object) -> Any:
        row = self._connection.execute(sqlite_sql(sql), _bound(args)).fetchone()
        return None if row is None else row[0]

    async def execute(self, sql: str, *args: object) -> int:
        return self._connection.execute(sqlite_sql(sql), _bound(args)).rowcount

    async def execute_many(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        self._connection.executemany(sqlite_sql(sql), [_bound(row) for row in rows])


def finish(awaitable: Awaitable[T]) -> T:
    """Drive a store body to its end on this thread; it may await its `Tx` only."""
    steps = awaitable.__await__()
    try:
        steps.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    steps.close()
    raise RuntimeError("a store body awaited something other than its transaction")


_Item = tuple["asyncio.Future[object]", Body[Any]]


class _GroupCommitWriter:
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

    def submit(self, body: Body[Any]) -> asyncio.Future[object]:
        future: asyncio.Future[object] = self._loop.create_future()
        self._queue.put((future, body))
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
        tx = SqliteTx(connection)
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
                self._commit(connection, tx, batch)
                if stop:
                    break
        finally:
            connection.close()

    def _commit(self, connection: sqlite3.Connection, tx: SqliteTx, batch: list[_Item]) -> None:
        outcomes: list[tuple[asyncio.Future[object], object, BaseException | None]] = []
        try:
            connection.execute("BEGIN IMMEDIATE")
            for future, body in batch:
                connection.execute("SAVEPOINT one")
                try:
                    result = finish(body(tx))
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
            outcomes = [(future, None, exc) for future, _ in batch]
        self._loop.call_soon_threadsafe(_settle, outcomes)


def _settle(outcomes: list[tuple[asyncio.Future[object], object, BaseException | None]]) -> None:
    for future, result, error in outcomes:
        if future.cancelled():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)


class SqliteDatabase(Opened):
    """The SQLite file, as a `Driver`; opened (created and migrated) once."""

    engine: Final = "sqlite"

    def __init__(self, path: Path, *, on_write: Callable[[float], None] | None = None) -> None:
        self.path = path
        self._connection: aiosqlite.Connection | None = None
        self._writer: _GroupCommitWriter | None = None
        self._on_write = on_write  # told each write's seconds, from asking to commit
        # Whether the last open made the file: a new database, with no data yet.
        self.created = False
        # Read bodies run here, one at a time, each in a snapshot of its own.
        self._reader: ThreadPoolExecutor | None = None
        self._read_connection: sqlite3.Connection | None = None

    @property
    def where(self) -> str:
        return str(self.path)

    @property
    def news(self) -> None:
        """Nothing to pass between processes: one process opens the file."""
        return None

    async def open(self) -> None:
        """Open (creating and migrating the file if needed); a second call does nothing.
        Raises `StoreUnavailable`, naming the file and the fix, when it cannot."""
        if self._connection is not None:
            return
        try:
            await self._open()
        except PermissionError:
            raise StoreUnavailable(
                f"the database at {self.path} (or its folder) is not writable by this user "
                f"({_user()}): run the command as the user that runs the bot, or give this one "
                "write access to the file and its folder"
            ) from None
        except (OSError, sqlite3.Error) as exc:
            if isinstance(exc, sqlite3.OperationalError) and "readonly" in str(exc):
                raise StoreUnavailable(
                    f"the database at {self.path} is read-only for this user ({_user()}): run "
                    "the command as the user that runs the bot, or give this one write access "
                    "to the file and its folder"
                ) from None
            if isinstance(exc, sqlite3.DatabaseError) and "not a database" in str(exc):
                raise StoreUnavailable(
                    f"{self.path} is not a SQLite database (damaged, or another file): point "
                    "DATABASE_PATH at the bot's database, or restore it from a backup"
                ) from None
            raise StoreUnavailable(
                f"cannot open the database at {self.path} ({exc}): check DATABASE_PATH and "
                "that its folder is writable"
            ) from None

    async def _open(self) -> None:
        self.created = not await asyncio.to_thread(self.path.exists)
        await asyncio.to_thread(private_files, self.path)
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

    @property
    def _reads(self) -> aiosqlite.Connection:
        if self._connection is None:
            raise RuntimeError("the database is not open")
        return self._connection

    # -- the Driver ---------------------------------------------------------------------------

    async def write(self, body: Body[T], *, lock: str | None = None) -> T:
        """Run `body` in the next group commit. One writer excludes every other, so `lock` asks
        for nothing more here (one process per SQLite file)."""
        if self._writer is None:
            raise RuntimeError("the database is not open")
        began = time.perf_counter()
        result = await self._writer.submit(body)
        if self._on_write is not None:
            self._on_write(time.perf_counter() - began)
        return result  # type: ignore[return-value]

    async def read(self, body: Body[T]) -> T:
        if self._reader is None:
            raise RuntimeError("the database is not open")
        call = functools.partial(self._run_read, body)
        return await asyncio.get_running_loop().run_in_executor(self._reader, call)

    def _run_read(self, body: Body[T]) -> T:
        if self._read_connection is None:
            uri = f"{self.path.resolve().as_uri()}?mode=ro"
            connection = sqlite3.connect(uri, uri=True, isolation_level=None)
            connection.row_factory = sqlite3.Row
            connection.execute("PRAGMA busy_timeout=10000")
            self._read_connection = connection
        connection = self._read_connection
        connection.execute("BEGIN")
        try:
            return finish(body(SqliteTx(connection)))
        finally:
            connection.execute("COMMIT")

    def _close_reader(self) -> None:
        if self._read_connection is not None:
            self._read_connection.close()
            self._read_connection = None

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        # The statement runs to completion in one call: a SELECT left half-read would hold this
        # connection's snapshot open, blind to every later commit.
        rows = await self._reads.execute_fetchall(sqlite_sql(sql), _bound(args))
        return list(rows)

    async def fetch_one(self, sql: str, *args: object) -> Row | None:
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    async def execute(self, sql: str, *args: object) -> int:
        async def one(tx: Tx) -> int:
            return await tx.execute(sql, *args)

        return await self.write(one)

    async def ping(self) -> None:
        """Take the write lock and let it go: proves that money could move right now."""

        async def nothing(tx: Tx) -> None:
            await tx.value("SELECT 1")

        await self.write(nothing)

    # -- schema -------------------------------------------------------------------------------

    async def _migrate(self) -> None:
        connection = self._reads
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        cursor = await connection.execute("SELECT version FROM schema_migrations")
        applied = {int(row[0]) for row in await cursor.fetchall()}
        await cursor.close()
        for version, name, sql in bundled_migrations("bot.store.sqlite_migrations"):
            if version in applied:
                continue
            log.info("applying database migration %s", name)
            stamp = to_db_time(utc_now())
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


def _user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"uid {os.geteuid()}"


def private_files(path: Path) -> None:
    """The database holds prompts, images and reply tokens: its folder (when the bot makes it)
    is the owner's alone, and the file is readable and writable by its owner only. SQLite
    gives its -wal and -shm files the database file's permissions."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    for file in (path, path.with_name(f"{path.name}-wal"), path.with_name(f"{path.name}-shm")):
        with contextlib.suppress(FileNotFoundError):
            if file.stat().st_mode & 0o077:
                file.chmod(0o600)  # made by an earlier version, or by hand


class BackupRefused(HailuoBotError):
    """A backup that cannot be made as asked; nothing was written."""


async def backup(source: Path, target: Path) -> None:
    """Copy the live database with SQLite's online backup; safe while the bot runs.

    Raises `BackupRefused`, having written nothing, when there is no database to copy, the
    target exists, or its folder does not.
    """

    def copy() -> None:
        if not source.is_file():
            raise BackupRefused(
                f"there is no database at {source} yet (set DATABASE_PATH, or start the bot once)"
            )
        if target.exists():
            raise BackupRefused(f"{target} already exists: choose a new name")
        if not target.parent.is_dir():
            raise BackupRefused(f"the folder {target.parent} does not exist: create it first")
        # Read-only, so a source that vanished in between is never created empty.
        with closing(sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)) as src:
            src.execute("PRAGMA busy_timeout=10000")
            try:
                # A backup holds what the database holds: the owner's alone from its first byte.
                os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            except FileExistsError:
                raise BackupRefused(f"{target} already exists: choose a new name") from None
            except OSError as exc:
                raise BackupRefused(f"could not write {target}: {exc.strerror}") from None
            try:
                with closing(sqlite3.connect(target)) as dst:
                    src.backup(dst)
            except sqlite3.Error as exc:
                target.unlink(missing_ok=True)
                raise BackupRefused(f"could not write {target}: {exc}") from None

    await asyncio.to_thread(copy)
