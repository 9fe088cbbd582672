"""Answering an interaction, whatever state it is in, within Discord's limits; and counting how
each command ended (by its name, never by who used it)."""

from __future__ import annotations

import logging
from typing import Any, Final

import discord

from bot.client import HailuoBot
from bot.services import Services

log = logging.getLogger(__name__)

MESSAGE_LIMIT: Final = 2000


def fit(text: str) -> str:
    """Text within a message's limit (cut with an ellipsis)."""
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


def services_of(interaction: discord.Interaction[Any]) -> Services:
    """The bot's services behind an interaction that reached a button or a form (discord.py
    types their client as any client; it is always this bot's)."""
    client = interaction.client
    if not isinstance(client, HailuoBot):
        raise TypeError(f"{type(client).__name__} does not carry the bot's services")
    return client.services


def is_hailuo(interaction: discord.Interaction[Any]) -> bool:
    """Whether the interaction reached this bot (not a bare discord.py client, as in tools)."""
    return isinstance(interaction.client, HailuoBot)


async def first_to_claim(interaction: discord.Interaction[Any]) -> bool:
    """Whether this process carries out a button press or a form: the first of every process
    on the database to claim it (should Discord deliver it to two). The others stay silent."""
    client = interaction.client
    if not isinstance(client, HailuoBot):
        return True
    return await client.services.claim(interaction.id)


def note_acknowledged(interaction: discord.Interaction[Any]) -> None:
    """Record how long Discord's member waited for the bot's first answer."""
    client = interaction.client
    if isinstance(client, HailuoBot):
        waited = (discord.utils.utcnow() - interaction.created_at).total_seconds()
        client.services.metrics.acknowledgement.observe(max(0.0, waited))


def note_outcome(interaction: discord.Interaction[Any], outcome: str) -> None:
    """Count a command or button by its name and how it ended (never by who used it), once."""
    if interaction.extras.get("counted"):
        return
    interaction.extras["counted"] = True
    client = interaction.client
    if isinstance(client, HailuoBot):
        client.services.metrics.commands.labels(command_name(interaction), outcome).inc()


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
    interaction: discord.Interaction[Any],
    content: str,
    *,
    ephemeral: bool = True,
    view: discord.ui.View | None = None,
) -> None:
    """Answer whether or not the interaction was already answered or deferred (with `view`'s
    buttons under the words, when given)."""
    allowed = discord.AllowedMentions.none()
    deferred = discord.InteractionResponseType.deferred_channel_message
    extra: dict[str, Any] = {} if view is None else {"view": view}
    try:
        if interaction.response.is_done():
            if interaction.response.type is deferred:
                await interaction.edit_original_response(
                    content=content, allowed_mentions=allowed, **extra
                )
            else:
                await interaction.followup.send(
                    content, ephemeral=ephemeral, allowed_mentions=allowed, **extra
                )
        else:
            await interaction.response.send_message(
                content, ephemeral=ephemeral, allowed_mentions=allowed, **extra
            )
            note_acknowledged(interaction)
    except discord.HTTPException:
        log.warning("could not answer interaction %s", interaction.id, exc_info=True)


def member_roles(interaction: discord.Interaction[Any]) -> tuple[int, ...]:
    """The role ids of the member behind an interaction (none in a DM)."""
    user = interaction.user
    return tuple(role.id for role in user.roles) if isinstance(user, discord.Member) else ()
