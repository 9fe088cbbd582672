"""`/owner`: the bot's owner governs what the servers may spend, from a direct message with the
bot (or from a server, where the command is hidden from members by default): the servers with
this month's spend against their budgets, a server's budget, approving a server, and making the
bot leave one. Anyone else is refused, privately, and nothing changes; every change is logged
with who made it."""

from __future__ import annotations

from typing import Final

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import HailuoBot
from bot.i18n import Language
from bot.money.economy import MAX_BUDGET, Server, ServerMonthUse, budget_of
from bot.money.wallet import MonthSales
from bot.services import Services
from cogs.front_end._language import language_of
from cogs.front_end._replies import fit, respond
from cogs.servers._notices import leave_server

PAGE: Final = 15
LARGEST_ID: Final = 2**63 - 1

Interaction = discord.Interaction[HailuoBot]


def server_id(text: str) -> int | None:
    """A server id as typed or as suggested (the suggestion's value is the id)."""
    digits = text.strip()
    if not digits.isascii() or not digits.isdigit():
        return None
    number = int(digits)
    return number if 0 < number <= LARGEST_ID else None


def budget_words(lang: Language, server: Server, services: Services) -> str:
    budget = budget_of(server, services.policy)
    if budget is None:
        return lang.tr("unlimited")
    return lang.tr("{budget} a month", budget=budget)


def table_line(lang: Language, use: ServerMonthUse, services: Services) -> str:
    server = use.server
    budget = budget_of(server, services.policy)
    spent = f"{use.spent}" if budget is None else f"{use.spent}/{budget}"
    state = lang.tr("waiting for you") if services.servers.waiting(server) else lang.tr("approved")
    return lang.tr(
        "• **{name}** `{id}` · {spent} credits · {members} members made videos · {state}",
        name=discord.utils.escape_markdown(server.name or "?"),
        id=server.guild_id,
        spent=spent,
        members=use.members,
        state=state,
    )


def sales_line(lang: Language, sales: MonthSales) -> str:
    return lang.tr(
        "Credit packs this month: {sold} sold ({credits} credits); {refunded} refunded "
        "({refunded_credits} credits, {shortfall} of them already spent)",
        sold=sales.sold,
        credits=sales.credits,
        refunded=sales.refunded,
        refunded_credits=sales.refunded_credits,
        shortfall=sales.shortfall,
    )


