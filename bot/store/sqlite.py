"""Every store on SQLite: the embedded default (the ledger's, the jobs', the servers'
settings and rules, the saved defaults), each a plain implementation of its protocol.

The ledger's money moves:

Every money move is one transaction run by the database's single writer thread, so moves never
interleave: a conditional statement on the balance plus its ledger row, whole or not at all. The
schema backs the code up: a CHECK keeps balances at zero or above, a unique (job, kind) index
makes a job's reserve, charge and refund happen at most once each, and triggers keep the ledger
append-only. The transaction bodies are plain functions of a `sqlite3.Connection`, so that they
cannot await anything while they hold the write lock.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Final

from bot.allowances import EVERYONE, Allowance, Period, period_start
from bot.allowances import Period as AllowancePeriod
from bot.database import Database, to_db_time, utc_now
from bot.defaults import OptionDefaults
from bot.errors import RepeatedRequest
from bot.guilds import DEFAULT_PER_MEMBER_LIMIT, DEFAULT_PER_SERVER_LIMIT, GuildSettings
from bot.integrity import verify
from bot.jobs import (
    Driven,
    ImagePayload,
    Job,
    JobState,
    NewJob,
    short_id_prefix,
    sources_of,
)
from bot.money import (
    OPENING_REASON,
    REPEAT_WINDOW,
    BalanceChange,
    EntryKind,
    LedgerEntry,
    Settlement,
    cap_crossed,
    charge_reason,
    grant_reason,
    refund_reason,
    reserve_reason,
    set_reason,
    too_poor,
    top_up,
)
from bot.rules import ImageRole, Resolution
from bot.server_rules import ListChange
from bot.wordfilter import MAX_ENTRIES


class SqliteLedgerStore:
    def __init__(self, database: Database, default_credits: int) -> None:
        self._db = database
        self._fallback_default = default_credits

    # -- reads ----------------------------------------------------------------------------

    async def stored_balance(self, guild_id: int, member_id: int) -> int | None:
        row = await self._db.fetch_one(
            "SELECT balance FROM accounts WHERE guild_id = ? AND member_id = ?",
            (guild_id, member_id),
        )
        return None if row is None else int(row[0])

    async def guild_settings(self, guild_id: int) -> GuildSettings:
        return await self._db.read(read_guild_settings, guild_id, self._fallback_default)

    async def history(
        self, guild_id: int, member_id: int, limit: int, offset: int
    ) -> list[LedgerEntry]:
        rows = await self._db.fetch_all(
            "SELECT * FROM ledger WHERE guild_id = ? AND member_id = ? "
            "ORDER BY id DESC LIMIT ? OFFSET ?",
            (guild_id, member_id, limit, offset),
        )
        return [LedgerEntry.from_row(row) for row in rows]

    async def history_size(self, guild_id: int, member_id: int) -> int:
        row = await self._db.fetch_one(
            "SELECT COUNT(*) FROM ledger WHERE guild_id = ? AND member_id = ?",
            (guild_id, member_id),
        )
        return 0 if row is None else int(row[0])

    async def month_spend(self, guild_id: int, now: datetime) -> int:
        return await self._db.read(month_spend, guild_id, now)

    async def top_spenders(self, guild_id: int, now: datetime, limit: int) -> list[tuple[int, int]]:
        start = to_db_time(period_start(AllowancePeriod.MONTHLY, now))
        rows = await self._db.fetch_all(
            "SELECT member_id, SUM(price) AS spent FROM jobs WHERE guild_id = ? "
            "AND created_at >= ? AND state != ? GROUP BY member_id "
            "ORDER BY spent DESC, member_id LIMIT ?",
            (guild_id, start, JobState.FAILED.value, limit),
        )
        return [(int(r[0]), int(r[1])) for r in rows]

    async def entries_after(self, cursor: int, limit: int) -> list[LedgerEntry]:
        rows = await self._db.fetch_all(
            "SELECT * FROM ledger WHERE id > ? ORDER BY id LIMIT ?", (cursor, limit)
        )
        return [LedgerEntry.from_row(row) for row in rows]

    async def export_rows(self, guild_id: int) -> list[tuple[object, ...]]:
        rows = await self._db.fetch_all(
            "SELECT created_at, member_id, delta, balance_after, kind, reason, job_id, actor_id "
            "FROM ledger WHERE guild_id = ? ORDER BY id",
            (guild_id,),
        )
        return [tuple(row) for row in rows]

    async def disagreements(self) -> list[str]:
        return await verify(self._db)

    # -- writes ---------------------------------------------------------------------------

    async def balance(
        self, guild_id: int, member_id: int, role_ids: tuple[int, ...], now: datetime
    ) -> tuple[int, bool]:
        return await self._db.write(self._balance, guild_id, member_id, role_ids, now)

    async def reserve(self, job: NewJob, now: datetime, mark: str) -> int:
        return await self._db.write(self._reserve, job, now, mark)

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
        return await self._db.write(
            settle, job_id, target, now, video_url, reason, actor_id, only_if_waiting, mark
        )

    async def set_balance(
        self, guild_id: int, member_id: int, amount: int, actor_id: int, now: datetime
    ) -> BalanceChange:
        return await self._db.write(self._set_balance, guild_id, member_id, amount, actor_id, now)

    async def add_credits(
        self, guild_id: int, member_id: int, amount: int, actor_id: int, now: datetime
    ) -> BalanceChange:
        return await self._db.write(self._add_credits, guild_id, member_id, amount, actor_id, now)

    # -- transaction bodies (run on the writer thread) ---------------------------------------

    def _balance(
        self,
        tx: sqlite3.Connection,
        guild_id: int,
        member_id: int,
        role_ids: tuple[int, ...],
        now: datetime,
    ) -> tuple[int, bool]:
        before = tx.total_changes
        balance = self._open_account(tx, guild_id, member_id, now, role_ids)
        return balance, tx.total_changes != before

    def _reserve(self, tx: sqlite3.Connection, job: NewJob, now: datetime, mark: str) -> int:
        origin = job.origin
        settings = read_guild_settings(tx, origin.guild_id, self._fallback_default)
        if settings.monthly_cap is not None:
            crossed = cap_crossed(
                settings.monthly_cap, month_spend(tx, origin.guild_id, now), job.price, now
            )
            if crossed is not None:
                raise crossed
        if job.source is not None:
            _refuse_repeated_click(tx, job, now)
        balance = self._open_account(
            tx, origin.guild_id, origin.member_id, now, origin.role_ids, settings
        )
        row = tx.execute(
            "UPDATE accounts SET balance = balance - :price "
            "WHERE guild_id = :guild AND member_id = :member AND balance >= :price "
            "RETURNING balance",
            {"price": job.price, "guild": origin.guild_id, "member": origin.member_id},
        ).fetchone()
        if row is None:
            raise too_poor(settings.allowances, origin.role_ids, balance, job.price, now)
        balance_after = int(row[0])
        insert_job(tx, job, now)
        append(
            tx,
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

    def _set_balance(
        self,
        tx: sqlite3.Connection,
        guild_id: int,
        member_id: int,
        amount: int,
        actor_id: int,
        now: datetime,
    ) -> BalanceChange:
        before = self._open_account(tx, guild_id, member_id, now)
        tx.execute(
            "UPDATE accounts SET balance = ? WHERE guild_id = ? AND member_id = ?",
            (amount, guild_id, member_id),
        )
        append(
            tx,
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

    def _add_credits(
        self,
        tx: sqlite3.Connection,
        guild_id: int,
        member_id: int,
        amount: int,
        actor_id: int,
        now: datetime,
    ) -> BalanceChange:
        before = self._open_account(tx, guild_id, member_id, now)
        balance = int(
            tx.execute(
                "UPDATE accounts SET balance = MAX(0, balance + ?) "
                "WHERE guild_id = ? AND member_id = ? RETURNING balance",
                (amount, guild_id, member_id),
            ).fetchone()[0]
        )
        append(
            tx,
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

    def _open_account(
        self,
        tx: sqlite3.Connection,
        guild_id: int,
        member_id: int,
        now: datetime,
        role_ids: tuple[int, ...] = (),
        settings: GuildSettings | None = None,
    ) -> int:
        """The member's balance: the account is opened with the server's default if new, and
        topped up to their allowance if a new allowance period has begun."""
        if settings is None:
            settings = read_guild_settings(tx, guild_id, self._fallback_default)
        row = tx.execute(
            "SELECT balance, allowance_key FROM accounts WHERE guild_id = ? AND member_id = ?",
            (guild_id, member_id),
        ).fetchone()
        if row is None:
            balance, last_key = settings.default_credits, None
            tx.execute(
                "INSERT INTO accounts (guild_id, member_id, balance, created_at) "
                "VALUES (?, ?, ?, ?)",
                (guild_id, member_id, balance, to_db_time(now)),
            )
            append(
                tx,
                guild_id,
                member_id,
                EntryKind.OPENING,
                balance,
                balance,
                job_id=None,
                actor_id=None,
                now=now,
                reason=OPENING_REASON,
            )
        else:
            balance, last_key = int(row[0]), row[1]
        due = top_up(settings.allowances, role_ids, balance, last_key, now)
        if due is None:
            return balance
        tx.execute(
            "UPDATE accounts SET balance = ?, allowance_key = ? WHERE guild_id = ? "
            "AND member_id = ?",
            (due.balance, due.key, guild_id, member_id),
        )
        if due.balance != balance:
            append(
                tx,
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
        return due.balance


def _refuse_repeated_click(tx: sqlite3.Connection, job: NewJob, now: datetime) -> None:
    """A double click on a result's button must not make two jobs: refuse a second job from
    the same source, by the same member, for the same action, within a few seconds."""
    assert job.source is not None
    since = to_db_time(now - REPEAT_WINDOW)
    row = tx.execute(
        "SELECT id FROM jobs WHERE source_job_id = ? AND source_action = ? AND member_id = ? "
        "AND created_at >= ? LIMIT 1",
        (job.source.job_id, job.source.action.value, job.origin.member_id, since),
    ).fetchone()
    if row is not None:
        raise RepeatedRequest(existing_job_id=str(row[0]))


def month_spend(tx: sqlite3.Connection, guild_id: int, now: datetime) -> int:
    """Credits the server spent or holds reserved this calendar month (UTC)."""
    start = to_db_time(period_start(AllowancePeriod.MONTHLY, now))
    row = tx.execute(
        "SELECT COALESCE(SUM(price), 0) FROM jobs WHERE guild_id = ? AND created_at >= ? "
        "AND state != ?",
        (guild_id, start, JobState.FAILED.value),
    ).fetchone()
    return 0 if row is None else int(row[0])


def _balance_of(tx: sqlite3.Connection, guild_id: int, member_id: int) -> int:
    row = tx.execute(
        "SELECT balance FROM accounts WHERE guild_id = ? AND member_id = ?", (guild_id, member_id)
    ).fetchone()
    return 0 if row is None else int(row[0])


def settle(
    tx: sqlite3.Connection,
    job_id: str,
    target: JobState,
    now: datetime,
    video_url: str | None,
    reason: str | None,
    actor_id: int | None,
    only_if_waiting: bool,
    mark: str = "",
) -> Settlement:
    """Move the job to its final state, if it may still move, with its money move."""
    allowed = (JobState.RESERVED,) if only_if_waiting else sources_of(target)
    placeholders = ", ".join("?" for _ in allowed)
    waiting = " AND admitted_at IS NULL" if only_if_waiting else ""
    stamp = to_db_time(now)
    row = tx.execute(
        f"UPDATE jobs SET state = ?, video_url = COALESCE(?, video_url), "  # noqa: S608
        f"failure_reason = COALESCE(?, failure_reason), finished_at = ?, updated_at = ? "
        f"WHERE id = ? AND state IN ({placeholders}){waiting} "
        f"RETURNING guild_id, member_id, price",
        (
            target.value,
            video_url,
            reason,
            stamp,
            stamp,
            job_id,
            *(state.value for state in allowed),
        ),
    ).fetchone()
    if row is None:
        owner = tx.execute(
            "SELECT guild_id, member_id FROM jobs WHERE id = ?", (job_id,)
        ).fetchone()
        balance = 0 if owner is None else _balance_of(tx, int(owner[0]), int(owner[1]))
        return Settlement(applied=False, balance=balance)
    guild_id, member_id, price = int(row[0]), int(row[1]), int(row[2])
    if target is JobState.COMPLETED:
        balance = _balance_of(tx, guild_id, member_id)
        append(
            tx,
            guild_id,
            member_id,
            EntryKind.CHARGE,
            0,
            balance,
            job_id=job_id,
            actor_id=None,
            now=now,
            reason=charge_reason(mark),
        )
    else:
        balance = int(
            tx.execute(
                "UPDATE accounts SET balance = balance + ? WHERE guild_id = ? AND member_id = ? "
                "RETURNING balance",
                (price, guild_id, member_id),
            ).fetchone()[0]
        )
        append(
            tx,
            guild_id,
            member_id,
            EntryKind.REFUND,
            price,
            balance,
            job_id=job_id,
            actor_id=actor_id,
            now=now,
            reason=refund_reason(reason, mark),
        )
    return Settlement(applied=True, balance=balance, price=price)


def append(
    tx: sqlite3.Connection,
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
    tx.execute(
        "INSERT INTO ledger (guild_id, member_id, kind, delta, balance_after, job_id, "
        "actor_id, reason, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            guild_id,
            member_id,
            kind.value,
            delta,
            balance_after,
            job_id,
            actor_id,
            reason,
            to_db_time(now),
        ),
    )


def insert_job(tx: sqlite3.Connection, job: NewJob, now: datetime) -> None:
    """Write a new job and its images; called inside the reservation's transaction."""
    origin, spec = job.origin, job.spec
    stamp = to_db_time(now)
    tx.execute(
        """
        INSERT INTO jobs (
            id, guild_id, channel_id, member_id, application_id, interaction_token,
            interaction_created_at, prompt, duration, resolution, prompt_optimizer,
            has_start_image, has_end_image, price, idempotency_key, state, created_at, updated_at,
            upload_limit, source_job_id, source_action, age_restricted, language
        ) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """,
        (
            job.id,
            origin.guild_id,
            origin.channel_id,
            origin.member_id,
            origin.application_id,
            origin.interaction_token,
            to_db_time(origin.interaction_created_at),
            spec.prompt,
            spec.duration,
            spec.resolution.value,
            None if spec.prompt_optimizer is None else int(spec.prompt_optimizer),
            int(spec.has_start_image),
            int(spec.has_end_image),
            job.price,
            job.idempotency_key,
            JobState.RESERVED.value,
            stamp,
            stamp,
            origin.upload_limit,
            None if job.source is None else job.source.job_id,
            None if job.source is None else job.source.action.value,
            int(origin.age_restricted),
            origin.language,
        ),
    )
    tx.executemany(
        "INSERT INTO job_images (job_id, role, filename, content_type, data) "
        "VALUES (?, ?, ?, ?, ?)",
        [
            (job.id, image.role.value, image.filename, image.content_type, image.data)
            for image in job.images
        ],
    )


