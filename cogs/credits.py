"""`/credits` for members and the `/quota` group for server admins."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

import discord
from discord import app_commands
from discord.ext import commands

from cogs._errors import respond
from cogs._messages import fit, job_line

if TYPE_CHECKING:
    from bot.app import HailuoBot

RECENT_JOBS: Final = 5
MAX_AMOUNT: Final = 1_000_000


def signed(value: int) -> str:
    return f"+{value}" if value > 0 else str(value)


class Credits(commands.Cog):
    quota = app_commands.Group(
        name="quota",
        description="Manage this server's video credits",
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )

    def __init__(self, bot: HailuoBot) -> None:
        self.bot = bot

    @app_commands.command(name="credits", description="Your video credits and recent videos")
    @app_commands.describe(member="Someone else's credits (needs Manage Server)")
    @app_commands.guild_only()
    async def credits(self, interaction: discord.Interaction[HailuoBot],
                      member: discord.Member | None = None) -> None:
        guild_id = interaction.guild_id
        if guild_id is None:
            await respond(interaction, "Credits belong to a server: use `/credits` in one.")
            return
        target = member or interaction.user
        looking_at_other = target.id != interaction.user.id
        if looking_at_other and not interaction.permissions.manage_guild:
            raise app_commands.MissingPermissions(["manage_guild"])
        balance = await self.bot.ledger.balance(guild_id, target.id)
        jobs = await self.bot.jobs.recent_for_member(guild_id, target.id, RECENT_JOBS)
        whose = f"{target.mention} has" if looking_at_other else "You have"
        lines = [f"{whose} **{balance}** credits in this server."]
        if jobs:
            lines.append("\n**Recent videos**")
            lines.extend(job_line(job) for job in jobs)
        else:
            lines.append("No videos yet: try `/hailuo`.")
        await respond(interaction, fit("\n".join(lines)))

    @quota.command(name="set", description="Set a member's balance")
    @app_commands.describe(member="Whose balance", amount="The new balance")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def quota_set(self, interaction: discord.Interaction[HailuoBot], member: discord.Member,
                        amount: app_commands.Range[int, 0, MAX_AMOUNT]) -> None:
        guild_id = self._guild(interaction)
        change = await self.bot.ledger.set_balance(guild_id, member.id, amount,
                                                   actor_id=interaction.user.id)
        await respond(interaction, f"{member.mention} now has **{change.balance}** credits "
                                   f"({signed(change.delta)}).")

    @quota.command(name="add", description="Give (or, with a negative amount, take) credits")
    @app_commands.describe(member="Whose balance", amount="Credits to add; negative removes")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def quota_add(self, interaction: discord.Interaction[HailuoBot], member: discord.Member,
                        amount: app_commands.Range[int, -MAX_AMOUNT, MAX_AMOUNT]) -> None:
        guild_id = self._guild(interaction)
        change = await self.bot.ledger.add_credits(guild_id, member.id, amount,
                                                   actor_id=interaction.user.id)
        note = " (a balance stops at 0)" if change.delta != amount else ""
        await respond(interaction, f"{member.mention} now has **{change.balance}** credits "
                                   f"({signed(change.delta)}){note}.")

    @quota.command(name="default", description="Starting balance for members new to the bot")
    @app_commands.describe(amount="Credits a member starts with")
    @app_commands.checks.has_permissions(manage_guild=True)
    async def quota_default(self, interaction: discord.Interaction[HailuoBot],
                            amount: app_commands.Range[int, 0, MAX_AMOUNT]) -> None:
        guild_id = self._guild(interaction)
        await self.bot.ledger.set_default_credits(guild_id, amount, actor_id=interaction.user.id)
        await respond(interaction, f"Members new to the bot in this server now start with "
                                   f"**{amount}** credits. Existing balances are unchanged.")

    @staticmethod
    def _guild(interaction: discord.Interaction[HailuoBot]) -> int:
        if interaction.guild_id is None:
            raise app_commands.NoPrivateMessage()
        return interaction.guild_id


async def setup(bot: HailuoBot) -> None:
    await bot.add_cog(Credits(bot))
