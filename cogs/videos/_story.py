"""`/hailuo-story`: two to five scenes, each continuing from the last frame of the one before,
reserved in one step and delivered as one video on one card."""

from __future__ import annotations

import dataclasses

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import HailuoBot
from bot.errors import RequestRejected, UserFacingError
from bot.jobs.records import ImagePayload
from bot.requests.defaults import OptionDefaults
from bot.requests.rules import DEFAULT_MODEL, GenerationRequest, ImageRole, Resolution
from bot.services import Services
from bot.stories import split_scenes
from bot.studio import FRAME_TO_COME
from cogs.front_end._errors import refuse
from cogs.front_end._language import language_of
from cogs.front_end._replies import note_acknowledged, note_outcome
from cogs.videos._accepting import announce, origin_of
from cogs.videos._hailuo import chosen_options, facts_of, fetch_image, lost_files
from cogs.videos._options import Camera, video_options
from cogs.videos._words import defaults_fix, defaults_used

# Discord's longest text option: five scenes of a few sentences each fit easily.
SCENES_MAX_LENGTH = 6000


class Stories(commands.Cog):
    def __init__(self, bot: HailuoBot, services: Services) -> None:
        self.bot = bot
        self.services = services

    @app_commands.command(
        name="hailuo-story",
        description="One longer video from 2 to 5 scenes, each continuing where the last ends",
    )
    @app_commands.allowed_installs(guilds=True, users=True)
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    @app_commands.describe(
        scenes="2 to 5 scene prompts separated by |, e.g. A fox wakes up | It runs | It sleeps",
        image="Start frame of the first scene: JPEG, PNG or WebP, short side at least 300 px",
        model="The model for every scene",
        duration="Length of each scene in seconds (1080p is 6 s only)",
        resolution="768p (6 or 10 s) or 1080p (6 s)",
        camera="Camera moves for every scene, up to 3 combined, e.g. Push in",
    )
    @video_options
    async def story(
        self,
        interaction: discord.Interaction[HailuoBot],
        scenes: app_commands.Range[str, 1, SCENES_MAX_LENGTH],
        image: discord.Attachment | None = None,
        model: str | None = None,
        duration: int | None = None,
        resolution: str | None = None,
        camera: Camera | None = None,
    ) -> None:
        lost_files({"image": image})
        await interaction.response.defer(ephemeral=True, thinking=True)
        note_acknowledged(interaction)
        origin = origin_of(interaction)
        studio = self.services.studio
        async with studio.answering(origin):
            try:
                typed = OptionDefaults(duration, resolution, None, camera, model)
                chosen, applied = await chosen_options(self.services, origin, typed)
                requests = [
                    GenerationRequest(
                        prompt=prompt,
                        duration=6 if chosen.duration is None else chosen.duration,
                        resolution=(
                            Resolution.P768.value
                            if chosen.resolution is None
                            else chosen.resolution
                        ),
                        prompt_optimizer=chosen.prompt_optimizer,
                        start_image=facts_of(image) if number == 0 else FRAME_TO_COME,
                        camera=chosen.camera or "",
                        model=chosen.model or DEFAULT_MODEL.value,
                    )
                    for number, prompt in enumerate(split_scenes(scenes))
                ]
                # Every scene's problems at once, before the picture is downloaded.
                try:
                    await studio.check_story(requests, origin)
                except RequestRejected as rejected:
                    if not applied:
                        raise
                    raise RequestRejected([*rejected.problems, defaults_fix(applied)]) from None
                pictures: tuple[ImagePayload, ...] = ()
                if image is not None:
                    picture, facts = await fetch_image(self.services, ImageRole.START, image)
                    requests[0] = dataclasses.replace(requests[0], start_image=facts)
                    pictures = (picture,)
                accepted = await studio.tell(requests, origin, pictures)
            except UserFacingError as error:
                note_outcome(interaction, "refused")
                await refuse(interaction, error)
                return
            note_outcome(interaction, "ok")
            await announce(
                interaction,
                self.services,
                accepted,
                defaults_used(language_of(interaction), applied),
            )