class SqliteJobStore:
    """Named reads and writes of job rows. Money moves live in `Ledger`."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def get(self, job_id: str) -> Job | None:
        """The job, with where the video it was made from lives (for its card's link)."""
        row = await self._db.fetch_one(
            "SELECT j.*, s.video_channel_id AS source_channel_id, "
            "s.video_message_id AS source_message_id FROM jobs j "
            "LEFT JOIN jobs s ON s.id = j.source_job_id WHERE j.id = ?",
            (job_id,),
        )
        return None if row is None else Job.from_row(row)

    async def require(self, job_id: str) -> Job:
        job = await self.get(job_id)
        if job is None:
            raise LookupError(f"no job {job_id}")
        return job

    async def by_short_id(self, guild_id: int, short_id: str) -> Job | None:
        """A job of this server by the short id shown on its card (None if none, or if the
        short id is not unique here)."""
        prefix = short_id_prefix(short_id)
        if prefix is None:
            return None
        rows = await self._db.fetch_all(
            "SELECT * FROM jobs WHERE guild_id = ? AND id LIKE ? LIMIT 2", (guild_id, f"{prefix}%")
        )
        return Job.from_row(rows[0]) if len(rows) == 1 else None

    async def mark_deleted(self, job_id: str, actor_id: int) -> None:
        now = to_db_time(utc_now())
        await self._db.write(
            _changed_one,
            "UPDATE jobs SET deleted_at = ?, deleted_by = ?, updated_at = ? "
            "WHERE id = ? AND deleted_at IS NULL",
            (now, actor_id, now, job_id),
        )

    async def by_apiframe_id(self, apiframe_job_id: str) -> Job | None:
        row = await self._db.fetch_one(
            "SELECT * FROM jobs WHERE apiframe_job_id = ?", (apiframe_job_id,)
        )
        return None if row is None else Job.from_row(row)

    async def render_times(self, limit: int) -> list[tuple[int, Resolution, float]]:
        """Submit-to-finish seconds of the latest completed jobs, per duration and resolution."""
        rows = await self._db.fetch_all(
            "SELECT * FROM jobs WHERE state = ? AND submitted_at IS NOT NULL "
            "AND finished_at IS NOT NULL ORDER BY finished_at DESC LIMIT ?",
            (JobState.COMPLETED.value, limit),
        )
        found: list[tuple[int, Resolution, float]] = []
        for row in reversed(rows):
            job = Job.from_row(row)
            if job.render_seconds is not None:
                found.append((job.duration, job.resolution, job.render_seconds))
        return found

    async def counts_by_state(self) -> dict[str, int]:
        """How many jobs are waiting in a queue, running, and finished, for the metrics."""
        rows = await self._db.fetch_all(
            "SELECT CASE WHEN state = ? AND admitted_at IS NULL THEN 'waiting' ELSE state END, "
            "COUNT(*) FROM jobs GROUP BY 1",
            (JobState.RESERVED.value,),
        )
        return {str(row[0]): int(row[1]) for row in rows}

    async def admitted_undelivered(self) -> list[Driven]:
        """Every admitted job whose member has not been told the outcome, with its lease:
        what the supervisor keeps driving. A few columns only: it runs every few seconds."""
        rows = await self._db.fetch_all(
            "SELECT id, guild_id, lease_owner, lease_expires_at, admitted_at FROM jobs "
            "WHERE delivered_at IS NULL AND admitted_at IS NOT NULL"
        )
        return [Driven.from_row(row) for row in rows]

    async def undelivered(self) -> list[Job]:
        """Every job whose member has not yet been told the outcome, oldest first."""
        rows = await self._db.fetch_all(
            "SELECT * FROM jobs WHERE delivered_at IS NULL ORDER BY created_at"
        )
        return [Job.from_row(row) for row in rows]

    async def recent_for_member(self, guild_id: int, member_id: int, limit: int) -> list[Job]:
        rows = await self._db.fetch_all(
            "SELECT * FROM jobs WHERE guild_id = ? AND member_id = ? "
            "ORDER BY created_at DESC LIMIT ?",
            (guild_id, member_id, limit),
        )
        return [Job.from_row(row) for row in rows]

    async def images(self, job_id: str) -> list[ImagePayload]:
        rows = await self._db.fetch_all(
            "SELECT role, filename, content_type, data FROM job_images WHERE job_id = ?",
            (job_id,),
        )
        return [
            ImagePayload(
                ImageRole(row["role"]), row["filename"], row["content_type"], bytes(row["data"])
            )
            for row in rows
        ]

    async def record_uploads(self, job_id: str, urls: dict[ImageRole, str]) -> None:
        """Keep Apiframe's URLs. The images' bytes stay too: Apiframe's copies expire within
        hours, and Again and 1080p send the same images again later."""
        await self._db.write(
            _record_uploads,
            job_id,
            urls.get(ImageRole.START),
            urls.get(ImageRole.END),
            to_db_time(utc_now()),
        )

    async def record_submitted(self, job_id: str, apiframe_job_id: str, status: str) -> bool:
        """Store Apiframe's id for the job. False if the job had already moved on."""
        now = to_db_time(utc_now())
        return await self._db.write(
            _changed_one,
            "UPDATE jobs SET state = ?, apiframe_job_id = ?, remote_status = ?, "
            "submitted_at = ?, updated_at = ? WHERE id = ? AND state = ?",
            (
                JobState.SUBMITTED.value,
                apiframe_job_id,
                status,
                now,
                now,
                job_id,
                JobState.RESERVED.value,
            ),
        )

    async def record_progress(self, job_id: str, status: str, progress: int | None) -> None:
        await self._db.write(
            _changed_one,
            "UPDATE jobs SET remote_status = ?, progress = ?, updated_at = ? "
            "WHERE id = ? AND state = ?",
            (status, progress, to_db_time(utc_now()), job_id, JobState.SUBMITTED.value),
        )

    async def record_card_message(self, job_id: str, message_id: int) -> None:
        await self._db.write(
            _changed_one, "UPDATE jobs SET card_message_id = ? WHERE id = ?", (message_id, job_id)
        )

    async def admit(self, job_id: str) -> bool:
        """Let a waiting job start. False if it was cancelled (or admitted) meanwhile."""
        now = to_db_time(utc_now())
        return await self._db.write(
            _changed_one,
            "UPDATE jobs SET admitted_at = ?, updated_at = ? WHERE id = ? "
            "AND state = ? AND admitted_at IS NULL",
            (now, now, job_id, JobState.RESERVED.value),
        )

    async def waiting(self, guild_id: int) -> list[Job]:
        """The server's queue, first come first served."""
        rows = await self._db.fetch_all(
            "SELECT * FROM jobs WHERE guild_id = ? AND state = ? "
            "AND admitted_at IS NULL ORDER BY created_at, rowid",
            (guild_id, JobState.RESERVED.value),
        )
        return [Job.from_row(row) for row in rows]

    async def running_counts(self, guild_id: int) -> dict[int, int]:
        """Jobs admitted and not yet finished, per member."""
        rows = await self._db.fetch_all(
            "SELECT member_id, COUNT(*) FROM jobs WHERE guild_id = ? AND admitted_at IS NOT NULL "
            "AND state IN (?, ?) GROUP BY member_id",
            (guild_id, JobState.RESERVED.value, JobState.SUBMITTED.value),
        )
        return {int(r[0]): int(r[1]) for r in rows}

    async def mark_late_notified(self, job_id: str) -> None:
        await self._db.write(
            _changed_one,
            "UPDATE jobs SET late_notified_at = ? WHERE id = ?",
            (to_db_time(utc_now()), job_id),
        )

    async def mark_delivered(
        self, job_id: str, via: str, *, video_message: tuple[int, int] | None = None
    ) -> None:
        """The member was told; `video_message` is the (channel, message) carrying the file."""
        now = to_db_time(utc_now())
        channel_id, message_id = video_message or (None, None)
        await self._db.write(
            _changed_one,
            "UPDATE jobs SET delivered_at = ?, delivered_via = ?, updated_at = ?, "
            "video_channel_id = COALESCE(?, video_channel_id), "
            "video_message_id = COALESCE(?, video_message_id) "
            "WHERE id = ? AND delivered_at IS NULL",
            (now, via, now, channel_id, message_id, job_id),
        )

    async def claim(
        self, job_id: str, owner: str, until: datetime, now: datetime, unleased_since: datetime
    ) -> bool:
        return await self._db.write(
            _changed_one,
            "UPDATE jobs SET lease_owner = ?, lease_expires_at = ? WHERE id = ? "
            "AND delivered_at IS NULL AND (lease_owner = ? OR lease_expires_at < ? "
            "OR (lease_owner IS NULL AND admitted_at <= ?))",
            (
                owner,
                to_db_time(until),
                job_id,
                owner,
                to_db_time(now),
                to_db_time(unleased_since),
            ),
        )

    async def renew(self, owner: str, job_ids: list[str], until: datetime) -> set[str]:
        if not job_ids:
            return set()
        return await self._db.write(_renew, owner, job_ids, to_db_time(until))

    async def release(self, job_id: str, owner: str) -> None:
        await self._db.write(
            _changed_one,
            "UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL "
            "WHERE id = ? AND lease_owner = ?",
            (job_id, owner),
        )

    @asynccontextmanager
    async def admission(self, guild_id: int) -> AsyncIterator[None]:
        # One process per SQLite file: the runner's own guard is enough.
        yield


def _renew(tx: sqlite3.Connection, owner: str, job_ids: list[str], until: str) -> set[str]:
    marks = ", ".join("?" for _ in job_ids)
    rows = tx.execute(
        f"UPDATE jobs SET lease_expires_at = ? WHERE lease_owner = ? AND id IN ({marks}) "  # noqa: S608
        "RETURNING id",
        (until, owner, *job_ids),
    ).fetchall()
    return {str(row[0]) for row in rows}


def _changed_one(tx: sqlite3.Connection, sql: str, parameters: tuple[object, ...]) -> bool:
    """Run one UPDATE; True if it changed exactly one row."""
    return tx.execute(sql, parameters).rowcount == 1


def _record_uploads(
    tx: sqlite3.Connection, job_id: str, start_url: str | None, end_url: str | None, now: str
) -> None:
    tx.execute(
        "UPDATE jobs SET start_image_url = COALESCE(?, start_image_url), "
        "end_image_url = COALESCE(?, end_image_url), updated_at = ? WHERE id = ?",
        (start_url, end_url, now, job_id),
    )


def read_guild_settings(
    connection: sqlite3.Connection, guild_id: int, fallback_default: int
) -> GuildSettings:
    """Read a server's settings: on its own, or inside a write transaction (which sees what it
    wrote itself)."""
    row = connection.execute(
        "SELECT default_credits, monthly_cap, per_member_limit, per_server_limit, "
        "log_channel_id FROM guild_settings WHERE guild_id = ?",
        (guild_id,),
    ).fetchone()
    allowances = tuple(
        Allowance(int(r[0]), int(r[1]), Period(r[2]))
        for r in connection.execute(
            "SELECT role_id, amount, period FROM allowances WHERE guild_id = ? "
            "ORDER BY amount DESC, role_id",
            (guild_id,),
        )
    )
    if row is None:
        return GuildSettings(guild_id, fallback_default, allowances=allowances)
    return GuildSettings(
        guild_id=guild_id,
        default_credits=fallback_default if row[0] is None else int(row[0]),
        monthly_cap=None if row[1] is None else int(row[1]),
        per_member_limit=DEFAULT_PER_MEMBER_LIMIT if row[2] is None else int(row[2]),
        per_server_limit=DEFAULT_PER_SERVER_LIMIT if row[3] is None else int(row[3]),
        log_channel_id=None if row[4] is None else int(row[4]),
        allowances=allowances,
    )


class SqliteGuildSettingsStore:
    def __init__(self, database: Database, default_credits: int) -> None:
        self._db = database
        self._fallback_default = default_credits

    async def get(self, guild_id: int) -> GuildSettings:
        return await self._db.read(read_guild_settings, guild_id, self._fallback_default)

    async def log_channels(self) -> dict[int, int]:
        rows = await self._db.fetch_all(
            "SELECT guild_id, log_channel_id FROM guild_settings WHERE log_channel_id IS NOT NULL"
        )
        return {int(r[0]): int(r[1]) for r in rows}

    async def set_default_credits(self, guild_id: int, amount: int, actor_id: int) -> None:
        if amount < 0:
            raise ValueError("a default balance cannot be negative")
        await self._set(guild_id, "default_credits", amount, actor_id)

    async def set_monthly_cap(self, guild_id: int, cap: int | None, actor_id: int) -> None:
        await self._set(guild_id, "monthly_cap", cap, actor_id)

    async def set_limits(
        self, guild_id: int, per_member: int, per_server: int, actor_id: int
    ) -> None:
        if per_member < 1 or per_server < 1:
            raise ValueError("limits must be at least 1")
        await self._db.write(
            _set_columns,
            guild_id,
            {"per_member_limit": per_member, "per_server_limit": per_server},
            actor_id,
            to_db_time(utc_now()),
        )

    async def set_log_channel(self, guild_id: int, channel_id: int | None, actor_id: int) -> None:
        await self._set(guild_id, "log_channel_id", channel_id, actor_id)

    async def set_allowance(
        self, guild_id: int, role_id: int | None, amount: int, period: Period, actor_id: int
    ) -> None:
        """Create, change or (with amount 0) remove an allowance."""
        role = EVERYONE if role_id is None else role_id
        await self._db.write(
            _set_allowance, guild_id, role, amount, period, actor_id, to_db_time(utc_now())
        )

    async def _set(self, guild_id: int, column: str, value: int | None, actor_id: int) -> None:
        await self._db.write(
            _set_columns, guild_id, {column: value}, actor_id, to_db_time(utc_now())
        )


_COLUMNS: Final = frozenset(
    {"default_credits", "monthly_cap", "per_member_limit", "per_server_limit", "log_channel_id"}
)


def _set_allowance(
    tx: sqlite3.Connection,
    guild_id: int,
    role: int,
    amount: int,
    period: Period,
    actor_id: int,
    now: str,
) -> None:
    if amount <= 0:
        tx.execute("DELETE FROM allowances WHERE guild_id = ? AND role_id = ?", (guild_id, role))
        new_value = None
    else:
        tx.execute(
            "INSERT INTO allowances (guild_id, role_id, amount, period, updated_by, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (guild_id, role_id) DO UPDATE SET "
            "amount = excluded.amount, period = excluded.period, "
            "updated_by = excluded.updated_by, updated_at = excluded.updated_at",
            (guild_id, role, amount, period.value, actor_id, now),
        )
        new_value = f"{amount} {period.value}"
    _log(tx, guild_id, f"allowance:{role}", None, new_value, actor_id, now)


def _set_columns(
    tx: sqlite3.Connection, guild_id: int, changes: dict[str, int | None], actor_id: int, now: str
) -> None:
    """Change one or more settings of a server as one transaction, each change logged."""
    for column, value in changes.items():
        if column not in _COLUMNS:  # column names come from code, never from members
            raise ValueError(f"unknown server setting {column!r}")
        row = tx.execute(
            f"SELECT {column} FROM guild_settings WHERE guild_id = ?",  # noqa: S608
            (guild_id,),
        ).fetchone()
        old = None if row is None else row[0]
        tx.execute(
            f"INSERT INTO guild_settings (guild_id, {column}, updated_at, updated_by) "  # noqa: S608
            f"VALUES (?, ?, ?, ?) ON CONFLICT (guild_id) DO UPDATE SET "
            f"{column} = excluded.{column}, updated_at = excluded.updated_at, "
            f"updated_by = excluded.updated_by",
            (guild_id, value, now, actor_id),
        )
        _log(tx, guild_id, column, old, value, actor_id, now)


def _log(
    tx: sqlite3.Connection,
    guild_id: int,
    setting: str,
    old: object,
    new: object,
    actor_id: int,
    now: str,
) -> None:
    tx.execute(
        "INSERT INTO guild_settings_log (guild_id, setting, old_value, new_value, actor_id, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (
            guild_id,
            setting,
            None if old is None else str(old),
            None if new is None else str(new),
            actor_id,
            now,
        ),
    )


class SqliteRulesStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def entries(self, guild_id: int) -> list[str]:
        rows = await self._db.fetch_all(
            "SELECT entry FROM blocked_words WHERE guild_id = ? ORDER BY entry", (guild_id,)
        )
        return [str(row[0]) for row in rows]

    async def block(
        self, guild_id: int, entries: list[str], actor_id: int, now: datetime
    ) -> ListChange:
        return await self._db.write(_block, guild_id, entries, actor_id, to_db_time(now))

    async def unblock(self, guild_id: int, entries: list[str]) -> ListChange:
        return await self._db.write(_unblock, guild_id, entries)

    async def nsfw_allowed(self, guild_id: int) -> bool:
        row = await self._db.fetch_one(
            "SELECT nsfw_allowed FROM guild_settings WHERE guild_id = ?", (guild_id,)
        )
        return bool(row is not None and row[0])

    async def set_nsfw_allowed(
        self, guild_id: int, allowed: bool, actor_id: int, now: datetime
    ) -> None:
        await self._db.write(_set_nsfw, guild_id, allowed, actor_id, to_db_time(now))


def _block(
    tx: sqlite3.Connection, guild_id: int, entries: list[str], actor_id: int, now: str
) -> ListChange:
    count = int(
        tx.execute("SELECT COUNT(*) FROM blocked_words WHERE guild_id = ?", (guild_id,)).fetchone()[
            0
        ]
    )
    added: list[str] = []
    present: list[str] = []
    over: list[str] = []
    for entry in entries:
        if tx.execute(
            "SELECT 1 FROM blocked_words WHERE guild_id = ? AND entry = ?", (guild_id, entry)
        ).fetchone():
            present.append(entry)
        elif count >= MAX_ENTRIES:
            over.append(entry)
        else:
            tx.execute(
                "INSERT INTO blocked_words (guild_id, entry, added_by, added_at) "
                "VALUES (?, ?, ?, ?)",
                (guild_id, entry, actor_id, now),
            )
            added.append(entry)
            count += 1
    if added:
        tx.execute(
            "INSERT INTO guild_settings_log (guild_id, setting, old_value, new_value, "
            "actor_id, created_at) VALUES (?, 'blocked_words', NULL, ?, ?, ?)",
            (guild_id, ", ".join(added), actor_id, now),
        )
    return ListChange(tuple(added), tuple(present), tuple(over))


