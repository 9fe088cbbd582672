"""Stories: two to five scenes made one after another, each starting from the last frame of the
one before, and delivered as one video.

Every scene is a job of its own, reserved with the others in one transaction when the story is
accepted (`Studio.tell`). The first waits in its server's queue like any job; each later one is
held (`Job.waits_for`) until the scene before it is made, when its last frame becomes the held
scene's start image and the scene joins the queue, in the place its story took. A scene that
fails ends the story: every scene after it is refunded at once, and the scenes made so far are
delivered. The story's end is decided by one scene only (the first that failed, else the last),
so a restart at any point picks it up again without delivering twice or charging anything."""

from __future__ import annotations

import asyncio
import logging
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Final

from bot.errors import HailuoBotError, RequestRejected, SourceUnavailable
from bot.i18n import msg
from bot.jobs.delivery import Deliverer, StoryNews
from bot.jobs.records import ImagePayload, Job, JobState, JobStore
from bot.media.frames import FrameTaker
from bot.media.joining import Joiner
from bot.media.videos import VideoFetcher, VideoUnavailable
from bot.money.ledger import Ledger
from bot.requests.rules import ImageFacts, ImageRole, inspect_image

log = logging.getLogger(__name__)

MIN_SCENES: Final = 2
MAX_SCENES: Final = 5
SCENE_SEPARATOR: Final = "|"
# One clip of a story, fetched again to be joined (a Hailuo clip is a few megabytes).
CLIP_MAX_BYTES: Final = 50 * 1024 * 1024


def split_scenes(text: str) -> list[str]:
    """The scene prompts of a story, in order, as typed between the separators."""
    return [part.strip() for part in text.split(SCENE_SEPARATOR)]


class StoryDirector:
    """What happens when one of a story's scenes ends: the next scene gets its start frame, or
    the story ends (the rest refunded, the made scenes joined and delivered)."""

    def __init__(
        self,
        jobs: JobStore,
        ledger: Ledger,
        deliverer: Deliverer,
        frames: FrameTaker,
        joiner: Joiner,
        videos: VideoFetcher,
    ) -> None:
        self._jobs = jobs
        self._ledger = ledger
        self._deliverer = deliverer
        self._frames = frames
        self._joiner = joiner
        self._videos = videos

    async def scene_ended(self, job: Job) -> None:
        """Scene `job` ended (made or failed) and its member has not been told: carry the
        story on, or end it. Safe to call again for the same scene."""
        assert job.story_id is not None
        scenes = await self._jobs.story(job.story_id)
        later = [scene for scene in scenes if scene.scene > job.scene]
        if job.state is JobState.COMPLETED and later and not _story_failed(scenes):
            following = later[0]
            if following.waits_for is not None and following.state is JobState.RESERVED:
                try:
                    frame = await self._start_frame(job)
                except HailuoBotError as problem:
                    log.info(
                        "story %s: scene %d cannot go on (%s)", job.story_id, job.scene, problem
                    )
                    reason = str(
                        msg(
                            "Scene {scene} was made, but its last frame could not be taken to "
                            "start the next scene.",
                            scene=job.scene,
                        )
                    )
                    await self._refund(later, reason)
                    await self._end(job.story_id)
                    return
                await self._jobs.hand_over(following.id, job.id, frame)
                log.info(
                    "story %s: scene %d starts from scene %d's last frame",
                    job.story_id,
                    following.scene,
                    job.scene,
                )
            await self._jobs.mark_delivered(job.id, "story")
            return
        if job.id != _ender(scenes).id:
            return  # the scene that ends the story delivers it, and marks this one with it
        if job.state is JobState.FAILED:
            reason = str(
                msg(
                    "Not made: scene {scene} failed before it, so its credits came back.",
                    scene=job.scene,
                )
            )
            await self._refund([s for s in later if not s.state.is_final], reason)
        await self._end(job.story_id)

    async def _start_frame(self, scene: Job) -> ImagePayload:
        """The scene's last frame, checked like any start image."""
        urls = [scene.video_url] if scene.video_url else []
        data = await self._frames.last_frame(scene.id, urls)
        frame = ImagePayload(ImageRole.START, f"{scene.short_id}-last-frame.png", "image/png", data)
        declared = ImageFacts(frame.filename, frame.content_type, len(data), None, None)
        try:
            inspect_image(ImageRole.START, declared, data)
        except RequestRejected as rejected:
            raise SourceUnavailable(rejected.problems[0]) from None
        return frame

    async def _refund(self, scenes: list[Job], reason: str) -> None:
        for scene in scenes:
            settlement = await self._ledger.refund(scene.id, reason)
            if settlement.applied:
                log.info("story %s: scene %d refunded", scene.story_id, scene.scene)

    async def _end(self, story_id: str) -> None:
        """Join the scenes made, deliver the story once, and mark every scene told. The clips
        and their join are files in a folder of their own, gone once the story is told."""
        scenes = await self._jobs.story(story_id)
        made = [scene for scene in scenes if scene.state is JobState.COMPLETED]
        with tempfile.TemporaryDirectory(prefix="hailuo-story-") as folder:
            joined, problem = None, None
            if made:
                try:
                    clips = [await self._clip(scene, Path(folder)) for scene in made]
                    joined = clips[0]
                    if len(clips) > 1:
                        joined = Path(folder) / "story.mp4"
                        await self._joiner.join(clips, joined)
                except (HailuoBotError, OSError) as exc:
                    joined, problem = None, str(exc)
                    log.warning("story %s: the scenes could not be joined (%s)", story_id, exc)
            news = StoryNews(tuple(scenes), join_problem=problem)
            await self._deliverer.deliver_story(_front(scenes), news, joined)

    async def _clip(self, scene: Job, folder: Path) -> Path:
        """Scene's video, from Apiframe's link, in a file of the folder."""
        if scene.video_url is None:
            raise VideoUnavailable("a scene has no link")
        video = await self._videos.fetch(scene.video_url, "scene.mp4", CLIP_MAX_BYTES)
        path = folder / f"scene-{scene.scene}.mp4"
        await asyncio.to_thread(path.write_bytes, video.data)
        return path


def _story_failed(scenes: list[Job]) -> bool:
    return any(scene.state is JobState.FAILED for scene in scenes)


def _ender(scenes: list[Job]) -> Job:
    """The scene whose end is the story's: the first that failed, else the last."""
    return next((s for s in scenes if s.state is JobState.FAILED), scenes[-1])


def _front(scenes: list[Job]) -> Job:
    """The story as one job, for its card: the first scene's, made when any scene was, with
    the length and price of what was made (or, when nothing was, of what was refunded)."""
    first = scenes[0]
    made = [scene for scene in scenes if scene.state is JobState.COMPLETED]
    failed = next((scene for scene in scenes if scene.state is JobState.FAILED), None)
    prompt = "\n".join(f"{scene.scene}. {scene.prompt}" for scene in scenes)
    if not made:
        return replace(
            first,
            prompt=prompt,
            scene=0,  # the whole story, not its first scene: "a story of 3 scenes"
            state=JobState.FAILED,
            price=sum(scene.price for scene in scenes),
            failure_reason=None if failed is None else failed.failure_reason,
        )
    return replace(
        first,
        prompt=prompt,
        scene=0,
        state=JobState.COMPLETED,
        price=sum(scene.price for scene in made),
        duration=sum(scene.duration for scene in made),
        video_url=made[-1].video_url,
        failure_reason=None,
    )
