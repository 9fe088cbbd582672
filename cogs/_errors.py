"""Turns errors into replies: a member's mistake gets its message, a bug gets an id to quote."""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import discord
from discord import app_commands

from bot.errors import UserFacingError
from bot.metrics import Metrics
from cogs._language import language_of
from cogs._messages import refusal

log = logging.getLogger(__name__)


def note_acknowledged(interaction: discord.Interaction[Any]) -> None:
    """Record how long Discord's member waited for the bot's first answer."""
    metrics = getattr(interaction.client, "metrics", None)
    if isinstance(metrics, Metrics):
        waited = (discord.utils.utcnow() - interaction.created_at).total_seconds()
        metrics.acknowledgement.observe(max(0.0, waited))


def note_outcome(interaction: discord.Interaction[Any], outcome: str) -> None:
    """Count a command or button by its name and how it ended (never by who used it), once."""
    if interaction.extras.get("counted"):
        return
    interaction.extras["counted"] = True
    metrics = getattr(interaction.client, "metrics", None)
    if isinstance(metrics, Metrics):
        metrics.commands.labels(command_name(interaction), outcome).inc()


def command_name(interaction: discord.Interaction[Any]) -> str:
    if interaction.command is not None:
        return interaction.command.qualified_name
    if interaction.type is discord.InteractionType.modal_submit:
        return "form"
    data: dict[str, object] = dict(interaction.data or {})
    custom_id = data.get("custom_id")
    if isinstance(custom_id, str) and custom_id.startswith("hailuo:"):
        return f"button:{custom_id.split(':')[1]}"  # the kind, never the ids after it
    return "other"


async def respond(
    interaction: discord.Interaction[Any], content: str, *, ephemeral: bool = True
) -> None:
    """Answer whether or not the interaction was already answered or deferred."""
    allowed = discord.AllowedMentions.none()
    deferred = discord.InteractionResponseType.deferred_channel_message
    try:
        if interaction.response.is_done():
            if interaction.response.type is deferred:
                await interaction.edit_original_response(content=content, allowed_mentions=allowed)
            else:
                await interaction.followup.send(
                    content, ephemeral=ephemeral, allowed_mentions=allowed
                )
        else:
            await interaction.response.send_message(
                content, ephemeral=ephemeral, allowed_mentions=allowed
            )
            note_acknowledged(interaction)
    except discord.HTTPException:
        log.warning("could not answer interaction %s", interaction.id, exc_info=True)


async def answer_error(interaction: discord.Interaction[Any], error: BaseException) -> None:
    """The one reply to anything that went wrong while handling an interaction, whichever way
    it came (a command, a button, a form): a member's mistake gets its message and fix; a bug
    gets an id to quote, and the log gets its traceback under the same id."""
    original = error.original if isinstance(error, app_commands.CommandInvokeError) else error
    lang = language_of(interaction)
    note_outcome(
        interaction,
        "refused" if isinstance(original, UserFacingError | app_commands.CheckFailure) else "error",
    )
    if isinstance(original, UserFacingError):
        await respond(interaction, refusal(lang, original))
    elif isinstance(original, app_commands.MissingPermissions):
        await respond(
            interaction,
            lang.tr("Only members with the **Manage Server** permission can do that."),
        )
    elif isinstance(original, app_commands.CommandSignatureMismatch):
        # The options Discord sent do not match the command (an old or edited definition, or a
        # hand-made request): nothing was done. Any other error, a TypeError from a bug
        # included, is logged below with its traceback.
        log.warning(
            "command %s arrived with options that do not match it", command_name(interaction)
        )
        await respond(
            interaction,
            lang.tr(
                "This command's options did not come through as expected, so nothing was "
                "done. If Discord just updated the command, try again in a minute."
            ),
        )
    elif isinstance(original, app_commands.TransformerError):
        await respond(
            interaction,
            lang.tr(
                "The value `{value}` can't be used for that option, so nothing was done.",
                value=discord.utils.escape_markdown(str(original.value)[:50]),
            ),
        )
    elif isinstance(original, app_commands.NoPrivateMessage):
        await respond(interaction, lang.tr("This command works in servers only."))
    elif isinstance(original, app_commands.CheckFailure):
        await respond(interaction, lang.tr("You can't use this command here."))
    else:
        error_id = uuid.uuid4().hex[:8]
        log.error("%s failed (error id %s)", command_name(interaction), error_id, exc_info=original)
        await respond(
            interaction,
            lang.tr(
                "Something went wrong on the bot's side. If it happens again, give the "
                "bot's owner this id: `{id}`.",
                id=error_id,
            ),
        )


Callback = TypeVar("Callback", bound=Callable[..., Awaitable[None]])


def answered_on_error(callback: Callback) -> Callback:
    """For a button's callback: discord.py only logs what a dynamic item raises, leaving the
    member on "thinking…"; this answers them as a command's error would be."""

    @functools.wraps(callback)
    async def guarded(self: object, interaction: discord.Interaction[Any]) -> None:
        try:
            await callback(self, interaction)
        except Exception as error:  # noqa: BLE001 - every error gets its reply
            await answer_error(interaction, error)

    return guarded  # type: ignore[return-value]


def install_error_handler(tree: app_commands.CommandTree[Any]) -> None:
    @tree.error
    async def on_app_command_error(
        interaction: discord.Interaction[Any], error: app_commands.AppCommandError
    ) -> None:
        await answer_error(interaction, error)