def _unblock(tx: sqlite3.Connection, guild_id: int, entries: list[str]) -> ListChange:
    removed: list[str] = []
    absent: list[str] = []
    for entry in entries:
        cursor = tx.execute(
            "DELETE FROM blocked_words WHERE guild_id = ? AND entry = ?", (guild_id, entry)
        )
        (removed if cursor.rowcount else absent).append(entry)
    return ListChange(tuple(removed), tuple(absent))


def _set_nsfw(
    tx: sqlite3.Connection, guild_id: int, allowed: bool, actor_id: int, now: str
) -> None:
    tx.execute(
        "INSERT INTO guild_settings (guild_id, nsfw_allowed, updated_at, updated_by) "
        "VALUES (?, ?, ?, ?) ON CONFLICT (guild_id) DO UPDATE SET "
        "nsfw_allowed = excluded.nsfw_allowed, updated_at = excluded.updated_at, "
        "updated_by = excluded.updated_by",
        (guild_id, int(allowed), now, actor_id),
    )
    tx.execute(
        "INSERT INTO guild_settings_log (guild_id, setting, old_value, new_value, "
        "actor_id, created_at) VALUES (?, 'nsfw_allowed', NULL, ?, ?, ?)",
        (guild_id, "allowed" if allowed else "blocked", actor_id, now),
    )


