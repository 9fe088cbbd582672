"""The PostgreSQL engine, for several bot processes on one database: an asyncpg pool, numbered
migrations, and NOTIFY/LISTEN, by which the processes pass on webhook news.

What it promises whatever the load and the pool's size (from 1 up):
- No operation holds a pooled connection while it waits for another one: each runs on one
  connection, a transaction body included, and an exclusive section (`write(lock=...)`) is a
  transaction-scoped advisory lock inside that same transaction.
- Waiting for a free connection is bounded: after `acquire_timeout` seconds that one operation
  fails with `StoreBusy` (logged, and counted through `on_busy`); nothing waits forever.
- A body PostgreSQL aborts for a deadlock or a serialization failure is run again, whole: every
  body is safe to repeat, since nothing outside the database happens inside it.
- LISTEN lives on a connection of its own, outside the pool, watched: when it drops it is
  opened again with backoff (the jobs' polling covers the gap, and `on_restored` lets the bot
  check at once what it may have missed).

How the money stays right with many writers at once is the ledger store's business
(`bot/store/ledger.py`): row locks, through `Tx.row_lock`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Final, TypeAlias, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import asyncpg.pool

from bot.backoff import Backoff
from bot.logs import Throttled
from bot.store.driver import (
    Body,
    Opened,
    Row,
    StoreBusy,
    StoreUnavailable,
    bundled_migrations,
    changed,
    storable,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
Connection: TypeAlias = "asyncpg.pool.PoolConnectionProxy[asyncpg.Record]"
# One key for the lock that lets only one process migrate the schema at a time.
MIGRATION_LOCK: Final = 0x4861696C756F  # "Hailuo"
RETRIES: Final = 5
RETRYABLE: Final = (asyncpg.SerializationError, asyncpg.DeadlockDetectedError)
ACQUIRE_TIMEOUT: Final = 10.0
LISTEN_CHECK_SECONDS: Final = 5.0
RECONNECT: Final = Backoff(floor=1.0, ceiling=30.0)
UNREACHABLE: Final = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError)
# How long closing waits for borrowed connections to come back before cutting them: a query
# stuck on a dead server must not hold the bot's shutdown open forever.
CLOSE_GRACE: Final = 10.0


def redacted(url: str) -> str:
    """The URL with its password replaced, for logs and errors."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}:***@{host}" if parts.username else f":***@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


class PostgresUnavailable(StoreUnavailable):
    """PostgreSQL could not be reached or opened; the message names it without its password."""


