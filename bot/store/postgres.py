"""The ledger on PostgreSQL, for several bot processes on one database (asyncpg, with a pool).

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

from bot.allowances import Allowance, Period, period_start
from bot.allowances import Period as AllowancePeriod
from bot.errors import RepeatedRequest
from bot.guilds import DEFAULT_PER_MEMBER_LIMIT, DEFAULT_PER_SERVER_LIMIT, GuildSettings
from bot.jobs import JobState, NewJob, sources_of
from bot.money import (
    REPEAT_WINDOW,
    BalanceChange,
    EntryKind,
    LedgerEntry,
    Settlement,
    cap_crossed,
    reserve_reason,
    too_poor,
    top_up,
)

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
                    f"guild {row['guild_id']} member {row['member_id']}: balance is "
                    f"{row['balance']} but the ledger adds up to {row['total']}"
                )
            for row in await connection.fetch(
                "SELECT DISTINCT ON (l.guild_id, l.member_id) l.guild_id, l.member_id, "
                "l.balance_after, a.balance FROM ledger l JOIN accounts a "
                "ON a.guild_id = l.guild_id AND a.member_id = l.member_id "
                "ORDER BY l.guild_id, l.member_id, l.id DESC"
            ):
                if row["balance_after"] != row["balance"]:
                    problems.append(
                        f"guild {row['guild_id']} member {row['member_id']}: last ledger row "
                        f"says {row['balance_after']}, balance is {row['balance']}"
                    )
            for row in await connection.fetch(
                "SELECT j.id, j.state, "
                "COUNT(*) FILTER (WHERE l.kind = 'reserve') AS reserves, "
                "COUNT(*) FILTER (WHERE l.kind = 'charge') AS charges, "
                "COUNT(*) FILTER (WHERE l.kind = 'refund') AS refunds "
                "FROM jobs j LEFT JOIN ledger l ON l.job_id = j.id GROUP BY j.id, j.state"
            ):
                job_id, state = row["id"], JobState(row["state"])
                reserves, charges, refunds = row["reserves"], row["charges"], row["refunds"]
                if reserves != 1:
                    problems.append(f"job {job_id}: {reserves} reservations (expected 1)")
                if charges > 1 or refunds > 1 or (charges and refunds):
                    problems.append(f"job {job_id}: charged {charges} and refunded {refunds} times")
                if not state.is_final and (charges or refunds):
                    problems.append(f"job {job_id} is unfinished ({state.value}) but was settled")
                if state is JobState.COMPLETED and not charges:
                    problems.append(f"job {job_id} is completed but was never charged")
                if state is JobState.FAILED and not refunds:
                    problems.append(f"job {job_id} failed but was never refunded")
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
                kind, delta, why = EntryKind.CHARGE, 0, f"video delivered{mark}"
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
                kind, delta, why = EntryKind.REFUND, price, (reason or "refunded")[:200] + mark
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
                reason=f"balance set to {amount}",
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
                reason=f"{'granted' if amount >= 0 else 'removed'} {abs(amount)}",
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
                reason="starting balance",
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
