"""`/quota`: how admins run their server's economy (balances, starting balance, allowances,
monthly cap, limits, audit channel, blocked words, adult content, saved defaults, a summary and
the ledger as CSV). Every subcommand checks Manage Server when it runs, not only when Discord
shows it."""

from __future__ import annotations

import asyncio
import gzip
import io
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import IO, Final, cast

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import HailuoBot
from bot.clock import utc_now
from bot.i18n import Language
from bot.money.allowances import EVERYONE, Period, month_after
from bot.money.rules import MAX_AMOUNT
from bot.money.servers import PER_MEMBER_LIMITS, PER_SERVER_LIMITS
from bot.money.summary import server_month
from bot.requests.defaults import SERVER, OptionDefaults
from bot.requests.wordfilter import MAX_ENTRIES
from bot.services import Services
from cogs.credits._words import PERIOD_WORDS
from cogs.front_end._language import language_of
from cogs.front_end._replies import fit, note_acknowledged, respond
from cogs.front_end._words import signed
from cogs.videos._options import Camera, video_options
from cogs.videos._words import defaults_saved

TOP_SPENDERS: Final = 5
SPOOL_IN_MEMORY: Final = 4 * 1024 * 1024
# The bounds of `/quota limits`, as the server's settings check them.
PER_MEMBER_LOW, PER_MEMBER_HIGH = PER_MEMBER_LIMITS.start, PER_MEMBER_LIMITS.stop - 1
PER_SERVER_LOW, PER_SERVER_HIGH = PER_SERVER_LIMITS.start, PER_SERVER_LIMITS.stop - 1

Choice = app_commands.Choice
manage_server = app_commands.checks.has_permissions(manage_guild=True)


def split_entries(words: str) -> list[str]:
    return [part.strip() for part in words.split(",") if part.strip()]


def listed(entries: tuple[str, ...]) -> str:
    return ", ".join(f"“{discord.utils.escape_markdown(entry)}”" for entry in entries)


def guild_of(interaction: discord.Interaction[HailuoBot]) -> int:
    if interaction.guild_id is None:
        raise app_commands.NoPrivateMessage()
    return interaction.guild_id


async def budget_line(lang: Language, services: Services, guild_id: int) -> str:
    """The budget the bot's owner gave the server (beside the admins' own cap, which applies
    below it), or that the server still waits for the owner's approval."""
    server = await services.servers.get(guild_id)
    if services.servers.waiting(server):
        return lang.tr("Budget from the bot's owner: waiting for the owner to approve this server")
    budget = services.servers.budget(server)
    spent = await services.servers.server_month_spend(guild_id)
    if budget is None:
        return lang.tr(
            "Budget from the bot's owner: unlimited ({spent} used this month)", spent=spent
        )
    return lang.tr(
        "Budget from the bot's owner: {budget} a month, {spent} used, resets {when}",
        budget=budget,
        spent=spent,
        when=discord.utils.format_dt(month_after(utc_now()), "D"),
    )


