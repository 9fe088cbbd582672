"""Buttons that keep working across restarts: their state lives in their custom ids."""

from __future__ import annotations

import re
from typing import Any, Final

import discord

from bot.i18n import Language, msg
from bot.services import services_of
from bot.studio import CancelOutcome
from cogs._cards import failure_layout
from cogs._errors import answered_on_error, note_acknowledged, note_outcome, respond
from cogs._language import language_of
from cogs._messages import history_page, outcome

HISTORY_PAGE_SIZE: Final = 10
CANCEL_REFUSALS: Final = {
    CancelOutcome.UNKNOWN: msg("That video request no longer exists."),
    CancelOutcome.NOT_ALLOWED: msg(
        "Only the member who asked for this video (or someone with Manage Server) can cancel it."
    ),
    CancelOutcome.ALREADY_STARTED: msg(
        "This video has already started (or ended), so it can no longer be cancelled."
    ),
}
CANCEL: Final = msg("Cancel")
HISTORY: Final = msg("History")
NEWER: Final = msg("◀ Newer")
OLDER: Final = msg("Older ▶")


class CancelJobButton(
    discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"hailuo:cancel:(?P<job>[0-9a-f-]{36})"
):
    """Refunds a job still waiting in its server's queue."""

    def __init__(self, job_id: str, label: str = "") -> None:
        super().__init__(
            discord.ui.Button(
                label=label or str(CANCEL),
                style=discord.ButtonStyle.secondary,
                custom_id=f"hailuo:cancel:{job_id}",
            )
        )
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> CancelJobButton:
        return cls(match["job"])

    @answered_on_error
    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        result = await services_of(interaction.client).studio.cancel(
            self.job_id,
            interaction.guild_id or 0,
            interaction.user.id,
            manages_server=interaction.permissions.manage_guild,
        )
        lang = language_of(interaction)
        if result.outcome is CancelOutcome.CANCELLED and result.job is not None:
            card = interaction.message
            if card is not None and card.flags.components_v2:
                # A V2 card takes no content: it becomes the failure card instead.
                await interaction.response.edit_message(
                    view=failure_layout(lang, result.job),
                    allowed_mentions=discord.AllowedMentions.none(),
                )
            else:
                await interaction.response.edit_message(
                    content=outcome(lang, result.job),
                    view=None,
                    allowed_mentions=discord.AllowedMentions.none(),
                )
            note_acknowledged(interaction)
            note_outcome(interaction, "ok")
            return
        note_outcome(interaction, "refused")
        await respond(interaction, lang.render(CANCEL_REFUSALS[result.outcome]))


def cancel_view(job_id: str, lang: Language) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(CancelJobButton(job_id, lang.render(CANCEL)))
    return view


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
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> HistoryButton:
        return cls(int(match["member"]), int(match["page"]))

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
        ledger = services_of(interaction.client).ledger
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


def member_roles(interaction: discord.Interaction[Any]) -> tuple[int, ...]:
    """The role ids of the member behind an interaction (none in a DM)."""
    user = interaction.user
    return tuple(role.id for role in user.roles) if isinstance(user, discord.Member) else ()


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
