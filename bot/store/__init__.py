"""The boundary between the domain and the database: the ledger's store and the database
itself. (The other stores' protocols live beside what they store: `JobStore` in bot/jobs.py,
`GuildSettingsStore` in bot/guilds.py, `RulesStore` in bot/server_rules.py, `SavedDefaults` in
bot/defaults.py.)

The `Ledger` (bot/ledger.py) decides nothing about SQL: it talks to a `LedgerStore`, of which
there is one per backend: `bot/store/sqlite.py` (the embedded default, one file, every write
through one writer thread) and `bot/store/postgres.py` (asyncpg, for several processes on one
database). Each keeps the same promises, enforced by its schema as well as its code: a balance
never below zero, a job reserved, charged and refunded at most once each, a server's monthly cap
never crossed, and an allowance topped up once per period.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from bot.guilds import GuildSettings
from bot.jobs import JobState, NewJob
from bot.money import BalanceChange, LedgerEntry, Settlement


class StateStore(Protocol):
    """The database itself: opened and closed, pinged, and a few named values of the bot's own
    (the audit channel's cursor, the hash of the synced commands)."""

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def ping(self) -> None: ...
    async def get_state(self, key: str) -> str | None: ...
    async def set_state(self, key: str, value: str) -> None: ...


class LedgerStore(Protocol):
    """The money moves and reads of the ledger, each one transaction."""

    async def balance(
        self, guild_id: int, member_id: int, role_ids: tuple[int, ...], now: datetime
    ) -> tuple[int, bool]:
        """The spendable balance (opening the account, applying an allowance due), and
        whether anything was written."""
        ...

    async def stored_balance(self, guild_id: int, member_id: int) -> int | None: ...

    async def guild_settings(self, guild_id: int) -> GuildSettings: ...

    async def history(
        self, guild_id: int, member_id: int, limit: int, offset: int
    ) -> list[LedgerEntry]: ...

    async def history_size(self, guild_id: int, member_id: int) -> int: ...

    async def month_spend(self, guild_id: int, now: datetime) -> int: ...

    async def top_spenders(
        self, guild_id: int, now: datetime, limit: int
    ) -> list[tuple[int, int]]: ...

    async def reserve(self, job: NewJob, now: datetime, mark: str) -> int:
        """Take the price and record the job; raises `CapReached`, `InsufficientCredits` or
        `RepeatedRequest` having written nothing."""
        ...

    async def settle(
        self,
        job_id: str,
        target: JobState,
        now: datetime,
        *,
        video_url: str | None,
        reason: str | None,
        actor_id: int | None,
        only_if_waiting: bool,
        mark: str,
    ) -> Settlement:
        """Move the job to COMPLETED (charge) or FAILED (refund), once."""
        ...

    async def set_balance(
        self, guild_id: int, member_id: int, amount: int, actor_id: int, now: datetime
    ) -> BalanceChange: ...

    async def add_credits(
        self, guild_id: int, member_id: int, amount: int, actor_id: int, now: datetime
    ) -> BalanceChange: ...

    async def entries_after(self, cursor: int, limit: int) -> list[LedgerEntry]:
        """Ledger rows of every server after the row `cursor`, oldest first (the audit trail)."""
        ...

    async def export_rows(self, guild_id: int) -> list[tuple[object, ...]]:
        """The server's ledger for CSV: time (ISO 8601, UTC), member, change, balance after,
        kind, reason, job, actor; oldest first."""
        ...

    async def disagreements(self) -> list[str]:
        """Every way balances, ledger rows and jobs disagree (`db verify`); empty when sound."""
        ...
