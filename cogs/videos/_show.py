"""`/video show`: a video of this server found again by its short id; and a video whose message
anyone deleted (a moderator with Discord's own Delete, say) is never posted again."""

from __future__ import annotations

import asyncio
import io
import logging
from typing import Final

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import HailuoBot
from bot.i18n import Language
from bot.jobs.records import SHORT_ID_LENGTH, Job, JobState
from bot.media.videos import VideoUnavailable
from bot.services import Services
from cogs.front_end._language import language_of
from cogs.front_end._replies import fit, note_acknowledged, respond
from cogs.front_end._words import describe, failure_reason, quote_prompt
from cogs.videos._accepting import origin_of

log = logging.getLogger(__name__)

RESHOWN_VIDEO_MAX_BYTES: Final = 10 * 1024 * 1024
# Within Discord's 3 s to answer, with room for the answer itself.
GONE_CHECK_SECONDS: Final = 1.5


# In servers that added the bot (its videos), and on a member's own account (their own).
@app_commands.allowed_installs(guilds=True, users=True)
@app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
class Videos(commands.GroupCog, group_name="video", description="Find a video again"):
    def __init__(self, bot: HailuoBot, services: Services) -> None:
        self.bot = bot
        self.services = services
        super().__init__()

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
    async def show(
        self,
        interaction: discord.Interaction[HailuoBot],
        id: str,  # noqa: A002
        public: bool = False,
    ) -> None:
        where = origin_of(interaction).guild_id
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
        job = await self.services.jobs.by_short_id(where, id)
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
        if public and await self._deleted(job):
            # A moderator removed it: not even its prompt goes back into the channel.
            public = False
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

    async def _deleted(self, job: Job) -> bool:
        """Whether the video was deleted, by anyone (its message gone without the bot hearing
        of it included, which is then noted)."""
        if job.deleted_at is not None:
            return True
        carrier = self._carrier(job) if job.state is JobState.COMPLETED else None
        if carrier is None or job.being_delivered or not await self._gone(job, *carrier):
            return False
        await self.services.studio.messages_deleted([carrier[1]])
        return True

    async def _gone(self, job: Job, channel_id: int, message_id: int) -> bool:
        """Whether Discord says the message no longer exists (anything else, a slow answer
        included: not known). Quick, as it is asked before the command is answered."""
        channel = self.bot.get_partial_messageable(channel_id, guild_id=job.guild_id)
        try:
            await asyncio.wait_for(channel.fetch_message(message_id), GONE_CHECK_SECONDS)
        except discord.NotFound:
            return True
        except (discord.HTTPException, TimeoutError):
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
