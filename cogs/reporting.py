"""The front end the job lifecycle talks to: how progress, outcomes and ledger changes reach
members on Discord, and how command errors become replies. Loaded first, by name, by the bot."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs._delivery import DiscordAuditSink, DiscordJobReporter
from cogs._errors import install_error_handler

if TYPE_CHECKING:
    from bot.app import HailuoBot


async def setup(bot: HailuoBot) -> None:
    bot.use_front_end(DiscordJobReporter(bot), DiscordAuditSink(bot))
    install_error_handler(bot.tree)