class Quota(commands.Cog):
    quota = app_commands.Group(
        name="quota",
        description="Manage this server's video credits",
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )

    def __init__(self, bot: HailuoBot, services: Services) -> None:
        self.bot = bot
        self.services = services

    @quota.command(name="set", description="Set a member's balance")
    @app_commands.describe(member="Whose balance", amount="The new balance")
    @manage_server
    async def quota_set(
        self,
        interaction: discord.Interaction[HailuoBot],
        member: discord.Member,
        amount: app_commands.Range[int, 0, MAX_AMOUNT],
    ) -> None:
        change = await self.services.ledger.set_balance(
            guild_of(interaction), member.id, amount, actor_id=interaction.user.id
        )
        await respond(
            interaction,
            language_of(interaction).tr(
                "{member} now has **{balance}** credits ({change}).",
                member=member.mention,
                balance=change.balance,
                change=signed(change.delta),
            ),
        )

    @quota.command(name="add", description="Give (or, with a negative amount, take) credits")
    @app_commands.describe(member="Whose balance", amount="Credits to add; negative removes")
    @manage_server
    async def quota_add(
        self,
        interaction: discord.Interaction[HailuoBot],
        member: discord.Member,
        amount: app_commands.Range[int, -MAX_AMOUNT, MAX_AMOUNT],
    ) -> None:
        change = await self.services.ledger.add_credits(
            guild_of(interaction), member.id, amount, actor_id=interaction.user.id
        )
        lang = language_of(interaction)
        await respond(
            interaction,
            lang.tr(
                "{member} now has **{balance}** credits ({change}).",
                member=member.mention,
                balance=change.balance,
                change=signed(change.delta),
            )
            + (" " + lang.tr("A balance stops at 0.") if change.delta != amount else ""),
        )

    @quota.command(name="default", description="Starting balance for members new to the bot")
    @app_commands.describe(amount="Credits a member starts with")
    @manage_server
    async def quota_default(
        self,
        interaction: discord.Interaction[HailuoBot],
        amount: app_commands.Range[int, 0, MAX_AMOUNT],
    ) -> None:
        await self.services.guild_settings.set_default_credits(
            guild_of(interaction), amount, actor_id=interaction.user.id
        )
        await respond(
            interaction,
            language_of(interaction).tr(
                "Members new to the bot in this server now start with **{amount}** credits. "
                "Existing balances are unchanged.",
                amount=amount,
            ),
        )

    @quota.command(
        name="allowance", description="Top members up to an amount every day, week or month"
    )
    @app_commands.describe(
        amount="Balance to top up to (0 removes the allowance)",
        period="How often (UTC)",
        role="Only for holders of this role (default: everyone)",
    )
    @app_commands.choices(period=[Choice(name=p.value, value=p.value) for p in Period])
    @manage_server
    async def quota_allowance(
        self,
        interaction: discord.Interaction[HailuoBot],
        amount: app_commands.Range[int, 0, MAX_AMOUNT],
        period: str,
        role: discord.Role | None = None,
    ) -> None:
        guild_id = guild_of(interaction)
        await self.services.guild_settings.set_allowance(
            guild_id,
            None if role is None else role.id,
            amount,
            Period(period),
            actor_id=interaction.user.id,
        )
        lang = language_of(interaction)
        who = (
            lang.tr("every member")
            if role is None
            else lang.tr("holders of {role}", role=role.mention)
        )
        if amount == 0:
            await respond(interaction, lang.tr("Removed the allowance for {who}.", who=who))
            return
        await respond(
            interaction,
            lang.tr(
                "{who} are topped up to **{amount}** credits {period} (UTC), when they next use "
                "the bot. Credits above that are kept; a member gets the largest allowance "
                "that applies to them.",
                who=who,
                amount=amount,
                period=PERIOD_WORDS[period],
            ),
        )

    @quota.command(name="cap", description="The most credits this server may spend per month")
    @app_commands.describe(amount="Monthly cap in credits (0 removes the cap)")
    @manage_server
    async def quota_cap(
        self,
        interaction: discord.Interaction[HailuoBot],
        amount: app_commands.Range[int, 0, MAX_AMOUNT],
    ) -> None:
        guild_id = guild_of(interaction)
        lang = language_of(interaction)
        await self.services.guild_settings.set_monthly_cap(
            guild_id, amount or None, actor_id=interaction.user.id
        )
        if amount == 0:
            await respond(interaction, lang.tr("This server no longer has a monthly cap."))
            return
        spent = await self.services.ledger.month_spend(guild_id)
        resets = discord.utils.format_dt(month_after(utc_now()), "D")
        await respond(
            interaction,
            lang.tr(
                "This server may now spend **{amount}** credits a month "
                "({spent} used so far; resets {when}).",
                amount=amount,
                spent=spent,
                when=resets,
            ),
        )

    @quota.command(name="limits", description="How many videos may be made at once")
    @app_commands.describe(
        per_member="Videos one member may have running at once",
        per_server="Videos the whole server may have running at once",
    )
    @manage_server
    async def quota_limits(
        self,
        interaction: discord.Interaction[HailuoBot],
        per_member: app_commands.Range[int, PER_MEMBER_LOW, PER_MEMBER_HIGH],
        per_server: app_commands.Range[int, PER_SERVER_LOW, PER_SERVER_HIGH],
    ) -> None:
        guild_id = guild_of(interaction)
        await self.services.guild_settings.set_limits(
            guild_id, per_member, per_server, actor_id=interaction.user.id
        )
        await respond(
            interaction,
            language_of(interaction).tr(
                "Up to **{per_member}** videos per member and **{per_server}** for the server "
                "run at once; the rest wait in a first-come, first-served queue.",
                per_member=per_member,
                per_server=per_server,
            ),
        )
        await self.services.studio.limits_changed(guild_id)

    @quota.command(name="log", description="Post every credit change to a channel")
    @app_commands.describe(channel="The audit channel (leave empty to stop posting)")
    @manage_server
    async def quota_log(
        self,
        interaction: discord.Interaction[HailuoBot],
        channel: discord.TextChannel | None = None,
    ) -> None:
        guild_id = guild_of(interaction)
        await self.services.guild_settings.set_log_channel(
            guild_id, None if channel is None else channel.id, actor_id=interaction.user.id
        )
        lang = language_of(interaction)
        if channel is None:
            await respond(interaction, lang.tr("Credit changes are no longer posted to a channel."))
        else:
            await respond(
                interaction,
                lang.tr(
                    "Every credit change and video from now on is posted to {channel}.",
                    channel=channel.mention,
                ),
            )

    block = app_commands.Group(
        name="block",
        description="Words and phrases this server does not want in prompts",
        parent=quota,
    )

    @block.command(name="add", description="Block words or phrases (separate them with commas)")
    @app_commands.describe(words="Whole words or phrases, comma-separated")
    @manage_server
    async def block_add(
        self,
        interaction: discord.Interaction[HailuoBot],
        words: app_commands.Range[str, 1, 1000],
    ) -> None:
        change = await self.services.rules.block(
            guild_of(interaction), split_entries(words), interaction.user.id
        )
        lang = language_of(interaction)
        lines = []
        if change.changed:
            lines.append(
                lang.tr(
                    "Blocked: {entries}. Prompts with them are refused, whatever the case, "
                    "accents, look-alike letters or spacing.",
                    entries=listed(change.changed),
                )
            )
        if change.unchanged:
            lines.append(lang.tr("Already blocked: {entries}.", entries=listed(change.unchanged)))
        if change.over_limit:
            lines.append(
                lang.tr(
                    "Not added, the list is full ({most} entries): {entries}.",
                    most=MAX_ENTRIES,
                    entries=listed(change.over_limit),
                )
            )
        await respond(interaction, fit("\n".join(lines) or lang.tr("Nothing to block.")))

    @block.command(name="remove", description="Unblock words or phrases (comma-separated)")
    @app_commands.describe(words="Entries to remove, comma-separated")
    @manage_server
    async def block_remove(
        self,
        interaction: discord.Interaction[HailuoBot],
        words: app_commands.Range[str, 1, 1000],
    ) -> None:
        change = await self.services.rules.unblock(guild_of(interaction), split_entries(words))
        lang = language_of(interaction)
        lines = []
        if change.changed:
            lines.append(lang.tr("No longer blocked: {entries}.", entries=listed(change.changed)))
        if change.unchanged:
            lines.append(lang.tr("Were not blocked: {entries}.", entries=listed(change.unchanged)))
        await respond(interaction, fit("\n".join(lines) or lang.tr("Nothing to remove.")))

    @block.command(name="list", description="The words and phrases this server blocks")
    @manage_server
    async def block_list(self, interaction: discord.Interaction[HailuoBot]) -> None:
        entries = (await self.services.rules.blocked_words(guild_of(interaction))).entries
        lang = language_of(interaction)
        if not entries:
            await respond(
                interaction,
                lang.tr("This server blocks no words. Add some with `/quota block add`."),
            )
            return
        await respond(
            interaction,
            fit(
                lang.tr(
                    "**Blocked in this server** ({count} of {most}): {entries}",
                    count=len(entries),
                    most=MAX_ENTRIES,
                    entries=listed(entries),
                )
            ),
        )

    @quota.command(name="nsfw", description="Allow sexual prompts in age-restricted channels")
    @app_commands.describe(
        setting="allowed: in age-restricted channels only; blocked: nowhere (the default)"
    )
    @app_commands.choices(
        setting=[
            app_commands.Choice(name="allowed", value="allowed"),
            app_commands.Choice(name="blocked", value="blocked"),
        ]
    )
    @manage_server
    async def quota_nsfw(self, interaction: discord.Interaction[HailuoBot], setting: str) -> None:
        allowed = setting == "allowed"
        await self.services.rules.set_nsfw_allowed(
            guild_of(interaction), allowed, interaction.user.id
        )
        lang = language_of(interaction)
        await respond(
            interaction,
            lang.tr(
                "Prompts that read as sexual are now accepted in this server's age-restricted "
                "channels, and refused everywhere else."
            )
            if allowed
            else lang.tr(
                "Prompts that read as sexual are now refused in every channel of this server."
            ),
        )

    @quota.command(name="defaults", description="Save this server's usual /hailuo options")
    @app_commands.describe(
        duration="The server's usual length",
        resolution="The server's usual resolution",
        prompt_optimizer="Whether the model should rewrite prompts",
        camera="Usual camera moves, e.g. Static shot",
        model="The server's usual model",
        clear="Forget the server's saved defaults first",
    )
    @video_options
    @manage_server
    async def quota_defaults(
        self,
        interaction: discord.Interaction[HailuoBot],
        duration: int | None = None,
        resolution: str | None = None,
        prompt_optimizer: bool | None = None,
        camera: Camera | None = None,
        model: str | None = None,
        clear: bool = False,
    ) -> None:
        saved = await self.services.option_defaults.update(
            guild_of(interaction),
            SERVER,
            OptionDefaults(duration, resolution, prompt_optimizer, camera, model),
            clear=clear,
        )
        await respond(interaction, defaults_saved(language_of(interaction), True, saved))

    @quota.command(name="show", description="This server's credit settings at a glance")
    @manage_server
    async def quota_show(self, interaction: discord.Interaction[HailuoBot]) -> None:
        guild_id = guild_of(interaction)
        services = self.services
        settings = await services.guild_settings.get(guild_id)
        month = await server_month(
            services.ledger, services.jobs, services.guild_settings, guild_id, top=TOP_SPENDERS
        )
        lang = language_of(interaction)
        cap = (
            lang.tr("Monthly cap: {cap} a month, {spent} used", cap=month.cap, spent=month.spent)
            if month.cap
            else lang.tr("Monthly cap: none ({spent} used this month)", spent=month.spent)
        )
        channel = f"<#{settings.log_channel_id}>" if settings.log_channel_id else lang.tr("none")
        lines = [
            lang.tr("**Credits in this server**"),
            lang.tr("Starting balance: {amount}", amount=settings.default_credits),
            cap,
            await budget_line(lang, services, guild_id),
            lang.tr(
                "Limits: {per_member} per member, {per_server} for the server · "
                "{running} running, {waiting} queued",
                per_member=settings.per_member_limit,
                per_server=settings.per_server_limit,
                running=month.jobs.running,
                waiting=month.jobs.waiting,
            ),
            lang.tr("Audit channel: {channel}", channel=channel),
            lang.tr(
                "This month: members were charged {charged} credits; Apiframe billed "
                "{billed} for the {reported} of {finished} finished videos whose cost it "
                "reported.",
                charged=month.jobs.charged,
                billed=month.jobs.billed,
                reported=month.jobs.reported,
                finished=month.jobs.finished,
            ),
        ]
        if settings.allowances:
            lines.append(lang.tr("Allowances:"))
            lines.extend(
                "• "
                + lang.tr(
                    "{amount} {period} for {who}",
                    amount=a.amount,
                    period=PERIOD_WORDS[a.period.value],
                    who=lang.tr("everyone") if a.role_id == EVERYONE else f"<@&{a.role_id}>",
                )
                for a in settings.allowances
            )
        else:
            lines.append(lang.tr("Allowances: none"))
        if month.top:
            lines.append(lang.tr("Top spenders this month:"))
            lines.extend(f"• <@{member}>: {amount}" for member, amount in month.top)
        await respond(interaction, fit("\n".join(lines)))

    @quota.command(name="export", description="This server's credit ledger as a CSV file")
    @manage_server
    async def quota_export(self, interaction: discord.Interaction[HailuoBot]) -> None:
        guild_id = guild_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        note_acknowledged(interaction)
        lang = language_of(interaction)
        async with self.services.exports.turn(guild_id) as pages:
            export = await spooled_export(pages)
        with export.file:
            limit = interaction.filesize_limit
            name = f"ledger-{guild_id}.csv"
            if export.size > limit:
                # Past Discord's upload limit as plain text: compressed, it is a tenth of that.
                export = await asyncio.to_thread(gzipped, export)
                name += ".gz"
            if export.size > limit:
                await respond(
                    interaction,
                    lang.tr(
                        "The ledger ({rows} rows) is larger than Discord lets the bot upload "
                        "here, even compressed: download it from the dashboard, or ask the "
                        "bot's owner for `python -m bot ledger export`.",
                        rows=export.rows,
                    ),
                )
                return
            await asyncio.to_thread(export.file.seek, 0)
            await interaction.followup.send(
                lang.tr("The ledger: {rows} rows.", rows=export.rows),
                # A spooled file reads as a binary file does (discord.py types only one kind).
                file=discord.File(cast(io.BufferedIOBase, export.file), filename=name),
                ephemeral=True,
            )


@dataclass
class Export:
    """An export in a temporary file (in memory while small): its size and rows."""

    file: IO[bytes]
    size: int
    rows: int


async def spooled_export(pages: AsyncIterator[str]) -> Export:
    file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
    size = lines = 0
    async for page in pages:
        data = page.encode()
        size += len(data)
        lines += page.count("\n")
        await asyncio.to_thread(file.write, data)
    return Export(file, size, max(0, lines - 1))


def gzipped(export: Export) -> Export:
    """The same export, gzip-compressed (the file it came from is closed)."""
    packed: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
    with export.file:
        export.file.seek(0)
        with gzip.GzipFile(fileobj=packed, mode="wb") as compressing:
            shutil.copyfileobj(export.file, compressing)
    return Export(packed, packed.tell(), export.rows)
