"""The audit channel on Discord: every ledger row of a server, a few lines to a message, and
the prompts and videos its rules or the model refused."""

from __future__ import annotations

import discord

from bot.i18n import Language
from bot.jobs.records import Job
from bot.money.ledger import LedgerEntry
from bot.operations.audit import AuditChannelGone
from cogs.front_end._language import server_language
from cogs.front_end._replies import MESSAGE_LIMIT, fit
from cogs.front_end._words import signed


def refused_prompt_line(lang: Language, member_id: int, reasons: tuple[str, ...]) -> str:
    """An audit-channel line outside the ledger: the server's rules refused a prompt."""
    shown = ", ".join(f"“{discord.utils.escape_markdown(reason)}”" for reason in reasons[:5])
    return fit(
        lang.tr(
            "🚫 <@{member}>'s prompt was refused by this server's rules ({reasons}); "
            "no credits moved.",
            member=member_id,
            reasons=shown,
        )
    )


def content_refused_line(lang: Language, job: Job, error: str) -> str:
    """An audit-channel line outside the ledger: the model's content policy refused a job."""
    return fit(
        lang.tr(
            "🛑 {model} refused <@{member}>'s video `{id}` under its content policy "
            "(“{error}”); the {price} credits were refunded.",
            model=job.model.label,
            member=job.member_id,
            id=job.short_id,
            error=discord.utils.escape_markdown(error[:200]),
            price=job.price,
        )
    )


def audit_line(lang: Language, entry: LedgerEntry) -> str:
    """One ledger row for the audit channel: who, what, amount, balance after, by whom."""
    when = discord.utils.format_dt(entry.created_at, "T")
    job = lang.tr(" · job `{id}`", id=entry.job_id[:8]) if entry.job_id else ""
    by = lang.tr(" · by <@{actor}>", actor=entry.actor_id) if entry.actor_id else ""
    reason = discord.utils.escape_markdown(lang.known(entry.reason)[:80])
    return (
        f"`#{entry.id}` {when} <@{entry.member_id}> {entry.kind.value} "
        f"**{signed(entry.delta)}** → {entry.balance_after}{job}{by} · {reason}"
    )


class DiscordAuditSink:
    """Posts ledger rows to a server's audit channel, a few lines to a message."""

    def __init__(self, bot: discord.Client) -> None:
        self._bot = bot

    async def refused_prompt(
        self, guild_id: int, channel_id: int, member_id: int, reasons: tuple[str, ...]
    ) -> None:
        channel = self._bot.get_partial_messageable(channel_id, guild_id=guild_id)
        await channel.send(
            refused_prompt_line(server_language(self._bot.get_guild(guild_id)), member_id, reasons),
            allowed_mentions=discord.AllowedMentions.none(),
        )

    async def content_refused(self, channel_id: int, job: Job, error: str) -> None:
        channel = self._bot.get_partial_messageable(channel_id, guild_id=job.guild_id)
        await channel.send(
            content_refused_line(server_language(self._bot.get_guild(job.guild_id)), job, error),
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
