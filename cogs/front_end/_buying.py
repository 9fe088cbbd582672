"""Discord's premium buttons for the credit packs the bot sells: pressing one opens Discord's
own purchase window; the purchase reaches the bot as an entitlement, never as a click (see
`cogs/wallet/`)."""

from __future__ import annotations

from typing import Any, Final

import discord

from bot.money.wallet import CreditPacks

# Discord's rows hold five buttons; five rows at most in a message.
MOST_BUTTONS: Final = 25


def buy_view(packs: CreditPacks) -> discord.ui.View | None:
    """A Buy button per pack, the smallest first (None: nothing is sold)."""
    if not packs:
        return None
    view: discord.ui.View = discord.ui.View(timeout=None)
    for sku in packs.skus[:MOST_BUTTONS]:
        button: discord.ui.Button[Any] = discord.ui.Button(sku_id=sku)
        view.add_item(button)
    return view
