"""Generation jobs: their lifecycle, their records, and what the bot needs of the store that
keeps them across restarts.

A job row is written in the same transaction as its credit reservation, before anything is
sent to Apiframe. Its state only moves forward:

    reserved --submit--> submitted --COMPLETED--> completed (charged)
        |                    |
        +--------------------+--FAILED/CANCELLED/refused--> failed (refunded)

`delivered_at` is set once the member has been told the outcome; a job whose outcome is
known but not delivered is delivered again on the next start.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final, Protocol

from bot.i18n import ENGLISH
from bot.requests.rules import DEFAULT_MODEL, ImageRole, Model, Resolution, VideoSpec

SHORT_ID_LENGTH: Final = 8


class JobState(StrEnum):
    RESERVED = "reserved"
    SUBMITTED = "submitted"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        return self in (JobState.COMPLETED, JobState.FAILED)


_TRANSITIONS: Final[dict[JobState, frozenset[JobState]]] = {
    JobState.RESERVED: frozenset({JobState.SUBMITTED, JobState.FAILED}),
    JobState.SUBMITTED: frozenset({JobState.COMPLETED, JobState.FAILED}),
    JobState.COMPLETED: frozenset(),
    JobState.FAILED: frozenset(),
}


def sources_of(target: JobState) -> tuple[JobState, ...]:
    """The states a job may be in for a move to `target` to be allowed."""
    return tuple(state for state, targets in _TRANSITIONS.items() if target in targets)


class PaidFrom(StrEnum):
    """Whose credits paid for a job: the member's in the server (what its admins hand out, and
    what the owner's budget for the server counts), or the member's own wallet."""

    SERVER = "server"
    WALLET = "wallet"


def personal_space(member_id: int) -> int:
    """Where a member's requests live when no server that added the bot is involved (the bot
    on their own account: a direct message, or a server that has not added it): a space of
    their own, kept apart from every server's queue, settings and credits (a negative id, so
    that it is never a server's)."""
    return -member_id


@dataclass(frozen=True, slots=True)
class RequestOrigin:
    """Where a request came from, and what the front end needs to answer it later: the chat's
    ids, and the reply token it was given with the request (with its creation time, since such
    tokens expire; how soon is the front end's business)."""

    guild_id: int
    channel_id: int
    member_id: int
    application_id: int
    interaction_token: str
    interaction_created_at: datetime
    role_ids: tuple[int, ...] = ()
    upload_limit: int | None = None  # bytes a reply through this interaction may attach
    age_restricted: bool = False  # the channel is marked for adults
    language: str = ENGLISH  # the catalogue the member is answered from (bot/i18n.py)

    @property
    def personal(self) -> bool:
        """Asked on the member's own account (no server that added the bot): paid from the
        wallet only, under the bot's own rules."""
        return self.guild_id < 0


@dataclass(frozen=True, slots=True)
class ImagePayload:
    role: ImageRole
    filename: str
    content_type: str
    data: bytes


class SourceAction(StrEnum):
    """How a job was made from an earlier one."""

    AGAIN = "again"
    HIGHER_RESOLUTION = "1080p"
    EXTEND = "extend"


@dataclass(frozen=True, slots=True)
class JobSource:
    job_id: str
    action: SourceAction


@dataclass(frozen=True, slots=True)
class StoryPlace:
    """A job's place in a story (`bot/stories.py`): the story (its first scene's job id), the
    scene's number from 1, how many scenes, and the scene it waits for (None: the first)."""

    story_id: str
    scene: int
    scenes: int
    waits_for: str | None = None


@dataclass(frozen=True, slots=True)
class PictureSource:
    """Whose picture a video starts from ("Animate with Hailuo"), and the message it was on."""

    author_id: int
    message_url: str


