""" "Animate with Hailuo", a message command: a video that starts from the picture on any message
(an attached image, else an embed's image), with a form for the prompt and the model; checked,
charged and delivered like `/hailuo`, its card naming whose picture it animates."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any, Final

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import HailuoBot
from bot.errors import UserFacingError
from bot.i18n import Language, msg
from bot.jobs.records import ImagePayload
from bot.requests.defaults import OptionDefaults
from bot.requests.rules import (
    DEFAULT_MODEL,
    GenerationRequest,
    ImageFacts,
    ImageRole,
    Resolution,
    inspect_image,
)
from bot.services import Services
from cogs.front_end._errors import refuse
from cogs.front_end._language import language_of
from cogs.front_end._replies import note_acknowledged, note_outcome, respond
from cogs.videos._accepting import announce, origin_of
from cogs.videos._forms import VideoForm
from cogs.videos._hailuo import chosen_options

log = logging.getLogger(__name__)

ANIMATE: Final = "Animate with Hailuo"
NO_PICTURE: Final = msg(
    "This message has no picture to animate: use Animate with Hailuo on a message with an "
    "image attached or embedded."
)
PICTURE_TYPES: Final = ("image/jpeg", "image/png", "image/webp")
PICTURE_SUFFIXES: Final = (".jpg", ".jpeg", ".png", ".webp")


@dataclass(frozen=True, slots=True)
class Picture:
    """The picture a message shows, as Discord describes it (its bytes are checked later)."""

    url: str
    facts: ImageFacts
    author_id: int
    message_url: str


def picture_of(message: discord.Message) -> Picture | None:
    """The first image attached to the message, else the first embed's image (or thumbnail),
    fetched through Discord's media proxy: the bot never follows a link a member posted."""
    for attachment in message.attachments:
        kind = (attachment.content_type or "").split(";")[0]
        if kind in PICTURE_TYPES or attachment.filename.lower().endswith(PICTURE_SUFFIXES):
            facts = ImageFacts(
                attachment.filename,
                attachment.content_type,
                attachment.size,
                attachment.width,
                attachment.height,
            )
            return Picture(attachment.url, facts, message.author.id, message.jump_url)
    for embed in message.embeds:
        for media in (embed.image, embed.thumbnail):
            if media.proxy_url:
                name = media.proxy_url.split("?")[0].rsplit("/", 1)[-1] or "picture"
                facts = ImageFacts(name, None, 1, media.width, media.height)
                return Picture(media.proxy_url, facts, message.author.id, message.jump_url)
    return None


class Animate(commands.Cog):
    def __init__(self, bot: HailuoBot, services: Services) -> None:
        self.bot = bot
        self.services = services
        self.command = app_commands.ContextMenu(name=ANIMATE, callback=self.animate)
        self.command.allowed_installs = app_commands.AppInstallationType(guild=True, user=True)
        self.command.allowed_contexts = app_commands.AppCommandContext(
            guild=True, dm_channel=True, private_channel=True
        )

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.command)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.command.name, type=self.command.type)

    async def animate(
        self, interaction: discord.Interaction[HailuoBot], message: discord.Message
    ) -> None:
        lang = language_of(interaction)
        picture = picture_of(message)
        if picture is None:
            note_outcome(interaction, "refused")
            await respond(interaction, lang.render(NO_PICTURE))
            return
        await interaction.response.send_modal(AnimateModal(self.services, picture, message, lang))
        note_acknowledged(interaction)


class AnimateModal(VideoForm):
    """The prompt (the message's own words, when it has any) and the model."""

    def __init__(
        self, services: Services, picture: Picture, message: discord.Message, lang: Language
    ) -> None:
        super().__init__(
            title=lang.tr("Animate this picture"),
            lang=lang,
            label=lang.tr("What happens in the video"),
            prompt=message.content,
        )
        self.services = services
        self.picture = picture

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        services = self.services
        await interaction.response.defer(ephemeral=True, thinking=True)
        note_acknowledged(interaction)
        origin = origin_of(interaction)
        async with services.studio.answering(origin):
            try:
                typed = OptionDefaults(None, None, None, None, self.chosen_model)
                chosen, _ = await chosen_options(services, origin, typed)
                request = GenerationRequest(
                    prompt=self.prompt.value,
                    duration=6 if chosen.duration is None else chosen.duration,
                    resolution=(
                        Resolution.P768.value if chosen.resolution is None else chosen.resolution
                    ),
                    prompt_optimizer=chosen.prompt_optimizer,
                    start_image=self.picture.facts,
                    camera=chosen.camera or "",
                    model=chosen.model or DEFAULT_MODEL.value,
                )
                # The prompt and options first: a refusal costs no download.
                await services.studio.check_request(request, origin)
                data = await services.fetcher.fetch(
                    self.picture.url, ImageRole.START.label(self.picture.facts.filename)
                )
                facts = inspect_image(ImageRole.START, self._declared(data), data)
                payload = ImagePayload(
                    ImageRole.START,
                    self.picture.facts.filename,
                    facts.content_type or "application/octet-stream",
                    data,
                )
                accepted = await services.studio.animate(
                    dataclasses.replace(request, start_image=facts),
                    origin,
                    payload,
                    self.picture.author_id,
                    self.picture.message_url,
                )
            except UserFacingError as error:
                note_outcome(interaction, "refused")
                await refuse(interaction, error)
                return
            note_outcome(interaction, "ok")
            await announce(interaction, services, accepted)

    def _declared(self, data: bytes) -> ImageFacts:
        """What Discord said of the picture, with its real size (an embed's is not said)."""
        facts = self.picture.facts
        return ImageFacts(facts.filename, facts.content_type, len(data), facts.width, facts.height)
