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

Cards and outcomes are Components V2 layouts (`_cards.py`) unless the owner chose the
classic cards; where Discord refuses a V2 message, the same message goes classic, and the log
says why once.
"""

from __future__ import annotations

import functools
import io
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Final, TypeVar

import discord

from bot.clock import utc_now
from bot.i18n import Language, catalogues
from bot.jobs.delivery import (
    DEFAULT_UPLOAD_LIMIT,
    Delivery,
    DeliveryFailed,
    Outcome,
    Progress,
    Receipt,
    StoryNews,
)
from bot.jobs.records import Job, JobState, PendingRequest
from bot.media.videos import VideoFile
from cogs.front_end._cards import notice_layout, outcome_layout, progress_layout
from cogs.front_end._words import (
    ARCHIVED_NOTE,
    LINK_ONLY_NOTE,
    TOO_LARGE_NOTE,
    job_card,
    late_notice,
    outcome,
    simulated,
    story_outcome,
    story_summary,
)
from cogs.videos._buttons import CANCEL, CancelJobButton, cancel_view, result_actions, result_view

log = logging.getLogger(__name__)

PAYLOAD_TOO_LARGE: Final = 413
BAD_REQUEST: Final = 400
Layout = discord.ui.LayoutView | None
Sent = TypeVar("Sent")
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


def v2_refused(exc: discord.HTTPException) -> bool:
    """Whether Discord refused a message for its form (as it would a V2 layout it does not
    take): a 400, not a 413 for the file or a 403/404 for the place."""
    return exc.status == BAD_REQUEST


class DiscordJobReporter:
    def __init__(
        self,
        bot: discord.Client,
        *,
        simulated: bool = False,
        v2: bool = True,
        public_link: Callable[[Job], str | None] = lambda _job: None,
    ) -> None:
        self._bot = bot
        self._simulated = simulated
        self._v2 = v2
        self._public_link = public_link
        self._told_v2_refusal = False

    def _fell_back(self, job: Job, exc: discord.HTTPException) -> None:
        """A V2 message was refused: this one goes classic; the log says why, once."""
        if not self._told_v2_refusal:
            self._told_v2_refusal = True
            log.warning(
                "Discord refused a Components V2 card (HTTP %s: %s); such messages are sent as "
                "classic cards instead (set CARD_STYLE=classic to stop trying)",
                exc.status,
                exc.text,
            )
        log.info("job %s: its card went classic after a refused V2 message", job.id)

    async def _v2_else_classic(
        self,
        job: Job,
        v2: Callable[[], Awaitable[Sent]] | None,
        classic: Callable[[], Awaitable[Sent]],
    ) -> Sent:
        """Send or edit as a V2 card when there is one (and cards are V2); when Discord
        refuses its form, the same message goes classic instead."""
        if self._v2 and v2 is not None:
            try:
                return await v2()
            except discord.HTTPException as exc:
                if not v2_refused(exc):
                    raise
                self._fell_back(job, exc)
        return await classic()

    def _layout(
        self,
        job: Job,
        video: VideoFile | None,
        too_large: bool,
        *,
        buttons: bool,
        story: StoryNews | None = None,
    ) -> discord.ui.LayoutView:
        """The outcome as a V2 card: the uploaded file, else a link the gallery plays."""
        lang = language(job)
        media: str | list[str] | None = None
        note: str | None = None
        actions = result_actions(job, lang) if buttons else []
        if story is not None and job.state is JobState.COMPLETED:
            # A story: its joined file, else the bot's copy, else each scene's own link.
            public = self._public_link(job) if not story.join_problem else None
            media = (
                f"attachment://{video.filename}"
                if video is not None
                else public or [scene.video_url for scene in story.made if scene.video_url]
            )
            note = story_summary(lang, story)
            return outcome_layout(
                lang, job, media=media, note=note, simulated=self._simulated, buttons=actions
            )
        if job.state is JobState.COMPLETED and job.video_url:
            if video is not None:
                media = f"attachment://{video.filename}"
            else:
                public = self._public_link(job)
                media = public or job.video_url
                kept = (
                    ARCHIVED_NOTE if public else (TOO_LARGE_NOTE if too_large else LINK_ONLY_NOTE)
                )
                note = lang.render(kept)
        return outcome_layout(
            lang, job, media=media, note=note, simulated=self._simulated, buttons=actions
        )

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
        lang, card_id, webhook = language(job), job.card_message_id, self._webhook(job)
        quiet = discord.AllowedMentions.none()

        async def v2() -> None:
            layout = progress_layout(lang, job, progress, simulated=self._simulated)
            await webhook.edit_message(card_id, view=layout, allowed_mentions=quiet)

        async def classic() -> None:
            words = self._words(job, job_card(lang, job, progress))
            await webhook.edit_message(card_id, content=words, view=None, allowed_mentions=quiet)

        await self._v2_else_classic(job, v2, classic)

    async def show_queued(self, job: Job, position: int) -> bool:
        if job.card_message_id is None or not token_usable(job, utc_now()):
            return False
        lang, card_id, webhook = language(job), job.card_message_id, self._webhook(job)
        quiet = discord.AllowedMentions.none()

        # A story's later scene is past cancelling: its story has begun.
        cancellable = job.scene <= 1

        async def v2() -> None:
            layout = progress_layout(
                lang,
                job,
                queued=position,
                simulated=self._simulated,
                buttons=[CancelJobButton(job.id, lang.render(CANCEL))] if cancellable else [],
            )
            await webhook.edit_message(card_id, view=layout, allowed_mentions=quiet)

        async def classic() -> None:
            await webhook.edit_message(
                card_id,
                content=self._words(job, job_card(lang, job, queued=position)),
                view=cancel_view(job.id, lang) if cancellable else None,
                allowed_mentions=quiet,
            )

        await self._v2_else_classic(job, v2, classic)
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
        channel: discord.abc.Messageable = self._bot.get_partial_messageable(
            request.channel_id, guild_id=request.guild_id
        )
        try:
            if request.guild_id < 0:  # asked on the member's own account: a direct message
                channel = self._bot.get_user(request.member_id) or await self._bot.fetch_user(
                    request.member_id
                )
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

        def too_large(video: VideoFile | None) -> bool:
            return news.too_large or (news.video is not None and video is None)

        def words(video: VideoFile | None) -> str:
            if text is not None:
                return text
            if news.story is not None:
                return self._words(
                    job,
                    story_outcome(language(job), job, news.story, with_file=video is not None),
                )
            return self._words(
                job,
                outcome(
                    language(job), job, with_file=video is not None, too_large=too_large(video)
                ),
            )

        # A finished video carries its next steps (Again, 1080p, Extend, Delete) in a server.
        with_buttons = text is None and job.state is JobState.COMPLETED
        buttons = result_view(job, language(job)) if with_buttons else None

        def layout(video: VideoFile | None, *, in_server: bool = True) -> Layout:
            """The V2 card for this message (None: classic cards)."""
            if not self._v2:
                return None
            if text is not None:
                return notice_layout(language(job), text, simulated=self._simulated)
            return self._layout(
                job,
                video,
                too_large(video),
                buttons=with_buttons and in_server,
                story=news.story,
            )

        # Without a card (the bot stopped before posting it) a followup could land on the
        # private "thinking" message, so such an outcome goes to the channel instead.
        if self._card_usable(job):
            assert job.card_message_id is not None
            video = fitting(self._card_limit(job))
            try:
                try:
                    await self._edit_card(job, words, layout, video, member_only, buttons)
                except discord.HTTPException as exc:
                    if video is None or exc.status != PAYLOAD_TOO_LARGE:
                        raise
                    log.info(
                        "job %s: Discord refused the %d-byte file on the card; posting the link",
                        job.id,
                        video.size,
                    )
                    video = None
                    await self._edit_card(job, words, layout, None, member_only, buttons)
            except discord.HTTPException as exc:
                log.info(
                    "job %s: interaction reply failed (%s); posting in the channel",
                    job.id,
                    exc.status,
                )
            else:
                carried = (job.channel_id, job.card_message_id) if video else None
                return Receipt(Delivery.INTERACTION, carried)
        # A personal job's channel is a direct message, or a server that has not added the
        # bot: the bot posts in neither but through the member's direct message.
        if not job.personal:
            channel = self._bot.get_partial_messageable(job.channel_id, guild_id=job.guild_id)
            try:
                receipt = await self._send(
                    channel,
                    Delivery.CHANNEL,
                    job,
                    words,
                    layout,
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
                lambda video: layout(video, in_server=False),
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
        words: Callable[[VideoFile | None], str],
        layout: Callable[[VideoFile | None], Layout],
        video: VideoFile | None,
        mentions: discord.AllowedMentions,
        buttons: discord.ui.View | None = None,
    ) -> None:
        assert job.card_message_id is not None
        card_id, webhook = job.card_message_id, self._webhook(job)
        # `attachments` replaces what the card carries, so a repeat still shows one file.
        card = layout(video)

        async def v2(card: discord.ui.LayoutView) -> None:
            await webhook.edit_message(
                card_id,
                view=card,
                allowed_mentions=mentions,
                attachments=[as_file(video)] if video is not None else [],
            )

        async def classic() -> None:
            await webhook.edit_message(
                card_id,
                content=words(video),
                view=buttons,
                allowed_mentions=mentions,
                attachments=[as_file(video)] if video is not None else [],
            )

        v2_card = None if card is None else functools.partial(v2, card)
        await self._v2_else_classic(job, v2_card, classic)

    async def _send(
        self,
        target: discord.abc.Messageable,
        via: Delivery,
        job: Job,
        words: Callable[[VideoFile | None], str],
        layout: Callable[[VideoFile | None], Layout],
        video: VideoFile | None,
        nonce: str,
        mentions: discord.AllowedMentions,
        buttons: discord.ui.View | None = None,
    ) -> Receipt:
        """Send with the file if given; on a 413 send the link instead."""
        if video is not None:
            try:
                message = await self._send_one(
                    target, job, words, layout, video, nonce, mentions, buttons
                )
            except discord.HTTPException as exc:
                if exc.status != PAYLOAD_TOO_LARGE:
                    raise
                log.info(
                    "job %s: Discord refused the %d-byte file; posting the link", job.id, video.size
                )
            else:
                return Receipt(via, (message.channel.id, message.id))
        await self._send_one(target, job, words, layout, None, nonce, mentions, buttons)
        return Receipt(via)

    async def _send_one(
        self,
        target: discord.abc.Messageable,
        job: Job,
        words: Callable[[VideoFile | None], str],
        layout: Callable[[VideoFile | None], Layout],
        video: VideoFile | None,
        nonce: str,
        mentions: discord.AllowedMentions,
        buttons: discord.ui.View | None,
    ) -> discord.Message:
        """One message: the V2 card when there is one (classic if Discord refuses it)."""
        card = layout(video)

        async def v2(card: discord.ui.LayoutView) -> discord.Message:
            files = [as_file(video)] if video is not None else []
            return await target.send(view=card, files=files, nonce=nonce, allowed_mentions=mentions)

        async def classic() -> discord.Message:
            files = [as_file(video)] if video is not None else []
            extra: dict[str, Any] = {} if buttons is None else {"view": buttons}
            return await target.send(
                words(video), files=files, nonce=nonce, allowed_mentions=mentions, **extra
            )

        v2_card = None if card is None else functools.partial(v2, card)
        return await self._v2_else_classic(job, v2_card, classic)
