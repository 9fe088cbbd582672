"""The servers, as the bot's owner governs them: the first steps in a server that adds the bot
and its record in the owner's table (`_welcome.py`), the owner's direct messages with Approve
and Leave (`_notices.py`), and `/owner` (`_owner.py`)."""

from __future__ import annotations

from bot.client import HailuoBot
from cogs.servers._notices import DiscordOwnerNotices, ServerDecision
from cogs.servers._owner import Owner
from cogs.servers._welcome import ServerPresence

__all__ = ["Owner"]


async def setup(bot: HailuoBot) -> None:
    notices = DiscordOwnerNotices(bot, bot.services.policy)
    bot.services.use_owner_notices(notices)
    bot.add_dynamic_items(ServerDecision)
    await bot.add_cog(ServerPresence(bot, bot.services, notices))
    await bot.add_cog(Owner(bot, bot.services))


async def teardown(bot: HailuoBot) -> None:
    bot.remove_dynamic_items(ServerDecision)
