"""Turns errors into replies: a member's mistake gets its message and its fix, a bug gets an id
to quote (and the log its traceback under the same id)."""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import discord
from discord import app_commands

from bot.errors import (
    BudgetReached,
    CapReached,
    InsufficientCredits,
    MonthlyLimitReached,
    RepeatedRequest,
    RequestRejected,
    ServerWaiting,
    UserFacingError,
)
from bot.i18n import Language, Text
from bot.jobs.records import SHORT_ID_LENGTH
from cogs.front_end._buying import buy_view
from cogs.front_end._language import language_of
from cogs.front_end._replies import (
    command_name,
    fit,
    is_hailuo,
    note_outcome,
    respond,
    services_of,
)

log = logging.getLogger(__name__)


def refusal(lang: Language, error: UserFacingError, *, selling: bool = False) -> str:
    """The private reply that explains a refusal, with its fix; nothing was charged. With
    `selling` (the bot sells credit packs), a lack of credits points at the Buy buttons."""
    buy = (
        lang.tr(" Or buy credits for your own wallet with the buttons below: they work here too.")
        if selling
        else ""
    )
    if isinstance(error, InsufficientCredits) and error.personal:
        return lang.tr(
            "This video costs {price} credits and your wallet holds {balance}. Here, outside the "
            "servers that added the bot, videos are paid from your own wallet (`/wallet`).{buy} "
            "Nothing was charged.",
            price=error.price,
            balance=error.balance,
            buy=buy
            or lang.tr(" The bot's owner sells no credits yet: use the bot in a server instead."),
        )
    if isinstance(error, InsufficientCredits) and not error.server_set_up:
        return lang.tr(
            "This server has not set up credits yet, so videos cannot be made here. Someone "
            "with the Manage Server permission can give every member a starting balance "
            "(`/quota default`), an allowance (`/quota allowance`) or credits (`/quota add`)."
            "{buy} Nothing was charged.",
            buy=buy,
        )
    if isinstance(error, InsufficientCredits):
        when = ""
        if error.refill is not None:
            amount, at = error.refill
            when = lang.tr(
                "Your allowance tops you up to {amount} {when}. ",
                amount=amount,
                when=discord.utils.format_dt(at, "R"),
            )
        wallet = (
            lang.tr(" (and {wallet} in your wallet)", wallet=error.wallet)
            if error.wallet or selling
            else ""
        )
        return lang.tr(
            "This video costs {price} credits and you have {balance}{wallet}. {refill}"
            "Ask someone with the Manage Server permission to grant you credits "
            "(`/quota add`).{buy} Nothing was charged.",
            price=error.price,
            balance=error.balance,
            wallet=wallet,
            refill=when,
            buy=buy,
        )
    if isinstance(error, CapReached):
        return lang.tr(
            "This server has used {spent} of its {cap}-credit monthly cap, and this video "
            "costs {price}. The cap resets {when}. Nothing was charged.",
            spent=error.spent,
            cap=error.cap,
            price=error.price,
            when=discord.utils.format_dt(error.resets_at, "D"),
        )
    if isinstance(error, BudgetReached):
        return lang.tr(
            "This server has spent {spent} of the {budget} credits the bot's owner lets it "
            "spend this month, and this video costs {price}: the server's budget is spent until "
            "{when}. Nothing was charged.",
            spent=error.spent,
            budget=error.budget,
            price=error.price,
            when=discord.utils.format_dt(error.resets_at, "D"),
        )
    if isinstance(error, MonthlyLimitReached):
        return lang.tr(
            "The bot has reached the monthly limit its owner set for all servers together, so "
            "no video can be made until {when}. Nothing was charged.",
            when=discord.utils.format_dt(error.resets_at, "D"),
        )
    if isinstance(error, ServerWaiting):
        return lang.tr(
            "This server is waiting for the bot's owner to approve it: videos can be made here "
            "once they do. Nothing was charged."
        )
    if isinstance(error, RepeatedRequest):
        return lang.tr(
            "You just asked for this (video `{id}`), so nothing more was charged: "
            "follow it on its card.",
            id=error.existing_job_id[:SHORT_ID_LENGTH],
        )
    if isinstance(error, RequestRejected):
        lines = "\n".join(f"• {lang.render(problem)}" for problem in error.problems)
        return fit(lang.render(Text(error.text.msgid, (("problems", lines),))))
    return fit(lang.render(error.text))


