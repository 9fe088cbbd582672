"""What the dashboard reads about a server, as protocols: the stores (`bot/store/`) answer them,
and the pages never see SQL or a concrete store."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from bot.jobs.records import Job
from bot.money.rules import EntryKind, LedgerEntry


class LedgerReads(Protocol):
    """The ledger's reads behind the dashboard's pages that the slash commands do not need."""

    async def balances(
        self, guild_id: int, member_ids: list[int] | None, limit: int
    ) -> list[tuple[int, int]]:
        """(member, balance) of the given members, or the largest balances."""
        ...

    async def entries_page(
        self,
        guild_id: int,
        *,
        member_id: int | None = None,
        kind: EntryKind | None = None,
        before_id: int | None = None,
        limit: int = 50,
    ) -> list[LedgerEntry]:
        """Ledger rows newest first, from before `before_id`, filtered when asked."""
        ...

    async def handed_out_since(self, guild_id: int, since: datetime) -> int:
        """Credits the server's admins gave since `since` (starting balances, top-ups, grants)."""
        ...


class JobReads(Protocol):
    """The same, of a server's jobs."""

    async def charges_since(self, guild_id: int, since: datetime) -> list[tuple[datetime, int]]:
        """(when, credits) of every video charged since `since`."""
        ...

    async def gallery(
        self,
        guild_id: int,
        *,
        member_id: int | None = None,
        model: str | None = None,
        state: str | None = None,
        before_seq: int | None = None,
        limit: int = 24,
    ) -> list[tuple[int, Job]]:
        """(its place, the job) of the server's videos newest first."""
        ...
