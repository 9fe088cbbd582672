"""`/wallet`: a member's own credits, good in every server and on their own account: the
balance, the latest moves, and a Buy button per credit pack the bot sells."""

from __future__ import annotations

from typing import Final

import discord
from discord import app_commands
from discord.ext import commands

from bot.client import HailuoBot
from bot.i18n import Language
from bot.money.wallet import WalletKind, WalletMove
from bot.services import Services
from cogs.front_end._buying import buy_view
from cogs.front_end._language import language_of
from cogs.front_end._replies import fit, note_acknowledged
from cogs.front_end._words import signed

LATEST_MOVES: Final = 8


def move_line(lang: Language, move: WalletMove) -> str:
    words = {
        WalletKind.PURCHASE: lang.tr("bought a credit pack"),
        WalletKind.PURCHASE_REFUND: lang.tr("purchase refunded"),
        WalletKind.RESERVE: lang.tr("a video"),
        WalletKind.CHARGE: lang.tr("video made"),
        WalletKind.REFUND: lang.tr("video refunded"),
        WalletKind.GIFT: lang.tr("a gift from the bot's owner"),
    }[move.kind]
    if move.test:
        words += " " + lang.tr("(test mode)")
    if move.shortfall:
        words += " " + lang.tr("({shortfall} already spent)", shortfall=move.shortfall)
    when = discord.utils.format_dt(move.created_at, "R")
    return f"• {when} · **{signed(move.delta)}** · {words} → {move.balance_after}"


class Wallet(commands.Cog):
    def __init__(self, bot: HailuoBot, services: Services) -> None:
        self.bot = bot
        self.services = services

    @app_commands.command(name="wallet", description="Your own credits, good everywhere")
    @app_commands.allowed_installs(guilds=True, users=True)
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    async def wallet(self, interaction: discord.Interaction[HailuoBot]) -> None:
        lang = language_of(interaction)
        wallets = self.services.wallets
        member = interaction.user.id
        balance = await wallets.balance(member)
        moves = [
            m
            for m in await wallets.history(member, LATEST_MOVES)
            if m.kind is not WalletKind.CHARGE
        ]
        lines = [
            lang.tr(
                "Your wallet holds **{balance}** credits. They pay for a video wherever your "
                "credits in a server fall short, and for every video you make on your own "
                "account (in a direct message with the bot, or in a server that has not added "
                "it).",
                balance=balance,
            )
        ]
        if moves:
            lines.append("\n" + lang.tr("**Latest moves**"))
            lines.extend(move_line(lang, move) for move in moves)
        view = buy_view(wallets.packs)
        lines.append(
            "\n"
            + (
                lang.tr("Buy more with the buttons below: Discord takes the payment.")
                if view is not None
                else lang.tr("The bot's owner sells no credits: only their gifts fill it.")
            )
        )
        await interaction.response.send_message(
            fit("\n".join(lines)),
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
            view=view or discord.utils.MISSING,
        )
        note_acknowledged(interaction)
