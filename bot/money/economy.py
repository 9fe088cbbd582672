"""The economy as the bot's owner governs it: the owner pays Apiframe for every video, so what
any server may spend is the owner's to bound, whatever its own admins hand out.

- **Who the owner is**: the application's owner (or its team's members), as Discord's
  application information says, and the user ids of `OWNER_IDS`.
- **A server's budget**: the most it may spend in a calendar month (UTC) out of the credits its
  admins hand out, reserved credits included (as for the admins' own cap, which still applies
  below it): the budget the owner set for that server (a number, or none), else
  `SERVER_MONTHLY_BUDGET`, except that a server the owner owns has none unless the owner set
  one. Credits members paid for themselves never count against it.
- **The whole bot's month**: `MONTHLY_SPEND_LIMIT`, the most all servers together may spend in
  a calendar month, whoever paid; the owner hears of it at 80 % and 100 %.
- **Servers the owner approves**: with `NEW_SERVERS=approve`, a server that adds the bot (and
  that the owner does not own) may not use it until the owner approves it.

The decisions are pure functions here; the stores apply them inside the reservation's own
transaction, so that no two reservations, in any process, together cross a budget or the limit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Final, Protocol

from bot.clock import utc_now
from bot.errors import BudgetReached, MonthlyLimitReached
from bot.money.allowances import Period, month_after, period_start

log = logging.getLogger(__name__)

# The shares of the whole bot's limit at which the owner is told (once each a month).
ALERT_SHARES: Final = (80, 100)


class Approval(StrEnum):
    APPROVED = "approved"
    WAITING = "waiting"


@dataclass
class OwnerPolicy:
    """What the owner set, and who the owner is (filled in from Discord once logged in)."""

    default_budget: int | None  # None: servers have no budget unless the owner sets one
    monthly_limit: int | None = None
    approve_new_servers: bool = False
    owners: frozenset[int] = field(default_factory=frozenset)

    def is_owner(self, user_id: int) -> bool:
        return user_id in self.owners


@dataclass(frozen=True, slots=True)
class ServerFacts:
    """What Discord says of a server, as the bot sees it join or come back."""

    guild_id: int
    name: str
    owner_id: int | None
    member_count: int | None


@dataclass(frozen=True, slots=True)
class Server:
    """A server as the owner governs it."""

    guild_id: int
    name: str
    owner_id: int | None
    member_count: int | None
    approval: Approval
    budget: int | None  # what the owner set (None: not set)
    unlimited: bool  # the owner made it unlimited
    joined_at: datetime
    left_at: datetime | None


@dataclass(frozen=True, slots=True)
class ServerMonthUse:
    """A server in the owner's table: this month's spend out of its admins' credits, and how
    many members made videos there this month."""

    server: Server
    spent: int
    members: int


def budget_of(server: Server | None, policy: OwnerPolicy) -> int | None:
    """The server's monthly budget (None: unlimited)."""
    if server is not None and server.unlimited:
        return None
    if server is not None and server.budget is not None:
        return server.budget
    if server is not None and server.owner_id is not None and policy.is_owner(server.owner_id):
        return None
    return policy.default_budget


def budget_crossed(
    budget: int | None, spent: int, price: int, now: datetime
) -> BudgetReached | None:
    if budget is None or spent + price <= budget:
        return None
    return BudgetReached(budget, spent, price, month_after(now))


def limit_crossed(
    limit: int | None, spent: int, price: int, now: datetime
) -> MonthlyLimitReached | None:
    if limit is None or spent + price <= limit:
        return None
    return MonthlyLimitReached(limit, spent, price, month_after(now))


def waiting_for_approval(server: Server | None, policy: OwnerPolicy) -> bool:
    """Whether the server may not use the bot yet: it waits, and the owner approves servers
    (switched back to `open`, the owner lets every waiting server in)."""
    return (
        policy.approve_new_servers
        and server is not None
        and server.approval is Approval.WAITING
        and not (server.owner_id is not None and policy.is_owner(server.owner_id))
    )


def crossed_shares(limit: int | None, before: int, after: int) -> list[int]:
    """The alert shares (80 %, 100 %) of the limit that a move from `before` to `after`
    crossed."""
    if not limit:
        return []
    return [share for share in ALERT_SHARES if before * 100 < share * limit <= after * 100]


def month_key(moment: datetime) -> str:
    """The calendar month (UTC) a moment falls in, as the whole bot's month is kept: 2026-12."""
    return f"{moment.year:04d}-{moment.month:02d}"


class OwnerNotices(Protocol):
    """How the owner hears of what needs them (the front end implements it: a direct message)."""

    async def server_waiting(self, server: Server) -> None:
        """A server added the bot and waits for the owner's approval."""
        ...

    async def limit_share(self, share: int, spent: int, limit: int, month: str) -> None:
        """All servers together spent `share` % of the monthly limit."""
        ...


