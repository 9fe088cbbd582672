"""Every store on PostgreSQL, for several bot processes on one database (asyncpg, with a pool):
the ledger's, the jobs' (with their leases), the servers' settings and rules, and the saved
defaults; plus NOTIFY/LISTEN, by which the processes pass on webhook news.

How the money stays right with many writers at once: each move is one transaction at READ
COMMITTED that first locks the rows it decides on, so that concurrent moves on the same rows
wait for each other and then see each other's committed result (each statement in READ
COMMITTED reads what was committed before it began):

- a member's account row (`SELECT ... FOR UPDATE`) before their balance is read, topped up or
  spent: no two moves spend one balance, and an allowance is topped up once per period;
- a server's settings row, only when it has a monthly cap, before the month's spend is summed:
  reservations in one capped server take turns, so the cap is never crossed by one credit;
- a job's row, by the conditional `UPDATE ... WHERE state = ANY(...)` that settles it: a second
  settlement waits, re-reads the state and finds nothing left to move.

Row locks rather than SERIALIZABLE because these are hot, narrow rows whose order of locking is
fixed (server, then account; or job, then account), so there is nothing to retry in normal
operation and no cycle to deadlock on. Should PostgreSQL still report a deadlock or a
serialization failure (an operator's own transaction holding rows, say), the whole move is run
again; every move is safe to repeat because nothing outside the database happens inside it.

The schema backs the locks up: balances have CHECK (balance >= 0), a job has one reserve and one
settlement in the ledger (unique indexes), and the ledger refuses UPDATE, DELETE and TRUNCATE.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from importlib import resources
from typing import Any, Final, TypeAlias, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import asyncpg.pool

from bot.allowances import EVERYONE, Allowance, Period, period_start
from bot.allowances import Period as AllowancePeriod
from bot.database import to_db_time, utc_now
from bot.defaults import OptionDefaults
from bot.errors import RepeatedRequest
from bot.guilds import DEFAULT_PER_MEMBER_LIMIT, DEFAULT_PER_SERVER_LIMIT, GuildSettings
from bot.jobs import Driven, ImagePayload, Job, JobState, NewJob, short_id_prefix, sources_of
from bot.money import (
    OPENING_REASON,
    REPEAT_WINDOW,
    BalanceChange,
    EntryKind,
    LedgerEntry,
    Settlement,
    balance_problem,
    cap_crossed,
    charge_reason,
    grant_reason,
    job_problems,
    last_row_problem,
    refund_reason,
    reserve_reason,
    set_reason,
    too_poor,
    top_up,
)
from bot.rules import ImageRole, Resolution
from bot.server_rules import ListChange
from bot.wordfilter import MAX_ENTRIES

log = logging.getLogger(__name__)

T = TypeVar("T")
# Every connection comes from the pool.
Connection: TypeAlias = "asyncpg.pool.PoolConnectionProxy[asyncpg.Record]"
# One key for the lock that lets only one process migrate the schema at a time.
MIGRATION_LOCK: Final = 0x4861696C756F  # "Hailuo"
RETRIES: Final = 5
SETTINGS: Final = (
    "SELECT default_credits, monthly_cap, per_member_limit, per_server_limit, log_channel_id "
    "FROM guild_settings WHERE guild_id = $1"
)
SETTINGS_LOCKED: Final = f"{SETTINGS} FOR UPDATE"
RETRYABLE: Final = (asyncpg.SerializationError, asyncpg.DeadlockDetectedError)


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


class PostgresUnavailable(Exception):
    """The database could not be reached or opened; the message names it without its password."""


class PostgresDatabase:
    """An asyncpg pool on one PostgreSQL database, with its schema migrated on open."""

    def __init__(self, url: str, *, min_size: int = 2, max_size: int = 10) -> None:
        self._url = url
        self._min_size = min_size
        self._max_size = max_size
        self._pool: asyncpg.Pool[asyncpg.Record] | None = None
        self._listener: asyncpg.Connection[asyncpg.Record] | None = None

    @property
    def where(self) -> str:
        return redacted(self._url)

    @property
    def pool(self) -> asyncpg.Pool[asyncpg.Record]:
        if self._pool is None:
            raise RuntimeError("the PostgreSQL database is not open")
        return self._pool

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self._url, min_size=self._min_size, max_size=self._max_size, command_timeout=60
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            # asyncpg's messages name the host and user, never the password; say where anyway.
            raise PostgresUnavailable(
                f"cannot open PostgreSQL at {self.where}: {type(exc).__name__}: {exc}"
            ) from None
        await self._migrate()

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.close()
            self._listener = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def __aenter__(self) -> PostgresDatabase:
        await self.open()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def _migrate(self) -> None:
        """Apply the numbered migrations not yet applied, one process at a time."""
        scripts = sorted(
            (entry.name, entry.read_text(encoding="utf-8"))
            for entry in resources.files("bot.store.postgres_migrations").iterdir()
            if entry.name.endswith(".sql")
        )
        async with self.pool.acquire() as connection, connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
            await connection.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                "version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            applied = {
                int(row["version"])
                for row in await connection.fetch("SELECT version FROM schema_migrations")
            }
            for name, script in scripts:
                version = int(name.split("_", 1)[0])
                if version in applied:
                    continue
                await connection.execute(script)
                await connection.execute(
                    "INSERT INTO schema_migrations (version) VALUES ($1)", version
                )
                log.info("PostgreSQL schema migrated to %s", name)

    async def run(self, move: Callable[[Connection], Awaitable[T]]) -> T:
        """Run `move` in one transaction; again, whole, if PostgreSQL asks for a retry."""
        for attempt in range(1, RETRIES + 1):
            try:
                async with self.pool.acquire() as connection, connection.transaction():
                    return await move(connection)
            except RETRYABLE:
                if attempt == RETRIES:
                    raise
                await asyncio.sleep(0.01 * 2**attempt)
        raise AssertionError("unreachable")

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Connection]:
        async with self.pool.acquire() as connection:
            yield connection

    async def listen(self, channel: str, heard: Callable[[str], None]) -> None:
        """Call `heard` with the payload of every NOTIFY on `channel`, from any process (on a
        connection of its own, outside the pool)."""
        if self._listener is None:
            try:
                self._listener = await asyncpg.connect(self._url)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                raise PostgresUnavailable(
                    f"cannot listen on PostgreSQL at {self.where}: {type(exc).__name__}"
                ) from None

        def on_notice(_connection: object, _pid: int, _channel: str, payload: object) -> None:
            heard(str(payload))

        await self._listener.add_listener(channel, on_notice)

    async def notify(self, channel: str, payload: str) -> None:
        async with self.connection() as connection:
            await connection.execute("SELECT pg_notify($1, $2)", channel, payload)

    async def ping(self) -> None:
        async with self.connection() as connection:
            await connection.fetchval("SELECT 1")

    async def get_state(self, key: str) -> str | None:
        async with self.connection() as connection:
            value = await connection.fetchval("SELECT value FROM bot_state WHERE key = $1", key)
        return None if value is None else str(value)

    async def set_state(self, key: str, value: str) -> None:
        async with self.connection() as connection:
            await connection.execute(
                "INSERT INTO bot_state (key, value) VALUES ($1, $2) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                key,
                value,
            )

    async def fetch(self, sql: str, *values: object) -> list[asyncpg.Record]:
        async with self.connection() as connection:
            return list(await connection.fetch(sql, *values))

    async def fetchrow(self, sql: str, *values: object) -> asyncpg.Record | None:
        async with self.connection() as connection:
            return await connection.fetchrow(sql, *values)

    async def changed_one(self, sql: str, *values: object) -> bool:
        """Run one UPDATE; True if it changed exactly one row."""
        async with self.connection() as connection:
            status = await connection.execute(sql, *values)
        return status.endswith(" 1")


async def read_guild_settings(
    connection: Connection, guild_id: int, fallback_default: int, *, lock: bool = False
) -> GuildSettings:
    row = await connection.fetchrow(SETTINGS_LOCKED if lock else SETTINGS, guild_id)
    allowances = tuple(
        Allowance(int(r["role_id"]), int(r["amount"]), Period(r["period"]))
        for r in await connection.fetch(
            "SELECT role_id, amount, period FROM allowances WHERE guild_id = $1 "
            "ORDER BY amount DESC, role_id",
            guild_id,
        )
    )
    if row is None:
        return GuildSettings(guild_id, fallback_default, allowances=allowances)

    def value(name: str, default: Any) -> Any:
        return default if row[name] is None else row[name]

    return GuildSettings(
        guild_id=guild_id,
        default_credits=int(value("default_credits", fallback_default)),
        monthly_cap=row["monthly_cap"],
        per_member_limit=int(value("per_member_limit", DEFAULT_PER_MEMBER_LIMIT)),
        per_server_limit=int(value("per_server_limit", DEFAULT_PER_SERVER_LIMIT)),
        log_channel_id=row["log_channel_id"],
        allowances=allowances,
    )


async def insert_job(connection: Connection, job: NewJob, now: datetime) -> None:
    """Write a new job and its images, inside the reservation's transaction."""
    origin, spec = job.origin, job.spec
    await connection.execute(
        """
        INSERT INTO jobs (
            id, guild_id, channel_id, member_id, application_id, interaction_token,
            interaction_created_at, prompt, duration, resolution, prompt_optimizer,
            has_start_image, has_end_image, price, idempotency_key, state, created_at,
            updated_at, upload_limit, source_job_id, source_action, age_restricted, language
        ) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                  $17, $18, $19, $20, $21, $22)
        """,
        job.id,
        origin.guild_id,
        origin.channel_id,
        origin.member_id,
        origin.application_id,
        origin.interaction_token,
        origin.interaction_created_at,
        spec.prompt,
        spec.duration,
        spec.resolution.value,
        spec.prompt_optimizer,
        spec.has_start_image,
        spec.has_end_image,
        job.price,
        job.idempotency_key,
        JobState.RESERVED.value,
        now,
        origin.upload_limit,
        None if job.source is None else job.source.job_id,
        None if job.source is None else job.source.action.value,
        origin.age_restricted,
        origin.language,
    )
    if job.images:
        await connection.executemany(
            "INSERT INTO job_images (job_id, role, filename, content_type, data) "
            "VALUES ($1, $2, $3, $4, $5)",
            [
                (job.id, image.role.value, image.filename, image.content_type, image.data)
                for image in job.images
            ],
        )


