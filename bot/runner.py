"""Drives each job from its reservation to a delivered outcome, and resumes them after a restart.

A job goes through four steps, each in its own piece: submit (`bot.jobs.submission`), watch
(`bot.jobs.watching`: polling and webhook news), settle (here, the one place where a job is
decided finished, whichever way the news came), and deliver (`bot.jobs.delivery`: the video as a
file when it fits). Every step first persists what it learned, then acts, so a crash at any
point leaves a job row that says what to do next: upload and submit again with the same
Idempotency-Key, watch again, or deliver again. Money moves only through `Ledger.commit_charge`
and `Ledger.refund`, each of which happens at most once per job."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Final, Protocol

from bot.apiframe.client import RemoteJob, content_refusal
from bot.backoff import Backoff
from bot.clock import utc_now
from bot.i18n import msg
from bot.jobs.delivery import Deliverer, JobReporter
from bot.jobs.polling import SAMPLES_KEPT, RenderTimes
from bot.jobs.records import Driven, Hold, Job, JobState, JobStore, PendingRequest, QueueLimits
from bot.jobs.submission import SubmitRefused, Submitter
from bot.jobs.watching import Watcher
from bot.logs import log_context
from bot.metrics import Metrics
from bot.money.ledger import Ledger

log = logging.getLogger(__name__)

GAVE_UP: Final = str(
    msg(
        "Apiframe did not finish this video within a day of the usual time, so the "
        "bot stopped waiting for it."
    )
)
NO_LINK: Final = str(msg("The video finished without a link to it."))
# Tells the other processes about news of an Apiframe job (its id, status and progress).
Relay = Callable[[str, str, int | None], Awaitable[None]]
SWEEP_EVERY: Final = 600.0  # seconds between two looks for source pictures to let go of
# An unexpected error in a job's step: try the step again, slower each time.
RETRY_AFTER_ERROR: Final = Backoff(floor=30.0, ceiling=600.0)


class SceneFollower(Protocol):
    """What happens when a story's scene ends (`bot.stories.StoryDirector`)."""

    async def scene_ended(self, job: Job) -> None: ...


def admissible(limits: QueueLimits, running: dict[int, int], queue: list[Job | Hold]) -> list[Job]:
    """The waiting jobs that may start now, first come first served: as many as the server's
    limit leaves room for, passing over (not stopping at) a member at their own limit. A
    request still being checked (a hold) keeps the place it would take, so that what Discord
    received after it waits behind it."""
    running = dict(running)
    total = sum(running.values())
    chosen: list[Job] = []
    for entry in queue:
        if total >= limits.per_server:
            break
        if running.get(entry.member_id, 0) < limits.per_member:
            if isinstance(entry, Job):
                chosen.append(entry)
            running[entry.member_id] = running.get(entry.member_id, 0) + 1
            total += 1
    return chosen


