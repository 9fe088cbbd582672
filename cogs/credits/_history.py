"""The History button under `/credits`: a member's ledger page by page, newest first. It keeps
working across restarts: the member and the page live in its custom id."""

from __future__ import annotations

import re
from typing import Any, Final

import discord

from bot.i18n import Language, msg
from cogs.credits._words import history_page
from cogs.front_end._errors import answered_on_error
from cogs.front_end._language import language_of
from cogs.front_end._replies import (
    first_to_claim,
    member_roles,
    note_acknowledged,
    note_outcome,
    respond,
    services_of,
)

HISTORY_PAGE_SIZE: Final = 10
HISTORY: Final = msg("History")
NEWER: Final = msg("◀ Newer")
OLDER: Final = msg("Older ▶")


class HistoryButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"hailuo:history:(?P<member>\d+):(?P<page>\d+)",
):
    """Pages through a member's ledger, newest first."""

    def __init__(self, member_id: int, page: int, label: str = "") -> None:
        super().__init__(
            discord.ui.Button(
                label=label or str(HISTORY),
                style=discord.ButtonStyle.secondary,
                custom_id=f"hailuo:history:{member_id}:{page}",
            )
        )
        self.member_id = member_id
        self.page = page

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
    ) -> HistoryButton:
        return cls(int(match["member"]), int(match["page"]))

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        return await first_to_claim(interaction)

    @answered_on_error
    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        guild_id = interaction.guild_id
        if guild_id is None:
            return
        lang = language_of(interaction)
        if interaction.user.id != self.member_id and not interaction.permissions.manage_guild:
            await respond(
                interaction,
                lang.tr(
                    "Only members with the **Manage Server** permission can see someone "
                    "else's history."
                ),
            )
            return
        ledger = services_of(interaction).ledger
        roles = member_roles(interaction) if interaction.user.id == self.member_id else ()
        total = await ledger.history_size(guild_id, self.member_id)
        pages = max(1, -(-total // HISTORY_PAGE_SIZE))
        page = min(self.page, pages - 1)
        entries = await ledger.history(
            guild_id, self.member_id, HISTORY_PAGE_SIZE, page * HISTORY_PAGE_SIZE
        )
        allowance = await ledger.allowance_status(guild_id, roles)
        content = history_page(lang, self.member_id, entries, page, pages, allowance)
        await interaction.response.edit_message(
            content=content,
            view=history_view(lang, self.member_id, page, pages),
            allowed_mentions=discord.AllowedMentions.none(),
        )
        note_acknowledged(interaction)
        note_outcome(interaction, "ok")


def history_view(
    lang: Language, member_id: int, page: int | None = None, pages: int = 1
) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    if page is None:
        view.add_item(HistoryButton(member_id, 0, lang.render(HISTORY)))
        return view
    if page > 0:
        view.add_item(HistoryButton(member_id, page - 1, lang.render(NEWER)))
    if page + 1 < pages:
        view.add_item(HistoryButton(member_id, page + 1, lang.render(OLDER)))
    return view
