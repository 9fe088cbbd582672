"""What the dashboard needs to know from Discord, asked through the bot (`bot/client/`): the
dashboard itself never imports discord.py."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Rights:
    """What a person may do in a server, by the bot's own view of them at this moment."""

    manage_guild: bool = False
    manage_messages: bool = False


class Directory(Protocol):
    def guild_name(self, guild_id: int) -> str | None:
        """The server's name, or None when the bot is not in it."""
        ...

    async def rights(self, guild_id: int, user_id: int) -> Rights:
        """The person's rights in the server now (fetched, not remembered from the login)."""
        ...

    async def member_names(self, guild_id: int, member_ids: Iterable[int]) -> dict[int, str]:
        """Display names of members, where Discord knows them."""
        ...

    async def search_members(self, guild_id: int, query: str, limit: int) -> list[int]:
        """Members whose name begins with `query`."""
        ...

    def role_names(self, guild_id: int) -> dict[int, str]:
        """The server's roles (for allowances), by id."""
        ...

    async def delete_message(self, channel_id: int, message_id: int) -> None:
        """Delete one of the bot's messages (a video's); gone already is fine."""
        ...