class PostgresTx:
    """A transaction's statements on one pooled connection."""

    row_lock = " FOR UPDATE"

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        return list(await self._connection.fetch(sql, *_bound(args)))

    async def fetch_one(self, sql: str, *args: object) -> Row | None:
        return await self._connection.fetchrow(sql, *_bound(args))

    async def value(self, sql: str, *args: object) -> Any:
        return await self._connection.fetchval(sql, *_bound(args))

    async def execute(self, sql: str, *args: object) -> int:
        return changed(await self._connection.execute(sql, *_bound(args)))

    async def execute_many(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        await self._connection.executemany(sql, [_bound(row) for row in rows])


def _bound(args: Iterable[object]) -> tuple[object, ...]:
    return tuple(storable(arg) for arg in args)


class PostgresDatabase(Opened):
    """An asyncpg pool on one PostgreSQL database, as a `Driver`; migrated on open."""

    engine: Final = "postgresql"

    def __init__(
        self,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        acquire_timeout: float = ACQUIRE_TIMEOUT,
        on_busy: Callable[[], None] | None = None,
        on_write: Callable[[float], None] | None = None,
    ) -> None:
        self._url = url
        self._max_size = max_size
        self._min_size = min(min_size, max_size)
        self._acquire_timeout = acquire_timeout
        self._on_busy = on_busy
        self._on_write = on_write
        self._busy_log = Throttled(log, every=10.0)
        self._pool: asyncpg.Pool[asyncpg.Record] | None = None
        self._listeners: list[Listener] = []
        # Whether the last open made the schema: a new database, with no data yet.
        self.created = False

    @property
    def where(self) -> str:
        return redacted(self._url)

    @property
    def news(self) -> PostgresDatabase:
        """NOTIFY and LISTEN carry news between the processes on this database."""
        return self

    async def open(self) -> None:
        """Open the pool and migrate; a second call does nothing."""
        if self._pool is not None:
            return
        try:
            pool = await asyncpg.create_pool(
                self._url, min_size=self._min_size, max_size=self._max_size, command_timeout=60
            )
        except UNREACHABLE as exc:
            # asyncpg's messages name the host and user, never the password; say where anyway.
            raise PostgresUnavailable(
                f"cannot open PostgreSQL at {self.where} ({type(exc).__name__}: {exc}): check "
                "DATABASE_URL and that the server runs"
            ) from None
        self._pool = pool
        try:
            await self._migrate()
        except BaseException:
            self._pool = None
            await pool.close()
            raise

    async def close(self) -> None:
        for listener in self._listeners:
            await listener.close()
        self._listeners.clear()
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                await asyncio.wait_for(pool.close(), CLOSE_GRACE)
            except TimeoutError:
                log.warning(
                    "PostgreSQL: connections still busy after %.0f s at shutdown; cut them",
                    CLOSE_GRACE,
                )
                pool.terminate()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        """A pooled connection, within the acquire timeout or `StoreBusy`."""
        if self._pool is None:
            raise RuntimeError("the PostgreSQL database is not open")
        try:
            acquired = await self._pool.acquire(timeout=self._acquire_timeout)
        except TimeoutError:
            if self._on_busy is not None:
                self._on_busy()
            self._busy_log.warning(
                "PostgreSQL: no free connection within %.0f s (pool of %d); the operation "
                "failed and will be retried by its caller: raise POSTGRES_POOL_SIZE if this "
                "repeats",
                self._acquire_timeout,
                self._max_size,
            )
            raise StoreBusy(
                f"no free database connection within {self._acquire_timeout:.0f} s"
            ) from None
        try:
            yield acquired
        finally:
            await self._pool.release(acquired)

    # -- the Driver ---------------------------------------------------------------------------

    async def write(self, body: Body[T], *, lock: str | None = None) -> T:
        began = time.perf_counter()
        for attempt in range(1, RETRIES + 1):
            try:
                async with self.connection() as connection, connection.transaction():
                    if lock is not None:
                        await connection.execute(
                            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", lock
                        )
                    result = await body(PostgresTx(connection))
                break
            except RETRYABLE:
                if attempt == RETRIES:
                    raise
                await asyncio.sleep(0.01 * 2**attempt)
        if self._on_write is not None:
            self._on_write(time.perf_counter() - began)
        return result

    async def read(self, body: Body[T]) -> T:
        async with (
            self.connection() as connection,
            connection.transaction(isolation="repeatable_read", readonly=True),
        ):
            return await body(PostgresTx(connection))

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        async with self.connection() as connection:
            return await PostgresTx(connection).fetch(sql, *args)

    async def fetch_one(self, sql: str, *args: object) -> Row | None:
        async with self.connection() as connection:
            return await PostgresTx(connection).fetch_one(sql, *args)

    async def execute(self, sql: str, *args: object) -> int:
        async with self.connection() as connection:
            return await PostgresTx(connection).execute(sql, *args)

    async def ping(self) -> None:
        await self.fetch_one("SELECT 1")

    # -- schema -------------------------------------------------------------------------------

    async def _migrate(self) -> None:
        """Apply the numbered migrations not yet applied, one process at a time."""
        async with self.connection() as connection, connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
            await connection.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                "version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            applied = {
                int(row["version"])
                for row in await connection.fetch("SELECT version FROM schema_migrations")
            }
            self.created = not applied
            for version, name, script in bundled_migrations("bot.store.postgres_migrations"):
                if version in applied:
                    continue
                await connection.execute(script)
                await connection.execute(
                    "INSERT INTO schema_migrations (version) VALUES ($1)", version
                )
                log.info("PostgreSQL schema migrated to %s", name)

    # -- news between processes -----------------------------------------------------------------

    async def notify(self, channel: str, payload: str) -> None:
        async with self.connection() as connection:
            await connection.execute("SELECT pg_notify($1, $2)", channel, payload)

    async def listen(
        self,
        channel: str,
        heard: Callable[[str], None],
        *,
        on_restored: Callable[[], None] | None = None,
        check_every: float = LISTEN_CHECK_SECONDS,
    ) -> Listener:
        """Call `heard` with the payload of every NOTIFY on `channel`, from any process, for as
        long as the database is open; raises `PostgresUnavailable` if it cannot start."""
        listener = Listener(self._url, channel, heard, on_restored, check_every)
        await listener.start()
        self._listeners.append(listener)
        return listener