@dataclass(frozen=True, slots=True)
class NewJob:
    """A validated, priced request about to be reserved."""

    id: str
    origin: RequestOrigin
    spec: VideoSpec
    price: int
    images: tuple[ImagePayload, ...] = ()
    source: JobSource | None = None
    story: StoryPlace | None = None
    picture: PictureSource | None = None

    @property
    def idempotency_key(self) -> str:
        return f"hailuo-bot-{self.id}"

    @staticmethod
    def new_id() -> str:
        return str(uuid.uuid4())


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    guild_id: int
    channel_id: int
    member_id: int
    application_id: int
    interaction_token: str
    interaction_created_at: datetime
    card_message_id: int | None
    prompt: str
    duration: int
    resolution: Resolution
    prompt_optimizer: bool | None
    has_start_image: bool
    has_end_image: bool
    price: int
    idempotency_key: str
    state: JobState
    apiframe_job_id: str | None
    start_image_url: str | None
    end_image_url: str | None
    remote_status: str | None
    progress: int | None
    video_url: str | None
    failure_reason: str | None
    delivered_via: str | None
    created_at: datetime
    submitted_at: datetime | None
    finished_at: datetime | None
    delivered_at: datetime | None
    admitted_at: datetime | None = None
    late_notified_at: datetime | None = None
    upload_limit: int | None = None
    video_channel_id: int | None = None
    video_message_id: int | None = None
    source_job_id: str | None = None
    source_action: SourceAction | None = None
    deleted_at: datetime | None = None
    age_restricted: bool = False  # asked for in a channel marked for adults
    language: str = ENGLISH  # the catalogue its card and outcome are written from
    # The message that carries the video this job was made from, when it has one.
    source_message_url: str | None = None
    model: Model = DEFAULT_MODEL
    apiframe_cost: int | None = None  # what Apiframe billed (its creditCost), once known
    public_name: str | None = None  # its archived video's name on the bot's HTTP server
    paid_from: PaidFrom = PaidFrom.SERVER
    # A scene of a story: the story (its first scene's id), the scene's number from 1 and how
    # many there are; `waits_for`: the scene before it, until its last frame is handed over.
    story_id: str | None = None
    scene: int = 0
    scenes: int = 0
    waits_for: str | None = None
    picture_author_id: int | None = None  # "Animate with Hailuo": whose picture it starts from
    picture_message_url: str | None = None

    @property
    def personal(self) -> bool:
        """Made on the member's own account (see `personal_space`)."""
        return self.guild_id < 0

    @property
    def _place(self) -> str:
        # A direct message's links go through @me; so do a personal job's, whose server (when
        # it had one) the bot is not in.
        return "@me" if self.personal else str(self.guild_id)

    @property
    def short_id(self) -> str:
        """What members see and type: the first eight characters of the job's id."""
        return self.id[:SHORT_ID_LENGTH]

    @property
    def card_message_url(self) -> str | None:
        """The jump link of the job's card, once it was posted."""
        if self.card_message_id is None:
            return None
        return (
            f"https://discord.com/channels/{self._place}/{self.channel_id}/{self.card_message_id}"
        )

    @property
    def being_delivered(self) -> bool:
        """Finished, and its outcome is on its way to the member right now."""
        return self.state.is_final and self.delivered_at is None

    @property
    def video_message_url(self) -> str | None:
        """The jump link of the message that carries the video file, once it was posted."""
        if self.video_message_id is None or self.video_channel_id is None:
            return None
        return (
            f"https://discord.com/channels/{self._place}/{self.video_channel_id}/"
            f"{self.video_message_id}"
        )

    @property
    def render_seconds(self) -> float | None:
        """Submit to finish, for a completed job."""
        if (
            self.state is not JobState.COMPLETED
            or self.submitted_at is None
            or self.finished_at is None
        ):
            return None
        return (self.finished_at - self.submitted_at).total_seconds()

    @property
    def is_waiting(self) -> bool:
        """In its server's queue (or, a story's later scene, held before it): credits
        reserved, not yet allowed to start."""
        return self.state is JobState.RESERVED and self.admitted_at is None

    @property
    def in_story(self) -> bool:
        return self.story_id is not None

    @property
    def needs_upload(self) -> bool:
        return (self.has_start_image and self.start_image_url is None) or (
            self.has_end_image and self.end_image_url is None
        )


@dataclass(frozen=True, slots=True)
class Driven:
    """An admitted job whose member has not been told its outcome, and who drives it."""

    job_id: str
    guild_id: int
    lease_owner: str | None
    lease_expires_at: datetime | None
    admitted_at: datetime | None


@dataclass(frozen=True, slots=True)
class PendingRequest:
    """A request the member was told is being handled (Discord shows them "thinking…"), not
    yet recorded as a job nor answered. Should the bot stop in between, the next start tells
    them that nothing was charged; until then it is kept with what that needs."""

    interaction_token: str
    application_id: int
    guild_id: int
    channel_id: int
    member_id: int
    language: str
    interaction_created_at: datetime

    @classmethod
    def of(cls, origin: RequestOrigin) -> PendingRequest:
        return cls(
            origin.interaction_token,
            origin.application_id,
            origin.guild_id,
            origin.channel_id,
            origin.member_id,
            origin.language,
            origin.interaction_created_at,
        )


@dataclass(frozen=True, slots=True)
class Admission:
    """One pass over a server's queue: the jobs it let start, and those still waiting, in
    order."""

    admitted: tuple[Job, ...]
    waiting: tuple[Job, ...]


@dataclass(frozen=True, slots=True)
class QueueLimits:
    """How many of a server's jobs may run at once: per member, and in all."""

    per_member: int
    per_server: int


@dataclass(frozen=True, slots=True)
class Hold:
    """A request of the server that Discord received but that is not a job yet (its checks and
    pictures under way, in any process): it keeps its place in the queue, so that a request
    received after it never starts before it only because it was recorded first."""

    member_id: int
    interaction_created_at: datetime


# Which waiting jobs may start now, given the server's limits, its running jobs per member,
# and its queue (jobs and holds) in the order Discord received them (a pure decision:
# `admissible` in bot/runner.py).
Chooser = Callable[[QueueLimits, dict[int, int], list["Job | Hold"]], list[Job]]


