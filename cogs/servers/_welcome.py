"""The first message in a server that adds the bot: what its admins do before members can make
videos, the budget the bot's owner allows it, and, when the owner approves new servers, that it
waits for them. Credits start at nothing (unless the owner set DEFAULT_CREDITS), so a server
that skipped this would only see refusals.

It goes where admins will see it: the server's system channel (where Discord announces new
members), or, when there is none or the bot may not post there, a direct message to the
server's owner. Discord sends the join event once per join, to the one process whose shard
holds the server, so the message is not repeated on restarts.
"""

from __future__ import annotations

import logging

import discord
from discord.ext import commands

from bot.client import HailuoBot
from bot.money.economy import ServerFacts
from bot.services import Services
from cogs.front_end._language import server_language
from cogs.servers._notices import DiscordOwnerNotices

log = logging.getLogger(__name__)


def first_steps(
    guild: discord.Guild,
    default_credits: int,
    cheapest: int,
    *,
    budget: int | None = None,
    waiting: bool = False,
) -> str:
    lang = server_language(guild)
    if default_credits > 0:
        starting = lang.tr(
            "Members start with {credits} credits, the bot's default: set your own with "
            "`/quota default`.",
            credits=default_credits,
        )
    else:
        starting = lang.tr(
            "Members start with no credits: give them some with `/quota default` (a starting "
            "balance for everyone), `/quota allowance` (a top-up every day, week or month) or "
            "`/quota add` (one member)."
        )
    notes = []
    if waiting:
        notes.append(
            lang.tr(
                "⏳ The bot's owner approves the servers that add it, and has been asked: "
                "videos can be made here once they approve this one."
            )
        )
    if budget is not None:
        notes.append(
            lang.tr(
                "The bot's owner pays for the videos and allows this server up to {budget} "
                "credits a month of those its admins hand out.",
                budget=budget,
            )
        )
    return "\n".join(
        (
            lang.tr(
                "👋 **Hailuo is here.** Before members make videos in {server}:",
                server=guild.name,
            ),
            f"1. {starting}",
            "2. "
            + lang.tr(
                "Set the most the whole server may spend in a month with `/quota cap` (the "
                "credits are the bot owner's Apiframe credits; a video costs {price} or more).",
                price=cheapest,
            ),
            "3. " + lang.tr("Try `/hailuo` yourself."),
            lang.tr(
                "`/quota` is for members with the Manage Server permission; `/quota show` sums "
                "it all up."
            ),
            *notes,
        )
    )


def facts_of(guild: discord.Guild) -> ServerFacts:
    return ServerFacts(guild.id, guild.name, guild.owner_id, guild.member_count)


class ServerPresence(commands.Cog):
    """The servers the bot joins, finds again at a start, and leaves, as the owner's table keeps
    them; a server that joins gets its first steps, and, when it waits for the owner's
    approval, the owner hears of it."""

    def __init__(self, bot: HailuoBot, services: Services, notices: DiscordOwnerNotices) -> None:
        self.bot = bot
        self.services = services
        self.notices = notices

    @commands.Cog.listener()
    async def on_guild_join(self, guild: discord.Guild) -> None:
        server, waits = await self.services.servers.seen(facts_of(guild), joined=True)
        if waits:
            await self.notices.server_waiting(server)
        settings = await self.services.guild_settings.get(guild.id)
        text = first_steps(
            guild,
            settings.default_credits,
            self.services.prices.cheapest(),
            budget=self.services.servers.budget(server),
            waiting=self.services.servers.waiting(server),
        )
        mentions = discord.AllowedMentions.none()
        channel = guild.system_channel
        if channel is not None:
            try:
                await channel.send(text, allowed_mentions=mentions)
                return
            except discord.HTTPException as exc:
                log.info("server %s: cannot post in its system channel (%s)", guild.id, exc.status)
        try:
            owner = guild.owner or await self.bot.fetch_user(guild.owner_id or 0)
            await owner.send(text, allowed_mentions=mentions)
        except discord.HTTPException as exc:
            log.info(
                "server %s: the first-steps message reached nobody (no system channel to post "
                "in, and its owner's messages are closed: HTTP %s)",
                guild.id,
                exc.status,
            )

    @commands.Cog.listener()
    async def on_guild_available(self, guild: discord.Guild) -> None:
        # Found again at a start (or after an outage): kept up to date in the owner's table.
        # One that added the bot while it was stopped is new here, and may wait for the owner.
        server, waits = await self.services.servers.seen(facts_of(guild), joined=False)
        if waits:
            await self.notices.server_waiting(server)

    @commands.Cog.listener()
    async def on_guild_update(self, before: discord.Guild, after: discord.Guild) -> None:
        await self.services.servers.seen(facts_of(after), joined=False)

    @commands.Cog.listener()
    async def on_guild_remove(self, guild: discord.Guild) -> None:
        await self.services.servers.left(guild.id)
