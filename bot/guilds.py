"""Per-server settings: default balance, allowances, monthly cap, job limits, audit channel.

Every change is written to `guild_settings_log` with the admin who made it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Protocol

from bot.allowances import Allowance, Period

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
