"""The project's error hierarchy.

An error meant for a member (`UserFacingError`) carries the facts of the refusal: what the
front end needs to explain it in the member's language (`cogs/front_end/_errors.py` renders them for
Discord), as a `Text` from the message catalogues, and in English for logs. Anything else is a
bug or an outage: it is logged with a traceback and the member gets a short reply with an id to
quote.
"""

from __future__ import annotations

from datetime import datetime

from bot.i18n import Text, msg


class HailuoBotError(Exception):
    """Base of every error this project raises on purpose."""


class ConfigurationError(HailuoBotError):
    """The settings are incomplete or wrong; the bot cannot start."""


class UserFacingError(HailuoBotError):
    """An error whose message is written for the member who caused it."""

    def __init__(self, text: Text) -> None:
        super().__init__(str(text))
        self.text = text


class RequestRejected(UserFacingError):
    """A generation request broke one or more of the model's rules."""

    def __init__(self, problems: list[Text]) -> None:
        self.problems = problems
        lines = "\n".join(f"• {problem}" for problem in problems)
        super().__init__(
            msg("This request can't be made:\n{problems}\nNothing was charged.", problems=lines)
        )


class CapReached(UserFacingError):
    """The server's monthly spending cap would be crossed by this request."""

    def __init__(self, cap: int, spent: int, price: int, resets_at: datetime) -> None:
        self.cap = cap
        self.spent = spent
        self.price = price
        self.resets_at = resets_at
        super().__init__(Text(f"monthly cap {cap} reached: {spent} spent, {price} asked"))


class BudgetReached(UserFacingError):
    """The budget the bot's owner gave this server for the month would be crossed."""

    def __init__(self, budget: int, spent: int, price: int, resets_at: datetime) -> None:
        self.budget = budget
        self.spent = spent
        self.price = price
        self.resets_at = resets_at
        super().__init__(Text(f"server budget {budget} reached: {spent} spent, {price} asked"))


class MonthlyLimitReached(UserFacingError):
    """The bot's monthly limit, over every server, would be crossed."""

    def __init__(self, limit: int, spent: int, price: int, resets_at: datetime) -> None:
        self.limit = limit
        self.spent = spent
        self.price = price
        self.resets_at = resets_at
        super().__init__(Text(f"monthly limit {limit} reached: {spent} spent, {price} asked"))


class ServerWaiting(UserFacingError):
    """The server added the bot, and the bot's owner has not approved it yet."""

    def __init__(self) -> None:
        super().__init__(Text("waiting for the bot's owner to approve this server"))


class InsufficientCredits(UserFacingError):
    """The member's balance is below the price of the request."""

    def __init__(
        self,
        balance: int,
        price: int,
        *,
        refill: tuple[int, datetime] | None = None,
        server_set_up: bool = True,
        wallet: int = 0,
        personal: bool = False,
    ) -> None:
        self.balance = balance
        self.price = price
        self.refill = refill
        # False: the server's admins have handed out no credits in any way yet (no starting
        # balance, no allowance, no grant), so the member is told who can, not to ask for more.
        self.server_set_up = server_set_up
        self.wallet = wallet  # the member's own wallet, which was short too
        # True: asked on the member's own account, where only the wallet pays (`balance` is it).
        self.personal = personal
        super().__init__(Text(f"not enough credits: {balance}, {price} needed"))


class RepeatedRequest(UserFacingError):
    """The same button on the same result was just pressed by the same member: one job."""

    def __init__(self, existing_job_id: str) -> None:
        self.existing_job_id = existing_job_id
        super().__init__(Text(f"already asked: job {existing_job_id}"))


class SettingRefused(UserFacingError):
    """A value an admin gave for a server's setting is outside what it may be (whichever way
    they gave it: a slash command, the dashboard, the owner's shell)."""


class SourceUnavailable(UserFacingError):
    """A result's button cannot be used: its video or its images are gone, or it does not
    apply to this result."""


class StartupFailed(HailuoBotError):
    """Something the bot needs could not be reached or opened at start-up. The message says
    what failed, where (never with a secret) and the likely fix."""


class Stopped(HailuoBotError):
    """The bot stopped on its own, for the reason the message gives (another copy took its
    database over, say)."""