async def month_spend(connection: Connection, guild_id: int, now: datetime) -> int:
    """Credits the server spent or holds reserved this calendar month (UTC)."""
    spent = await connection.fetchval(
        "SELECT COALESCE(SUM(price), 0) FROM jobs WHERE guild_id = $1 AND created_at >= $2 "
        "AND state <> $3",
        guild_id,
        period_start(AllowancePeriod.MONTHLY, now),
        JobState.FAILED.value,
    )
    return int(spent)


async def append(
    connection: Connection,
    guild_id: int,
    member_id: int,
    kind: EntryKind,
    delta: int,
    balance_after: int,
    *,
    job_id: str | None,
    actor_id: int | None,
    now: datetime,
    reason: str,
) -> None:
    await connection.execute(
        "INSERT INTO ledger (guild_id, member_id, kind, delta, balance_after, job_id, "
        "actor_id, reason, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        guild_id,
        member_id,
        kind.value,
        delta,
        balance_after,
        job_id,
        actor_id,
        reason,
        now,
    )


class PostgresLedgerStore:
    def __init__(self, database: PostgresDatabase, default_credits: int) -> None:
        self._db = database
        self._fallback_default = default_credits

    # -- reads ----------------------------------------------------------------------------

    async def stored_balance(self, guild_id: int, member_id: int) -> int | None:
        async with self._db.connection() as connection:
            value = await connection.fetchval(
                "SELECT balance FROM accounts WHERE guild_id = $1 AND member_id = $2",
                guild_id,
                member_id,
            )
        return None if value is None else int(value)

    async def guild_settings(self, guild_id: int) -> GuildSettings:
        async with self._db.connection() as connection:
            return await read_guild_settings(connection, guild_id, self._fallback_default)

    async def history(
        self, guild_id: int, member_id: int, limit: int, offset: int
    ) -> list[LedgerEntry]:
        async with self._db.connection() as connection:
            rows = await connection.fetch(
                "SELECT * FROM ledger WHERE guild_id = $1 AND member_id = $2 "
                "ORDER BY id DESC LIMIT $3 OFFSET $4",
                guild_id,
                member_id,
                limit,
                offset,
            )
        return [LedgerEntry.from_row(row) for row in rows]

    async def history_size(self, guild_id: int, member_id: int) -> int:
        async with self._db.connection() as connection:
            count = await connection.fetchval(
                "SELECT COUNT(*) FROM ledger WHERE guild_id = $1 AND member_id = $2",
                guild_id,
                member_id,
            )
        return int(count)

    async def month_spend(self, guild_id: int, now: datetime) -> int:
        async with self._db.connection() as connection:
            return await month_spend(connection, guild_id, now)

    async def top_spenders(self, guild_id: int, now: datetime, limit: int) -> list[tuple[int, int]]:
        async with self._db.connection() as connection:
            rows = await connection.fetch(
                "SELECT member_id, SUM(price) AS spent FROM jobs WHERE guild_id = $1 "
                "AND created_at >= $2 AND state <> $3 GROUP BY member_id "
                "ORDER BY spent DESC, member_id LIMIT $4",
                guild_id,
                period_start(AllowancePeriod.MONTHLY, now),
                JobState.FAILED.value,
                limit,
            )
        return [(int(r["member_id"]), int(r["spent"])) for r in rows]

    async def entries_after(self, cursor: int, limit: int) -> list[LedgerEntry]:
        rows = await self._db.fetch(
            "SELECT * FROM ledger WHERE id > $1 ORDER BY id LIMIT $2", cursor, limit
        )
        return [LedgerEntry.from_row(row) for row in rows]

    async def export_rows(self, guild_id: int) -> list[tuple[object, ...]]:
        rows = await self._db.fetch(
            "SELECT created_at, member_id, delta, balance_after, kind, reason, job_id, actor_id "
            "FROM ledger WHERE guild_id = $1 ORDER BY id",
            guild_id,
        )
        return [(to_db_time(row["created_at"]), *tuple(row)[1:]) for row in rows]

    async def disagreements(self) -> list[str]:
        problems: list[str] = []
        async with self._db.connection() as connection:
            for row in await connection.fetch(
                "SELECT a.guild_id, a.member_id, a.balance, COALESCE(SUM(l.delta), 0) AS total "
                "FROM accounts a LEFT JOIN ledger l ON l.guild_id = a.guild_id "
                "AND l.member_id = a.member_id GROUP BY a.guild_id, a.member_id, a.balance "
                "HAVING a.balance <> COALESCE(SUM(l.delta), 0)"
            ):
                problems.append(
                    balance_problem(row["guild_id"], row["member_id"], row["balance"], row["total"])
                )
            for row in await connection.fetch(
                "SELECT DISTINCT ON (l.guild_id, l.member_id) l.guild_id, l.member_id, "
                "l.balance_after, a.balance FROM ledger l JOIN accounts a "
                "ON a.guild_id = l.guild_id AND a.member_id = l.member_id "
                "ORDER BY l.guild_id, l.member_id, l.id DESC"
            ):
                if row["balance_after"] != row["balance"]:
                    problems.append(
                        last_row_problem(
                            row["guild_id"], row["member_id"], row["balance_after"], row["balance"]
                        )
                    )
            for row in await connection.fetch(
                "SELECT j.id, j.state, "
                "COUNT(*) FILTER (WHERE l.kind = 'reserve') AS reserves, "
                "COUNT(*) FILTER (WHERE l.kind = 'charge') AS charges, "
                "COUNT(*) FILTER (WHERE l.kind = 'refund') AS refunds "
                "FROM jobs j LEFT JOIN ledger l ON l.job_id = j.id GROUP BY j.id, j.state"
            ):
                problems.extend(
                    job_problems(
                        row["id"], row["state"], row["reserves"], row["charges"], row["refunds"]
                    )
                )
        return problems

    # -- writes ---------------------------------------------------------------------------

    async def balance(
        self, guild_id: int, member_id: int, role_ids: tuple[int, ...], now: datetime
    ) -> tuple[int, bool]:
        async def move(connection: Connection) -> tuple[int, bool]:
            return await self._open_account(connection, guild_id, member_id, now, role_ids)

        return await self._db.run(move)

    async def reserve(self, job: NewJob, now: datetime, mark: str) -> int:
        origin = job.origin

        async def move(connection: Connection) -> int:
            settings = await read_guild_settings(
                connection, origin.guild_id, self._fallback_default
            )
            if settings.monthly_cap is not None:
                # Take turns within this server: lock its settings row, then sum the month.
                settings = await read_guild_settings(
                    connection, origin.guild_id, self._fallback_default, lock=True
                )
                crossed = cap_crossed(
                    settings.monthly_cap,
                    await month_spend(connection, origin.guild_id, now),
                    job.price,
                    now,
                )
                if crossed is not None:
                    raise crossed
            balance, _ = await self._open_account(
                connection, origin.guild_id, origin.member_id, now, origin.role_ids, settings
            )
            if job.source is not None:
                # After the account's lock: a double click's second job waits, then sees the
                # first one.
                await _refuse_repeated_click(connection, job, now)
            if balance < job.price:
                raise too_poor(settings.allowances, origin.role_ids, balance, job.price, now)
            balance_after = int(
                await connection.fetchval(
                    "UPDATE accounts SET balance = balance - $3 "
                    "WHERE guild_id = $1 AND member_id = $2 RETURNING balance",
                    origin.guild_id,
                    origin.member_id,
                    job.price,
                )
            )
            await insert_job(connection, job, now)
            await append(
                connection,
                origin.guild_id,
                origin.member_id,
                EntryKind.RESERVE,
                -job.price,
                balance_after,
                job_id=job.id,
                actor_id=origin.member_id,
                now=now,
                reason=reserve_reason(job.spec.resolution.value, job.spec.duration, mark),
            )
            return balance_after

        return await self._db.run(move)

    async def settle(
        self,
        job_id: str,
        target: JobState,
        now: datetime,
        *,
        video_url: str | None,
        reason: str | None,
        actor_id: int | None,
        only_if_waiting: bool,
        mark: str,
    ) -> Settlement:
        allowed = [
            state.value
            for state in ((JobState.RESERVED,) if only_if_waiting else sources_of(target))
        ]
        waiting = " AND admitted_at IS NULL" if only_if_waiting else ""

        async def move(connection: Connection) -> Settlement:
            row = await connection.fetchrow(
                "UPDATE jobs SET state = $1, video_url = COALESCE($2, video_url), "  # noqa: S608
                "failure_reason = COALESCE($3, failure_reason), finished_at = $4, "
                f"updated_at = $4 WHERE id = $5 AND state = ANY($6::text[]){waiting} "
                "RETURNING guild_id, member_id, price",
                target.value,
                video_url,
                reason,
                now,
                job_id,
                allowed,
            )
            if row is None:
                balance = await connection.fetchval(
                    "SELECT a.balance FROM jobs j JOIN accounts a ON a.guild_id = j.guild_id "
                    "AND a.member_id = j.member_id WHERE j.id = $1",
                    job_id,
                )
                return Settlement(applied=False, balance=int(balance or 0))
            guild_id, member_id, price = row["guild_id"], row["member_id"], row["price"]
            if target is JobState.COMPLETED:
                balance = int(
                    await connection.fetchval(
                        "SELECT balance FROM accounts WHERE guild_id = $1 AND member_id = $2 "
                        "FOR UPDATE",
                        guild_id,
                        member_id,
                    )
                )
                kind, delta, why = EntryKind.CHARGE, 0, charge_reason(mark)
            else:
                balance = int(
                    await connection.fetchval(
                        "UPDATE accounts SET balance = balance + $3 WHERE guild_id = $1 "
                        "AND member_id = $2 RETURNING balance",
                        guild_id,
                        member_id,
                        price,
                    )
                )
                kind, delta, why = EntryKind.REFUND, price, refund_reason(reason, mark)
            await append(
                connection,
                guild_id,
                member_id,
                kind,
                delta,
                balance,
                job_id=job_id,
                actor_id=actor_id if kind is EntryKind.REFUND else None,
                now=now,
                reason=why,
            )
            return Settlement(applied=True, balance=balance, price=price)

        return await self._db.run(move)

    async def set_balance(
        self, guild_id: int, member_id: int, amount: int, actor_id: int, now: datetime
    ) -> BalanceChange:
        async def move(connection: Connection) -> BalanceChange:
            before, _ = await self._open_account(connection, guild_id, member_id, now)
            await connection.execute(
                "UPDATE accounts SET balance = $3 WHERE guild_id = $1 AND member_id = $2",
                guild_id,
                member_id,
                amount,
            )
            await append(
                connection,
                guild_id,
                member_id,
                EntryKind.SET,
                amount - before,
                amount,
                job_id=None,
                actor_id=actor_id,
                now=now,
                reason=set_reason(amount),
            )
            return BalanceChange(delta=amount - before, balance=amount)

        return await self._db.run(move)

    async def add_credits(
        self, guild_id: int, member_id: int, amount: int, actor_id: int, now: datetime
    ) -> BalanceChange:
        async def move(connection: Connection) -> BalanceChange:
            before, _ = await self._open_account(connection, guild_id, member_id, now)
            balance = int(
                await connection.fetchval(
                    "UPDATE accounts SET balance = GREATEST(0, balance + $3) "
                    "WHERE guild_id = $1 AND member_id = $2 RETURNING balance",
                    guild_id,
                    member_id,
                    amount,
                )
            )
            await append(
                connection,
                guild_id,
                member_id,
                EntryKind.GRANT,
                balance - before,
                balance,
                job_id=None,
                actor_id=actor_id,
                now=now,
                reason=grant_reason(amount),
            )
            return BalanceChange(delta=balance - before, balance=balance)

        return await self._db.run(move)

    async def _open_account(
        self,
        connection: Connection,
        guild_id: int,
        member_id: int,
        now: datetime,
        role_ids: tuple[int, ...] = (),
        settings: GuildSettings | None = None,
    ) -> tuple[int, bool]:
        """Lock the member's account (opening it with the server's default if new), top it up
        if a new allowance period has begun; the balance, and whether anything was written."""
        if settings is None:
            settings = await read_guild_settings(connection, guild_id, self._fallback_default)
        # Two processes opening one account at once: one inserts, the other waits for it and
        # inserts nothing, so there is one opening row.
        opened = await connection.fetchval(
            "INSERT INTO accounts (guild_id, member_id, balance, created_at) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING balance",
            guild_id,
            member_id,
            settings.default_credits,
            now,
        )
        if opened is not None:
            await append(
                connection,
                guild_id,
                member_id,
                EntryKind.OPENING,
                int(opened),
                int(opened),
                job_id=None,
                actor_id=None,
                now=now,
                reason=OPENING_REASON,
            )
        row = await connection.fetchrow(
            "SELECT balance, allowance_key FROM accounts WHERE guild_id = $1 AND member_id = $2 "
            "FOR UPDATE",
            guild_id,
            member_id,
        )
        assert row is not None
        balance = int(row["balance"])
        due = top_up(settings.allowances, role_ids, balance, row["allowance_key"], now)
        if due is None:
            return balance, opened is not None
        await connection.execute(
            "UPDATE accounts SET balance = $3, allowance_key = $4 "
            "WHERE guild_id = $1 AND member_id = $2",
            guild_id,
            member_id,
            due.balance,
            due.key,
        )
        if due.balance != balance:
            await append(
                connection,
                guild_id,
                member_id,
                EntryKind.ALLOWANCE,
                due.balance - balance,
                due.balance,
                job_id=None,
                actor_id=None,
                now=now,
                reason=due.reason,
            )
        return due.balance, True