@dataclass(frozen=True, slots=True)
class MonthOfJobs:
    """A server's videos this month, counted one way for every screen: a finished video in the
    month it finished (when it was charged, or refunded), and what runs or waits now whatever
    month it was asked in."""

    charged: int  # credits of the videos finished this month
    made: int
    failed: int
    billed: int  # what Apiframe said it billed for the videos finished this month
    reported: int  # of those, the videos whose cost Apiframe reported
    running: int  # admitted and not finished
    waiting: int  # in the server's queue

    @property
    def finished(self) -> int:
        return self.made + self.failed


class JobStore(Protocol):
    """Named reads and writes of job rows (money moves live in the ledger's store), kept by
    `bot/store/jobs.py` on either engine."""

    async def month_of_jobs(self, guild_id: int, since: datetime) -> MonthOfJobs:
        """The server's videos finished since `since`, and those running or waiting now."""
        ...

    async def publish(self, job_id: str) -> str:
        """The job's public name for its archived video (made once, then kept)."""
        ...

    async def by_public_name(self, name: str) -> Job | None: ...

    async def get(self, job_id: str) -> Job | None: ...
    async def require(self, job_id: str) -> Job: ...
    async def by_short_id(self, guild_id: int, short_id: str) -> Job | None: ...
    async def mark_deleted(self, job_id: str, actor_id: int) -> None: ...
    async def mark_messages_deleted(self, message_ids: list[int]) -> list[str]: ...
    async def by_apiframe_id(self, apiframe_job_id: str) -> Job | None: ...
    async def render_times(self, limit: int) -> list[tuple[int, Resolution, float]]: ...
    async def counts_by_state(self) -> dict[str, int]: ...
    async def admitted_undelivered(self) -> list[Driven]: ...
    async def undelivered(self) -> list[Job]: ...
    async def recent_for_member(self, guild_id: int, member_id: int, limit: int) -> list[Job]: ...
    async def images(self, job_id: str) -> list[ImagePayload]: ...
    async def forget_source_images(self, finished_before: datetime, now: datetime) -> int: ...
    async def note_pending(self, request: PendingRequest) -> None: ...
    async def clear_pending(self, interaction_token: str) -> bool:
        """Forget a request that did not become a job; whether it was still noted."""
        ...

    async def pending(self) -> list[PendingRequest]: ...
    async def record_uploads(self, job_id: str, urls: dict[ImageRole, str]) -> None: ...
    async def record_submitted(self, job_id: str, apiframe_job_id: str, status: str) -> bool: ...
    async def record_progress(self, job_id: str, status: str, progress: int | None) -> None: ...
    async def record_card_message(self, job_id: str, message_id: int) -> None:
        """The job's card (a story's: every scene's, the story named by its first scene)."""
        ...

    async def story(self, story_id: str) -> list[Job]:
        """A story's scenes, in order."""
        ...

    async def hand_over(self, job_id: str, waited_for: str, frame: ImagePayload) -> bool:
        """In one transaction: `frame` becomes held scene `job_id`'s start image and the scene
        stops waiting for `waited_for`, so it may join its server's queue. Whether it did
        (False: done already, or the scene no longer waits)."""
        ...

    async def waiting(self, guild_id: int) -> list[Job]: ...
    async def running_counts(self, guild_id: int) -> dict[int, int]: ...
    async def guilds_waiting(self) -> list[int]: ...

    async def admit_waiting(self, guild_id: int, choose: Chooser) -> Admission:
        """One admission pass over the server's queue, as one transaction, one pass at a time
        per server across every process: `choose` picks the jobs to start."""
        ...

    async def mark_late_notified(self, job_id: str) -> None: ...
    async def mark_delivered(
        self, job_id: str, via: str, *, video_message: tuple[int, int] | None = None
    ) -> None: ...

    # Leases: which process drives a job (several processes share one database).
    async def claim(
        self,
        job_ids: Sequence[str],
        owner: str,
        until: datetime,
        now: datetime,
        unleased_since: datetime,
    ) -> set[str]:
        """Take the jobs for `owner` until `until`, in one statement however many: each one
        `owner` holds already, whose lease expired, or that has none and was admitted by
        `unleased_since`. The ids taken; not one another live process holds (or delivered)."""
        ...

    async def renew(self, owner: str, job_ids: list[str], until: datetime) -> set[str]:
        """Extend `owner`'s leases on these jobs; the ids it still held."""
        ...

    async def release(self, job_id: str, owner: str) -> None: ...


VALID_SHORT_ID: Final = frozenset("0123456789abcdef-")


def short_id_prefix(short_id: str) -> str | None:
    """The id prefix a member typed, or None when it cannot be one."""
    prefix = short_id.strip().lower()
    # At least the id the card shows: a shorter prefix would let anyone walk through a
    # server's videos by guessing.
    if not SHORT_ID_LENGTH <= len(prefix) <= 36 or not set(prefix) <= VALID_SHORT_ID:
        return None
    return prefix
