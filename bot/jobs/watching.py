"""Following a submitted job until Apiframe says it has ended, by polling and by webhook news.

Nothing but Apiframe's own answer to `GET /v2/jobs/{id}` ends a job: errors, unknown statuses
and even a 404 (a changed key?) only slow the checks, because a job that may still complete may
still be billed. A webhook never decides anything by itself either; its news only makes the next
check happen now, so a forged, late or repeated webhook cannot move money or deliver twice.
After the maximum wait the member is told the job is late; a day after that, the bot gives up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from bot.apiframe.budget import PRIORITY_NEWS
from bot.apiframe.client import (
    KNOWN_STATUSES,
    TERMINAL_STATUSES,
    ApiframeAuthError,
    ApiframeClient,
    ApiframeError,
    ApiframeJobNotFound,
    ApiframeOutOfCredits,
    RemoteJob,
)
from bot.backoff import Backoff
from bot.clock import utc_now
from bot.jobs.delivery import JobReporter, Progress
from bot.jobs.polling import (
    PollShape,
    RenderTimes,
    check_priority,
    urgency,
)
from bot.jobs.records import Job, JobStore

log = logging.getLogger(__name__)

EARLY_NEWS_KEPT: Final = 1024


@dataclass(frozen=True, slots=True)
class WatchPolicy:
    shape: PollShape = field(default_factory=PollShape)
    progress_edit_interval: float = 5.0
    max_wait: timedelta = timedelta(minutes=60)
    give_up_after: timedelta = timedelta(hours=24)
    late_interval: float = 300.0
    webhooks: bool = False

    def after_error(self, errors: int) -> float:
        """Slower checks while Apiframe is unwell, with jitter so jobs do not align."""
        return Backoff(floor=self.shape.interval).delay(errors)


@dataclass
class _Inbox:
    """News for one watched job: wakes its watcher early."""

    event: asyncio.Event = field(default_factory=asyncio.Event)
    check_now: bool = False  # the job may have ended: ask Apiframe at once
    progress: tuple[str, int | None] | None = None  # only something to show


class Watcher:
    def __init__(
        self,
        client: ApiframeClient,
        jobs: JobStore,
        reporter: JobReporter,
        render_times: RenderTimes,
        policy: WatchPolicy,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._client = client
        self._jobs = jobs
        self._reporter = reporter
        self._render_times = render_times
        self._policy = policy
        self._clock = clock
        self._inboxes: dict[str, _Inbox] = {}
        # Apiframe ids whose news arrived before this process was watching them.
        self._early: OrderedDict[str, bool] = OrderedDict()

    def hear(self, job_id: str, status: str, progress: int | None) -> bool:
        """Webhook news about a job; True if this process is watching it."""
        inbox = self._inboxes.get(job_id)
        if inbox is None:
            return False
        if status.upper() in TERMINAL_STATUSES:
            inbox.check_now = True
        else:
            inbox.progress = (status.upper(), progress)
        inbox.event.set()
        return True

    def check_all_now(self) -> None:
        """Every watched job gets its next check now (news may have been missed)."""
        for inbox in self._inboxes.values():
            inbox.check_now = True
            inbox.event.set()

    def hear_early(self, apiframe_job_id: str) -> None:
        """News for a job not known here yet (a webhook may beat the submit's answer)."""
        self._early[apiframe_job_id] = True
        while len(self._early) > EARLY_NEWS_KEPT:
            self._early.popitem(last=False)

    async def watch(self, job: Job) -> RemoteJob | None:
        """Apiframe's final answer for the job, or None when the bot gives up on it."""
        inbox = _Inbox()
        self._inboxes[job.id] = inbox
        try:
            return await self._watch(job, inbox)
        finally:
            self._inboxes.pop(job.id, None)

    async def _watch(self, job: Job, inbox: _Inbox) -> RemoteJob | None:
        remote_id = job.apiframe_job_id
        assert remote_id is not None
        policy = self._policy
        started = job.submitted_at or job.created_at
        late_at = started + policy.max_wait
        give_up_at = late_at + policy.give_up_after
        errors = 0
        progress = job.progress
        last_shown: tuple[str, int | None] | None = None
        last_edit = float("-inf")
        check_now = self._early.pop(remote_id, False)
        while True:
            now = self._clock()
            if now >= give_up_at:
                log.error(
                    "job %s: Apiframe job %s still unfinished after %s; giving up",
                    job.id,
                    remote_id,
                    now - started,
                )
                return None
            elapsed = (now - started).total_seconds()
            expected = self._render_times.expected(job.duration, job.resolution)
            if now >= late_at:
                if job.late_notified_at is None:
                    job = await self._tell_late(job)
                delay = policy.late_interval
            elif errors:
                delay = policy.after_error(errors)
            else:
                earliest = self._render_times.earliest(job.duration, job.resolution)
                delay = policy.shape.next_delay(elapsed, earliest, webhooks=policy.webhooks)
            if not check_now:
                check_now = await self._wait(job, inbox, delay)
            priority = (
                PRIORITY_NEWS
                if check_now
                else check_priority(
                    time.monotonic(), policy.shape.interval, urgency(elapsed, expected, progress)
                )
            )
            check_now = False
            try:
                remote = await self._client.get_job(remote_id, priority=priority)
            except ApiframeJobNotFound:
                errors += 1
                log.error(
                    "job %s: Apiframe does not know job %s (was the API key changed?); "
                    "still checking",
                    job.id,
                    remote_id,
                )
                continue
            except (ApiframeAuthError, ApiframeOutOfCredits) as exc:
                # The job may still finish and be billed: keep it, and tell the owner.
                errors += 1
                log.error(
                    "job %s: cannot check Apiframe: %s (HTTP %s). Check APIFRAME_API_KEY.",
                    job.id,
                    exc.message,
                    exc.status,
                )
                continue
            except ApiframeError as exc:
                errors += 1
                log.warning("job %s: check failed: %s", job.id, exc)
                continue
            errors = 0
            progress = remote.progress
            if remote.is_terminal:
                return remote
            if remote.status not in KNOWN_STATUSES:
                log.warning(
                    "job %s: unknown Apiframe status %r; still waiting", job.id, remote.status
                )
            shown = (remote.status, remote.progress)
            if shown != last_shown:
                await self._jobs.record_progress(job.id, remote.status, remote.progress)
                tick = time.monotonic()
                if tick - last_edit >= policy.progress_edit_interval:
                    last_shown, last_edit = shown, tick
                    await self._show_progress(job, *shown)

    async def _wait(self, job: Job, inbox: _Inbox, delay: float) -> bool:
        """Sleep `delay` seconds, showing webhook progress as it comes; True if news says the
        job may have ended."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + delay
        last_edit = float("-inf")
        while (remaining := deadline - loop.time()) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(inbox.event.wait(), remaining)
            inbox.event.clear()
            if inbox.check_now:
                inbox.check_now = False
                return True
            if inbox.progress is not None:
                status, percent = inbox.progress
                inbox.progress = None
                tick = time.monotonic()
                if tick - last_edit >= self._policy.progress_edit_interval:
                    last_edit = tick
                    await self._jobs.record_progress(job.id, status, percent)
                    await self._show_progress(job, status, percent)
        return False

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

    async def _show_progress(self, job: Job, status: str, percent: int | None) -> None:
        elapsed = (self._clock() - job.created_at).total_seconds()
        try:
            await self._reporter.show_progress(
                job, Progress(status=status, percent=percent, elapsed_seconds=max(0.0, elapsed))
            )
        except Exception:  # progress is cosmetic; the job goes on
            log.warning("job %s: could not show progress", job.id, exc_info=True)
