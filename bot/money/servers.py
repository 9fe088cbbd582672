"""Per-server settings: default balance, allowances, monthly cap, job limits, audit channel.

`ServerSettings` is the one place that checks what an admin may set (whichever way they set it:
a slash command, the owner's shell, the dashboard); the store keeps it, each change logged with
the admin who made it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Protocol

from bot.errors import SettingRefused
from bot.i18n import msg
from bot.money.allowances import Allowance, Period

DEFAULT_PER_MEMBER_LIMIT: Final = 2
DEFAULT_PER_SERVER_LIMIT: Final = 10
# How many videos may run at once: one member, and a whole server. Every way of setting them
# (`/quota limits`, the dashboard, their forms' bounds) reads them from here.
PER_MEMBER_LIMITS: Final = range(1, 101)
PER_SERVER_LIMITS: Final = range(1, 1001)


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
    """Where a server's settings are kept (`bot/store/settings.py`), each change logged."""

    async def get(self, guild_id: int) -> GuildSettings: ...
    async def log_channels(self) -> dict[int, int]: ...
    async def set_columns(
        self, guild_id: int, changes: dict[str, int | None], actor_id: int
    ) -> None:
        """Change settings by name (`default_credits`, `monthly_cap`, `per_member_limit`,
        `per_server_limit`, `log_channel_id`) in one transaction."""
        ...

    async def set_allowance(
        self, guild_id: int, role_id: int | None, amount: int, period: Period, actor_id: int
    ) -> None: ...


class ServerSettings:
    """A server's settings, checked before they are kept."""

    def __init__(self, store: GuildSettingsStore) -> None:
        self._store = store

    async def get(self, guild_id: int) -> GuildSettings:
        return await self._store.get(guild_id)

    async def log_channels(self) -> dict[int, int]:
        return await self._store.log_channels()

    async def set_default_credits(self, guild_id: int, amount: int, actor_id: int) -> None:
        if amount < 0:
            raise ValueError("a default balance cannot be negative")
        await self._store.set_columns(guild_id, {"default_credits": amount}, actor_id)

    async def set_monthly_cap(self, guild_id: int, cap: int | None, actor_id: int) -> None:
        """A cap of None (or 0) removes it."""
        if cap is not None and cap < 0:
            raise ValueError("a monthly cap cannot be negative")
        await self._store.set_columns(guild_id, {"monthly_cap": cap or None}, actor_id)

    async def set_limits(
        self, guild_id: int, per_member: int, per_server: int, actor_id: int
    ) -> None:
        """Raises `SettingRefused` for a limit outside its bounds, having changed nothing."""
        for value, bounds in ((per_member, PER_MEMBER_LIMITS), (per_server, PER_SERVER_LIMITS)):
            if value not in bounds:
                raise SettingRefused(
                    msg(
                        "A limit of {value} can't be used: give a whole number from {low} "
                        "to {high}.",
                        value=value,
                        low=bounds.start,
                        high=bounds.stop - 1,
                    )
                )
        await self._store.set_columns(
            guild_id, {"per_member_limit": per_member, "per_server_limit": per_server}, actor_id
        )

    async def set_log_channel(self, guild_id: int, channel_id: int | None, actor_id: int) -> None:
        await self._store.set_columns(guild_id, {"log_channel_id": channel_id}, actor_id)

    async def set_allowance(
        self, guild_id: int, role_id: int | None, amount: int, period: Period, actor_id: int
    ) -> None:
        """Create, change or (with amount 0) remove an allowance."""
        if amount < 0:
            raise ValueError("an allowance cannot be negative")
        await self._store.set_allowance(guild_id, role_id, amount, period, actor_id)
