"""The buttons on a job's card: Cancel while it waits in its server's queue, and what a member
does next with a finished video (Again, 1080p, Extend with its form, Delete).

They keep working after a restart: their custom ids carry the action and the job's id, and
discord.py routes them here whatever process posted them. Every money move goes through the
studio, on the same path as `/hailuo`; every refusal is the same private reply.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any, Final

import discord

from bot.errors import UserFacingError
from bot.i18n import Language, msg
from bot.jobs.records import Job, SourceAction
from bot.requests.rules import Resolution
from bot.services import Services
from bot.studio import GONE, CancelOutcome
from cogs.front_end._cards import failure_layout
from cogs.front_end._errors import answered_on_error, refuse
from cogs.front_end._language import language_of
from cogs.front_end._replies import (
    first_to_claim,
    note_acknowledged,
    note_outcome,
    respond,
    services_of,
)
from cogs.front_end._words import outcome
from cogs.videos._accepting import announce, origin_of
from cogs.videos._forms import VideoForm

Interaction = discord.Interaction[Any]

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

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        return await first_to_claim(interaction)

    @answered_on_error
    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        result = await services_of(interaction).studio.cancel(
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


LABELS: Final = {
    "again": msg("Again"),
    "1080p": msg("1080p"),
    "extend": msg("Extend"),
    "delete": msg("Delete"),
}


def result_actions(job: Job, lang: Language) -> list[ResultAction]:
    """The buttons under a finished video; 1080p only where it applies (a 768p 6 s clip); a
    story's, Again (the whole story) and Delete."""
    actions = ["again", "1080p", "extend", "delete"]
    if job.in_story:
        actions = ["again", "delete"]
    elif job.resolution is not Resolution.P768 or job.duration != 6:
        actions.remove("1080p")
    return [ResultAction(action, job.id, lang.render(LABELS[action])) for action in actions]


def result_view(job: Job, lang: Language) -> discord.ui.View:
    """The same buttons as a classic message's view."""
    view = discord.ui.View(timeout=None)
    for item in result_actions(job, lang):
        view.add_item(item)
    return view


class ResultAction(
    discord.ui.DynamicItem[discord.ui.Button[Any]],
    template=r"hailuo:(?P<action>again|1080p|extend|delete):(?P<job>[0-9a-f-]{36})",
):
    def __init__(self, action: str, job_id: str, label: str = "") -> None:
        style = (
            discord.ButtonStyle.danger if action == "delete" else (discord.ButtonStyle.secondary)
        )
        super().__init__(
            discord.ui.Button(
                label=label or str(LABELS[action]),
                style=style,
                custom_id=f"hailuo:{action}:{job_id}",
            )
        )
        self.action = action
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction[Any], item: discord.ui.Item[Any], match: re.Match[str]
    ) -> ResultAction:
        return cls(match["action"], match["job"])

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        return await first_to_claim(interaction)

    @answered_on_error
    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        services = services_of(interaction)
        if interaction.guild_id is None:
            return
        if self.action == "extend":
            await self._extend(interaction, services)
        elif self.action == "delete":
            await self._delete(interaction, services)
        else:
            action = (
                SourceAction.AGAIN if self.action == "again" else SourceAction.HIGHER_RESOLUTION
            )
            await interaction.response.defer(ephemeral=True, thinking=True)
            note_acknowledged(interaction)
            origin = origin_of(interaction)
            async with services.studio.answering(origin):
                try:
                    accepted = await services.studio.again(self.job_id, origin, action)
                except UserFacingError as error:
                    note_outcome(interaction, "refused")
                    await refuse(interaction, error)
                    return
                note_outcome(interaction, "ok")
                await announce(interaction, services, accepted)

    async def _extend(self, interaction: discord.Interaction[Any], services: Services) -> None:
        source = await services.jobs.get(self.job_id)
        if source is None or source.guild_id != interaction.guild_id:
            await respond(interaction, language_of(interaction).render(GONE))
            return
        modal = ExtendModal(source, interaction.message, language_of(interaction))
        await interaction.response.send_modal(modal)
        note_acknowledged(interaction)

    async def _delete(self, interaction: discord.Interaction[Any], services: Services) -> None:
        """Allowed first, then the message gone, then the video marked deleted: a message
        Discord would not delete leaves the video as it was."""
        allowed = {"manages_messages": interaction.permissions.manage_messages}
        where, who = interaction.guild_id or 0, interaction.user.id
        try:
            await services.studio.deletable(self.job_id, where, who, **allowed)
            if interaction.message is not None:
                with contextlib.suppress(discord.NotFound):  # deleted already: fine
                    await interaction.message.delete()
            await services.studio.delete(self.job_id, where, who, **allowed)
        except UserFacingError as error:
            note_outcome(interaction, "refused")
            await refuse(interaction, error)
            return
        await respond(
            interaction, language_of(interaction).tr("Deleted. (Credits are not affected.)")
        )
        note_acknowledged(interaction)
        note_outcome(interaction, "ok")


class ExtendModal(VideoForm):
    """The prompt for the clip that continues a finished one from its last frame, in the
    member's language."""

    def __init__(self, source: Job, message: discord.Message | None, lang: Language) -> None:
        super().__init__(
            title=lang.tr("Extend this video"),
            lang=lang,
            label=lang.tr("What happens next"),
            prompt=source.prompt,
        )
        self.source = source
        self.message = message

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        services = services_of(interaction)
        await interaction.response.defer(ephemeral=True, thinking=True)
        note_acknowledged(interaction)
        origin, prompt, model = origin_of(interaction), self.prompt.value, self.chosen_model
        async with services.studio.answering(origin):
            try:
                async with services.studio.extending(origin):
                    # Everything that needs no frame first: a refusal costs no download.
                    await services.studio.check_extend(self.source.id, origin, prompt, model)
                    frame = await services.frames.last_frame(self.source.id, self._video_urls())
                    accepted = await services.studio.extend(
                        self.source.id, origin, prompt, frame, model
                    )
            except UserFacingError as error:
                note_outcome(interaction, "refused")
                await refuse(interaction, error)
                return
            note_outcome(interaction, "ok")
            await announce(interaction, services, accepted)

    def _video_urls(self) -> list[str]:
        """Where the finished video may still be: the file on its message, then Apiframe's
        link while Apiframe keeps it."""
        urls = [
            a.url
            for a in (self.message.attachments if self.message else [])
            if a.filename.lower().endswith(".mp4")
        ]
        return [*urls, self.source.video_url] if self.source.video_url else urls