async def _refuse_repeated_click(connection: Connection, job: NewJob, now: datetime) -> None:
    """A double click on a result's button makes one job (see the SQLite store)."""
    assert job.source is not None
    found = await connection.fetchval(
        "SELECT id FROM jobs WHERE source_job_id = $1 AND source_action = $2 AND member_id = $3 "
        "AND created_at >= $4 LIMIT 1",
        job.source.job_id,
        job.source.action.value,
        job.origin.member_id,
        now - REPEAT_WINDOW,
    )
    if found is not None:
        raise RepeatedRequest(existing_job_id=str(found))


# -- the other stores -----------------------------------------------------------------------------

JOB_WITH_SOURCE: Final = (
    "SELECT j.*, s.video_channel_id AS source_channel_id, "
    "s.video_message_id AS source_message_id FROM jobs j "
    "LEFT JOIN jobs s ON s.id = j.source_job_id"
)


class PostgresJobStore:
    """Named reads and writes of job rows; see `SqliteJobStore` for what each one means."""

    def __init__(self, database: PostgresDatabase) -> None:
        self._db = database

    async def get(self, job_id: str) -> Job | None:
        row = await self._db.fetchrow(f"{JOB_WITH_SOURCE} WHERE j.id = $1", job_id)
        return None if row is None else Job.from_row(row)

    async def require(self, job_id: str) -> Job:
        job = await self.get(job_id)
        if job is None:
            raise LookupError(f"no job {job_id}")
        return job

    async def by_short_id(self, guild_id: int, short_id: str) -> Job | None:
        prefix = short_id_prefix(short_id)
        if prefix is None:
            return None
        rows = await self._db.fetch(
            "SELECT * FROM jobs WHERE guild_id = $1 AND id LIKE $2 LIMIT 2",
            guild_id,
            f"{prefix}%",
        )
        return Job.from_row(rows[0]) if len(rows) == 1 else None

    async def mark_deleted(self, job_id: str, actor_id: int) -> None:
        await self._db.changed_one(
            "UPDATE jobs SET deleted_at = $1, deleted_by = $2, updated_at = $1 "
            "WHERE id = $3 AND deleted_at IS NULL",
            utc_now(),
            actor_id,
            job_id,
        )

    async def by_apiframe_id(self, apiframe_job_id: str) -> Job | None:
        row = await self._db.fetchrow(
            "SELECT * FROM jobs WHERE apiframe_job_id = $1", apiframe_job_id
        )
        return None if row is None else Job.from_row(row)

    async def render_times(self, limit: int) -> list[tuple[int, Resolution, float]]:
        rows = await self._db.fetch(
            "SELECT * FROM jobs WHERE state = $1 AND submitted_at IS NOT NULL "
            "AND finished_at IS NOT NULL ORDER BY finished_at DESC LIMIT $2",
            JobState.COMPLETED.value,
            limit,
        )
        found: list[tuple[int, Resolution, float]] = []
        for row in reversed(rows):
            job = Job.from_row(row)
            if job.render_seconds is not None:
                found.append((job.duration, job.resolution, job.render_seconds))
        return found

    async def counts_by_state(self) -> dict[str, int]:
        rows = await self._db.fetch(
            "SELECT CASE WHEN state = $1 AND admitted_at IS NULL THEN 'waiting' ELSE state END "
            "AS kind, COUNT(*) AS n FROM jobs GROUP BY 1",
            JobState.RESERVED.value,
        )
        return {str(row["kind"]): int(row["n"]) for row in rows}

    async def admitted_undelivered(self) -> list[Driven]:
        rows = await self._db.fetch(
            "SELECT id, guild_id, lease_owner, lease_expires_at, admitted_at FROM jobs "
            "WHERE delivered_at IS NULL AND admitted_at IS NOT NULL"
        )
        return [Driven.from_row(row) for row in rows]

    async def undelivered(self) -> list[Job]:
        rows = await self._db.fetch(
            "SELECT * FROM jobs WHERE delivered_at IS NULL ORDER BY created_at"
        )
        return [Job.from_row(row) for row in rows]

    async def recent_for_member(self, guild_id: int, member_id: int, limit: int) -> list[Job]:
        rows = await self._db.fetch(
            "SELECT * FROM jobs WHERE guild_id = $1 AND member_id = $2 "
            "ORDER BY created_at DESC LIMIT $3",
            guild_id,
            member_id,
            limit,
        )
        return [Job.from_row(row) for row in rows]

    async def images(self, job_id: str) -> list[ImagePayload]:
        rows = await self._db.fetch(
            "SELECT role, filename, content_type, data FROM job_images WHERE job_id = $1", job_id
        )
        return [
            ImagePayload(
                ImageRole(row["role"]), row["filename"], row["content_type"], bytes(row["data"])
            )
            for row in rows
        ]

    async def record_uploads(self, job_id: str, urls: dict[ImageRole, str]) -> None:
        await self._db.changed_one(
            "UPDATE jobs SET start_image_url = COALESCE($1, start_image_url), "
            "end_image_url = COALESCE($2, end_image_url), updated_at = $3 WHERE id = $4",
            urls.get(ImageRole.START),
            urls.get(ImageRole.END),
            utc_now(),
            job_id,
        )

    async def record_submitted(self, job_id: str, apiframe_job_id: str, status: str) -> bool:
        return await self._db.changed_one(
            "UPDATE jobs SET state = $1, apiframe_job_id = $2, remote_status = $3, "
            "submitted_at = $4, updated_at = $4 WHERE id = $5 AND state = $6",
            JobState.SUBMITTED.value,
            apiframe_job_id,
            status,
            utc_now(),
            job_id,
            JobState.RESERVED.value,
        )

    async def record_progress(self, job_id: str, status: str, progress: int | None) -> None:
        await self._db.changed_one(
            "UPDATE jobs SET remote_status = $1, progress = $2, updated_at = $3 "
            "WHERE id = $4 AND state = $5",
            status,
            progress,
            utc_now(),
            job_id,
            JobState.SUBMITTED.value,
        )

    async def record_card_message(self, job_id: str, message_id: int) -> None:
        await self._db.changed_one(
            "UPDATE jobs SET card_message_id = $1 WHERE id = $2", message_id, job_id
        )

    async def admit(self, job_id: str) -> bool:
        return await self._db.changed_one(
            "UPDATE jobs SET admitted_at = $1, updated_at = $1 WHERE id = $2 "
            "AND state = $3 AND admitted_at IS NULL",
            utc_now(),
            job_id,
            JobState.RESERVED.value,
        )

    async def waiting(self, guild_id: int) -> list[Job]:
        rows = await self._db.fetch(
            "SELECT * FROM jobs WHERE guild_id = $1 AND state = $2 "
            "AND admitted_at IS NULL ORDER BY created_at, id",
            guild_id,
            JobState.RESERVED.value,
        )
        return [Job.from_row(row) for row in rows]

    async def running_counts(self, guild_id: int) -> dict[int, int]:
        rows = await self._db.fetch(
            "SELECT member_id, COUNT(*) AS n FROM jobs WHERE guild_id = $1 "
            "AND admitted_at IS NOT NULL AND state = ANY($2::text[]) GROUP BY member_id",
            guild_id,
            [JobState.RESERVED.value, JobState.SUBMITTED.value],
        )
        return {int(r["member_id"]): int(r["n"]) for r in rows}

    async def mark_late_notified(self, job_id: str) -> None:
        await self._db.changed_one(
            "UPDATE jobs SET late_notified_at = $1 WHERE id = $2", utc_now(), job_id
        )

    async def mark_delivered(
        self, job_id: str, via: str, *, video_message: tuple[int, int] | None = None
    ) -> None:
        channel_id, message_id = video_message or (None, None)
        await self._db.changed_one(
            "UPDATE jobs SET delivered_at = $1, delivered_via = $2, updated_at = $1, "
            "video_channel_id = COALESCE($3, video_channel_id), "
            "video_message_id = COALESCE($4, video_message_id) "
            "WHERE id = $5 AND delivered_at IS NULL",
            utc_now(),
            via,
            channel_id,
            message_id,
            job_id,
        )

    async def claim(
        self, job_id: str, owner: str, until: datetime, now: datetime, unleased_since: datetime
    ) -> bool:
        return await self._db.changed_one(
            "UPDATE jobs SET lease_owner = $1, lease_expires_at = $2 WHERE id = $3 "
            "AND delivered_at IS NULL AND (lease_owner = $1 OR lease_expires_at < $4 "
            "OR (lease_owner IS NULL AND admitted_at <= $5))",
            owner,
            until,
            job_id,
            now,
            unleased_since,
        )

    async def renew(self, owner: str, job_ids: list[str], until: datetime) -> set[str]:
        if not job_ids:
            return set()
        rows = await self._db.fetch(
            "UPDATE jobs SET lease_expires_at = $1 WHERE lease_owner = $2 "
            "AND id = ANY($3::text[]) RETURNING id",
            until,
            owner,
            job_ids,
        )
        return {str(row["id"]) for row in rows}

    async def release(self, job_id: str, owner: str) -> None:
        await self._db.changed_one(
            "UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL "
            "WHERE id = $1 AND lease_owner = $2",
            job_id,
            owner,
        )

    @asynccontextmanager
    async def admission(self, guild_id: int) -> AsyncIterator[None]:
        # A session lock on a connection of its own: a server's queue is admitted by one
        # process at a time, so its limits hold whichever process admits.
        key = f"admit:{guild_id}"
        async with self._db.connection() as connection:
            await connection.execute("SELECT pg_advisory_lock(hashtextextended($1, 0))", key)
            try:
                yield
            finally:
                await connection.execute("SELECT pg_advisory_unlock(hashtextextended($1, 0))", key)


