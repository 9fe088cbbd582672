"""What a member does next with a finished video: the buttons on its card (Again, 1080p,
Extend, Delete), and `/video show` to find one again by its short id.

The buttons keep working after a restart: their custom ids carry the action and the job's id,
and discord.py routes them to `ResultAction` whatever process posted them. Every money move
goes through the studio, on the same path as `/hailuo`; every refusal is the same private reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import re
from typing import Any, Final

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import SourceUnavailable, UserFacingError
from bot.i18n import Language, msg
from bot.jobs.records import Job, JobState, SourceAction
from bot.media.frames import FrameUnavailable, last_frame
from bot.media.videos import VideoUnavailable
from bot.requests.rules import PROMPT_MAX_LENGTH, Resolution
from bot.services import Services, services_of
from bot.studio import GONE
from cogs._accepting import announce, origin_of
from cogs._errors import note_acknowledged, note_outcome, respond
from cogs._language import language_of
from cogs._messages import describe, failure_reason, fit, quote_prompt, refusal, spoiler

log = logging.getLogger(__name__)

SOURCE_VIDEO_MAX_BYTES: Final = 100 * 1024 * 1024
RESHOWN_VIDEO_MAX_BYTES: Final = 10 * 1024 * 1024
LABELS: Final = {
    "again": msg("Again"),
    "1080p": msg("1080p"),
    "extend": msg("Extend"),
    "delete": msg("Delete"),
}


def result_view(job: Job, lang: Language) -> discord.ui.View:
    """The buttons under a finished video; 1080p only where it applies (a 768p 6 s clip)."""
    view = discord.ui.View(timeout=None)
    actions = ["again", "1080p", "extend", "delete"]
    if job.resolution is not Resolution.P768 or job.duration != 6:
        actions.remove("1080p")
    for action in actions:
        view.add_item(ResultAction(action, job.id, lang.render(LABELS[action])))
    return view


class ResultAction(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"hailuo:(?P<action>again|1080p|extend|delete):(?P<job>[0-9a-f-]{36})",
):
    def __init__(self, action: str, job_id: str, label: str = "") -> None:
        style = (
            discord.ButtonStyle.danger if action == "delete" else (discord.ButtonStyle.secondary)
        )
        super().__init__(
            discord.ui.Button(
                label=label or str(LABELS[action]),
                style=style,
                custom_id=f"hailuo:{action}:{job_id}",
            )
        )
        self.action = action
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> ResultAction:
        return cls(match["action"], match["job"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        services = services_of(interaction.client)
        if interaction.guild_id is None:
            return
        if self.action == "extend":
            await self._extend(interaction, services)
        elif self.action == "delete":
            await self._delete(interaction, services)
        else:
            action = (
                SourceAction.AGAIN if self.action == "again" else SourceAction.HIGHER_RESOLUTION
            )
            await interaction.response.defer(ephemeral=True, thinking=True)
            note_acknowledged(interaction)
            try:
                accepted = await services.studio.again(self.job_id, origin_of(interaction), action)
            except UserFacingError as error:
                note_outcome(interaction, "refused")
                await respond(interaction, refusal(language_of(interaction), error))
                return
            note_outcome(interaction, "ok")
            await announce(interaction, services, accepted)

    async def _extend(self, interaction: discord.Interaction[Any], services: Services) -> None:
        source = await services.jobs.get(self.job_id)
        if source is None or source.guild_id != interaction.guild_id:
            await respond(interaction, language_of(interaction).render(GONE))
            return
        modal = ExtendModal(source, interaction.message, language_of(interaction))
        await interaction.response.send_modal(modal)
        note_acknowledged(interaction)

    async def _delete(self, interaction: discord.Interaction[Any], services: Services) -> None:
        try:
            await services.studio.delete(
                self.job_id,
                interaction.guild_id or 0,
                interaction.user.id,
                manages_messages=interaction.permissions.manage_messages,
            )
        except UserFacingError as error:
            note_outcome(interaction, "refused")
            await respond(interaction, refusal(language_of(interaction), error))
            return
        if interaction.message is not None:
            with contextlib.suppress(discord.NotFound):  # deleted already: fine
                await interaction.message.delete()
        await respond(
            interaction, language_of(interaction).tr("Deleted. (Credits are not affected.)")
        )
        note_acknowledged(interaction)
        note_outcome(interaction, "ok")


class ExtendModal(discord.ui.Modal):
    """The prompt for the clip that continues a finished one from its last frame, in the
    member's language."""

    def __init__(self, source: Job, message: discord.Message | None, lang: Language) -> None:
        super().__init__(timeout=15 * 60, title=lang.tr("Extend this video"))
        self.source = source
        self.message = message
        self.prompt: discord.ui.TextInput[ExtendModal] = discord.ui.TextInput(
            label=lang.tr("What happens next"),
            style=discord.TextStyle.paragraph,
            max_length=PROMPT_MAX_LENGTH,
            default=source.prompt[:PROMPT_MAX_LENGTH],
        )
        self.add_item(self.prompt)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        services = services_of(interaction.client)
        await interaction.response.defer(ephemeral=True, thinking=True)
        note_acknowledged(interaction)
        try:
            video = await source_video(services, self.source, self.message)
            frame = await frame_or_refusal(video)
            accepted = await services.studio.extend(
                self.source.id, origin_of(interaction), self.prompt.value, frame
            )
        except UserFacingError as error:
            note_outcome(interaction, "refused")
            await respond(interaction, refusal(language_of(interaction), error))
            return
        note_outcome(interaction, "ok")
        await announce(interaction, services, accepted)


