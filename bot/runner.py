"""Drives each job from its reservation to a delivered outcome, and resumes them after a restart.

Every step first persists what it learned, then acts, so a crash at any point leaves a job row
that says what to do next: upload and submit again with the same Idempotency-Key, poll again,
or deliver again. Money moves only through `Ledger.commit_charge` and `Ledger.refund`, each of
which happens at most once per job.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final, Protocol

from bot.apiframe import (
    KNOWN_STATUSES,
    ApiframeAuthError,
    ApiframeClient,
    ApiframeError,
    ApiframeJobNotFound,
    ApiframeOutOfCredits,
    ApiframeProtocolError,
    ApiframeRejected,
    ApiframeUnavailable,
    RemoteJob,
    build_generate_body,
)
from bot.database import utc_now
from bot.guilds import GuildSettingsStore
from bot.jobs import Job, JobState, JobStore
from bot.ledger import Ledger
from bot.polling import TYPICAL_RENDER_SECONDS, PollShape
from bot.rules import ImageRole

log = logging.getLogger(__name__)

OWNER_PROBLEM: Final = (
    "The video service is not available right now because of a problem with this bot's "
    "Apiframe account (not anything you did). The bot's owner has been told."
)
GAVE_UP: Final = ("Apiframe did not finish this video within a day of the usual time, so the "
                  "bot stopped waiting for it.")
RETRY_STEP_AFTER_ERROR: Final = 30.0


class Delivery(StrEnum):
    """Where a job's outcome reached the member."""

    INTERACTION = "interaction"
    CHANNEL = "channel"
    DIRECT_MESSAGE = "direct_message"
    KEPT = "kept"  # nothing could be posted; `/credits` shows it


@dataclass(frozen=True, slots=True)
class Progress:
    """What the member is shown while a job runs."""

    status: str
    percent: int | None
    elapsed_seconds: float


class JobReporter(Protocol):
    """How the job lifecycle reaches a member. Implemented by the Discord layer."""

    async def show_progress(self, job: Job, progress: Progress) -> None: ...

    async def tell_late(self, job: Job) -> bool:
        """The job is taking far longer than usual; returns whether the member was told."""
        ...

    async def show_queued(self, job: Job, position: int) -> bool:
        """The job waits in its server's queue at `position` (1 is next). Returns whether the
        member could be shown it (False: try again at the next change)."""
        ...

    async def deliver(self, job: Job) -> Delivery:
        """Tell the member the final outcome. Must be safe to call again for the same job."""
        ...


class DeliveryFailed(Exception):
    """Raised by a reporter when the outcome could not reach the member, this time."""


@dataclass(frozen=True, slots=True)
class PollPolicy:
    interval: float = 5.0  # the shortest gap between two polls of one job
    max_interval: float = 60.0
    typical_render: float = TYPICAL_RENDER_SECONDS
    progress_edit_interval: float = 5.0
    max_wait: timedelta = timedelta(minutes=60)
    give_up_after: timedelta = timedelta(hours=24)
    late_interval: float = 300.0

    def after_error(self, errors: int) -> float:
        """Slower polls while Apiframe is unwell, with jitter so pollers do not align."""
        ceiling = min(self.max_interval, self.interval * (2 ** min(errors, 6)))
        return random.uniform(ceiling * 0.75, ceiling)

    @property
    def shape(self) -> PollShape:
        return PollShape(floor=self.interval, ceiling=max(self.interval, self.max_interval),
                         typical_render=self.typical_render)


Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], datetime]