SETTING_COLUMNS: Final = frozenset(
    {"default_credits", "monthly_cap", "per_member_limit", "per_server_limit", "log_channel_id"}
)


class PostgresGuildSettingsStore:
    def __init__(self, database: PostgresDatabase, default_credits: int) -> None:
        self._db = database
        self._fallback_default = default_credits

    async def get(self, guild_id: int) -> GuildSettings:
        async with self._db.connection() as connection:
            return await read_guild_settings(connection, guild_id, self._fallback_default)

    async def log_channels(self) -> dict[int, int]:
        rows = await self._db.fetch(
            "SELECT guild_id, log_channel_id FROM guild_settings WHERE log_channel_id IS NOT NULL"
        )
        return {int(r["guild_id"]): int(r["log_channel_id"]) for r in rows}

    async def set_default_credits(self, guild_id: int, amount: int, actor_id: int) -> None:
        if amount < 0:
            raise ValueError("a default balance cannot be negative")
        await self._set(guild_id, {"default_credits": amount}, actor_id)

    async def set_monthly_cap(self, guild_id: int, cap: int | None, actor_id: int) -> None:
        await self._set(guild_id, {"monthly_cap": cap}, actor_id)

    async def set_limits(
        self, guild_id: int, per_member: int, per_server: int, actor_id: int
    ) -> None:
        if per_member < 1 or per_server < 1:
            raise ValueError("limits must be at least 1")
        await self._set(
            guild_id, {"per_member_limit": per_member, "per_server_limit": per_server}, actor_id
        )

    async def set_log_channel(self, guild_id: int, channel_id: int | None, actor_id: int) -> None:
        await self._set(guild_id, {"log_channel_id": channel_id}, actor_id)

    async def set_allowance(
        self, guild_id: int, role_id: int | None, amount: int, period: Period, actor_id: int
    ) -> None:
        role = EVERYONE if role_id is None else role_id
        now = utc_now()

        async def move(connection: Connection) -> None:
            if amount <= 0:
                await connection.execute(
                    "DELETE FROM allowances WHERE guild_id = $1 AND role_id = $2", guild_id, role
                )
                new_value = None
            else:
                await connection.execute(
                    "INSERT INTO allowances (guild_id, role_id, amount, period, updated_by, "
                    "updated_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (guild_id, role_id) "
                    "DO UPDATE SET amount = excluded.amount, period = excluded.period, "
                    "updated_by = excluded.updated_by, updated_at = excluded.updated_at",
                    guild_id,
                    role,
                    amount,
                    period.value,
                    actor_id,
                    now,
                )
                new_value = f"{amount} {period.value}"
            await _log_setting(
                connection, guild_id, f"allowance:{role}", None, new_value, actor_id, now
            )

        await self._db.run(move)

    async def _set(self, guild_id: int, changes: dict[str, int | None], actor_id: int) -> None:
        """Change one or more settings of a server as one transaction, each change logged."""
        now = utc_now()

        async def move(connection: Connection) -> None:
            for column, value in changes.items():
                if column not in SETTING_COLUMNS:  # column names come from code, never members
                    raise ValueError(f"unknown server setting {column!r}")
                old = await connection.fetchval(
                    f"SELECT {column} FROM guild_settings WHERE guild_id = $1 "  # noqa: S608
                    "FOR UPDATE",
                    guild_id,
                )
                await connection.execute(
                    f"INSERT INTO guild_settings (guild_id, {column}, updated_at, updated_by) "  # noqa: S608
                    f"VALUES ($1, $2, $3, $4) ON CONFLICT (guild_id) DO UPDATE SET "
                    f"{column} = excluded.{column}, updated_at = excluded.updated_at, "
                    "updated_by = excluded.updated_by",
                    guild_id,
                    value,
                    now,
                    actor_id,
                )
                await _log_setting(connection, guild_id, column, old, value, actor_id, now)

        await self._db.run(move)