class ServerStore(Protocol):
    """Where the servers are kept (`bot/store/servers.py`), each owner's change logged."""

    async def seen(
        self, facts: ServerFacts, approval: Approval, now: datetime, *, decide: bool = False
    ) -> Server:
        """Record the server (`approval` for a new one, or, with `decide`, whatever it was)."""
        ...

    async def get(self, guild_id: int) -> Server | None: ...
    async def has_history(self, guild_id: int) -> bool: ...
    async def left(self, guild_id: int, now: datetime) -> None: ...
    async def approve(self, guild_id: int, actor_id: int) -> Server | None: ...
    async def set_budget(
        self, guild_id: int, budget: int | None, actor_id: int, *, unlimited: bool = False
    ) -> Server | None: ...
    async def note_leave(self, guild_id: int, actor_id: int) -> Server | None: ...
    async def page(
        self, since: datetime, *, offset: int = 0, limit: int = 20
    ) -> tuple[list[ServerMonthUse], int]: ...
    async def named(self, text: str, limit: int = 25) -> list[Server]: ...
    async def month_spent(self, now: datetime) -> int: ...
    async def server_month_spend(self, guild_id: int, now: datetime) -> int: ...


class StateClaims(Protocol):
    """Named one-time events of the bot (`bot_state`): the first to claim one, in any process."""

    async def claim_state(self, key: str, value: str) -> bool: ...


class ServerBook:
    """The servers as the owner governs them: what joins or comes back, approvals, budgets,
    and the table the owner reads (`/owner servers`, the shell, the dashboard)."""

    def __init__(self, store: ServerStore, policy: OwnerPolicy) -> None:
        self._store = store
        self.policy = policy

    async def seen(self, facts: ServerFacts, *, joined: bool) -> tuple[Server, bool]:
        """A server the bot is in (`joined`: it was just added, not found again at a start):
        recorded, and whether it now waits for the owner's approval, newly (the owner is
        asked once). A server known from before keeps its approval; one added again after the
        bot left waits again; one found at a start that used the bot under an older release
        is let in as it was."""
        before = await self._store.get(facts.guild_id)
        owned = facts.owner_id is not None and self.policy.is_owner(facts.owner_id)
        added = before is None or (joined and before.left_at is not None)
        if not added:
            assert before is not None
            if before.left_at is None and _as_seen(before) == facts:
                return before, False  # nothing new (every server, at every start): no write
            return await self._store.seen(facts, before.approval, utc_now()), False
        waits = self.policy.approve_new_servers and not owned
        if waits and not joined and await self._store.has_history(facts.guild_id):
            waits = False
        approval = Approval.WAITING if waits else Approval.APPROVED
        server = await self._store.seen(facts, approval, utc_now(), decide=True)
        return server, waits

    async def left(self, guild_id: int) -> None:
        await self._store.left(guild_id, utc_now())

    async def get(self, guild_id: int) -> Server | None:
        return await self._store.get(guild_id)

    def budget(self, server: Server | None) -> int | None:
        return budget_of(server, self.policy)

    def waiting(self, server: Server | None) -> bool:
        return waiting_for_approval(server, self.policy)

    async def approve(self, guild_id: int, actor_id: int) -> Server | None:
        return await self._store.approve(guild_id, actor_id)

    async def set_budget(
        self, guild_id: int, amount: int | None, actor_id: int, *, unlimited: bool = False
    ) -> Server | None:
        if amount is not None and not 0 <= amount <= MAX_BUDGET:
            raise ValueError(f"a budget is a whole number from 0 to {MAX_BUDGET}")
        return await self._store.set_budget(guild_id, amount, actor_id, unlimited=unlimited)

    async def note_leave(self, guild_id: int, actor_id: int) -> Server | None:
        return await self._store.note_leave(guild_id, actor_id)

    async def table(self, *, page: int = 0, size: int = 20) -> tuple[list[ServerMonthUse], int]:
        """This month's table, `size` servers a page: biggest spenders first; how many in all."""
        since = period_start(Period.MONTHLY, utc_now())
        return await self._store.page(since, offset=page * size, limit=size)

    async def named(self, text: str) -> list[Server]:
        return await self._store.named(text)

    async def month_spent(self) -> int:
        return await self._store.month_spent(utc_now())

    async def server_month_spend(self, guild_id: int) -> int:
        """The server's spend this month out of its admins' credits (what its budget counts)."""
        return await self._store.server_month_spend(guild_id, utc_now())


def _as_seen(server: Server) -> ServerFacts:
    return ServerFacts(server.guild_id, server.name, server.owner_id, server.member_count)


class SpendAlerts:
    """The owner hears when all servers together reach 80 % and 100 % of the monthly limit:
    once each a month, whichever process saw it, in the log and by a direct message."""

    def __init__(self, policy: OwnerPolicy, claims: StateClaims) -> None:
        self._policy = policy
        self._claims = claims
        self._notices: OwnerNotices | None = None

    def tell(self, notices: OwnerNotices) -> None:
        self._notices = notices

    async def month_moved(self, before: int, after: int) -> None:
        limit = self._policy.monthly_limit
        if limit is None:
            return
        month = month_key(utc_now())
        for share in crossed_shares(limit, before, after):
            if not await self._claims.claim_state(f"limit-alert:{month}:{share}", str(after)):
                continue  # told already, by this process or another
            log.warning(
                "all servers together have spent %d %% of MONTHLY_SPEND_LIMIT this month "
                "(%d of %d credits)%s",
                share,
                after,
                limit,
                ": every request is refused until next month" if share >= 100 else "",
            )
            if self._notices is not None:
                try:
                    await self._notices.limit_share(share, after, limit, month)
                except Exception:  # the log has said it; a closed DM must not fail a video
                    log.warning("could not tell the owner of the monthly limit", exc_info=True)


MAX_BUDGET: Final = 1_000_000_000
