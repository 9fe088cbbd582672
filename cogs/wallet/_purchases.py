"""Purchases of credit packs, as Discord reports them: an entitlement created (a purchase, in
test mode too), updated, or deleted (a refund).

Each purchase is credited to the member's wallet once per entitlement id (the store sees to
that, in any process), and only then consumed at Discord, so that a crash in between leaves
an entitlement the next look finishes. At start, and every few minutes after, the bot reads
Discord's own list of the packs' entitlements of the last 30 days: purchases made while it was
away are credited, refunds made while it was away taken back. Nothing a member sends moves
credits in: only Discord's entitlements do."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import Final

import discord
from discord.ext import commands

from bot.client import HailuoBot
from bot.clock import utc_now
from bot.i18n import catalogues
from bot.money.wallet import Credited, Purchase
from bot.services import Services

log = logging.getLogger(__name__)

SWEEP_EVERY: Final = 300.0
SWEEP_WINDOW: Final = timedelta(days=30)
# One-time purchases of a consumable, whoever paid (a gift too); never subscriptions.
ONE_TIME: Final = frozenset(
    {
        discord.EntitlementType.purchase,
        discord.EntitlementType.test_mode_purchase,
        discord.EntitlementType.developer_gift,
        discord.EntitlementType.user_gift,
        discord.EntitlementType.free_purchase,
        discord.EntitlementType.premium_purchase,
    }
)


class Purchases(commands.Cog):
    def __init__(self, bot: HailuoBot, services: Services, *, sweeps: bool) -> None:
        self.bot = bot
        self.services = services
        self.sweeps = sweeps  # one process looks through Discord's list (shard 0's)
        self._ignored: set[int] = set()  # entitlements logged once as not for the wallet
        self._sku_types: dict[int, discord.SKUType] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    async def cog_load(self) -> None:
        if self.sweeps and self.services.wallets.packs:
            self._sweeper = asyncio.create_task(self._sweep_now_and_then(), name="purchases")

    async def cog_unload(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper

    @commands.Cog.listener()
    async def on_entitlement_create(self, entitlement: discord.Entitlement) -> None:
        await self.take(entitlement)

    @commands.Cog.listener()
    async def on_entitlement_update(self, entitlement: discord.Entitlement) -> None:
        await self.take(entitlement)

    @commands.Cog.listener()
    async def on_entitlement_delete(self, entitlement: discord.Entitlement) -> None:
        await self.refund(entitlement)

    def _ignore(self, entitlement: discord.Entitlement, why: str) -> None:
        if entitlement.id not in self._ignored:
            self._ignored.add(entitlement.id)
            log.info(
                "entitlement %s (SKU %s): %s; left alone", entitlement.id, entitlement.sku_id, why
            )

    async def take(self, entitlement: discord.Entitlement) -> None:
        """Credit a purchase once, then consume it at Discord."""
        if entitlement.deleted:
            await self.refund(entitlement)
            return
        wallets = self.services.wallets
        if wallets.packs.credits(entitlement.sku_id) is None:
            self._ignore(entitlement, "its SKU is none of CREDIT_PACKS")
            return
        if entitlement.type not in ONE_TIME:
            self._ignore(entitlement, f"a {entitlement.type.name}, not a one-time purchase")
            return
        kind = self._sku_types.get(entitlement.sku_id)
        if kind is not None and kind is not discord.SKUType.consumable:
            self._ignore(entitlement, f"its SKU is {kind.name}, not consumable")
            return
        if entitlement.user_id is None:
            self._ignore(entitlement, "it belongs to a server, not a member")
            return
        purchase = Purchase(
            entitlement.id,
            entitlement.user_id,
            entitlement.sku_id,
            test=entitlement.type is discord.EntitlementType.test_mode_purchase,
        )
        crediting = await wallets.credit(purchase)
        if crediting is None:
            return
        if not entitlement.consumed and not crediting.consumed:
            try:
                await entitlement.consume()
            except discord.NotFound:
                pass  # consumed already (by another look at it), or gone
            except discord.HTTPException as exc:
                # Credited; the next look consumes it (the member cannot buy this pack again
                # until then).
                log.warning(
                    "entitlement %s: Discord refused to consume it (HTTP %s)",
                    entitlement.id,
                    exc.status,
                )
                return
        await wallets.consumed(entitlement.id)
        if crediting.outcome is Credited.NEW:
            await self._thank(purchase, crediting.balance)

    async def refund(self, entitlement: discord.Entitlement) -> None:
        refund = await self.services.wallets.refund_purchase(entitlement.id)
        if refund.applied and refund.member_id:
            lang = catalogues().choose(None)  # no locale comes with an entitlement
            await self._tell(
                refund.member_id,
                lang.tr(
                    "↩️ A credit pack was refunded: {taken} credits were taken back from your "
                    "wallet, which now holds {balance}.",
                    taken=refund.taken,
                    balance=refund.balance,
                ),
            )

    async def _thank(self, purchase: Purchase, balance: int) -> None:
        credits_bought = self.services.wallets.packs.credits(purchase.sku_id) or 0
        lang = catalogues().choose(None)  # no locale comes with an entitlement
        await self._tell(
            purchase.member_id,
            lang.tr(
                "🪙 Thank you! **{credits}** credits are in your wallet, which now holds "
                "**{balance}**. They pay for `/hailuo` wherever your credits fall short.",
                credits=credits_bought,
                balance=balance,
            ),
        )

    async def _tell(self, member_id: int, text: str) -> None:
        """A direct message to the member (closed messages: they see it in `/wallet`)."""
        try:
            user = self.bot.get_user(member_id) or await self.bot.fetch_user(member_id)
            await user.send(text, allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException as exc:
            log.info("could not tell member %s of their wallet (HTTP %s)", member_id, exc.status)

    async def sweep(self) -> None:
        """Read Discord's list of the packs' entitlements of the last 30 days: credit what was
        missed, consume what was credited but not consumed, take back what was refunded."""
        async with self._lock:
            packs = self.services.wallets.packs
            if not packs:
                return
            if not self._sku_types:
                try:
                    self._sku_types = {sku.id: sku.type for sku in await self.bot.fetch_skus()}
                except discord.HTTPException as exc:
                    log.info("could not list the application's SKUs (HTTP %s)", exc.status)
            since = utc_now() - SWEEP_WINDOW
            async for entitlement in self.bot.entitlements(
                limit=None,
                after=since,
                skus=[discord.Object(sku) for sku in packs.skus],
                exclude_ended=False,
                exclude_deleted=False,
            ):
                # Deleted: a refund to take back; otherwise a purchase to credit (once) and
                # consume, or, consumed already, to note as consumed.
                await self.take(entitlement)

    async def _sweep_now_and_then(self) -> None:
        await self.bot.wait_until_ready()
        while True:
            try:
                await self.sweep()
            except discord.HTTPException as exc:
                log.warning("could not read Discord's list of purchases (HTTP %s)", exc.status)
            except Exception:  # the next look tries again; the log says why
                log.exception("looking through Discord's purchases failed")
            await asyncio.sleep(SWEEP_EVERY)