async def _log_setting(
    connection: Connection,
    guild_id: int,
    setting: str,
    old: object,
    new: object,
    actor_id: int,
    now: datetime,
) -> None:
    await connection.execute(
        "INSERT INTO guild_settings_log (guild_id, setting, old_value, new_value, actor_id, "
        "created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        guild_id,
        setting,
        None if old is None else str(old),
        None if new is None else str(new),
        actor_id,
        now,
    )


class PostgresRulesStore:
    def __init__(self, database: PostgresDatabase) -> None:
        self._db = database

    async def entries(self, guild_id: int) -> list[str]:
        rows = await self._db.fetch(
            "SELECT entry FROM blocked_words WHERE guild_id = $1 ORDER BY entry", guild_id
        )
        return [str(row["entry"]) for row in rows]

    async def block(
        self, guild_id: int, entries: list[str], actor_id: int, now: datetime
    ) -> ListChange:
        async def move(connection: Connection) -> ListChange:
            # One admin's change at a time per server, so the list's limit holds.
            await connection.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"block:{guild_id}"
            )
            count = int(
                await connection.fetchval(
                    "SELECT COUNT(*) FROM blocked_words WHERE guild_id = $1", guild_id
                )
            )
            added: list[str] = []
            present: list[str] = []
            over: list[str] = []
            for entry in entries:
                exists = await connection.fetchval(
                    "SELECT 1 FROM blocked_words WHERE guild_id = $1 AND entry = $2",
                    guild_id,
                    entry,
                )
                if exists:
                    present.append(entry)
                elif count >= MAX_ENTRIES:
                    over.append(entry)
                else:
                    await connection.execute(
                        "INSERT INTO blocked_words (guild_id, entry, added_by, added_at) "
                        "VALUES ($1, $2, $3, $4)",
                        guild_id,
                        entry,
                        actor_id,
                        now,
                    )
                    added.append(entry)
                    count += 1
            if added:
                await _log_setting(
                    connection, guild_id, "blocked_words", None, ", ".join(added), actor_id, now
                )
            return ListChange(tuple(added), tuple(present), tuple(over))

        return await self._db.run(move)

    async def unblock(self, guild_id: int, entries: list[str]) -> ListChange:
        async def move(connection: Connection) -> ListChange:
            removed: list[str] = []
            absent: list[str] = []
            for entry in entries:
                status = await connection.execute(
                    "DELETE FROM blocked_words WHERE guild_id = $1 AND entry = $2",
                    guild_id,
                    entry,
                )
                (removed if not status.endswith(" 0") else absent).append(entry)
            return ListChange(tuple(removed), tuple(absent))

        return await self._db.run(move)

    async def nsfw_allowed(self, guild_id: int) -> bool:
        row = await self._db.fetchrow(
            "SELECT nsfw_allowed FROM guild_settings WHERE guild_id = $1", guild_id
        )
        return bool(row is not None and row["nsfw_allowed"])

    async def set_nsfw_allowed(
        self, guild_id: int, allowed: bool, actor_id: int, now: datetime
    ) -> None:
        async def move(connection: Connection) -> None:
            await connection.execute(
                "INSERT INTO guild_settings (guild_id, nsfw_allowed, updated_at, updated_by) "
                "VALUES ($1, $2, $3, $4) ON CONFLICT (guild_id) DO UPDATE SET "
                "nsfw_allowed = excluded.nsfw_allowed, updated_at = excluded.updated_at, "
                "updated_by = excluded.updated_by",
                guild_id,
                allowed,
                now,
                actor_id,
            )
            await _log_setting(
                connection,
                guild_id,
                "nsfw_allowed",
                None,
                "allowed" if allowed else "blocked",
                actor_id,
                now,
            )

        await self._db.run(move)


