"""How a job reaches its member on Discord: progress on the job card, then the outcome.

The outcome goes, in order of preference:
1. onto the job card, through the interaction token while it is still valid (an edit, so doing
   it twice after a crash still shows one message);
2. as a channel message that mentions the member, with a nonce derived from the job so that a
   repeat after a crash is folded into the first message by Discord;
3. by direct message;
4. nowhere: the job keeps its link and `/credits` shows it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord

from bot.audit import AuditChannelGone
from bot.database import utc_now
from bot.jobs import Job
from bot.ledger import LedgerEntry
from bot.runner import Delivery, DeliveryFailed, Progress
from cogs._components import cancel_view
from cogs._messages import MESSAGE_LIMIT, audit_line, job_card, late_notice, outcome

if TYPE_CHECKING:
    from bot.app import HailuoBot

log = logging.getLogger(__name__)


def delivery_nonce(job: Job) -> str:
    return job.id.replace("-", "")[:25]


class DiscordJobReporter:
    def __init__(self, bot: HailuoBot) -> None:
        self._bot = bot

    def _webhook(self, job: Job) -> discord.Webhook:
        return discord.Webhook.partial(job.application_id, job.interaction_token,
                                       client=self._bot)

    async def show_progress(self, job: Job, progress: Progress) -> None:
        if job.card_message_id is None or not job.token_usable(utc_now()):
            return
        await self._webhook(job).edit_message(
            job.card_message_id, content=job_card(job, progress), view=None,
            allowed_mentions=discord.AllowedMentions.none(),
        )

    async def show_queued(self, job: Job, position: int) -> bool:
        if job.card_message_id is None or not job.token_usable(utc_now()):
            return False
        await self._webhook(job).edit_message(
            job.card_message_id, content=job_card(job, queued=position),
            view=cancel_view(job.id), allowed_mentions=discord.AllowedMentions.none(),
        )
        return True

    async def tell_late(self, job: Job) -> bool:
        via = await self._post(job, late_notice(job), nonce=f"late{delivery_nonce(job)}"[:25])
        return via is not Delivery.KEPT

    async def deliver(self, job: Job) -> Delivery:
        return await self._post(job, outcome(job), nonce=delivery_nonce(job))

    async def _post(self, job: Job, content: str, *, nonce: str) -> Delivery:
        """Edit the job card if it can, else post to the channel, else DM the member."""
        member_only = discord.AllowedMentions(everyone=False, roles=False,
                                              users=[discord.Object(job.member_id)])
        # Without a card (the bot stopped before posting it) a followup could land on the
        # private "thinking" message, so such an outcome goes to the channel instead.
        if job.card_message_id is not None and job.token_usable(utc_now()):
            try:
                await self._webhook(job).edit_message(job.card_message_id, content=content,
                                                      view=None, allowed_mentions=member_only)
            except discord.HTTPException as exc:
                log.info("job %s: interaction reply failed (%s); posting in the channel",
                         job.id, exc.status)
            else:
                return Delivery.INTERACTION
        channel = self._bot.get_partial_messageable(job.channel_id, guild_id=job.guild_id)
        try:
            await channel.send(content, nonce=nonce, allowed_mentions=member_only)
        except (discord.Forbidden, discord.NotFound) as exc:
            log.info("job %s: cannot post in channel %s (%s); trying a direct message",
                     job.id, job.channel_id, exc.status)
        except discord.HTTPException as exc:
            raise DeliveryFailed(f"Discord answered {exc.status}") from exc
        else:
            return Delivery.CHANNEL
        try:
            user = self._bot.get_user(job.member_id) or await self._bot.fetch_user(job.member_id)
            await user.send(content, nonce=nonce, allowed_mentions=member_only)
        except (discord.Forbidden, discord.NotFound):
            log.info("job %s: the member takes no direct messages; kept for /credits", job.id)
            return Delivery.KEPT
        except discord.HTTPException as exc:
            raise DeliveryFailed(f"Discord answered {exc.status}") from exc
        return Delivery.DIRECT_MESSAGE


class DiscordAuditSink:
    """Posts ledger rows to a server's audit channel, a few lines to a message."""

    def __init__(self, bot: HailuoBot) -> None:
        self._bot = bot

    async def post(self, guild_id: int, channel_id: int, entries: list[LedgerEntry]) -> None:
        channel = self._bot.get_partial_messageable(channel_id, guild_id=guild_id)
        chunk: list[str] = []
        first = entries[0].id
        for entry in entries:
            line = audit_line(entry)
            if chunk and sum(len(x) + 1 for x in chunk) + len(line) > MESSAGE_LIMIT:
                await self._send(channel, chunk, first)
                chunk, first = [], entry.id
            chunk.append(line)
        if chunk:
            await self._send(channel, chunk, first)

    @staticmethod
    async def _send(channel: discord.PartialMessageable, lines: list[str], first_id: int
                    ) -> None:
        try:
            await channel.send("\n".join(lines), nonce=f"audit{first_id}"[:25],
                               allowed_mentions=discord.AllowedMentions.none())
        except (discord.Forbidden, discord.NotFound) as exc:
            raise AuditChannelGone(f"Discord answered {exc.status}") from exc
