"""What a member does next with a finished video: the buttons on its card (Again, 1080p,
Extend, Delete), and `/video show` to find one again by its short id.

The buttons keep working after a restart: their custom ids carry the action and the job's id,
and discord.py routes them to `ResultAction` whatever process posted them. Every money move
goes through the studio, on the same path as `/hailuo`; every refusal is the same private reply.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
from typing import Any, Final

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import UserFacingError
from bot.i18n import Language, msg
from bot.jobs.records import SHORT_ID_LENGTH, Job, JobState, SourceAction
from bot.media.videos import VideoUnavailable
from bot.requests.rules import DEFAULT_MODEL, PROMPT_MAX_LENGTH, Model, Resolution
from bot.services import Services, services_of
from bot.studio import GONE
from cogs._accepting import announce, origin_of
from cogs._errors import answer_error, answered_on_error, note_acknowledged, note_outcome, respond
from cogs._language import language_of
from cogs._messages import describe, failure_reason, fit, quote_prompt, refusal

log = logging.getLogger(__name__)

RESHOWN_VIDEO_MAX_BYTES: Final = 10 * 1024 * 1024
LABELS: Final = {
    "again": msg("Again"),
    "1080p": msg("1080p"),
    "extend": msg("Extend"),
    "delete": msg("Delete"),
}


def result_actions(job: Job, lang: Language) -> list[ResultAction]:
    """The buttons under a finished video; 1080p only where it applies (a 768p 6 s clip)."""
    actions = ["again", "1080p", "extend", "delete"]
    if job.resolution is not Resolution.P768 or job.duration != 6:
        actions.remove("1080p")
    return [ResultAction(action, job.id, lang.render(LABELS[action])) for action in actions]


def result_view(job: Job, lang: Language) -> discord.ui.View:
    """The same buttons as a classic message's view."""
    view = discord.ui.View(timeout=None)
    for item in result_actions(job, lang):
        view.add_item(item)
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

    @answered_on_error
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
            origin = origin_of(interaction)
            async with services.studio.answering(origin):
                try:
                    accepted = await services.studio.again(self.job_id, origin, action)
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
        # Any model that starts from a picture: every one of them (Hailuo 02 if untouched).
        self.model: discord.ui.Select[ExtendModal] = discord.ui.Select(
            options=[
                discord.SelectOption(
                    label=model.label, value=model.value, default=model is DEFAULT_MODEL
                )
                for model in Model
            ],
        )
        self.add_item(discord.ui.Label(text=lang.tr("Model"), component=self.model))

    @property
    def chosen_model(self) -> str:
        return self.model.values[0] if self.model.values else DEFAULT_MODEL.value

    # A modal's on_error takes no item (discord.py's own signature; its stubs say otherwise).
    async def on_error(  # type: ignore[override]
        self, interaction: discord.Interaction[Any], error: Exception, /
    ) -> None:
        await answer_error(interaction, error)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        services = services_of(interaction.client)
        await interaction.response.defer(ephemeral=True, thinking=True)
        note_acknowledged(interaction)
        origin, prompt, model = origin_of(interaction), self.prompt.value, self.chosen_model
        async with services.studio.answering(origin):
            try:
                # Everything that needs no frame first: a refusal costs no download.
                await services.studio.check_extend(self.source.id, origin, prompt, model)
                frame = await services.frames.last_frame(self.source.id, self._video_urls())
                accepted = await services.studio.extend(
                    self.source.id, origin, prompt, frame, model
                )
            except UserFacingError as error:
                note_outcome(interaction, "refused")
                await respond(interaction, refusal(language_of(interaction), error))
                return
            note_outcome(interaction, "ok")
            await announce(interaction, services, accepted)

    def _video_urls(self) -> list[str]:
        """Where the finished video may still be: the file on its message, then Apiframe's
        link while Apiframe keeps it."""
        urls = [
            a.url
            for a in (self.message.attachments if self.message else [])
            if a.filename.lower().endswith(".mp4")
        ]
        return [*urls, self.source.video_url] if self.source.video_url else urls