class Listener:
    """LISTEN on a connection of its own (never one of the pool's), kept alive: checked every
    few seconds and at once when it closes, and opened again with backoff when lost."""

    def __init__(
        self,
        url: str,
        channel: str,
        heard: Callable[[str], None],
        on_restored: Callable[[], None] | None,
        check_every: float,
    ) -> None:
        self._url = url
        self._channel = channel
        self._heard = heard
        self._on_restored = on_restored
        self._check_every = check_every
        self._connection: asyncpg.Connection[asyncpg.Record] | None = None
        self._lost = asyncio.Event()
        self._watchdog: asyncio.Task[None] | None = None
        self.restarts = 0

    @property
    def server_pid(self) -> int | None:
        """The PostgreSQL backend serving the LISTEN, while connected."""
        if self._connection is None or self._connection.is_closed():
            return None
        return self._connection.get_server_pid()

    async def start(self) -> None:
        try:
            await self._connect()
        except UNREACHABLE as exc:
            raise PostgresUnavailable(
                f"cannot listen on PostgreSQL at {redacted(self._url)}: {type(exc).__name__}"
            ) from None
        self._watchdog = asyncio.create_task(self._watch(), name=f"listen-{self._channel}")

    async def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            await asyncio.gather(self._watchdog, return_exceptions=True)
            self._watchdog = None
        await self._drop()

    async def _connect(self) -> None:
        connection = await asyncio.wait_for(asyncpg.connect(self._url), 15)
        connection.add_termination_listener(lambda _connection: self._lost.set())
        await connection.add_listener(self._channel, self._on_notice)
        self._lost.clear()
        self._connection = connection

    def _on_notice(self, _connection: object, _pid: int, _channel: str, payload: object) -> None:
        self._heard(str(payload))

    async def _drop(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            with contextlib.suppress(*UNREACHABLE):
                await asyncio.wait_for(connection.close(), 5)
            connection.terminate()

    async def _alive(self) -> bool:
        connection = self._connection
        if connection is None or connection.is_closed():
            return False
        try:
            await asyncio.wait_for(connection.fetchval("SELECT 1"), 5)
        except UNREACHABLE:
            return False
        return True

    async def _watch(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), self._check_every)
            if await self._alive():
                continue
            log.warning(
                "PostgreSQL: the LISTEN connection for %s was lost; reconnecting (jobs are "
                "still checked by polling meanwhile)",
                self._channel,
            )
            await self._drop()
            failures = 0
            while True:
                try:
                    await self._connect()
                    break
                except UNREACHABLE as exc:
                    failures += 1
                    delay = RECONNECT.delay(failures)
                    log.warning(
                        "PostgreSQL: LISTEN not restored (%s); trying again in %.0f s",
                        type(exc).__name__,
                        delay,
                    )
                    await asyncio.sleep(delay)
            self.restarts += 1
            log.info("PostgreSQL: listening for %s again", self._channel)
            if self._on_restored is not None:
                self._on_restored()
