"""The job store: named reads and writes of job rows, with their leases and their server's queue,
written once for both engines. Money moves on jobs live in the ledger's store."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final

from bot.clock import utc_now
from bot.jobs.records import (
    Admission,
    Chooser,
    Driven,
    Hold,
    ImagePayload,
    Job,
    JobState,
    MonthOfJobs,
    NewJob,
    PaidFrom,
    PendingRequest,
    QueueLimits,
    short_id_prefix,
)
from bot.requests.rules import ImageRole, Resolution
from bot.store.driver import Driver, Tx, moment, placeholders, where_given
from bot.store.rows import driven_from_row, job_from_row, pending_from_row, required
from bot.store.settings import read_guild_settings

# How long an unused picture is kept at the least, so that one being named by a new job right
# now is never swept from under it.
IMAGE_GRACE: Final = timedelta(hours=1)
# An archived video's public name: 32 random bytes, URL-safe (43 characters).
PUBLIC_NAME_BYTES: Final = 32
# Ids in one `IN (…)` list: far below either engine's limit on a statement's parameters.
IDS_PER_STATEMENT: Final = 1000
JOB_WITH_SOURCE: Final = (
    "SELECT j.*, s.video_channel_id AS source_channel_id, "
    "s.video_message_id AS source_message_id FROM jobs j "
    "LEFT JOIN jobs s ON s.id = j.source_job_id"
)
INSERT_JOB: Final = """
    INSERT INTO jobs (
        id, guild_id, channel_id, member_id, application_id, interaction_token,
        interaction_created_at, prompt, duration, resolution, prompt_optimizer,
        has_start_image, has_end_image, price, idempotency_key, state, created_at,
        updated_at, upload_limit, source_job_id, source_action, age_restricted, language, model,
        paid_from, story_id, scene, scenes, waits_for, picture_author_id, picture_message_url
    ) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
              $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30)
"""
# A picture is kept once per content: a second job with the same bytes only names it (and
# marks it as used now, so that a sweep of unused pictures running at that moment spares it).
KEEP_IMAGE: Final = (
    "INSERT INTO images (sha256, data, created_at) VALUES ($1, $2, $3) "
    "ON CONFLICT (sha256) DO UPDATE SET created_at = excluded.created_at"
)
INSERT_IMAGE: Final = (
    "INSERT INTO job_images (job_id, role, filename, content_type, image_sha256) "
    "VALUES ($1, $2, $3, $4, $5)"
)
# A server's queue, in the order Discord received its requests (the time in the interaction's
# snowflake, the same whichever process or engine recorded it; ties in the order written). A
# story's later scene joins it once the scene before it is made, in the place its story took.
WAITING: Final = (
    "SELECT * FROM jobs WHERE guild_id = $1 AND state = 'reserved' "
    "AND admitted_at IS NULL AND waits_for IS NULL ORDER BY interaction_created_at, seq"
)
# Requests being checked right now: they hold their place in the queue. One noted longer ago
# than this was cut short (a process stopped), and holds nothing.
HOLDS: Final = (
    "SELECT member_id, interaction_created_at FROM pending_requests "
    "WHERE guild_id = $1 AND interaction_created_at >= $2"
)
HOLD_FOR: Final = timedelta(seconds=90)
RUNNING: Final = (
    "SELECT member_id, COUNT(*) FROM jobs WHERE guild_id = $1 AND admitted_at IS NOT NULL "
    "AND state IN ('reserved', 'submitted') GROUP BY member_id"
)
ADMIT: Final = (
    "UPDATE jobs SET admitted_at = $1, updated_at = $1 WHERE id = $2 "
    "AND state = 'reserved' AND admitted_at IS NULL"
)


async def insert_job(tx: Tx, job: NewJob, now: datetime, paid_from: PaidFrom) -> None:
    """Write a new job and its images, inside the transaction that reserves its price."""
    origin, spec = job.origin, job.spec
    await tx.execute(
        INSERT_JOB,
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
        spec.model.value,
        paid_from.value,
        None if job.story is None else job.story.story_id,
        0 if job.story is None else job.story.scene,
        0 if job.story is None else job.story.scenes,
        None if job.story is None else job.story.waits_for,
        None if job.picture is None else job.picture.author_id,
        None if job.picture is None else job.picture.message_url,
    )
    await keep_images(tx, job.id, job.images, now)
    # The request the member was told is being handled is now recorded.
    await tx.execute(
        "DELETE FROM pending_requests WHERE interaction_token = $1", origin.interaction_token
    )


async def keep_images(tx: Tx, job_id: str, images: Sequence[ImagePayload], now: datetime) -> None:
    """A job's pictures, each kept once however many jobs name it."""
    for image in images:
        digest = hashlib.sha256(image.data).hexdigest()
        await tx.execute(KEEP_IMAGE, digest, image.data, now)
        await tx.execute(
            INSERT_IMAGE, job_id, image.role.value, image.filename, image.content_type, digest
        )