class PostgresSavedDefaults:
    def __init__(self, database: PostgresDatabase) -> None:
        self._db = database

    async def get(self, guild_id: int, member_id: int) -> OptionDefaults:
        row = await self._db.fetchrow(
            "SELECT duration, resolution, prompt_optimizer, camera FROM option_defaults "
            "WHERE guild_id = $1 AND member_id = $2",
            guild_id,
            member_id,
        )
        if row is None:
            return OptionDefaults()
        return OptionDefaults(
            row["duration"], row["resolution"], row["prompt_optimizer"], row["camera"]
        )

    async def save(self, guild_id: int, member_id: int, defaults: OptionDefaults) -> None:
        async with self._db.connection() as connection:
            if defaults.empty:
                await connection.execute(
                    "DELETE FROM option_defaults WHERE guild_id = $1 AND member_id = $2",
                    guild_id,
                    member_id,
                )
                return
            await connection.execute(
                "INSERT INTO option_defaults (guild_id, member_id, duration, resolution, "
                "prompt_optimizer, camera, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7) "
                "ON CONFLICT (guild_id, member_id) DO UPDATE SET duration = excluded.duration, "
                "resolution = excluded.resolution, prompt_optimizer = excluded.prompt_optimizer, "
                "camera = excluded.camera, updated_at = excluded.updated_at",
                guild_id,
                member_id,
                defaults.duration,
                defaults.resolution,
                defaults.prompt_optimizer,
                defaults.camera,
                utc_now(),
            )
