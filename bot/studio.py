"""The workflows a member starts: accepting a request for a video, and cancelling one that waits.

Front ends translate their world in and out (Discord's attachments, replies and buttons live in
`cogs/`); every decision and every money move of these workflows is made here, on the same path
for each way in: `/hailuo`, `/hailuo-story`, "Animate with Hailuo", and the buttons on a
finished video.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Protocol

from bot.errors import RequestRejected, SourceUnavailable
from bot.i18n import Text, msg
from bot.jobs.records import (
    ImagePayload,
    Job,
    JobSource,
    JobState,
    JobStore,
    NewJob,
    PaidFrom,
    PendingRequest,
    PictureSource,
    RequestOrigin,
    SourceAction,
    StoryPlace,
)
from bot.money.ledger import Ledger
from bot.money.pricing import DEFAULT_TABLE, PriceTable
from bot.operations.audit import AuditTrail
from bot.requests.rules import (
    DEFAULT_MODEL,
    GenerationRequest,
    ImageFacts,
    ImageRole,
    Resolution,
    VideoSpec,
    inspect_image,
    validate_request,
)
from bot.requests.server_rules import ServerRules
from bot.runner import JobRunner
from bot.stories import MAX_SCENES, MIN_SCENES

log = logging.getLogger(__name__)

CANCELLED_REASON = str(msg("Cancelled while waiting in the queue."))
GONE: Final = msg("That video no longer exists.")


class VideoArchive(Protocol):
    """The owner's copies of finished videos (`VIDEO_ARCHIVE_DIR`)."""

    async def forget(self, job_id: str) -> None:
        """Delete a video's copy, if there is one."""
        ...


class NoArchive:
    async def forget(self, job_id: str) -> None:
        return None


NO_ARCHIVE: Final = NoArchive()


@dataclass(frozen=True, slots=True)
class Accepted:
    job_id: str
    price: int
    balance_left: int  # of what paid: the member's credits in the server, or their wallet
    guild_id: int  # the queue it waits in: its server's, or the member's own space
    paid_from: PaidFrom = PaidFrom.SERVER


class CancelOutcome(StrEnum):
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"  # no such job in this server
    NOT_ALLOWED = "not_allowed"  # neither its member nor a server manager
    ALREADY_STARTED = "already_started"  # on its way to Apiframe, or ended


@dataclass(frozen=True, slots=True)
class Cancellation:
    outcome: CancelOutcome
    job: Job | None = None


