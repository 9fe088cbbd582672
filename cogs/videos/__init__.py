"""Making videos: `/hailuo` and `/hailuo-defaults` (`_hailuo.py`), `/hailuo-story` (`_story.py`),
"Animate with Hailuo" on a message (`_animate.py`), the buttons on a job's card
(Cancel, Again, 1080p, Extend and its form, Delete: `_buttons.py`), and `/video show`
(`_show.py`). What every way of asking shares (who asked, where, the acknowledgement and the
card) is in `_accepting.py`; the video options they offer, declared once, in `_options.py`."""

from __future__ import annotations

from bot.client import HailuoBot
from cogs.videos._animate import Animate
from cogs.videos._buttons import CancelJobButton, ResultAction
from cogs.videos._hailuo import Generate
from cogs.videos._show import Videos
from cogs.videos._story import Stories

__all__ = ["Animate", "Generate", "Stories", "Videos"]


async def setup(bot: HailuoBot) -> None:
    bot.add_dynamic_items(CancelJobButton, ResultAction)
    await bot.add_cog(Generate(bot, bot.services))
    await bot.add_cog(Stories(bot, bot.services))
    await bot.add_cog(Animate(bot, bot.services))
    await bot.add_cog(Videos(bot, bot.services))


async def teardown(bot: HailuoBot) -> None:
    bot.remove_dynamic_items(CancelJobButton, ResultAction)
