"""What the dashboard needs to know from Discord, asked through the bot (`bot/client/`): the
dashboard itself never imports discord.py.

Every call has a time limit of its own: when Discord does not answer in time, refuses the
connection or answers with an error of its own, the call raises `DirectoryUnavailable`, and the
page says "Discord did not answer, try again" (never a wrong reason, never a traceback)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from bot.errors import HailuoBotError


@dataclass(frozen=True, slots=True)
class Rights:
    """What a person may do in a server, by the bot's own view of them at this moment."""

    manage_guild: bool = False
    manage_messages: bool = False


class DirectoryUnavailable(HailuoBotError):
    """Discord did not answer in time, or answered with an error of its own."""


class DirectoryRefused(HailuoBotError):
    """Discord refused what was asked of it (the bot lacks a permission there, say)."""


class Directory(Protocol):
    async def servers_among(self, guild_ids: Iterable[int]) -> set[int]:
        """Those of the servers the bot is in (or may be, on another process's shards)."""
        ...

    async def guild_name(self, guild_id: int) -> str | None:
        """The server's name, or None when the bot is not in it (in any process)."""
        ...

    async def rights(self, guild_id: int, user_id: int, *, fresh: bool = False) -> Rights:
        """The person's rights in the server now, as the bot sees them (kept a few seconds,
        forgotten at once when the server's roles change; asked afresh with `fresh`, as every
        form does before it changes anything)."""
        ...

    async def member_names(self, guild_id: int, member_ids: Iterable[int]) -> dict[int, str]:
        """Display names of members, where Discord knows them, asked in batches."""
        ...

    async def search_members(self, guild_id: int, query: str, limit: int) -> list[int]:
        """Members whose name begins with `query`."""
        ...

    async def role_names(self, guild_id: int) -> dict[int, str]:
        """The server's roles (for allowances), by id."""
        ...

    async def delete_message(self, channel_id: int, message_id: int) -> None:
        """Delete one of the bot's messages (a video's); gone already is fine. Raises
        `DirectoryRefused` when Discord will not."""
        ...
