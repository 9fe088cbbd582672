"""Per-server settings: default balance, allowances, monthly cap, job limits, audit channel.

Every change is written to `guild_settings_log` with the admin who made it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from typing import Final, Protocol

from bot.allowances import EVERYONE, Allowance, Period
from bot.database import Database, to_db_time, utc_now

DEFAULT_PER_MEMBER_LIMIT: Final = 2
DEFAULT_PER_SERVER_LIMIT: Final = 10


@dataclass(frozen=True, slots=True)
class GuildSettings:
    guild_id: int
    default_credits: int
    monthly_cap: int | None = None
    per_member_limit: int = DEFAULT_PER_MEMBER_LIMIT
    per_server_limit: int = DEFAULT_PER_SERVER_LIMIT
    log_channel_id: int | None = None
    allowances: tuple[Allowance, ...] = field(default_factory=tuple)


def read_guild_settings(
    connection: sqlite3.Connection, guild_id: int, fallback_default: int
) -> GuildSettings:
    """Read a server's settings: on its own, or inside a write transaction (which sees what it
    wrote itself)."""
    row = connection.execute(
        "SELECT default_credits, monthly_cap, per_member_limit, per_server_limit, "
        "log_channel_id FROM guild_settings WHERE guild_id = ?",
        (guild_id,),
    ).fetchone()
    allowances = tuple(
        Allowance(int(r[0]), int(r[1]), Period(r[2]))
        for r in connection.execute(
            "SELECT role_id, amount, period FROM allowances WHERE guild_id = ? "
            "ORDER BY amount DESC, role_id",
            (guild_id,),
        )
    )
    if row is None:
        return GuildSettings(guild_id, fallback_default, allowances=allowances)
    return GuildSettings(
        guild_id=guild_id,
        default_credits=fallback_default if row[0] is None else int(row[0]),
        monthly_cap=None if row[1] is None else int(row[1]),
        per_member_limit=DEFAULT_PER_MEMBER_LIMIT if row[2] is None else int(row[2]),
        per_server_limit=DEFAULT_PER_SERVER_LIMIT if row[3] is None else int(row[3]),
        log_channel_id=None if row[4] is None else int(row[4]),
        allowances=allowances,
    )


class GuildSettingsStore(Protocol):
    """A server's settings, each change logged. One implementation per backend:
    `SqliteGuildSettingsStore` below, `PostgresGuildSettingsStore` in `bot/store/postgres.py`."""

    async def get(self, guild_id: int) -> GuildSettings: ...
    async def log_channels(self) -> dict[int, int]: ...
    async def set_default_credits(self, guild_id: int, amount: int, actor_id: int) -> None: ...
    async def set_monthly_cap(self, guild_id: int, cap: int | None, actor_id: int) -> None: ...
    async def set_limits(
        self, guild_id: int, per_member: int, per_server: int, actor_id: int
    ) -> None: ...
    async def set_log_channel(
        self, guild_id: int, channel_id: int | None, actor_id: int
    ) -> None: ...
    async def set_allowance(
        self, guild_id: int, role_id: int | None, amount: int, period: Period, actor_id: int
    ) -> None: ...


class SqliteGuildSettingsStore:
    def __init__(self, database: Database, default_credits: int) -> None:
        self._db = database
        self._fallback_default = default_credits

    async def get(self, guild_id: int) -> GuildSettings:
        return await self._db.read(read_guild_settings, guild_id, self._fallback_default)

    async def log_channels(self) -> dict[int, int]:
        rows = await self._db.fetch_all(
            "SELECT guild_id, log_channel_id FROM guild_settings WHERE log_channel_id IS NOT NULL"
        )
        return {int(r[0]): int(r[1]) for r in rows}

    async def set_default_credits(self, guild_id: int, amount: int, actor_id: int) -> None:
        if amount < 0:
            raise ValueError("a default balance cannot be negative")
        await self._set(guild_id, "default_credits", amount, actor_id)

    async def set_monthly_cap(self, guild_id: int, cap: int | None, actor_id: int) -> None:
        await self._set(guild_id, "monthly_cap", cap, actor_id)

    async def set_limits(
        self, guild_id: int, per_member: int, per_server: int, actor_id: int
    ) -> None:
        if per_member < 1 or per_server < 1:
            raise ValueError("limits must be at least 1")
        await self._db.write(
            _set_columns,
            guild_id,
            {"per_member_limit": per_member, "per_server_limit": per_server},
            actor_id,
            to_db_time(utc_now()),
        )

    async def set_log_channel(self, guild_id: int, channel_id: int | None, actor_id: int) -> None:
        await self._set(guild_id, "log_channel_id", channel_id, actor_id)

    async def set_allowance(
        self, guild_id: int, role_id: int | None, amount: int, period: Period, actor_id: int
    ) -> None:
        """Create, change or (with amount 0) remove an allowance."""
        role = EVERYONE if role_id is None else role_id
        await self._db.write(
            _set_allowance, guild_id, role, amount, period, actor_id, to_db_time(utc_now())
        )

    async def _set(self, guild_id: int, column: str, value: int | None, actor_id: int) -> None:
        await self._db.write(
            _set_columns, guild_id, {column: value}, actor_id, to_db_time(utc_now())
        )


_COLUMNS: Final = frozenset(
    {"default_credits", "monthly_cap", "per_member_limit", "per_server_limit", "log_channel_id"}
)


def _set_allowance(
    tx: sqlite3.Connection,
    guild_id: int,
    role: int,
    amount: int,
    period: Period,
    actor_id: int,
    now: str,
) -> None:
    if amount <= 0:
        tx.execute("DELETE FROM allowances WHERE guild_id = ? AND role_id = ?", (guild_id, role))
        new_value = None
    else:
        tx.execute(
            "INSERT INTO allowances (guild_id, role_id, amount, period, updated_by, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (guild_id, role_id) DO UPDATE SET "
            "amount = excluded.amount, period = excluded.period, "
            "updated_by = excluded.updated_by, updated_at = excluded.updated_at",
            (guild_id, role, amount, period.value, actor_id, now),
        )
        new_value = f"{amount} {period.value}"
    _log(tx, guild_id, f"allowance:{role}", None, new_value, actor_id, now)


def _set_columns(
    tx: sqlite3.Connection, guild_id: int, changes: dict[str, int | None], actor_id: int, now: str
) -> None:
    """Change one or more settings of a server as one transaction, each change logged."""
    for column, value in changes.items():
        if column not in _COLUMNS:  # column names come from code, never from members
            raise ValueError(f"unknown server setting {column!r}")
        row = tx.execute(
            f"SELECT {column} FROM guild_settings WHERE guild_id = ?",  # noqa: S608
            (guild_id,),
        ).fetchone()
        old = None if row is None else row[0]
        tx.execute(
            f"INSERT INTO guild_settings (guild_id, {column}, updated_at, updated_by) "  # noqa: S608
            f"VALUES (?, ?, ?, ?) ON CONFLICT (guild_id) DO UPDATE SET "
            f"{column} = excluded.{column}, updated_at = excluded.updated_at, "
            f"updated_by = excluded.updated_by",
            (guild_id, value, now, actor_id),
        )
        _log(tx, guild_id, column, old, value, actor_id, now)


def _log(
    tx: sqlite3.Connection,
    guild_id: int,
    setting: str,
    old: object,
    new: object,
    actor_id: int,
    now: str,
) -> None:
    tx.execute(
        "INSERT INTO guild_settings_log (guild_id, setting, old_value, new_value, actor_id, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (
            guild_id,
            setting,
            None if old is None else str(old),
            None if new is None else str(new),
            actor_id,
            now,
        ),
    )
