"""What the bot's owner hears by direct message: a server that added the bot and waits for
their approval (with **Approve** and **Leave**), and all servers together reaching 80 % and
100 % of the monthly limit. The buttons keep working after a restart (their custom ids hold
the server), and do anything only for the owner."""

from __future__ import annotations

import contextlib
import logging
import re
from typing import Any, Final

import discord

from bot.i18n import Language, catalogues
from bot.money.economy import Server
from cogs.front_end._errors import answered_on_error
from cogs.front_end._replies import (
    first_to_claim,
    note_acknowledged,
    note_outcome,
    respond,
    services_of,
)

log = logging.getLogger(__name__)

APPROVE: Final = "approve"
LEAVE: Final = "leave"


def owners_language() -> Language:
    """The bot's own language: a direct message to the owner is not in any server's."""
    return catalogues().choose(None)


def waiting_words(lang: Language, server: Server) -> str:
    owner = f"<@{server.owner_id}>" if server.owner_id else lang.tr("someone unknown")
    members = server.member_count if server.member_count is not None else "?"
    return lang.tr(
        "🆕 Hailuo was added to **{name}** (`{id}`), {members} members, owned by {owner}. It "
        "makes no video there until you approve the server: **Approve** lets it in, **Leave** "
        "takes the bot out of it.",
        name=discord.utils.escape_markdown(server.name or str(server.guild_id)),
        id=server.guild_id,
        members=members,
        owner=owner,
    )


class ServerDecision(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"hailuo:server:(?P<action>approve|leave):(?P<guild>\d+)",
):
    """Approve or Leave, under the direct message about a server that waits."""

    def __init__(self, action: str, guild_id: int, label: str = "") -> None:
        style = discord.ButtonStyle.success if action == APPROVE else discord.ButtonStyle.danger
        super().__init__(
            discord.ui.Button(
                label=label or action.title(),
                style=style,
                custom_id=f"hailuo:server:{action}:{guild_id}",
            )
        )
        self.action = action
        self.guild_id = guild_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> ServerDecision:
        return cls(match["action"], int(match["guild"]))

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        return await first_to_claim(interaction)

    @answered_on_error
    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        services = services_of(interaction)
        lang = owners_language()
        if not services.policy.is_owner(interaction.user.id):
            note_outcome(interaction, "refused")
            await respond(interaction, lang.tr("Only the bot's owner can do that."))
            return
        if self.action == APPROVE:
            server = await services.servers.approve(self.guild_id, interaction.user.id)
            said = lang.tr(
                "✅ Approved: members of **{name}** can make videos now.",
                name=_name(server, self.guild_id),
            )
        else:
            server = await leave_server(
                interaction.client, services, self.guild_id, interaction.user.id
            )
            said = lang.tr("👋 The bot left **{name}**.", name=_name(server, self.guild_id))
        await interaction.response.edit_message(content=said, view=None)
        note_acknowledged(interaction)
        note_outcome(interaction, "ok")


def _name(server: Server | None, guild_id: int) -> str:
    if server is None or not server.name:
        return str(guild_id)
    return discord.utils.escape_markdown(server.name)


async def leave_server(
    client: discord.Client, services: Any, guild_id: int, actor_id: int
) -> Server | None:
    """Take the bot out of a server (any process may: Discord's REST API serves every shard),
    noting who made it leave."""
    with contextlib.suppress(discord.NotFound):  # gone already
        await client.http.leave_guild(guild_id)
    server: Server | None = await services.servers.note_leave(guild_id, actor_id)
    return server


def decision_view(guild_id: int, lang: Language) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(ServerDecision(APPROVE, guild_id, lang.tr("Approve")))
    view.add_item(ServerDecision(LEAVE, guild_id, lang.tr("Leave")))
    return view


class DiscordOwnerNotices:
    """`OwnerNotices` by direct message to each of the bot's owners."""

    def __init__(self, client: discord.Client, owners: Any) -> None:
        self._client = client
        self._owners = owners  # the owner policy: who the owners are, as it is now

    async def _tell(self, text: str, view: discord.ui.View | None = None) -> None:
        for owner_id in sorted(self._owners.owners):
            try:
                user = self._client.get_user(owner_id) or await self._client.fetch_user(owner_id)
                extra: dict[str, Any] = {} if view is None else {"view": view}
                await user.send(text, allowed_mentions=discord.AllowedMentions.none(), **extra)
            except discord.HTTPException as exc:
                log.warning(
                    "could not send the bot's owner %s a direct message (HTTP %s): %s",
                    owner_id,
                    exc.status,
                    text[:120],
                )

    async def server_waiting(self, server: Server) -> None:
        lang = owners_language()
        log.info(
            "server %s (%s) added the bot and waits for approval", server.guild_id, server.name
        )
        await self._tell(waiting_words(lang, server), decision_view(server.guild_id, lang))

    async def limit_share(self, share: int, spent: int, limit: int, month: str) -> None:
        lang = owners_language()
        if share >= 100:
            text = lang.tr(
                "🛑 All servers together have spent this month's limit ({spent} of {limit} "
                "credits, MONTHLY_SPEND_LIMIT, {month}): every request is refused until next "
                "month, or until you raise it.",
                spent=spent,
                limit=limit,
                month=month,
            )
        else:
            text = lang.tr(
                "⚠️ All servers together have spent {share} % of this month's limit ({spent} of "
                "{limit} credits, MONTHLY_SPEND_LIMIT, {month}).",
                share=share,
                spent=spent,
                limit=limit,
                month=month,
            )
        await self._tell(text)