class JobRunner:
    def __init__(self, jobs: JobStore, ledger: Ledger, guilds: GuildSettingsStore,
                 client: ApiframeClient, reporter: JobReporter, policy: PollPolicy, *,
                 sleep: Sleep = asyncio.sleep, clock: Clock = utc_now) -> None:
        self._jobs = jobs
        self._ledger = ledger
        self._guilds = guilds
        self._client = client
        self._reporter = reporter
        self._policy = policy
        self._sleep = sleep
        self._clock = clock
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._admitting: set[int] = set()
        self._admit_again: set[int] = set()
        # Per server: the queue position each waiting job was last shown.
        self._shown_positions: dict[int, dict[str, int]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._closing = False

    @property
    def running(self) -> int:
        return len(self._tasks)

    def start(self, job_id: str, guild_id: int) -> None:
        """Drive an admitted job in the background; a second call for it does nothing."""
        if self._closing or job_id in self._tasks:
            return
        task = asyncio.create_task(self._drive(job_id, guild_id), name=f"job-{job_id}")
        self._tasks[job_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(job_id, None))

    async def admit(self, guild_id: int) -> None:
        """Start the server's waiting jobs that its limits allow, first come first served.

        A job whose member is at their own limit is passed over, not allowed to block the
        members behind it. Jobs left waiting are told their place in the queue.

        Calls that arrive while a pass for the server is running are folded into one more
        pass after it, so a burst of requests costs a few passes, not one pass each, and two
        passes for one server never run at once.
        """
        if self._closing:
            return
        if guild_id in self._admitting:
            self._admit_again.add(guild_id)
            return
        self._admitting.add(guild_id)
        try:
            while True:
                self._admit_again.discard(guild_id)
                await self._admission_pass(guild_id)
                if guild_id not in self._admit_again or self._closing:
                    break
        finally:
            self._admitting.discard(guild_id)

    async def _admission_pass(self, guild_id: int) -> None:
        settings = await self._guilds.get(guild_id)
        per_member = await self._jobs.running_counts(guild_id)
        running = sum(per_member.values())
        shown_before = self._shown_positions.get(guild_id, {})
        shown: dict[str, int] = {}
        position = 0
        for job in await self._jobs.waiting(guild_id):
            if (running < settings.per_server_limit
                    and per_member.get(job.member_id, 0) < settings.per_member_limit):
                if await self._jobs.admit(job.id):
                    running += 1
                    per_member[job.member_id] = per_member.get(job.member_id, 0) + 1
                    self.start(job.id, guild_id)
                continue
            position += 1
            if shown_before.get(job.id) == position:
                shown[job.id] = position
                continue
            try:
                if await self._reporter.show_queued(job, position):
                    shown[job.id] = position
            except Exception:  # a queue position is cosmetic
                log.warning("job %s: could not show its queue position", job.id, exc_info=True)
        self._shown_positions[guild_id] = shown

    async def resume_pending(self) -> int:
        """Pick up every job whose member has not been told its outcome."""
        pending = await self._jobs.undelivered()
        for job in pending:
            if not job.is_waiting:
                self.start(job.id, job.guild_id)
        for guild_id in {job.guild_id for job in pending if job.is_waiting}:
            await self.admit(guild_id)
        if pending:
            log.info("resumed %d unfinished job(s)", len(pending))
        return len(pending)

    async def close(self) -> None:
        """Stop driving jobs; their rows say where each one stands for the next start."""
        self._closing = True
        tasks = [*self._tasks.values(), *self._background]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- one job ----------------------------------------------------------------------------

    async def _drive(self, job_id: str, guild_id: int) -> None:
        attempt = 0
        while not self._closing:
            try:
                await self._advance(job_id)
                self._admit_later(guild_id)  # this job's place is free: let the next one in
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                attempt += 1
                delay = min(RETRY_STEP_AFTER_ERROR * attempt, 600.0)
                log.exception("job %s hit an unexpected error; retrying in %.0fs", job_id, delay)
                await self._sleep(delay)

    def _admit_later(self, guild_id: int) -> None:
        if not self._closing:
            task = asyncio.create_task(self.admit(guild_id), name=f"admit-{guild_id}")
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _advance(self, job_id: str) -> None:
        job = await self._jobs.require(job_id)
        if job.state is JobState.RESERVED:
            job = await self._submit(job)
        if job.state is JobState.SUBMITTED:
            job = await self._follow(job)
        if job.delivered_at is None:
            await self._deliver(job)

    async def _submit(self, job: Job) -> Job:
        failures = 0
        while True:
            try:
                if job.needs_upload:
                    await self._upload_images(job)
                    job = await self._jobs.require(job.id)
                accepted = await self._client.submit(self._body(job), job.idempotency_key)
            except ApiframeUnavailable as exc:
                failures += 1
                delay = self._policy.after_error(failures)
                log.warning("job %s: submit not confirmed (%s); trying again in %.0fs with "
                            "the same Idempotency-Key", job.id, exc, delay)
                await self._sleep(delay)
                continue
            except (ApiframeAuthError, ApiframeOutOfCredits) as exc:
                log.error("job %s: Apiframe refused the bot's account: %s (HTTP %s, request %s). "
                          "Check APIFRAME_API_KEY and the account's credits.",
                          job.id, exc.message, exc.status, exc.request_id)
                return await self._refund(job, OWNER_PROBLEM)
            except ApiframeProtocolError as exc:
                # A 2xx we cannot read: the job may exist, so ask again with the same key.
                failures += 1
                delay = self._policy.after_error(failures)
                log.warning("job %s: unreadable answer to the submit (%s); asking again in "
                            "%.0fs with the same Idempotency-Key", job.id, exc.message, delay)
                await self._sleep(delay)
                continue
            except ApiframeRejected as exc:
                log.warning("job %s: Apiframe refused the request: %s (request %s)",
                            job.id, exc.message, exc.request_id)
                return await self._refund(job, f"Apiframe refused the request: {exc.message}")
            await self._jobs.record_submitted(job.id, accepted.job_id, accepted.status)
            log.info("job %s submitted as Apiframe job %s", job.id, accepted.job_id)
            return await self._jobs.require(job.id)

    async def _upload_images(self, job: Job) -> None:
        images = await self._jobs.images(job.id)
        urls: dict[ImageRole, str] = {}
        for image in images:
            if (image.role is ImageRole.START and job.start_image_url) or (
                image.role is ImageRole.END and job.end_image_url
            ):
                continue
            urls[image.role] = await self._client.upload(image.filename, image.content_type,
                                                         image.data)
        await self._jobs.record_uploads(job.id, urls)

    @staticmethod
    def _body(job: Job) -> dict[str, object]:
        return build_generate_body(
            prompt=job.prompt, duration=job.duration, resolution=job.resolution.value,
            prompt_optimizer=job.prompt_optimizer, image_url=job.start_image_url,
            end_image_url=job.end_image_url,
        )

    async def _follow(self, job: Job) -> Job:
        """Poll until the job ends. Nothing but Apiframe's own word ends it early: errors,
        unknown statuses and even a 404 (a changed key?) only slow the polling, because a job
        that may still complete may still be billed. After the maximum wait the member is told
        it is late; a day after that, the bot gives up and refunds."""
        remote_id = job.apiframe_job_id
        assert remote_id is not None
        errors = 0
        last_shown: tuple[str, int | None] | None = None
        last_edit = float("-inf")
        loop = asyncio.get_running_loop()
        started = job.submitted_at or job.created_at
        shape = self._policy.shape
        expected = shape.expected_render(job.duration, job.resolution)
        progress = job.progress
        late_at = started + self._policy.max_wait
        give_up_at = late_at + self._policy.give_up_after
        while True:
            now = self._clock()
            if now >= give_up_at:
                log.error("job %s: Apiframe job %s still unfinished after %s; giving up",
                          job.id, job.apiframe_job_id, now - started)
                return await self._refund(job, GAVE_UP)
            if now >= late_at:
                if job.late_notified_at is None:
                    job = await self._tell_late(job)
                delay = self._policy.late_interval
            elif errors:
                delay = self._policy.after_error(errors)
            else:
                delay = shape.next_delay((now - started).total_seconds(), progress, expected)
            await self._sleep(delay)
            try:
                remote = await self._client.get_job(remote_id)
            except ApiframeJobNotFound:
                errors += 1
                log.error("job %s: Apiframe does not know job %s (was the API key changed?); "
                          "still checking", job.id, job.apiframe_job_id)
                continue
            except (ApiframeAuthError, ApiframeOutOfCredits) as exc:
                # The job may still finish and be billed: keep it, and tell the owner.
                errors += 1
                log.error("job %s: cannot poll Apiframe: %s (HTTP %s). Check APIFRAME_API_KEY.",
                          job.id, exc.message, exc.status)
                continue
            except ApiframeError as exc:
                errors += 1
                log.warning("job %s: poll failed: %s", job.id, exc)
                continue
            errors = 0
            progress = remote.progress
            if remote.is_terminal:
                return await self._settle(job, remote)
            if remote.status not in KNOWN_STATUSES:
                log.warning("job %s: unknown Apiframe status %r; still waiting", job.id,
                            remote.status)
            shown = (remote.status, remote.progress)
            if shown != last_shown:
                await self._jobs.record_progress(job.id, remote.status, remote.progress)
                tick = loop.time()
                if tick - last_edit >= self._policy.progress_edit_interval:
                    last_shown, last_edit = shown, tick
                    await self._show_progress(job, remote)

    async def _tell_late(self, job: Job) -> Job:
        try:
            told = await self._reporter.tell_late(job)
        except Exception:
            log.warning("job %s: could not say that it is late", job.id, exc_info=True)
            told = False
        if told:
            await self._jobs.mark_late_notified(job.id)
            return await self._jobs.require(job.id)
        return job

    async def _show_progress(self, job: Job, remote: RemoteJob) -> None:
        elapsed = (self._clock() - job.created_at).total_seconds()
        try:
            await self._reporter.show_progress(
                job, Progress(status=remote.status, percent=remote.progress,
                              elapsed_seconds=max(0.0, elapsed)))
        except Exception:  # progress is cosmetic; the job goes on
            log.warning("job %s: could not show progress", job.id, exc_info=True)

    async def _settle(self, job: Job, remote: RemoteJob) -> Job:
        if remote.status == "COMPLETED":
            if remote.video_url is None:
                log.error("job %s: Apiframe says COMPLETED but gave no video link", job.id)
                return await self._refund(job, "The video finished without a link to it.")
            settlement = await self._ledger.commit_charge(job.id, remote.video_url)
            if settlement.applied:
                log.info("job %s completed and charged %d", job.id, job.price)
            return await self._jobs.require(job.id)
        reason = remote.error or ("The job was cancelled." if remote.status == "CANCELLED"
                                  else "The video could not be made.")
        return await self._refund(job, reason)

    async def _refund(self, job: Job, reason: str) -> Job:
        settlement = await self._ledger.refund(job.id, reason)
        if settlement.applied:
            log.info("job %s failed and was refunded %d: %s", job.id, job.price, reason)
        return await self._jobs.require(job.id)

    async def _deliver(self, job: Job) -> None:
        failures = 0
        while True:
            try:
                via = await self._reporter.deliver(job)
                break
            except DeliveryFailed as exc:
                failures += 1
                if failures >= 3:
                    log.warning("job %s: outcome kept for /credits: %s", job.id, exc)
                    via = Delivery.KEPT
                    break
                await self._sleep(self._policy.after_error(failures))
        await self._jobs.mark_delivered(job.id, via.value)