class JobRunner:
    def __init__(
        self,
        jobs: JobStore,
        ledger: Ledger,
        submitter: Submitter,
        watcher: Watcher,
        deliverer: Deliverer,
        reporter: JobReporter,
        render_times: RenderTimes,
        *,
        metrics: Metrics | None = None,
        heartbeat: float = 10.0,
        owner: str = "local",
        lease_seconds: float = 30.0,
        local: Callable[[int], bool] = lambda _guild_id: True,
        relay: Relay | None = None,
        image_retention: timedelta = timedelta(days=30),
        on_content_refusal: Callable[[Job, str], Awaitable[None]] | None = None,
        scenes: SceneFollower | None = None,
    ) -> None:
        self._on_content_refusal = on_content_refusal
        self._scenes = scenes
        self._jobs = jobs
        self._ledger = ledger
        self._submitter = submitter
        self._watcher = watcher
        self._deliverer = deliverer
        self._reporter = reporter
        self._render_times = render_times
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._claimed: set[str] = set()
        self._admitting: set[int] = set()
        self._admit_again: set[int] = set()
        # Per server: the queue position each waiting job was last shown.
        self._shown_positions: dict[int, dict[str, int]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._closing = False
        self._metrics = metrics
        # Several processes may share the database: each drives the jobs it holds a lease on
        # (renewed every beat), starting with the servers of its own shards (`local`).
        self._owner = owner
        self._lease = timedelta(seconds=lease_seconds)
        self._local = local
        self._relay = relay
        # The supervisor's beat: /readyz turns 503 when it stops (a stuck runner). It renews
        # the leases too, so it beats at least three times per lease.
        self.heartbeat = min(heartbeat, lease_seconds / 3)
        self.last_beat = time.monotonic()
        self._supervisor: asyncio.Task[None] | None = None
        # Whether the jobs in flight at start were picked up and the supervisor runs (until
        # then, the bot is not ready).
        self.resumed = False
        # Source pictures are let go of once no job can need them (see forget_source_images).
        self._image_retention = image_retention
        self._next_sweep = 0.0

    @property
    def running(self) -> int:
        return len(self._tasks)

    def start(self, job_id: str, guild_id: int, *, claimed: Job | None = None) -> None:
        """Drive an admitted job in the background (`claimed`: its row, just read, its lease
        this process's already); a second call for it does nothing."""
        if self._closing or job_id in self._tasks:
            return
        task = asyncio.create_task(self._drive(job_id, guild_id, claimed), name=f"job-{job_id}")
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
        # The pass is one transaction of the store's; Discord is only spoken to after it.
        admission = await self._jobs.admit_waiting(guild_id, admissible)
        for job in admission.admitted:
            self.start(job.id, guild_id)
        shown_before = self._shown_positions.get(guild_id, {})
        shown: dict[str, int] = {}
        for position, job in enumerate(admission.waiting, start=1):
            if shown_before.get(job.id) == position:
                shown[job.id] = position
                continue
            try:
                if await self._reporter.show_queued(job, position):
                    shown[job.id] = position
            except Exception:  # a queue position is cosmetic
                log.warning("job %s: could not show its queue position", job.id, exc_info=True)
        self._shown_positions[guild_id] = shown

    async def interrupted(self) -> list[PendingRequest]:
        """Requests acknowledged before the last stop and never recorded, in this process's
        shards: read at start, before this process takes any request of its own."""
        return [r for r in await self._jobs.pending() if self._local(r.guild_id)]

    async def resume_pending(self, interrupted: list[PendingRequest] | None = None) -> int:
        """Learn render times from finished jobs, pick up every job whose member has not been
        told its outcome, and answer the requests cut short by the last stop (`interrupted`,
        as read before this process took requests; None: read now)."""
        self._render_times.seed(await self._jobs.render_times(SAMPLES_KEPT * 4))
        pending = [job for job in await self._jobs.undelivered() if self._local(job.guild_id)]
        running = [job for job in pending if not job.is_waiting]
        # All their leases in one statement: a restart in a busy hour finds a thousand jobs in
        # flight, and one write each would queue the first commands' reads behind them.
        try:
            claimed = await self._claim([(job.id, job.guild_id) for job in running])
        except Exception:
            log.exception("could not claim the jobs in flight; the supervisor will try again")
            claimed = set()
        for job in running:
            if job.id in claimed:
                self.start(job.id, job.guild_id, claimed=job)
        for guild_id in {job.guild_id for job in pending if job.is_waiting}:
            await self.admit(guild_id)
        if pending:
            log.info("resumed %d unfinished job(s)", len(pending))
        await self._answer_interrupted(
            await self.interrupted() if interrupted is None else interrupted
        )
        return len(pending)

    async def _answer_interrupted(self, requests: list[PendingRequest]) -> None:
        """Nothing was charged for requests cut short, and their members are told so (once; a
        member who cannot be reached is not tried again)."""
        for request in requests:
            try:
                told = await self._reporter.tell_interrupted(request)
            except Exception:  # one member's channel must not stop the others
                log.warning("could not tell a member their request was cut short", exc_info=True)
                told = False
            if not told:
                log.info("a request cut short by the last stop could not be answered")
            await self._jobs.clear_pending(request.interaction_token)

    def supervise(self) -> None:
        """Start the supervisor: every `heartbeat` seconds it makes sure each admitted,
        undelivered job is being driven (a job whose task died is picked up again), and
        beats, so that a stuck runner shows on /readyz."""
        if self._supervisor is None:
            self._supervisor = asyncio.create_task(self._supervise(), name="job-supervisor")

    @property
    def beat_age(self) -> float:
        return time.monotonic() - self.last_beat

    async def _supervise(self) -> None:
        while not self._closing:
            try:
                await self._renew_leases()
                now = utc_now()
                # Only jobs that were admitted: a Cancel settles its job itself.
                for driven in await self._jobs.admitted_undelivered():
                    if driven.job_id not in self._tasks and self._may_take(driven, now):
                        self.start(driven.job_id, driven.guild_id)
                # A queue whose last pass failed (the database was busy, say) is not left
                # waiting for the next request in its server.
                for guild_id in await self._jobs.guilds_waiting():
                    if self._local(guild_id) and guild_id not in self._admitting:
                        self._admit_later(guild_id)
                if time.monotonic() >= self._next_sweep:
                    await self.forget_source_images()
                self.last_beat = time.monotonic()
            except Exception:
                log.exception("the job supervisor failed; trying again")
            await asyncio.sleep(self.heartbeat)

    async def forget_source_images(self) -> int:
        """Delete the source pictures no job needs any more (every few minutes)."""
        self._next_sweep = time.monotonic() + SWEEP_EVERY
        now = utc_now()
        forgotten = await self._jobs.forget_source_images(now - self._image_retention, now)
        if forgotten:
            log.info("let go of %d source picture(s) no job needs any more", forgotten)
        return forgotten

    def _may_take(self, driven: Driven, now: datetime) -> bool:
        """Whether this process should try to take the job (the claim itself decides)."""
        if driven.lease_owner == self._owner:
            return True
        if driven.lease_owner is not None:
            return driven.lease_expires_at is not None and driven.lease_expires_at < now
        # Never leased: its own process starts it; another takes it only once it is overdue.
        return self._local(driven.guild_id) or (
            driven.admitted_at is not None and driven.admitted_at <= now - self._lease
        )

    async def _renew_leases(self) -> None:
        driving = list(self._tasks)
        held = await self._jobs.renew(self._owner, driving, utc_now() + self._lease)
        for job_id in driving:
            task = self._tasks.get(job_id)
            if job_id not in held and task is not None and job_id in self._claimed:
                # Another process took the job while this one stalled past its lease: stop,
                # and leave it to that process (its ledger moves happen once either way).
                log.warning("job %s: lease lost to another process; letting it go", job_id)
                task.cancel()

    async def _claim(self, jobs: list[tuple[str, int]]) -> set[str]:
        """Take these jobs (id, server) for this process; the ids taken."""
        now = utc_now()
        claimed: set[str] = set()
        # Its own shard's unleased job at once (whatever the clocks of the database and of
        # the process that admitted it say); another shard's only once a lease overdue.
        for local, since in ((True, now + timedelta(days=1)), (False, now - self._lease)):
            ids = [job_id for job_id, guild_id in jobs if self._local(guild_id) is local]
            if ids:
                claimed |= await self._jobs.claim(ids, self._owner, now + self._lease, now, since)
        self._claimed |= claimed
        return claimed

    async def hear(self, apiframe_job_id: str, status: str, progress: int | None) -> bool:
        """News about an Apiframe job (a webhook). It only wakes the job's watcher, which asks
        Apiframe itself: news never settles a job. A job driven by another process gets the
        news through the database (`relay`). True if the job is one of this bot's."""
        job = await self._jobs.by_apiframe_id(apiframe_job_id)
        if job is None:
            # The webhook may have beaten the submit's answer: check at once when it lands.
            self._watcher.hear_early(apiframe_job_id)
            if self._relay is not None:
                await self._relay(apiframe_job_id, status, progress)
            return False
        if job.id not in self._tasks and self._relay is not None:
            await self._relay(apiframe_job_id, status, progress)
        self._watcher.hear(job.id, status, progress)
        return True

    def check_all_now(self) -> None:
        """Check every job this process watches at once (news may have been missed)."""
        self._watcher.check_all_now()

    async def hear_relayed(self, apiframe_job_id: str, status: str, progress: int | None) -> None:
        """News another process received for a job this one may drive."""
        job = await self._jobs.by_apiframe_id(apiframe_job_id)
        if job is None:
            self._watcher.hear_early(apiframe_job_id)
        elif job.id in self._tasks:
            self._watcher.hear(job.id, status, progress)

    async def close(self) -> None:
        """Stop driving jobs; their rows say where each one stands for the next start."""
        self._closing = True
        tasks = [*self._tasks.values(), *self._background]
        if self._supervisor is not None:
            tasks.append(self._supervisor)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- one job ----------------------------------------------------------------------------

    async def _drive(self, job_id: str, guild_id: int, claimed: Job | None) -> None:
        log_context(job_id=job_id, guild_id=guild_id)
        try:
            if claimed is None and not await self._claim([(job_id, guild_id)]):
                return  # another live process drives it
        except Exception:
            log.exception("job %s: could not claim it; the supervisor will try again", job_id)
            return
        try:
            await self._drive_claimed(job_id, guild_id, claimed)
        finally:
            self._claimed.discard(job_id)

    async def _drive_claimed(self, job_id: str, guild_id: int, known: Job | None) -> None:
        attempt = 0
        while not self._closing:
            try:
                await self._advance(known or await self._jobs.require(job_id))
                await self._jobs.release(job_id, self._owner)
                self._admit_later(guild_id)  # this job's place is free: let the next one in
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                known = None  # after an error, from the database again
                attempt += 1
                delay = RETRY_AFTER_ERROR.delay(attempt)
                log.exception("job %s hit an unexpected error; retrying in %.0fs", job_id, delay)
                await asyncio.sleep(delay)

    def _admit_later(self, guild_id: int) -> None:
        if not self._closing:
            task = asyncio.create_task(self.admit(guild_id), name=f"admit-{guild_id}")
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _advance(self, job: Job) -> None:
        if job.state is JobState.RESERVED:
            try:
                job = await self._submitter.submit(job)
            except SubmitRefused as refused:
                job = await self._refund(job, refused.reason)
        if job.state is JobState.SUBMITTED:
            remote = await self._watcher.watch(job)
            job = await (
                self._refund(job, GAVE_UP) if remote is None else self._settle(job, remote)
            )
        if job.delivered_at is None:
            if job.in_story and self._scenes is not None:
                # A story's scene is not told on its own: the story goes on, or is told.
                await self._scenes.scene_ended(job)
            else:
                await self._deliverer.deliver(job)

    async def _settle(self, job: Job, remote: RemoteJob) -> Job:
        """The one place where a job is decided finished, from Apiframe's own answer."""
        if remote.status == "COMPLETED":
            if remote.video_url is None:
                log.error("job %s: Apiframe says COMPLETED but gave no video link", job.id)
                return await self._refund(job, NO_LINK)
            settlement = await self._ledger.commit_charge(
                job.id, remote.video_url, remote.credit_cost
            )
            if settlement.applied:
                log.info("job %s completed and charged %d", job.id, job.price)
            settled = await self._jobs.require(job.id)
            if settlement.applied and settled.render_seconds is not None:
                self._render_times.observe(
                    settled.duration, settled.resolution, settled.render_seconds
                )
                if self._metrics is not None:
                    self._metrics.jobs_finished.labels("completed").inc()
                    self._metrics.job_duration.labels(
                        settled.resolution.value, str(settled.duration)
                    ).observe(settled.render_seconds)
            return settled
        refused = content_refusal(remote.error)
        reason = (
            str(refused)
            if refused is not None
            else remote.error
            or str(
                msg("The job was cancelled.")
                if remote.status == "CANCELLED"
                else msg("The video could not be made.")
            )
        )
        settled = await self._refund(job, reason, remote.credit_cost)
        if refused is not None and self._on_content_refusal is not None:
            await self._on_content_refusal(settled, remote.error or "")
        return settled

    async def _refund(self, job: Job, reason: str, apiframe_cost: int | None = None) -> Job:
        settlement = await self._ledger.refund(job.id, reason, apiframe_cost=apiframe_cost)
        if settlement.applied:
            log.info("job %s failed and was refunded %d: %s", job.id, job.price, reason)
            if self._metrics is not None:
                self._metrics.jobs_finished.labels("failed").inc()
        return await self._jobs.require(job.id)
