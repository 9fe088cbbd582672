"""How a job reaches its member on Discord: progress on the job card, then the outcome.

The outcome goes, in order of preference:
1. onto the job card, through the interaction token while it is still valid (an edit, so doing
   it twice after a crash still shows one message with one file);
2. as a channel message that mentions the member, with a nonce derived from the job so that a
   repeat after a crash is folded into the first message by Discord;
3. by direct message;
4. nowhere: the job keeps its link and `/credits` shows it.

A finished video goes as an attached MP4 when it fits the upload limit of the path it takes
(the interaction's own limit, the server's boost tier, or 10 MiB in a DM); Discord plays it
inline and keeps it. When it does not fit, or Discord refuses the upload (413), the same
message carries the link instead.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final

import discord
from discord.ext import commands

from bot.clock import utc_now
from bot.i18n import Language, catalogues
from bot.jobs.delivery import (
    DEFAULT_UPLOAD_LIMIT,
    Delivery,
    DeliveryFailed,
    Outcome,
    Progress,
    Receipt,
)
from bot.jobs.records import Job, JobState, PendingRequest
from bot.media.videos import VideoFile
from bot.money.ledger import LedgerEntry
from bot.service.audit import AuditChannelGone
from cogs._components import cancel_view
from cogs._language import server_language
from cogs._messages import (
    MESSAGE_LIMIT,
    audit_line,
    job_card,
    late_notice,
    outcome,
    refused_prompt_line,
    simulated,
)
from cogs.actions import result_view

log = logging.getLogger(__name__)

PAYLOAD_TOO_LARGE: Final = 413
# Discord's interaction tokens live 15 minutes; stop using one a little before that.
INTERACTION_TOKEN_LIFETIME: Final = timedelta(minutes=15)
INTERACTION_TOKEN_MARGIN: Final = timedelta(seconds=90)


def token_usable(job: Job | PendingRequest, now: datetime) -> bool:
    """Whether an interaction token can still edit and follow up (with a margin)."""
    expires = job.interaction_created_at + INTERACTION_TOKEN_LIFETIME
    return now < expires - INTERACTION_TOKEN_MARGIN


def delivery_nonce(job: Job) -> str:
    return job.id.replace("-", "")[:25]


def language(job: Job) -> Language:
    """The language the job was asked in."""
    return catalogues().choose(job.language)


def as_file(video: VideoFile) -> discord.File:
    """A fresh `discord.File` each time: one can be sent only once."""
    return discord.File(io.BytesIO(video.data), filename=video.filename)


class DiscordJobReporter:
    def __init__(self, bot: commands.Bot, *, simulated: bool = False) -> None:
        self._bot = bot
        self._simulated = simulated

    def _words(self, job: Job, text: str) -> str:
        return simulated(language(job), text, self._simulated)

    def _webhook(self, job: Job) -> discord.Webhook:
        return discord.Webhook.partial(job.application_id, job.interaction_token, client=self._bot)

    def _card_usable(self, job: Job) -> bool:
        return job.card_message_id is not None and token_usable(job, utc_now())

    @staticmethod
    def _card_limit(job: Job) -> int:
        return job.upload_limit or DEFAULT_UPLOAD_LIMIT

    def _channel_limit(self, job: Job) -> int:
        guild = self._bot.get_guild(job.guild_id)
        return guild.filesize_limit if guild is not None else DEFAULT_UPLOAD_LIMIT

    def upload_limit(self, job: Job) -> int:
        limits = [self._channel_limit(job), DEFAULT_UPLOAD_LIMIT]
        if self._card_usable(job):
            limits.append(self._card_limit(job))
        return max(limits)

    async def show_progress(self, job: Job, progress: Progress) -> None:
        if job.card_message_id is None or not token_usable(job, utc_now()):
            return
        await self._webhook(job).edit_message(
            job.card_message_id,
            content=self._words(job, job_card(language(job), job, progress)),
            view=None,
            allowed_mentions=discord.AllowedMentions.none(),
        )

    async def show_queued(self, job: Job, position: int) -> bool:
        if job.card_message_id is None or not token_usable(job, utc_now()):
            return False
        await self._webhook(job).edit_message(
            job.card_message_id,
            content=self._words(job, job_card(language(job), job, queued=position)),
            view=cancel_view(job.id, language(job)),
            allowed_mentions=discord.AllowedMentions.none(),
        )
        return True

    async def tell_late(self, job: Job) -> bool:
        via = await self._post(
            Outcome(job),
            text=late_notice(language(job), job),
            nonce=f"late{delivery_nonce(job)}"[:25],
        )
        return via.via is not Delivery.KEPT

    async def tell_interrupted(self, request: PendingRequest) -> bool:
        lang = catalogues().choose(request.language)
        text = lang.tr(
            "⚠️ The bot restarted before your request was recorded, so nothing was charged: "
            "please send it again."
        )
        if token_usable(request, utc_now()):
            webhook = discord.Webhook.partial(
                request.application_id, request.interaction_token, client=self._bot
            )
            try:
                # After a deferral, the first followup takes the place of "thinking…" and
                # keeps its privacy.
                await webhook.send(text, allowed_mentions=discord.AllowedMentions.none())
            except discord.HTTPException as exc:
                log.info("could not answer a cut-short request in place (%s)", exc.status)
            else:
                return True
        channel = self._bot.get_partial_messageable(request.channel_id, guild_id=request.guild_id)
        try:
            await channel.send(
                f"<@{request.member_id}> {text}",
                allowed_mentions=discord.AllowedMentions(
                    everyone=False, roles=False, users=[discord.Object(request.member_id)]
                ),
            )
        except discord.HTTPException as exc:
            log.info("could not tell a member in channel %s (%s)", request.channel_id, exc.status)
            return False
        return True

    async def deliver(self, outcome: Outcome) -> Receipt:
        return await self._post(outcome, nonce=delivery_nonce(outcome.job))

    async def _post(self, news: Outcome, *, nonce: str, text: str | None = None) -> Receipt:
        """Edit the job card if it can, else post to the channel, else DM the member; each
        with the video file when it fits there, else with the link."""
        job = news.job
        member_only = discord.AllowedMentions(
            everyone=False, roles=False, users=[discord.Object(job.member_id)]
        )

        def fitting(limit: int) -> VideoFile | None:
            return news.video if news.video is not None and news.video.size <= limit else None

        def words(video: VideoFile | None) -> str:
            if text is not None:
                return text
            too_large = news.too_large or (news.video is not None and video is None)
            return self._words(
                job,
                outcome(language(job), job, with_file=video is not None, too_large=too_large),
            )

        # A finished video carries its next steps (Again, 1080p, Extend, Delete) in a server.
        buttons = (
            result_view(job, language(job))
            if text is None and job.state is JobState.COMPLETED
            else None
        )
        # Without a card (the bot stopped before posting it) a followup could land on the
        # private "thinking" message, so such an outcome goes to the channel instead.
        if self._card_usable(job):
            assert job.card_message_id is not None
            video = fitting(self._card_limit(job))
            try:
                try:
                    await self._edit_card(job, words(video), video, member_only, buttons)
                except discord.HTTPException as exc:
                    if video is None or exc.status != PAYLOAD_TOO_LARGE:
                        raise
                    log.info(
                        "job %s: Discord refused the %d-byte file on the card; posting the link",
                        job.id,
                        video.size,
                    )
                    video = None
                    await self._edit_card(job, words(None), None, member_only, buttons)
            except discord.HTTPException as exc:
                log.info(
                    "job %s: interaction reply failed (%s); posting in the channel",
                    job.id,
                    exc.status,
                )
            else:
                carried = (job.channel_id, job.card_message_id) if video else None
                return Receipt(Delivery.INTERACTION, carried)
        channel = self._bot.get_partial_messageable(job.channel_id, guild_id=job.guild_id)
        try:
            receipt = await self._send(
                channel,
                Delivery.CHANNEL,
                job,
                words,
                fitting(self._channel_limit(job)),
                nonce,
                member_only,
                buttons,
            )
        except (discord.Forbidden, discord.NotFound) as exc:
            log.info(
                "job %s: cannot post in channel %s (%s); trying a direct message",
                job.id,
                job.channel_id,
                exc.status,
            )
        except discord.HTTPException as exc:
            raise DeliveryFailed(f"Discord answered {exc.status}") from exc
        else:
            return receipt
        try:
            user = self._bot.get_user(job.member_id) or await self._bot.fetch_user(job.member_id)
            return await self._send(
                user,
                Delivery.DIRECT_MESSAGE,
                job,
                words,
                fitting(DEFAULT_UPLOAD_LIMIT),
                nonce,
                member_only,
            )
        except (discord.Forbidden, discord.NotFound):
            log.info("job %s: the member takes no direct messages; kept for /credits", job.id)
            return Receipt(Delivery.KEPT)
        except discord.HTTPException as exc:
            raise DeliveryFailed(f"Discord answered {exc.status}") from exc

    async def _edit_card(
        self,
        job: Job,
        content: str,
        video: VideoFile | None,
        mentions: discord.AllowedMentions,
        buttons: discord.ui.View | None = None,
    ) -> None:
        assert job.card_message_id is not None
        # `attachments` replaces what the card carries, so a repeat still shows one file.
        await self._webhook(job).edit_message(
            job.card_message_id,
            content=content,
            view=buttons,
            allowed_mentions=mentions,
            attachments=[as_file(video)] if video is not None else [],
        )

    @staticmethod
    async def _send(
        target: discord.abc.Messageable,
        via: Delivery,
        job: Job,
        words: Callable[[VideoFile | None], str],
        video: VideoFile | None,
        nonce: str,
        mentions: discord.AllowedMentions,
        buttons: discord.ui.View | None = None,
    ) -> Receipt:
        """Send with the file if given; on a 413 send the link instead."""
        extra: dict[str, Any] = {} if buttons is None else {"view": buttons}
        if video is not None:
            try:
                message = await target.send(
                    words(video),
                    file=as_file(video),
                    nonce=nonce,
                    allowed_mentions=mentions,
                    **extra,
                )
            except discord.HTTPException as exc:
                if exc.status != PAYLOAD_TOO_LARGE:
                    raise
                log.info(
                    "job %s: Discord refused the %d-byte file; posting the link", job.id, video.size
                )
            else:
                return Receipt(via, (message.channel.id, message.id))
        await target.send(words(None), nonce=nonce, allowed_mentions=mentions, **extra)
        return Receipt(via)


class DiscordAuditSink:
    """Posts ledger rows to a server's audit channel, a few lines to a message."""

    def __init__(self, bot: commands.Bot) -> None:
        self._bot = bot

    async def refused_prompt(
        self, guild_id: int, channel_id: int, member_id: int, reasons: tuple[str, ...]
    ) -> None:
        channel = self._bot.get_partial_messageable(channel_id, guild_id=guild_id)
        await channel.send(
            refused_prompt_line(server_language(self._bot.get_guild(guild_id)), member_id, reasons),
            allowed_mentions=discord.AllowedMentions.none(),
        )

    async def post(self, guild_id: int, channel_id: int, entries: list[LedgerEntry]) -> None:
        channel = self._bot.get_partial_messageable(channel_id, guild_id=guild_id)
        chunk: list[str] = []
        first = entries[0].id
        lang = server_language(self._bot.get_guild(guild_id))
        for entry in entries:
            line = audit_line(lang, entry)
            if chunk and sum(len(x) + 1 for x in chunk) + len(line) > MESSAGE_LIMIT:
                await self._send(channel, chunk, first)
                chunk, first = [], entry.id
            chunk.append(line)
        if chunk:
            await self._send(channel, chunk, first)

    @staticmethod
    async def _send(channel: discord.PartialMessageable, lines: list[str], first_id: int) -> None:
        try:
            await channel.send(
                "\n".join(lines),
                nonce=f"audit{first_id}"[:25],
                allowed_mentions=discord.AllowedMentions.none(),
            )
        except (discord.Forbidden, discord.NotFound) as exc:
            raise AuditChannelGone(f"Discord answered {exc.status}") from exc
