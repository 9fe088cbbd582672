"""The front end the job lifecycle talks to: how progress, outcomes and ledger changes reach
members on Discord, how command errors become replies, and the commands' translations. Loaded
first, by name, by the bot."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.services import services_of
from cogs._delivery import DiscordAuditSink, DiscordJobReporter
from cogs._errors import install_error_handler, note_outcome
from cogs._language import CommandTranslator


async def setup(bot: commands.Bot) -> None:
    services = services_of(bot)
    settings = services.settings
    services.use_front_end(
        DiscordJobReporter(
            bot,
            simulated=settings.apiframe_simulate,
            v2=settings.card_style == "v2",
            public_link=services.public_video_url,
        ),
        DiscordAuditSink(bot),
    )
    install_error_handler(bot.tree)
    await bot.tree.set_translator(CommandTranslator())

    async def on_app_command_completion(
        interaction: discord.Interaction[Any],
        command: app_commands.Command[Any, Any, Any] | app_commands.ContextMenu,
    ) -> None:
        note_outcome(interaction, "ok")

    bot.add_listener(on_app_command_completion)