class Owner(commands.Cog):
    owner = app_commands.Group(
        name="owner",
        description="What the servers may spend (for the bot's owner)",
        # Hidden from members in servers; usable in a direct message with the bot.
        default_permissions=discord.Permissions(administrator=True),
        allowed_contexts=app_commands.AppCommandContext(
            guild=True, dm_channel=True, private_channel=False
        ),
        allowed_installs=app_commands.AppInstallationType(guild=True, user=False),
    )

    def __init__(self, bot: HailuoBot, services: Services) -> None:
        self.bot = bot
        self.services = services

    async def _refused(self, interaction: Interaction) -> bool:
        """Anyone but the owner gets a private refusal, and nothing changes."""
        if self.services.policy.is_owner(interaction.user.id):
            return False
        await respond(
            interaction,
            language_of(interaction).tr("Only the bot's owner can use `/owner`: nothing changed."),
        )
        return True

    async def _server(self, interaction: Interaction, typed: str) -> Server | None:
        """The server named by `typed` (an id, or a suggestion), or a private word saying it is
        none the bot knows."""
        guild_id = server_id(typed)
        server = None if guild_id is None else await self.services.servers.get(guild_id)
        if server is None or server.left_at is not None:
            await respond(
                interaction,
                language_of(interaction).tr(
                    "`{typed}` is not a server the bot is in: pick one of the suggestions, or "
                    "see `/owner servers`.",
                    typed=discord.utils.escape_markdown(typed.strip()[:30]),
                ),
            )
            return None
        return server

    async def server_choices(
        self, interaction: Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        if not self.services.policy.is_owner(interaction.user.id):
            return []
        found = await self.services.servers.named(current)
        return [
            app_commands.Choice(
                name=f"{server.name or '?'} ({server.guild_id})"[:100], value=str(server.guild_id)
            )
            for server in found
        ]

    @owner.command(name="servers", description="Every server: this month's spend, budget, approval")
    @app_commands.describe(page="Which page (15 servers a page, the biggest spenders first)")
    async def servers(
        self, interaction: Interaction, page: app_commands.Range[int, 1, 10_000] = 1
    ) -> None:
        if await self._refused(interaction):
            return
        lang = language_of(interaction)
        rows, total = await self.services.servers.table(page=page - 1, size=PAGE)
        pages = max(1, -(-total // PAGE))
        limit = self.services.policy.monthly_limit
        spent = await self.services.servers.month_spent()
        head = (
            lang.tr(
                "**Servers** · page {page} of {pages} · all of them this month: {spent} of the "
                "{limit}-credit monthly limit",
                page=page,
                pages=pages,
                spent=spent,
                limit=limit,
            )
            if limit is not None
            else lang.tr(
                "**Servers** · page {page} of {pages} · all of them this month: {spent} credits "
                "(no monthly limit)",
                page=page,
                pages=pages,
                spent=spent,
            )
        )
        lines = [head]
        if self.services.wallets.packs:
            lines.append(sales_line(lang, await self.services.wallets.month_sales()))
        lines.extend(table_line(lang, use, self.services) for use in rows)
        if not rows:
            lines.append(lang.tr("No servers on this page."))
        if page < pages:
            lines.append(lang.tr("More: `/owner servers page:{next}`.", next=page + 1))
        await respond(interaction, fit("\n".join(lines)))

    @owner.command(name="budget", description="A server's monthly budget, in credits")
    @app_commands.describe(
        server="The server (its id; names are suggested as you type)",
        amount="Credits a month out of what its admins hand out",
        unlimited="No budget at all for this server",
    )
    async def budget(
        self,
        interaction: Interaction,
        server: str,
        amount: app_commands.Range[int, 0, MAX_BUDGET] | None = None,
        unlimited: bool = False,
    ) -> None:
        if await self._refused(interaction):
            return
        lang = language_of(interaction)
        if (amount is None) == (not unlimited):
            await respond(
                interaction,
                lang.tr("Give either an `amount` or `unlimited: True`: nothing changed."),
            )
            return
        found = await self._server(interaction, server)
        if found is None:
            return
        changed = await self.services.servers.set_budget(
            found.guild_id, amount, interaction.user.id, unlimited=unlimited
        )
        assert changed is not None
        await respond(
            interaction,
            lang.tr(
                "**{name}** may now spend {budget} of the credits its admins hand out.",
                name=discord.utils.escape_markdown(changed.name or str(changed.guild_id)),
                budget=budget_words(lang, changed, self.services),
            ),
        )

    @owner.command(name="approve", description="Let a server that waits use the bot")
    @app_commands.describe(server="The server (its id; names are suggested as you type)")
    async def approve(self, interaction: Interaction, server: str) -> None:
        if await self._refused(interaction):
            return
        found = await self._server(interaction, server)
        if found is None:
            return
        await self.services.servers.approve(found.guild_id, interaction.user.id)
        await respond(
            interaction,
            language_of(interaction).tr(
                "✅ Approved: members of **{name}** can make videos now.",
                name=discord.utils.escape_markdown(found.name or str(found.guild_id)),
            ),
        )

    @owner.command(name="leave", description="Take the bot out of a server")
    @app_commands.describe(server="The server (its id; names are suggested as you type)")
    async def leave(self, interaction: Interaction, server: str) -> None:
        if await self._refused(interaction):
            return
        found = await self._server(interaction, server)
        if found is None:
            return
        await leave_server(self.bot, self.services, found.guild_id, interaction.user.id)
        await respond(
            interaction,
            language_of(interaction).tr(
                "👋 The bot left **{name}**.",
                name=discord.utils.escape_markdown(found.name or str(found.guild_id)),
            ),
        )

    # The same suggestions for every command's `server` option.
    budget.autocomplete("server")(server_choices)
    approve.autocomplete("server")(server_choices)
    leave.autocomplete("server")(server_choices)
