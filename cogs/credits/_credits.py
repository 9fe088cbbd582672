"""`/credits`: a member's balance in a server, their allowance, their latest videos, and their
ledger page by page."""

from __future__ import annotations

from typing import Final

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import HailuoBot
from bot.services import Services
from cogs.credits._history import history_view
from cogs.credits._words import allowance_line, job_line
from cogs.front_end._language import language_of
from cogs.front_end._replies import fit, note_acknowledged, respond

RECENT_JOBS: Final = 5


class Credits(commands.Cog):
    def __init__(self, bot: HailuoBot, services: Services) -> None:
        self.bot = bot
        self.services = services

    @app_commands.command(name="credits", description="Your video credits and recent videos")
    @app_commands.describe(member="Someone else's credits (needs Manage Server)")
    @app_commands.guild_only()
    async def credits(
        self, interaction: discord.Interaction[HailuoBot], member: discord.Member | None = None
    ) -> None:
        guild_id = interaction.guild_id
        lang = language_of(interaction)
        if guild_id is None:
            await respond(
                interaction, lang.tr("Credits belong to a server: use `/credits` in one.")
            )
            return
        target = member or interaction.user
        looking_at_other = target.id != interaction.user.id
        if looking_at_other and not interaction.permissions.manage_guild:
            raise app_commands.MissingPermissions(["manage_guild"])
        roles = tuple(r.id for r in target.roles) if isinstance(target, discord.Member) else ()
        balance = await self.services.ledger.balance(guild_id, target.id, roles)
        allowance = await self.services.ledger.allowance_status(guild_id, roles)
        jobs = await self.services.jobs.recent_for_member(guild_id, target.id, RECENT_JOBS)
        lines = [
            lang.tr(
                "{member} has **{balance}** credits in this server.",
                member=target.mention,
                balance=balance,
            )
            if looking_at_other
            else lang.tr("You have **{balance}** credits in this server.", balance=balance)
        ]
        if allowance is not None:
            lines.append(allowance_line(lang, allowance))
        elif balance == 0 and not await self.services.ledger.credits_set_up(guild_id):
            lines.append(
                lang.tr(
                    "This server has not set up credits yet: someone with the Manage Server "
                    "permission gives them with `/quota default`, `/quota allowance` or "
                    "`/quota add`."
                )
            )
        if jobs:
            lines.append("\n" + lang.tr("**Recent videos**"))
            lines.extend(job_line(lang, job) for job in jobs)
        else:
            lines.append(lang.tr("No videos yet: try `/hailuo`."))
        await interaction.response.send_message(
            fit("\n".join(lines)),
            ephemeral=True,
            view=history_view(lang, target.id),
            allowed_mentions=discord.AllowedMentions.none(),
        )
        note_acknowledged(interaction)
