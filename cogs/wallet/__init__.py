"""Members who pay their own way: `/wallet` (`_wallet.py`: the balance, the latest moves, a Buy
button per credit pack) and the purchases Discord reports (`_purchases.py`: credited once,
then consumed; refunds taken back)."""

from __future__ import annotations

from bot.client import HailuoBot
from cogs.wallet._purchases import Purchases
from cogs.wallet._wallet import Wallet

__all__ = ["Wallet"]


async def setup(bot: HailuoBot) -> None:
    shards = bot.settings.local_shards
    await bot.add_cog(Wallet(bot, bot.services))
    # Discord's list of purchases is read by one process: the one that runs shard 0.
    await bot.add_cog(Purchases(bot, bot.services, sweeps=shards is None or 0 in shards))
