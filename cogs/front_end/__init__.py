"""The front end every feature and the job lifecycle talk through: how progress, outcomes and
ledger rows reach members on Discord (`_reporter.py`, `_cards.py`, `_words.py`, `_audit.py`),
how replies are made and errors become replies (`_replies.py`, `_errors.py`), and which
language a member reads (`_language.py`, with the commands' translations). Loaded by the bot
first, by its name."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from bot.client import HailuoBot
from cogs.front_end._audit import DiscordAuditSink
from cogs.front_end._errors import install_error_handler
from cogs.front_end._language import CommandTranslator
from cogs.front_end._replies import note_outcome
from cogs.front_end._reporter import DiscordJobReporter


async def setup(bot: HailuoBot) -> None:
    services = bot.services
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
