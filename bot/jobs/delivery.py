"""The last step of a job: the outcome reaches the member, with the video as a file when it fits.

The front end (Discord, in `cogs/`) implements `JobReporter`; this module decides what to hand
it. A finished video is fetched from Apiframe's CDN, bounded by the largest file the reporter
could post, and handed over as bytes, so the message keeps the video after Apiframe purges its
copy. If the file step fails for any reason the link is delivered instead: a delivery never fails
because of the file. Delivering again (after a crash between the post and recording it) is safe:
the reporter edits the same card, or posts with a nonce derived from the job.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Final, Protocol

from bot.backoff import Backoff
from bot.clock import utc_now
from bot.errors import HailuoBotError
from bot.jobs.records import Job, JobState, JobStore, PendingRequest
from bot.media.videos import VideoFetcher, VideoFile, VideoTooLarge, VideoUnavailable
from bot.metrics import Metrics

log = logging.getLogger(__name__)

DEFAULT_UPLOAD_LIMIT: Final = 10 * 1024 * 1024  # what any bot may attach anywhere
ARCHIVE_MAX_BYTES: Final = 512 * 1024 * 1024
DOWNLOADS_AT_ONCE: Final = 4
ATTEMPTS: Final = 3


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


@dataclass(frozen=True, slots=True)
class StoryNews:
    """What a story's outcome says beside its video: every scene (made, failed, or refunded
    after one failed), and why the scenes could not be joined, when they could not."""

    scenes: tuple[Job, ...]
    join_problem: str | None = None

    @property
    def made(self) -> tuple[Job, ...]:
        return tuple(scene for scene in self.scenes if scene.state is JobState.COMPLETED)

    @property
    def failed(self) -> Job | None:
        """The scene that ended the story early, if one did."""
        return next((scene for scene in self.scenes if scene.state is JobState.FAILED), None)

    @property
    def refunded(self) -> int:
        return sum(scene.price for scene in self.scenes if scene.state is JobState.FAILED)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What to deliver: the job, its video as a file if there is one, and why not otherwise
    (for a story, the story as one job, and its scenes)."""

    job: Job
    video: VideoFile | None = None
    too_large: bool = False  # the file exists but is over the limit: say why it is a link
    story: StoryNews | None = None


@dataclass(frozen=True, slots=True)
class Receipt:
    """Where the outcome went, and which message carries the video file, if one does."""

    via: Delivery
    video_message: tuple[int, int] | None = None  # (channel id, message id)


class DeliveryFailed(HailuoBotError):
    """Raised by a reporter when the outcome could not reach the member, this time."""


class JobReporter(Protocol):
    """How the job lifecycle reaches a member. Implemented by the front end."""

    async def show_progress(self, job: Job, progress: Progress) -> None: ...

    async def tell_late(self, job: Job) -> bool:
        """The job is taking far longer than usual; returns whether the member was told."""
        ...

    async def show_queued(self, job: Job, position: int) -> bool:
        """The job waits in its server's queue at `position` (1 is next). Returns whether the
        member could be shown it (False: try again at the next change)."""
        ...

    async def tell_interrupted(self, request: PendingRequest) -> bool:
        """The bot stopped after acknowledging this request and before recording it: tell
        the member nothing was charged and to ask again. Returns whether they were told."""
        ...

    def upload_limit(self, job: Job) -> int:
        """The largest file, in bytes, that the outcome could be posted with."""
        ...

    async def deliver(self, outcome: Outcome) -> Receipt:
        """Tell the member the final outcome. Must be safe to call again for the same job,
        and must fall back to the link if posting the file fails."""
        ...


class Deliverer:
    def __init__(
        self,
        jobs: JobStore,
        reporter: JobReporter,
        videos: VideoFetcher,
        *,
        archiving: bool = False,
        publishing: bool = False,
        retry_floor: float = 2.0,
        metrics: Metrics | None = None,
    ) -> None:
        self._publishing = publishing
        self._jobs = jobs
        self._reporter = reporter
        self._videos = videos
        self._archiving = archiving
        self._backoff = Backoff(floor=retry_floor, ceiling=30.0)
        self._metrics = metrics
        self._downloads = asyncio.Semaphore(DOWNLOADS_AT_ONCE)

    async def deliver(self, job: Job) -> Receipt:
        """Deliver the job's outcome and record it; returns where it went."""
        return await self._hand_over(await self._prepare(job), [job.id])

    async def deliver_story(self, front: Job, news: StoryNews, joined: Path | None) -> Receipt:
        """Deliver a story (`front`, the story as one job) with its joined video, read from
        `joined` only when it fits the upload limit (a copy kept in the owner's archive when
        there is one, and played from there when it does not fit); every scene is recorded
        as told."""
        outcome = Outcome(front, story=news)
        if joined is not None:
            if await self._videos.archive_file(front.id, joined) and self._publishing:
                front = replace(front, public_name=await self._jobs.publish(front.id))
            video = None
            size = (await asyncio.to_thread(joined.stat)).st_size
            if size <= self._reporter.upload_limit(front):
                data = await asyncio.to_thread(joined.read_bytes)
                video = VideoFile(f"hailuo-story-{front.short_id}.mp4", data)
            outcome = Outcome(front, video, video is None, news)
        return await self._hand_over(outcome, [scene.id for scene in news.scenes])

    async def _hand_over(self, outcome: Outcome, job_ids: list[str]) -> Receipt:
        """Give the reporter the outcome (a few tries), then record every job told."""
        job = outcome.job
        failures = 0
        while True:
            try:
                receipt = await self._reporter.deliver(outcome)
                break
            except DeliveryFailed as exc:
                failures += 1
                if failures >= ATTEMPTS:
                    log.warning("job %s: outcome kept for /credits: %s", job.id, exc)
                    receipt = Receipt(Delivery.KEPT)
                    break
                await asyncio.sleep(self._backoff.delay(failures))
        for job_id in job_ids:
            await self._jobs.mark_delivered(
                job_id, receipt.via.value, video_message=receipt.video_message
            )
        if self._metrics is not None and job.finished_at is not None:
            lag = (utc_now() - job.finished_at).total_seconds()
            self._metrics.delivery_lag.labels(receipt.via.value).observe(max(0.0, lag))
        return receipt

    async def _prepare(self, job: Job) -> Outcome:
        if job.state is not JobState.COMPLETED or not job.video_url:
            return Outcome(job)
        limit = self._reporter.upload_limit(job)
        ceiling = max(limit, ARCHIVE_MAX_BYTES) if self._archiving else limit
        filename = f"hailuo-{job.id[:8]}.mp4"
        try:
            async with self._downloads:
                video = await self._videos.fetch(job.video_url, filename, ceiling)
        except VideoTooLarge as exc:
            log.info("job %s: %s; delivering the link", job.id, exc)
            return Outcome(job, too_large=True)
        except VideoUnavailable as exc:
            log.warning("job %s: could not fetch the video (%s); delivering the link", job.id, exc)
            return Outcome(job)
        if await self._videos.archive(job.id, video) and self._publishing:
            # Served by the bot's own HTTP server under a name nobody can guess: a video over
            # the upload limit plays from there, long after Apiframe's link is gone.
            job = replace(job, public_name=await self._jobs.publish(job.id))
        if video.size > limit:
            log.info(
                "job %s: the video is %d bytes, over the upload limit of %d; delivering the link",
                job.id,
                video.size,
                limit,
            )
            return Outcome(job, too_large=True)
        return Outcome(job, video)