class Studio:
    def __init__(
        self,
        ledger: Ledger,
        jobs: JobStore,
        runner: JobRunner,
        rules: ServerRules,
        audit: AuditTrail,
        prices: PriceTable = DEFAULT_TABLE,
        archive: VideoArchive = NO_ARCHIVE,
    ) -> None:
        self._archive = archive
        # Per member in a server: the lock, and how many hold or wait for it.
        self._extending: dict[tuple[int, int], tuple[asyncio.Lock, int]] = {}
        self._prices = prices
        self._ledger = ledger
        self._jobs = jobs
        self._runner = runner
        self._rules = rules
        self._audit = audit

    async def accept(
        self,
        request: GenerationRequest,
        origin: RequestOrigin,
        images: tuple[ImagePayload, ...] = (),
        source: JobSource | None = None,
        picture: PictureSource | None = None,
    ) -> Accepted:
        """Check the request against the model's rules, price it, and reserve the price with
        the job's record in one transaction. Raises `RequestRejected`, `InsufficientCredits` or
        `CapReached`, having charged and recorded nothing. The job waits for `admit`."""
        spec = await self._judged(request, origin)
        job = NewJob(
            id=NewJob.new_id(),
            origin=origin,
            spec=spec,
            price=self._prices.of(spec),
            images=images,
            source=source,
            picture=picture,
        )
        made = await self._ledger.take(job)
        return Accepted(job.id, job.price, made.balance, origin.guild_id, made.paid_from)

    async def check_request(self, request: GenerationRequest, origin: RequestOrigin) -> None:
        """Raise the refusal `accept` would give for the request's words and options (the
        model's rules and the server's), before any picture is downloaded."""
        await self._judged(request, origin)

    async def animate(
        self,
        request: GenerationRequest,
        origin: RequestOrigin,
        picture: ImagePayload,
        author_id: int,
        message_url: str,
    ) -> Accepted:
        """A video that starts from a picture someone posted ("Animate with Hailuo"); its
        card names whose picture it was."""
        return await self.accept(
            request, origin, (picture,), picture=PictureSource(author_id, message_url)
        )

    # -- stories ------------------------------------------------------------------------------

    async def check_story(self, scenes: Sequence[GenerationRequest], origin: RequestOrigin) -> None:
        """Everything a story can be refused for before its picture is downloaded, every
        scene's problems at once, each naming its scene (and then whether the member can pay
        for all of it): raises what `tell` would, having charged nothing."""
        specs = await self._judged_scenes(scenes, origin)
        await self._ledger.check_affordable(
            origin.guild_id,
            origin.member_id,
            origin.role_ids,
            sum(self._prices.of(spec) for spec in specs),
        )

    async def tell(
        self,
        scenes: Sequence[GenerationRequest],
        origin: RequestOrigin,
        images: tuple[ImagePayload, ...] = (),
        source: JobSource | None = None,
    ) -> Accepted:
        """A story: its scenes checked and priced, and every scene's price reserved with its
        job in one transaction (all or none). The first scene starts from `images` (if any)
        and waits for `admit`; each later one waits for the scene before it (`bot/stories.py`).
        The story is known by its first scene's id."""
        specs = await self._judged_scenes(scenes, origin)
        story_id = NewJob.new_id()
        jobs: list[NewJob] = []
        for number, spec in enumerate(specs, start=1):
            first = number == 1
            jobs.append(
                NewJob(
                    id=story_id if first else NewJob.new_id(),
                    origin=origin,
                    spec=spec,
                    price=self._prices.of(spec),
                    images=images if first else (),
                    source=source if first else None,
                    story=StoryPlace(story_id, number, len(specs), None if first else jobs[-1].id),
                )
            )
        made = await self._ledger.take(*jobs)
        price = sum(job.price for job in jobs)
        return Accepted(story_id, price, made.balance, origin.guild_id, made.paid_from)

    async def _judged_scenes(
        self, scenes: Sequence[GenerationRequest], origin: RequestOrigin
    ) -> list[VideoSpec]:
        problems: list[Text] = []
        if not MIN_SCENES <= len(scenes) <= MAX_SCENES:
            problems.append(
                msg(
                    "A story has 2 to 5 scenes, separated by |: this one has {count}.",
                    count=len(scenes),
                )
            )
        specs: list[VideoSpec] = []
        for number, scene in enumerate(scenes[:MAX_SCENES], start=1):
            if not scene.prompt.strip():
                problems.append(
                    msg(
                        "Scene {scene} is empty: write what happens in it between the | marks.",
                        scene=number,
                    )
                )
                continue
            try:
                specs.append(await self._judged(scene, origin))
            except RequestRejected as rejected:
                problems.extend(
                    msg("Scene {scene}: {problem}", scene=number, problem=problem)
                    for problem in rejected.problems
                )
        if problems:
            raise RequestRejected(problems)
        return specs

    async def _judged(self, request: GenerationRequest, origin: RequestOrigin) -> VideoSpec:
        """The request as the model and the server's rules accept it, or `RequestRejected`
        with every problem at once (a refused prompt is told to the audit channel)."""
        verdict = await self._rules.judge(
            origin.guild_id, request.prompt, age_restricted=origin.age_restricted
        )
        problems = [
            msg("“{word}” is blocked in this server: rephrase the prompt without it.", word=word)
            for word in verdict.blocked
        ]
        if verdict.sexual:
            problems.append(await self._sexual_problem(origin, verdict.sexual))
        try:
            spec = validate_request(request)
        except RequestRejected as rejected:
            raise RequestRejected([*problems, *rejected.problems]) from None
        if problems:
            await self._audit.refused_prompt(
                origin.guild_id, origin.member_id, (*verdict.blocked, *verdict.sexual)
            )
            raise RequestRejected(problems)
        return spec

    @asynccontextmanager
    async def answering(self, origin: RequestOrigin) -> AsyncIterator[None]:
        """Around the handling of a request the member was just told is being handled: it is
        recorded until it becomes a job (the reservation lets go of it) or the block ends, so
        that a bot that stops in between tells the member at its next start."""
        await self._jobs.note_pending(PendingRequest.of(origin))
        try:
            yield
        finally:
            # Refused (or failed) before it became a job: the place it held in its server's
            # queue is free for what waits behind it.
            if await self._jobs.clear_pending(origin.interaction_token):
                await self._runner.admit(origin.guild_id)

    async def admit(self, job_id: str, guild_id: int, *, card_message_id: int | None) -> None:
        """The member has been shown the job (its card, if one could be posted): let the
        server's queue start it when its limits allow."""
        if card_message_id is not None:
            await self._jobs.record_card_message(job_id, card_message_id)
        await self._runner.admit(guild_id)

    async def cancel(
        self, job_id: str, guild_id: int, actor_id: int, *, manages_server: bool
    ) -> Cancellation:
        """Refund a job still waiting in its server's queue, once, and let the next one in.

        Only its member or someone who manages the server may; a job already on its way to
        Apiframe (or ended) is left alone.
        """
        job = await self._jobs.get(job_id)
        if job is None or job.guild_id != guild_id:
            return Cancellation(CancelOutcome.UNKNOWN)
        if actor_id != job.member_id and not manages_server:
            return Cancellation(CancelOutcome.NOT_ALLOWED, job)
        if job.scene > 1:
            # Its story has begun: it ends with the scenes made (or a failure), not here.
            return Cancellation(CancelOutcome.ALREADY_STARTED, job)
        settlement = await self._ledger.refund(
            job.id, CANCELLED_REASON, actor_id=actor_id, only_if_waiting=True
        )
        if not settlement.applied:
            return Cancellation(CancelOutcome.ALREADY_STARTED, job)
        # A story cancelled before its first scene started: every scene goes back.
        later = await self._jobs.story(job.story_id) if job.story_id else []
        for scene in later[1:]:
            await self._ledger.refund(scene.id, CANCELLED_REASON, actor_id=actor_id)
            await self._jobs.mark_delivered(scene.id, "interaction")
        # The member is answered by the front end, on the card itself.
        await self._jobs.mark_delivered(job.id, "interaction")
        await self._runner.admit(guild_id)
        return Cancellation(CancelOutcome.CANCELLED, await self._jobs.require(job.id))

    async def _sexual_problem(self, origin: RequestOrigin, terms: tuple[str, ...]) -> Text:
        if await self._rules.nsfw_allowed(origin.guild_id):
            return msg(
                "This prompt reads as sexual (“{term}”), which this server allows in its "
                "age-restricted channels only: use one of those, or rephrase it.",
                term=terms[0],
            )
        return msg(
            "This prompt reads as sexual (“{term}”), which this server allows nowhere: "
            "rephrase it.",
            term=terms[0],
        )

    async def again(self, source_id: str, origin: RequestOrigin, action: SourceAction) -> Accepted:
        """The same request as a finished video, for whoever asks (their credits, their
        limits): the same prompt, options and images (`AGAIN`), or at 1080p
        (`HIGHER_RESOLUTION`, for a 768p 6 s result)."""
        source = await self._finished(source_id, origin.guild_id)
        if source.story_id is not None:
            return await self._story_again(source.story_id, origin)
        resolution = source.resolution.value
        if action is SourceAction.HIGHER_RESOLUTION:
            if source.resolution is not Resolution.P768 or source.duration != 6:
                raise SourceUnavailable(msg("1080p is offered for 768p, 6 s videos only."))
            resolution = Resolution.P1080.value
        images = tuple(await self._jobs.images(source.id))
        kept = {image.role for image in images}
        if (source.has_start_image and ImageRole.START not in kept) or (
            source.has_end_image and ImageRole.END not in kept
        ):
            raise SourceUnavailable(
                msg(
                    "The bot no longer has this video's images, so it cannot make it again: "
                    "use /hailuo with the images attached."
                )
            )
        facts = {image.role: _facts(image) for image in images}
        request = GenerationRequest(
            prompt=source.prompt,
            duration=source.duration,
            resolution=resolution,
            prompt_optimizer=source.prompt_optimizer,
            start_image=facts.get(ImageRole.START),
            end_image=facts.get(ImageRole.END),
            model=source.model.value,
        )
        return await self.accept(request, origin, images, JobSource(source.id, action))

    async def _story_again(self, story_id: str, origin: RequestOrigin) -> Accepted:
        """The same story again: its scene prompts and options, from its first picture."""
        scenes = await self._jobs.story(story_id)
        first = scenes[0]
        images = tuple(await self._jobs.images(first.id)) if first.has_start_image else ()
        if first.has_start_image and not images:
            raise SourceUnavailable(
                msg(
                    "The bot no longer has this story's first picture, so it cannot make it "
                    "again: use /hailuo-story with the picture attached."
                )
            )
        requests = [
            GenerationRequest(
                prompt=scene.prompt,
                duration=scene.duration,
                resolution=scene.resolution.value,
                prompt_optimizer=scene.prompt_optimizer,
                start_image=(
                    (_facts(images[0]) if images else None) if scene.scene == 1 else FRAME_TO_COME
                ),
                model=scene.model.value,
            )
            for scene in scenes
        ]
        return await self.tell(requests, origin, images, JobSource(first.id, SourceAction.AGAIN))

    @asynccontextmanager
    async def extending(self, origin: RequestOrigin) -> AsyncIterator[None]:
        """One Extend at a time for a member in a server, from its checks to its reservation:
        the next is checked once the one before has reserved its price, so that a member with
        credits for one clip never has eight last frames decoded (decoding costs the bot, not
        the member)."""
        key = (origin.guild_id, origin.member_id)
        lock, users = self._extending.get(key, (asyncio.Lock(), 0))
        self._extending[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._extending[key]
            if users == 1:
                del self._extending[key]  # nobody else waits: the lock is let go of
            else:
                self._extending[key] = (lock, users - 1)

    async def check_extend(
        self, source_id: str, origin: RequestOrigin, prompt: str, model: str = DEFAULT_MODEL
    ) -> None:
        """Everything Extend can check before the video's last frame is taken (the new
        prompt against the model's and the server's rules, the member's credits, the
        server's cap): raises the same refusal `extend` would, having charged nothing."""
        source = await self._finished(source_id, origin.guild_id)
        request = GenerationRequest(
            prompt=prompt,
            duration=source.duration,
            resolution=source.resolution.value,
            prompt_optimizer=source.prompt_optimizer,
            start_image=FRAME_TO_COME,
            model=model,
        )
        spec = await self._judged(request, origin)
        await self._ledger.check_affordable(
            origin.guild_id, origin.member_id, origin.role_ids, self._prices.of(spec)
        )

    async def extend(
        self,
        source_id: str,
        origin: RequestOrigin,
        prompt: str,
        last_frame: bytes,
        model: str = DEFAULT_MODEL,
    ) -> Accepted:
        """A new clip that starts where a finished one ends: its last frame is the start
        image, checked like any other, for any model that starts from a picture (Hailuo 02
        unless the member chose)."""
        source = await self._finished(source_id, origin.guild_id)
        frame = ImagePayload(
            ImageRole.START, f"{source.short_id}-last-frame.png", "image/png", last_frame
        )
        request = GenerationRequest(
            prompt=prompt,
            duration=source.duration,
            resolution=source.resolution.value,
            prompt_optimizer=source.prompt_optimizer,
            start_image=_facts(frame),
            model=model,
        )
        return await self.accept(
            request, origin, (frame,), JobSource(source.id, SourceAction.EXTEND)
        )

    async def _finished(self, job_id: str, guild_id: int) -> Job:
        job = await self._jobs.get(job_id)
        if job is None or job.guild_id != guild_id:
            raise SourceUnavailable(GONE)
        if job.state is not JobState.COMPLETED:
            raise SourceUnavailable(msg("Only a finished video can be used this way."))
        return job

    async def deletable(
        self, job_id: str, guild_id: int, actor_id: int, *, manages_messages: bool
    ) -> Job:
        """The video, if this person may delete it (its member, or someone with Manage
        Messages); raises `SourceUnavailable` otherwise, having changed nothing. A front end
        asks this first, deletes the video's messages, and only then calls `delete`, so that a
        refusal from Discord leaves nothing half done."""
        job = await self._jobs.get(job_id)
        if job is None or job.guild_id != guild_id:
            raise SourceUnavailable(GONE)
        if actor_id != job.member_id and not manages_messages:
            raise SourceUnavailable(
                msg(
                    "Only the member who made this video (or someone with Manage Messages) "
                    "can delete it."
                )
            )
        return job

    async def delete(
        self, job_id: str, guild_id: int, actor_id: int, *, manages_messages: bool
    ) -> Job:
        """Mark the video deleted (never shown or posted again) and let go of the owner's copy
        of it; credits are not touched. Raises `SourceUnavailable` when not allowed."""
        job = await self.deletable(job_id, guild_id, actor_id, manages_messages=manages_messages)
        scenes = await self._jobs.story(job.story_id) if job.story_id else [job]
        for scene in scenes:  # a story is one video: all of it goes
            await self._jobs.mark_deleted(scene.id, actor_id)
            await self._archive.forget(scene.id)
        return job

    async def messages_deleted(self, message_ids: list[int]) -> None:
        """Messages were deleted, by anyone (a moderator with Discord's own Delete, say): a
        video they carried is marked deleted, and never posted again."""
        for job_id in await self._jobs.mark_messages_deleted(message_ids):
            await self._archive.forget(job_id)
            log.info("job %s: its message was deleted; it will not be posted again", job_id)

    async def limits_changed(self, guild_id: int) -> None:
        """A server's limits changed: jobs waiting in its queue may start now."""
        await self._runner.admit(guild_id)


# What Extend's start image will be, for the checks made before it is taken: a PNG whose size
# and shape are the video's own, and so pass (the real frame is checked again once taken).
FRAME_TO_COME: Final = ImageFacts("last frame", "image/png", 1, None, None)


def _facts(image: ImagePayload) -> ImageFacts:
    """An image's facts, read from its bytes (raises `RequestRejected` if they are no good)."""
    declared = ImageFacts(image.filename, image.content_type, len(image.data), None, None)
    return inspect_image(image.role, declared, image.data)
