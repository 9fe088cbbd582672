"""Who the bot's owner is, and what they allow, wherever that is asked: the running bot (which
learns the application's owner or team from Discord at each start), and the shell commands
(which cannot ask Discord, and so read who the bot last learned, kept in the database)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final, Protocol

from bot.money.economy import OwnerPolicy
from bot.settings import StoreSettings

# The `bot_state` key of the owners Discord last named (comma-separated user ids).
KNOWN_OWNERS: Final = "owners-from-discord"


class NamedValues(Protocol):
    async def get_state(self, key: str) -> str | None: ...
    async def set_state(self, key: str, value: str) -> None: ...


def owner_policy(settings: StoreSettings, known: Iterable[int] = ()) -> OwnerPolicy:
    """What the owner set (`SERVER_MONTHLY_BUDGET`, `MONTHLY_SPEND_LIMIT`, `NEW_SERVERS`), with
    the owners: `OWNER_IDS` and those Discord named."""
    return OwnerPolicy(
        default_budget=settings.server_monthly_budget,
        monthly_limit=settings.monthly_spend_limit,
        approve_new_servers=settings.new_servers == "approve",
        owners=frozenset(known) | settings.owner_id_set,
    )


async def known_owners(state: NamedValues) -> frozenset[int]:
    """The owners Discord named at the bot's last start (none yet: an empty set)."""
    kept = await state.get_state(KNOWN_OWNERS)
    if not kept:
        return frozenset()
    return frozenset(int(part) for part in kept.split(",") if part.isdigit())


async def remember_owners(state: NamedValues, owners: Iterable[int]) -> None:
    await state.set_state(KNOWN_OWNERS, ",".join(str(owner) for owner in sorted(owners)))
