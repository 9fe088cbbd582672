"""Turns errors into replies: a member's mistake gets its message, a bug gets an id to quote."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import discord
from discord import app_commands

from bot.errors import UserFacingError

log = logging.getLogger(__name__)


async def respond(interaction: discord.Interaction[Any], content: str, *,
                  ephemeral: bool = True) -> None:
    """Answer whether or not the interaction was already answered or deferred."""
    allowed = discord.AllowedMentions.none()
    deferred = discord.InteractionResponseType.deferred_channel_message
    try:
        if interaction.response.is_done():
            if interaction.response.type is deferred:
                await interaction.edit_original_response(content=content, allowed_mentions=allowed)
            else:
                await interaction.followup.send(content, ephemeral=ephemeral,
                                                allowed_mentions=allowed)
        else:
            await interaction.response.send_message(content, ephemeral=ephemeral,
                                                    allowed_mentions=allowed)
    except discord.HTTPException:
        log.warning("could not answer interaction %s", interaction.id, exc_info=True)


def install_error_handler(tree: app_commands.CommandTree[Any]) -> None:
    @tree.error
    async def on_app_command_error(interaction: discord.Interaction[Any],
                                   error: app_commands.AppCommandError) -> None:
        original = error.original if isinstance(error, app_commands.CommandInvokeError) else error
        if isinstance(original, UserFacingError):
            await respond(interaction, original.message)
        elif isinstance(original, app_commands.MissingPermissions):
            await respond(interaction, "Only members with the **Manage Server** permission can "
                                       "do that.")
        elif isinstance(original, app_commands.CommandSignatureMismatch | TypeError):
            # The options Discord sent do not match the command (an old or edited definition,
            # or a hand-made request): nothing was done.
            log.warning("command %s arrived with options that do not match it",
                        interaction.command.qualified_name if interaction.command else "?")
            await respond(interaction, "This command's options did not come through as "
                                       "expected, so nothing was done. If Discord just updated "
                                       "the command, try again in a minute.")
        elif isinstance(original, app_commands.TransformerError):
            await respond(interaction, f"The value `{str(original.value)[:50]}` can't be used "
                                       "for that option, so nothing was done.")
        elif isinstance(original, app_commands.NoPrivateMessage):
            await respond(interaction, "This command works in servers only.")
        elif isinstance(original, app_commands.CheckFailure):
            await respond(interaction, "You can't use this command here.")
        else:
            error_id = uuid.uuid4().hex[:8]
            log.error("command %s failed (error id %s)",
                      interaction.command.qualified_name if interaction.command else "?",
                      error_id, exc_info=original)
            await respond(interaction, f"Something went wrong on the bot's side. If it happens "
                                       f"again, give the bot's owner this id: `{error_id}`.")