class SqliteSavedDefaults:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def get(self, guild_id: int, member_id: int) -> OptionDefaults:
        row = await self._db.fetch_one(
            "SELECT duration, resolution, prompt_optimizer, camera FROM option_defaults "
            "WHERE guild_id = ? AND member_id = ?",
            (guild_id, member_id),
        )
        if row is None:
            return OptionDefaults()
        optimizer = row[2]
        return OptionDefaults(
            row[0], row[1], None if optimizer is None else bool(optimizer), row[3]
        )

    async def save(self, guild_id: int, member_id: int, defaults: OptionDefaults) -> None:
        """Replace the saved defaults (all of them: unset options are cleared)."""
        await self._db.write(_save, guild_id, member_id, defaults, to_db_time(utc_now()))


def _save(
    tx: sqlite3.Connection, guild_id: int, member_id: int, defaults: OptionDefaults, now: str
) -> None:
    if defaults.empty:
        tx.execute(
            "DELETE FROM option_defaults WHERE guild_id = ? AND member_id = ?",
            (guild_id, member_id),
        )
        return
    optimizer = None if defaults.prompt_optimizer is None else int(defaults.prompt_optimizer)
    tx.execute(
        "INSERT INTO option_defaults (guild_id, member_id, duration, resolution, "
        "prompt_optimizer, camera, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (guild_id, member_id) DO UPDATE SET duration = excluded.duration, "
        "resolution = excluded.resolution, prompt_optimizer = excluded.prompt_optimizer, "
        "camera = excluded.camera, updated_at = excluded.updated_at",
        (
            guild_id,
            member_id,
            defaults.duration,
            defaults.resolution,
            optimizer,
            defaults.camera,
            now,
        ),
    )