async def refuse(interaction: discord.Interaction[Any], error: UserFacingError) -> None:
    """The private refusal, with a Buy button per credit pack under a lack of credits when
    the bot sells them."""
    lang = language_of(interaction)
    packs = services_of(interaction).wallets.packs if is_hailuo(interaction) else None
    view = buy_view(packs) if isinstance(error, InsufficientCredits) and packs else None
    await respond(interaction, refusal(lang, error, selling=view is not None), view=view)


async def answer_error(interaction: discord.Interaction[Any], error: BaseException) -> None:
    """The one reply to anything that went wrong while handling an interaction, whichever way
    it came (a command, a button, a form): a member's mistake gets its message and fix; a bug
    gets an id to quote, and the log gets its traceback under the same id."""
    original = error.original if isinstance(error, app_commands.CommandInvokeError) else error
    lang = language_of(interaction)
    note_outcome(
        interaction,
        "refused" if isinstance(original, UserFacingError | app_commands.CheckFailure) else "error",
    )
    if isinstance(original, UserFacingError):
        await refuse(interaction, original)
    elif isinstance(original, app_commands.MissingPermissions):
        await respond(
            interaction,
            lang.tr("Only members with the **Manage Server** permission can do that."),
        )
    elif isinstance(original, app_commands.CommandSignatureMismatch):
        # The options Discord sent do not match the command (an old or edited definition, or a
        # hand-made request): nothing was done. Any other error, a TypeError from a bug
        # included, is logged below with its traceback.
        log.warning(
            "command %s arrived with options that do not match it", command_name(interaction)
        )
        await respond(
            interaction,
            lang.tr(
                "This command's options did not come through as expected, so nothing was "
                "done. If Discord just updated the command, try again in a minute."
            ),
        )
    elif isinstance(original, app_commands.TransformerError):
        await respond(
            interaction,
            lang.tr(
                "The value `{value}` can't be used for that option, so nothing was done.",
                value=discord.utils.escape_markdown(str(original.value)[:50]),
            ),
        )
    elif isinstance(original, app_commands.NoPrivateMessage):
        await respond(interaction, lang.tr("This command works in servers only."))
    elif isinstance(original, app_commands.CheckFailure):
        await respond(interaction, lang.tr("You can't use this command here."))
    else:
        error_id = uuid.uuid4().hex[:8]
        log.error("%s failed (error id %s)", command_name(interaction), error_id, exc_info=original)
        await respond(
            interaction,
            lang.tr(
                "Something went wrong on the bot's side. If it happens again, give the "
                "bot's owner this id: `{id}`.",
                id=error_id,
            ),
        )


Callback = TypeVar("Callback", bound=Callable[..., Awaitable[None]])


def answered_on_error(callback: Callback) -> Callback:
    """For a button's callback: discord.py only logs what a dynamic item raises, leaving the
    member on "thinking…"; this answers them as a command's error would be."""

    @functools.wraps(callback)
    async def guarded(self: object, interaction: discord.Interaction[Any]) -> None:
        try:
            await callback(self, interaction)
        except Exception as error:  # noqa: BLE001 - every error gets its reply
            await answer_error(interaction, error)

    return guarded  # type: ignore[return-value]


def install_error_handler(tree: app_commands.CommandTree[Any]) -> None:
    @tree.error
    async def on_app_command_error(
        interaction: discord.Interaction[Any], error: app_commands.AppCommandError
    ) -> None:
        await answer_error(interaction, error)