class SqlJobStore:
    def __init__(self, driver: Driver, default_credits: int) -> None:
        self._db = driver
        self._fallback_default = default_credits

    async def _one(self, sql: str, *args: object) -> Job | None:
        row = await self._db.fetch_one(sql, *args)
        return None if row is None else job_from_row(row)

    async def _many(self, sql: str, *args: object) -> list[Job]:
        return [job_from_row(row) for row in await self._db.fetch(sql, *args)]

    async def get(self, job_id: str) -> Job | None:
        """The job, with where the video it was made from lives (for its card's link)."""
        return await self._one(f"{JOB_WITH_SOURCE} WHERE j.id = $1", job_id)

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
        found = await self._many(
            "SELECT * FROM jobs WHERE guild_id = $1 AND id LIKE $2 LIMIT 2", guild_id, f"{prefix}%"
        )
        return found[0] if len(found) == 1 else None

    async def by_apiframe_id(self, apiframe_job_id: str) -> Job | None:
        return await self._one("SELECT * FROM jobs WHERE apiframe_job_id = $1", apiframe_job_id)

    async def render_times(self, limit: int) -> list[tuple[int, Resolution, float]]:
        """Submit-to-finish seconds of the latest completed jobs, per duration and resolution."""
        latest = await self._many(
            "SELECT * FROM jobs WHERE state = 'completed' AND submitted_at IS NOT NULL "
            "AND finished_at IS NOT NULL ORDER BY finished_at DESC LIMIT $1",
            limit,
        )
        return [
            (job.duration, job.resolution, job.render_seconds)
            for job in reversed(latest)
            if job.render_seconds is not None
        ]

    async def counts_by_state(self) -> dict[str, int]:
        """How many jobs are waiting in a queue, running, and finished, for the metrics."""
        rows = await self._db.fetch(
            "SELECT CASE WHEN state = 'reserved' AND admitted_at IS NULL THEN 'waiting' "
            "ELSE state END, COUNT(*) FROM jobs GROUP BY 1"
        )
        return {str(row[0]): int(row[1]) for row in rows}

    async def admitted_undelivered(self) -> list[Driven]:
        """Every admitted job whose member has not been told the outcome, with its lease:
        what the supervisor keeps driving. A few columns only: it runs every few seconds."""
        rows = await self._db.fetch(
            "SELECT id, guild_id, lease_owner, lease_expires_at, admitted_at FROM jobs "
            "WHERE delivered_at IS NULL AND admitted_at IS NOT NULL"
        )
        return [driven_from_row(row) for row in rows]

    async def undelivered(self) -> list[Job]:
        """Every job whose member has not yet been told the outcome, oldest first."""
        return await self._many(f"{JOB_WITH_SOURCE} WHERE j.delivered_at IS NULL ORDER BY j.seq")

    async def recent_for_member(self, guild_id: int, member_id: int, limit: int) -> list[Job]:
        return await self._many(
            "SELECT * FROM jobs WHERE guild_id = $1 AND member_id = $2 "
            "ORDER BY created_at DESC, seq DESC LIMIT $3",
            guild_id,
            member_id,
            limit,
        )

    async def images(self, job_id: str) -> list[ImagePayload]:
        rows = await self._db.fetch(
            "SELECT j.role, j.filename, j.content_type, COALESCE(i.data, j.data) "
            "FROM job_images j LEFT JOIN images i ON i.sha256 = j.image_sha256 "
            "WHERE j.job_id = $1 ORDER BY j.role DESC",
            job_id,
        )
        return [ImagePayload(ImageRole(row[0]), row[1], row[2], bytes(row[3])) for row in rows]

    async def forget_source_images(self, finished_before: datetime, now: datetime) -> int:
        """Let go of the pictures no job can need any more: those of failed jobs (nothing is
        made from them again), and of videos finished before `finished_before` (Again and
        1080p on them say the pictures are gone). Returns how many pictures were deleted."""

        async def body(tx: Tx) -> int:
            await tx.execute(
                "DELETE FROM job_images WHERE job_id IN (SELECT id FROM jobs WHERE "
                "(state = 'failed' AND delivered_at IS NOT NULL) "
                "OR (state = 'completed' AND finished_at < $1))",
                finished_before,
            )
            # Pictures no job names any more; one named a moment ago is spared (see KEEP_IMAGE).
            return await tx.execute(
                "DELETE FROM images WHERE created_at < $1 AND NOT EXISTS "
                "(SELECT 1 FROM job_images j WHERE j.image_sha256 = images.sha256)",
                now - IMAGE_GRACE,
            )

        return await self._db.write(body)

    async def image_count(self) -> int:
        """Pictures kept (each once, however many jobs use it)."""
        row = await self._db.fetch_one("SELECT COUNT(*) FROM images")
        return 0 if row is None else int(row[0])

    async def record_uploads(self, job_id: str, urls: dict[ImageRole, str]) -> None:
        """Keep Apiframe's URLs. The images' bytes stay too: Apiframe's copies expire within
        hours, and Again and 1080p send the same images again later."""
        await self._db.execute(
            "UPDATE jobs SET start_image_url = COALESCE($1, start_image_url), "
            "end_image_url = COALESCE($2, end_image_url), updated_at = $3 WHERE id = $4",
            urls.get(ImageRole.START),
            urls.get(ImageRole.END),
            utc_now(),
            job_id,
        )

    async def record_submitted(self, job_id: str, apiframe_job_id: str, status: str) -> bool:
        """Store Apiframe's id for the job. False if the job had already moved on."""
        return (
            await self._db.execute(
                "UPDATE jobs SET state = 'submitted', apiframe_job_id = $1, remote_status = $2, "
                "submitted_at = $3, updated_at = $3 WHERE id = $4 AND state = 'reserved'",
                apiframe_job_id,
                status,
                utc_now(),
                job_id,
            )
            == 1
        )

    async def record_progress(self, job_id: str, status: str, progress: int | None) -> None:
        await self._db.execute(
            "UPDATE jobs SET remote_status = $1, progress = $2, updated_at = $3 "
            "WHERE id = $4 AND state = 'submitted'",
            status,
            progress,
            utc_now(),
            job_id,
        )

    async def record_card_message(self, job_id: str, message_id: int) -> None:
        await self._db.execute(
            "UPDATE jobs SET card_message_id = $1 WHERE id = $2 OR story_id = $2",
            message_id,
            job_id,
        )

    async def story(self, story_id: str) -> list[Job]:
        return await self._many(
            f"{JOB_WITH_SOURCE} WHERE j.story_id = $1 ORDER BY j.scene", story_id
        )

    async def hand_over(self, job_id: str, waited_for: str, frame: ImagePayload) -> bool:
        async def body(tx: Tx) -> bool:
            # Only while it still waits for that scene: a second hand-over (after a restart)
            # changes nothing.
            released = await tx.execute(
                "UPDATE jobs SET waits_for = NULL, updated_at = $1 WHERE id = $2 "
                "AND waits_for = $3 AND state = 'reserved'",
                utc_now(),
                job_id,
                waited_for,
            )
            if released:
                await keep_images(tx, job_id, (frame,), utc_now())
            return bool(released)

        return await self._db.write(body)

    async def mark_late_notified(self, job_id: str) -> None:
        await self._db.execute(
            "UPDATE jobs SET late_notified_at = $1 WHERE id = $2", utc_now(), job_id
        )

    async def mark_delivered(
        self, job_id: str, via: str, *, video_message: tuple[int, int] | None = None
    ) -> None:
        """The member was told; `video_message` is the (channel, message) carrying the file."""
        channel_id, message_id = video_message or (None, None)
        await self._db.execute(
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

    async def mark_messages_deleted(self, message_ids: list[int]) -> list[str]:
        """The messages were deleted, by anyone: the jobs whose card or video they carried are
        marked deleted (never posted again). Returns the jobs newly marked."""
        if not message_ids:
            return []

        async def body(tx: Tx) -> list[str]:
            marks = placeholders(len(message_ids), start=2)
            rows = await tx.fetch(
                "UPDATE jobs SET deleted_at = $1, updated_at = $1 WHERE deleted_at IS NULL "  # noqa: S608
                f"AND (video_message_id IN ({marks}) OR (card_message_id IN ({marks}) "
                "AND video_message_id IS NULL AND state = 'completed')) RETURNING id",
                utc_now(),
                *message_ids,
            )
            return [str(row[0]) for row in rows]

        return await self._db.write(body)

    # -- requests acknowledged before they were recorded -----------------------------------

    async def note_pending(self, request: PendingRequest) -> None:
        await self._db.execute(
            "INSERT INTO pending_requests (interaction_token, application_id, guild_id, "
            "channel_id, member_id, language, interaction_created_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (interaction_token) DO NOTHING",
            request.interaction_token,
            request.application_id,
            request.guild_id,
            request.channel_id,
            request.member_id,
            request.language,
            request.interaction_created_at,
        )

    async def clear_pending(self, interaction_token: str) -> bool:
        return bool(
            await self._db.execute(
                "DELETE FROM pending_requests WHERE interaction_token = $1", interaction_token
            )
        )

    async def pending(self) -> list[PendingRequest]:
        rows = await self._db.fetch(
            "SELECT * FROM pending_requests ORDER BY interaction_created_at"
        )
        return [pending_from_row(row) for row in rows]

    async def mark_deleted(self, job_id: str, actor_id: int) -> None:
        # Its message may have gone a moment before (Delete removes it first, and Discord
        # tells of that): the time stays the first, and who deleted it is written once.
        await self._db.execute(
            "UPDATE jobs SET deleted_at = COALESCE(deleted_at, $1), deleted_by = $2, "
            "updated_at = $1 WHERE id = $3 AND deleted_by IS NULL",
            utc_now(),
            actor_id,
            job_id,
        )

    # -- a server's queue ---------------------------------------------------------------------

    async def waiting(self, guild_id: int) -> list[Job]:
        """The server's queue, first come first served."""
        return await self._many(WAITING, guild_id)

    async def publish(self, job_id: str) -> str:
        candidate = secrets.token_urlsafe(PUBLIC_NAME_BYTES)

        async def body(tx: Tx) -> str:
            await tx.execute(
                "UPDATE jobs SET public_name = $1 WHERE id = $2 AND public_name IS NULL",
                candidate,
                job_id,
            )
            return str(await tx.value("SELECT public_name FROM jobs WHERE id = $1", job_id))

        return await self._db.write(body)

    async def by_public_name(self, name: str) -> Job | None:
        return await self._one(f"{JOB_WITH_SOURCE} WHERE j.public_name = $1", name)

    async def charges_since(self, guild_id: int, since: datetime) -> list[tuple[datetime, int]]:
        """(when it was charged, credits) of every video the server finished since `since`."""
        rows = await self._db.fetch(
            "SELECT finished_at, price FROM jobs WHERE guild_id = $1 AND finished_at >= $2 "
            "AND state = 'completed'",
            guild_id,
            since,
        )
        return [(required(row[0]), int(row[1])) for row in rows]

    async def gallery(
        self,
        guild_id: int,
        *,
        member_id: int | None = None,
        model: str | None = None,
        state: str | None = None,
        before_seq: int | None = None,
        limit: int = 24,
    ) -> list[tuple[int, Job]]:
        """(its place, the job) of the server's videos newest first, from before `before_seq`,
        for one member, model or outcome when asked."""
        where, values = where_given(
            (
                ("j.guild_id = {}", guild_id),
                ("j.member_id = {}", member_id),
                ("j.model = {}", model),
                ("j.state = {}", state),
                ("j.seq < {}", before_seq),
            )
        )
        rows = await self._db.fetch(
            f"{JOB_WITH_SOURCE} WHERE {where} ORDER BY j.seq DESC LIMIT ${len(values) + 1}",
            *values,
            limit,
        )
        return [(int(row["seq"]), job_from_row(row)) for row in rows]

    async def month_of_jobs(self, guild_id: int, since: datetime) -> MonthOfJobs:
        row = await self._db.fetch_one(
            "SELECT "
            "COALESCE(SUM(CASE WHEN state = 'completed' AND finished_at >= $2 THEN price END), 0), "
            "COUNT(CASE WHEN state = 'completed' AND finished_at >= $2 THEN 1 END), "
            "COUNT(CASE WHEN state = 'failed' AND finished_at >= $2 THEN 1 END), "
            "COALESCE(SUM(CASE WHEN finished_at >= $2 THEN apiframe_cost END), 0), "
            "COUNT(CASE WHEN finished_at >= $2 THEN apiframe_cost END), "
            "COUNT(CASE WHEN state IN ('reserved', 'submitted') "
            "AND admitted_at IS NOT NULL THEN 1 END), "
            "COUNT(CASE WHEN state = 'reserved' AND admitted_at IS NULL THEN 1 END) "
            "FROM jobs WHERE guild_id = $1 "
            "AND (finished_at >= $2 OR state IN ('reserved', 'submitted'))",
            guild_id,
            since,
        )
        assert row is not None
        return MonthOfJobs(*(int(value) for value in row))

    async def running_counts(self, guild_id: int) -> dict[int, int]:
        """Jobs admitted and not yet finished, per member."""
        return {int(r[0]): int(r[1]) for r in await self._db.fetch(RUNNING, guild_id)}

    async def guilds_waiting(self) -> list[int]:
        """Servers with at least one job waiting in their queue."""
        rows = await self._db.fetch(
            "SELECT DISTINCT guild_id FROM jobs WHERE state = 'reserved' AND admitted_at IS NULL "
            "AND waits_for IS NULL"
        )
        return [int(row[0]) for row in rows]

    async def admit_waiting(self, guild_id: int, choose: Chooser) -> Admission:
        """One admission pass over the server's queue, as one transaction: its settings, what
        runs and what waits are read, `choose` picks the jobs to start, and those are marked
        admitted. Passes for one server run one at a time, in every process."""

        async def body(tx: Tx) -> Admission:
            settings = await read_guild_settings(tx, guild_id, self._fallback_default)
            running = {int(r[0]): int(r[1]) for r in await tx.fetch(RUNNING, guild_id)}
            waiting = [job_from_row(row) for row in await tx.fetch(WAITING, guild_id)]
            now = utc_now()
            holds = [
                Hold(int(row[0]), required(moment(row[1])))
                for row in await tx.fetch(HOLDS, guild_id, now - HOLD_FOR)
            ]
            # Sorting is stable: a job and a hold received in the same millisecond keep the
            # job first.
            queue: list[Job | Hold] = sorted(
                [*waiting, *holds], key=lambda entry: entry.interaction_created_at
            )
            limits = QueueLimits(settings.per_member_limit, settings.per_server_limit)
            admitted = [
                job
                for job in choose(limits, running, queue)
                if await tx.execute(ADMIT, now, job.id)
            ]
            started = {job.id for job in admitted}
            return Admission(
                tuple(admitted), tuple(job for job in waiting if job.id not in started)
            )

        return await self._db.write(body, lock=f"admit:{guild_id}")

    # -- leases: which process drives a job -------------------------------------------------

    async def claim(
        self,
        job_ids: Sequence[str],
        owner: str,
        until: datetime,
        now: datetime,
        unleased_since: datetime,
    ) -> set[str]:
        async def body(tx: Tx) -> set[str]:
            return await ids_returned(
                tx,
                "UPDATE jobs SET lease_owner = $1, lease_expires_at = $2 WHERE id IN ({ids}) "
                "AND delivered_at IS NULL AND (lease_owner = $1 OR lease_expires_at < $3 "
                "OR (lease_owner IS NULL AND admitted_at <= $4)) RETURNING id",
                (owner, until, now, unleased_since),
                job_ids,
            )

        return await self._db.write(body) if job_ids else set()

    async def renew(self, owner: str, job_ids: list[str], until: datetime) -> set[str]:
        async def body(tx: Tx) -> set[str]:
            return await ids_returned(
                tx,
                "UPDATE jobs SET lease_expires_at = $1 WHERE lease_owner = $2 "
                "AND id IN ({ids}) RETURNING id",
                (until, owner),
                job_ids,
            )

        return await self._db.write(body) if job_ids else set()

    async def release(self, job_id: str, owner: str) -> None:
        await self._db.execute(
            "UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL "
            "WHERE id = $1 AND lease_owner = $2",
            job_id,
            owner,
        )


async def ids_returned(
    tx: Tx, statement: str, values: tuple[object, ...], job_ids: Sequence[str]
) -> set[str]:
    """The ids a statement over `job_ids` returns: its `{ids}` the placeholders of the ids,
    numbered after its own `values`, run in chunks that stay below either engine's limit."""
    found: set[str] = set()
    for start in range(0, len(job_ids), IDS_PER_STATEMENT):
        chunk = job_ids[start : start + IDS_PER_STATEMENT]
        listed = placeholders(len(chunk), start=len(values) + 1)
        rows = await tx.fetch(statement.format(ids=listed), *values, *chunk)
        found.update(str(row[0]) for row in rows)
    return found
