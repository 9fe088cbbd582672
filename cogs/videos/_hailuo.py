"""`/hailuo`: check a request, reserve its price, and hand it to the job runner; and
`/hailuo-defaults`, a member's usual options in a server."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Final

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import HailuoBot
from bot.errors import RequestRejected, UserFacingError
from bot.i18n import msg
from bot.jobs.records import ImagePayload, RequestOrigin
from bot.requests.defaults import SERVER, AppliedDefault, OptionDefaults, apply_defaults
from bot.requests.rules import (
    DEFAULT_MODEL,
    PROMPT_MAX_LENGTH,
    GenerationRequest,
    ImageFacts,
    ImageRole,
    Resolution,
    inspect_image,
    validate_request,
)
from bot.services import Services
from cogs.front_end._errors import refuse
from cogs.front_end._language import language_of
from cogs.front_end._replies import note_acknowledged, note_outcome, respond
from cogs.videos._accepting import announce, origin_of
from cogs.videos._options import Camera, video_options
from cogs.videos._words import defaults_fix, defaults_saved, defaults_used

log = logging.getLogger(__name__)

INTAKE_AT_ONCE: Final = 16


def facts_of(attachment: discord.Attachment | None) -> ImageFacts | None:
    if attachment is None:
        return None
    return ImageFacts(
        filename=attachment.filename,
        content_type=attachment.content_type,
        size_bytes=attachment.size,
        width=attachment.width,
        height=attachment.height,
    )


def lost_files(attachments: dict[str, discord.Attachment | None]) -> None:
    """Discord resolves attachments; one it could not resolve arrives as a bare id: refused,
    naming the option, before anything else."""
    lost = [
        name
        for name, value in attachments.items()
        if value is not None and not isinstance(value, discord.Attachment)
    ]
    if lost:
        raise RequestRejected(
            [
                msg(
                    "The `{option}` file did not come through from Discord: attach it again.",
                    option=name,
                )
                for name in lost
            ]
        )


async def chosen_options(
    services: Services, origin: RequestOrigin, typed: OptionDefaults
) -> tuple[OptionDefaults, tuple[AppliedDefault, ...]]:
    """The options as typed, with the member's saved defaults, then the server's, for the
    ones not typed; and which defaults were used."""
    store = services.option_defaults
    return apply_defaults(
        typed,
        await store.get(origin.guild_id, origin.member_id),
        await store.get(origin.guild_id, SERVER),
    )


async def fetch_image(
    services: Services, role: ImageRole, attachment: discord.Attachment
) -> tuple[ImagePayload, ImageFacts]:
    """An attached picture's bytes, checked again from them (its type, size and shape)."""
    declared = facts_of(attachment)
    assert declared is not None
    data = await services.fetcher.fetch(attachment.url, role.label(attachment.filename))
    facts = inspect_image(role, declared, data)
    payload = ImagePayload(
        role=role,
        filename=attachment.filename,
        content_type=facts.content_type or "application/octet-stream",
        data=data,
    )
    return payload, facts