async def source_video(services: Services, job: Job, message: discord.Message | None) -> bytes:
    """The finished video's bytes: from the owner's archive, its Discord message, or Apiframe
    while it still keeps it. Raises `SourceUnavailable` when none has it."""
    urls = [
        a.url
        for a in (message.attachments if message else [])
        if a.filename.lower().endswith(".mp4")
    ]
    if job.video_url:
        urls.append(job.video_url)
    archived = await services.videos.archived(job.id)
    if archived is not None:
        return archived
    for url in urls:
        try:
            return (await services.videos.fetch(url, "source.mp4", SOURCE_VIDEO_MAX_BYTES)).data
        except VideoUnavailable as exc:
            log.info("job %s: source video not at one place (%s)", job.id, exc)
    raise SourceUnavailable(
        msg(
            "The bot can no longer fetch this video (Apiframe keeps it for about a day, and "
            "its message has no file), so it cannot be extended."
        )
    )


async def frame_or_refusal(video: bytes) -> bytes:
    try:
        return await asyncio.to_thread(last_frame, video)
    except FrameUnavailable as exc:
        raise SourceUnavailable(
            msg("The video's last frame could not be read ({problem}).", problem=str(exc))
        ) from None


class Videos(commands.GroupCog, group_name="video", description="Find a video again"):
    def __init__(self, bot: commands.Bot, services: Services) -> None:
        self.bot = bot
        self.services = services
        super().__init__()

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(ResultAction)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(ResultAction)

    @app_commands.command(name="show", description="Show a video of this server by its id")
    @app_commands.describe(
        id="The short id on the video's card or in /credits",
        public="Post it in the channel for everyone (default: only you see it)",
    )
    @app_commands.guild_only()
    async def show(
        self,
        interaction: discord.Interaction[commands.Bot],
        id: str,  # noqa: A002
        public: bool = False,
    ) -> None:
        assert interaction.guild_id is not None
        job = await self.services.jobs.by_short_id(interaction.guild_id, id)
        lang = language_of(interaction)
        if job is None:
            await respond(
                interaction,
                lang.tr(
                    "No video with the id `{id}` in this server: the id is on each card and "
                    "in `/credits`.",
                    id=discord.utils.escape_markdown(id[:40]),
                ),
            )
            return
        await interaction.response.defer(ephemeral=not public, thinking=True)
        note_acknowledged(interaction)
        here_for_adults = bool(getattr(interaction.channel, "nsfw", False))
        text, file = await self._describe(
            lang, job, hidden=job.age_restricted and not here_for_adults
        )
        await interaction.followup.send(
            fit(text),
            file=file or discord.utils.MISSING,
            ephemeral=not public,
            allowed_mentions=discord.AllowedMentions.none(),
        )

    async def _describe(
        self, lang: Language, job: Job, *, hidden: bool
    ) -> tuple[str, discord.File | None]:
        """The video's details; `hidden`: it was made for adults and is shown elsewhere, so
        its link and file are spoilers."""
        head = lang.tr(
            "🎬 **{video}** · `{id}` · by <@{member}>",
            video=describe(job),
            id=job.short_id,
            member=job.member_id,
        )
        lines = [head, quote_prompt(job.prompt, 300)]
        if job.state is JobState.FAILED:
            lines.append(
                lang.tr(
                    "❌ Could not be made: {reason}. The credits were refunded.",
                    reason=failure_reason(lang, job, 300),
                )
            )
            return "\n".join(lines), None
        if job.state is not JobState.COMPLETED:
            percent = f" {job.progress}%" if job.progress is not None else ""
            lines.append(lang.tr("⏳ Still being made{percent}.", percent=percent))
            return "\n".join(lines), None
        if job.deleted_at is not None:
            lines.append(lang.tr("🗑️ Its message was deleted."))
            return "\n".join(lines), None
        if job.being_delivered:
            # Finished a moment ago and on its way: posting it here too would make two.
            card = job.card_message_url
            lines.append(
                lang.tr(
                    "✅ Finished: it is being posted on its card right now: {link}",
                    link=spoiler(card, hidden),
                )
                if card
                else lang.tr("✅ Finished: it is being posted in its channel right now.")
            )
            return "\n".join(lines), None
        if job.video_message_url and await self._message_exists(job):
            lines.append(f"▶️ {spoiler(job.video_message_url, hidden)}")
            return "\n".join(lines), None
        video = await self.services.videos.archived(job.id)
        if video is None and job.video_url:
            try:
                fetched = await self.services.videos.fetch(
                    job.video_url, f"hailuo-{job.short_id}.mp4", RESHOWN_VIDEO_MAX_BYTES
                )
                video = fetched.data
            except VideoUnavailable:
                video = None
        if video is None or len(video) > RESHOWN_VIDEO_MAX_BYTES:
            lines.append(
                lang.tr(
                    "The video is no longer available: its message is gone and Apiframe "
                    "no longer keeps it."
                )
            )
            return "\n".join(lines), None
        lines.append(lang.tr("Its message is gone; here is the video again."))
        return "\n".join(lines), discord.File(
            io.BytesIO(video), filename=f"hailuo-{job.short_id}.mp4", spoiler=hidden
        )

    async def _message_exists(self, job: Job) -> bool:
        assert job.video_channel_id is not None and job.video_message_id is not None
        channel = self.bot.get_partial_messageable(job.video_channel_id, guild_id=job.guild_id)
        try:
            await channel.fetch_message(job.video_message_id)
        except discord.NotFound:
            return False
        except discord.HTTPException:
            return True  # cannot tell: the link is the best answer
        return True


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Videos(bot, services_of(bot)))