class Videos(commands.GroupCog, group_name="video", description="Find a video again"):
    def __init__(self, bot: commands.Bot, services: Services) -> None:
        self.bot = bot
        self.services = services
        super().__init__()

    async def cog_load(self) -> None:
        self.bot.add_dynamic_items(ResultAction)

    async def cog_unload(self) -> None:
        self.bot.remove_dynamic_items(ResultAction)

    @commands.Cog.listener()
    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        """Anyone deleted a message (a moderator with Discord's own Delete, say): a video it
        carried is never posted again."""
        if payload.guild_id is not None:
            await self.services.studio.messages_deleted([payload.message_id])

    @commands.Cog.listener()
    async def on_raw_bulk_message_delete(self, payload: discord.RawBulkMessageDeleteEvent) -> None:
        if payload.guild_id is not None:
            await self.services.studio.messages_deleted(sorted(payload.message_ids))

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
        lang = language_of(interaction)
        typed = discord.utils.escape_markdown(id.strip()[:40])
        if len(id.strip()) < SHORT_ID_LENGTH:
            # A shorter prefix would let anyone walk through a server's videos by guessing.
            await respond(
                interaction,
                lang.tr(
                    "Type the video's whole id: the {length} characters on its card or in "
                    "`/credits` (`{id}` is too short).",
                    length=SHORT_ID_LENGTH,
                    id=typed,
                ),
            )
            return
        job = await self.services.jobs.by_short_id(interaction.guild_id, id)
        if job is None:
            await respond(
                interaction,
                lang.tr(
                    "No video with the id `{id}` in this server: the id is on each card and "
                    "in `/credits`.",
                    id=typed,
                ),
            )
            return
        if job.age_restricted and not getattr(interaction.channel, "nsfw", False):
            # Made for adults: shown in an age-restricted channel only, whatever was asked.
            await respond(interaction, adults_only(lang, job))
            return
        await interaction.response.defer(ephemeral=not public, thinking=True)
        note_acknowledged(interaction)
        text, file = await self._describe(lang, job)
        await interaction.followup.send(
            fit(text),
            file=file or discord.utils.MISSING,
            ephemeral=not public,
            allowed_mentions=discord.AllowedMentions.none(),
        )

    async def _describe(self, lang: Language, job: Job) -> tuple[str, discord.File | None]:
        """The video's details, and its file when it has no message of its own to link to.
        A video whose message was deleted, by anyone, is never posted again."""
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
        if job.being_delivered:
            # Finished a moment ago and on its way: posting it here too would make two.
            card = job.card_message_url
            lines.append(
                lang.tr("✅ Finished: it is being posted on its card right now: {link}", link=card)
                if card
                else lang.tr("✅ Finished: it is being posted in its channel right now.")
            )
            return "\n".join(lines), None
        carrier = self._carrier(job)
        if job.deleted_at is None and carrier is not None and await self._gone(job, *carrier):
            await self.services.studio.messages_deleted([carrier[1]])
            job = await self.services.jobs.require(job.id)
        if job.deleted_at is not None:
            lines.append(lang.tr("🗑️ Its message was deleted, so it is not shown again."))
            return "\n".join(lines), None
        if job.video_message_url:
            lines.append(f"▶️ {job.video_message_url}")
            return "\n".join(lines), None
        # Delivered as a link (too large, or the file step failed) or kept for /credits.
        video = await self._file(job)
        if video is None:
            lines.append(lang.tr("The video is no longer available: Apiframe no longer keeps it."))
            return "\n".join(lines), None
        lines.append(lang.tr("Here is the video."))
        return "\n".join(lines), discord.File(
            io.BytesIO(video), filename=f"hailuo-{job.short_id}.mp4"
        )

    @staticmethod
    def _carrier(job: Job) -> tuple[int, int] | None:
        """The message the video was delivered in: its file's, else its card's."""
        if job.video_channel_id is not None and job.video_message_id is not None:
            return job.video_channel_id, job.video_message_id
        if job.card_message_id is not None and job.delivered_via == "interaction":
            return job.channel_id, job.card_message_id
        return None

    async def _gone(self, job: Job, channel_id: int, message_id: int) -> bool:
        """Whether Discord says the message no longer exists (anything else: not known)."""
        channel = self.bot.get_partial_messageable(channel_id, guild_id=job.guild_id)
        try:
            await channel.fetch_message(message_id)
        except discord.NotFound:
            return True
        except discord.HTTPException:
            return False
        return False

    async def _file(self, job: Job) -> bytes | None:
        video = await self.services.videos.archived(job.id)
        if video is None and job.video_url:
            try:
                fetched = await self.services.videos.fetch(
                    job.video_url, f"hailuo-{job.short_id}.mp4", RESHOWN_VIDEO_MAX_BYTES
                )
                video = fetched.data
            except VideoUnavailable:
                video = None
        return video if video is not None and len(video) <= RESHOWN_VIDEO_MAX_BYTES else None


def adults_only(lang: Language, job: Job) -> str:
    """The private answer about a video made in an age-restricted channel, asked for
    elsewhere: where it is, and nothing of it."""
    link = job.video_message_url or job.card_message_url
    if link is None:
        return lang.tr(
            "🔞 Video `{id}` was made in an age-restricted channel, so it is shown there only.",
            id=job.short_id,
        )
    return lang.tr(
        "🔞 Video `{id}` was made in an age-restricted channel, so it is shown there only: {link}",
        id=job.short_id,
        link=link,
    )


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(Videos(bot, services_of(bot)))
