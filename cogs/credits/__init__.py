"""Credits: `/credits` (a member's balance, allowance and latest videos: `_credits.py`) with its
History button (`_history.py`), and `/quota`, how a server's admins run its economy
(`_quota.py`). Their words are in `_words.py`."""

from __future__ import annotations

from bot.client import HailuoBot
from cogs.credits._credits import Credits
from cogs.credits._history import HistoryButton
from cogs.credits._quota import Quota

__all__ = ["Credits", "Quota"]


async def setup(bot: HailuoBot) -> None:
    bot.add_dynamic_items(HistoryButton)
    await bot.add_cog(Credits(bot, bot.services))
    await bot.add_cog(Quota(bot, bot.services))


async def teardown(bot: HailuoBot) -> None:
    bot.remove_dynamic_items(HistoryButton)