class Generate(commands.Cog):
    def __init__(self, bot: HailuoBot, services: Services) -> None:
        self.bot = bot
        self.services = services
        # Everything after the defer waits its turn here, so that in a burst the answers to
        # the commands still arriving go out first, and image downloads held in memory at
        # once stay bounded.
        self.intake = asyncio.Semaphore(INTAKE_AT_ONCE)

    @app_commands.command(name="hailuo", description="Make a short video with MiniMax Hailuo")
    # In servers that added the bot, and on a member's own account (a direct message with the
    # bot, or a server that has not added it), where their wallet pays.
    @app_commands.allowed_installs(guilds=True, users=True)
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    @app_commands.describe(
        prompt="What happens in the video. Camera moves go in brackets, e.g. [Push in]",
        duration="Length in seconds (1080p is 6 s only)",
        resolution="768p (6 or 10 s) or 1080p (6 s)",
        image="Start frame: JPEG, PNG or WebP, short side at least 300 px",
        end_image="End frame (needs a start frame; Hailuo 02 only): the video moves between them",
        prompt_optimizer="Let the model rewrite the prompt for a better result",
        camera="Camera moves, up to 3 combined: start typing, e.g. Pan left, Pedestal up",
        model="Hailuo 02 (start and end frames), 2.3, or 2.3 Fast (from a start frame only)",
    )
    @video_options
    async def hailuo(
        self,
        interaction: discord.Interaction[HailuoBot],
        prompt: app_commands.Range[str, 1, PROMPT_MAX_LENGTH],
        duration: int | None = None,
        resolution: str | None = None,
        image: discord.Attachment | None = None,
        end_image: discord.Attachment | None = None,
        prompt_optimizer: bool | None = None,
        camera: Camera | None = None,
        model: str | None = None,
    ) -> None:
        lost_files({"image": image, "end_image": end_image})
        # Answer within Discord's 3 s first; everything after waits its turn below.
        await interaction.response.defer(ephemeral=True, thinking=True)
        note_acknowledged(interaction)
        origin = origin_of(interaction)
        async with self.services.studio.answering(origin):
            try:
                typed = OptionDefaults(duration, resolution, prompt_optimizer, camera, model)
                request, applied = await self._request(origin, prompt, typed, image, end_image)
                async with self.intake:
                    await self._accept(interaction, origin, request, image, end_image, applied)
            except UserFacingError as error:
                note_outcome(interaction, "refused")
                await refuse(interaction, error)

    async def _request(
        self,
        origin: RequestOrigin,
        prompt: str,
        typed: OptionDefaults,
        image: discord.Attachment | None,
        end_image: discord.Attachment | None,
    ) -> tuple[GenerationRequest, tuple[AppliedDefault, ...]]:
        """The request as typed, with the saved defaults for what was not; refused here
        already if its options break a rule (before any download)."""
        chosen, applied = await chosen_options(self.services, origin, typed)
        request = GenerationRequest(
            prompt=prompt,
            duration=6 if chosen.duration is None else chosen.duration,
            resolution=Resolution.P768.value if chosen.resolution is None else chosen.resolution,
            prompt_optimizer=chosen.prompt_optimizer,
            start_image=facts_of(image),
            end_image=facts_of(end_image),
            camera=chosen.camera or "",
            model=chosen.model or DEFAULT_MODEL.value,
        )
        try:
            validate_request(request)
        except RequestRejected as rejected:
            if not applied:
                raise
            raise RequestRejected([*rejected.problems, defaults_fix(applied)]) from None
        return request, applied

    async def _accept(
        self,
        interaction: discord.Interaction[HailuoBot],
        origin: RequestOrigin,
        request: GenerationRequest,
        image: discord.Attachment | None,
        end_image: discord.Attachment | None,
        applied: tuple[AppliedDefault, ...] = (),
    ) -> None:
        """Check the bytes, have the studio accept the request, post the job card, and let
        the job into its server's queue."""

        attached = [
            (role, attachment)
            for role, attachment in ((ImageRole.START, image), (ImageRole.END, end_image))
            if attachment
        ]
        payloads: list[ImagePayload] = []
        if attached:
            # The bytes are the truth: check type, size and shape again from them.
            read: dict[ImageRole, ImageFacts] = {}
            for role, attachment in attached:
                payload, facts = await fetch_image(self.services, role, attachment)
                payloads.append(payload)
                read[role] = facts
            request = dataclasses.replace(
                request, start_image=read.get(ImageRole.START), end_image=read.get(ImageRole.END)
            )
        accepted = await self.services.studio.accept(request, origin, tuple(payloads))
        await announce(
            interaction,
            self.services,
            accepted,
            defaults_used(language_of(interaction), applied),
        )

    @app_commands.command(
        name="hailuo-defaults", description="Save your usual /hailuo options in this server"
    )
    @app_commands.describe(
        duration="Your usual length",
        resolution="Your usual resolution",
        prompt_optimizer="Whether the model should rewrite your prompts",
        camera="Your usual camera moves, e.g. Push in",
        model="Your usual model",
        clear="Forget all your saved defaults first",
    )
    @video_options
    @app_commands.guild_only()
    async def hailuo_defaults(
        self,
        interaction: discord.Interaction[HailuoBot],
        duration: int | None = None,
        resolution: str | None = None,
        prompt_optimizer: bool | None = None,
        camera: Camera | None = None,
        model: str | None = None,
        clear: bool = False,
    ) -> None:
        assert interaction.guild_id is not None
        saved = await self.services.option_defaults.update(
            interaction.guild_id,
            interaction.user.id,
            OptionDefaults(duration, resolution, prompt_optimizer, camera, model),
            clear=clear,
        )
        await respond(interaction, defaults_saved(language_of(interaction), False, saved))
