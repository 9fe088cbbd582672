"""What the dashboard asks of Discord (`bot/dashboard/directory.py`), answered by the client.

- A person's rights in a server come from the bot's own view of them (the member as Discord
  has them now, with the server's roles), never from the list a login brought; they are kept
  `RIGHTS_SECONDS` and forgotten at once when the server's roles change, so that a page's many
  requests (a video played in byte ranges, say) cost Discord one look.
- Names come from the cache, then from the gateway in batches of up to 100.
- A server on another process's shards is known through REST (kept a few minutes), so that
  every process of a sharded bot answers for every server.
- Every call is bounded in time: Discord's silence or refusal of a connection becomes
  `DirectoryUnavailable`, never a wrong answer.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from typing import Final, TypeVar

import aiohttp
import discord

from bot.dashboard.directory import DirectoryRefused, DirectoryUnavailable, Rights

T = TypeVar("T")

# How long Discord has to answer one call of the dashboard's.
DISCORD_TIMEOUT: Final = 5.0
RIGHTS_SECONDS: Final = 30.0
RIGHTS_KEPT: Final = 10_000
REMOTE_GUILD_SECONDS: Final = 300.0
NAMES_PER_BATCH: Final = 100
REMOTE_NAMES_AT_MOST: Final = 10
UNREACHABLE: Final = (discord.HTTPException, aiohttp.ClientError, OSError, TimeoutError)


async def bounded(call: Awaitable[T]) -> T:
    """One call to Discord within `DISCORD_TIMEOUT`; `DirectoryUnavailable` when Discord does
    not answer, refuses the connection or answers with an error of its own (a 404 and a 403
    pass through, for the caller to read)."""
    try:
        return await asyncio.wait_for(call, DISCORD_TIMEOUT)
    except (discord.NotFound, discord.Forbidden):
        raise
    except UNREACHABLE as exc:
        raise DirectoryUnavailable(f"Discord did not answer ({type(exc).__name__})") from None


class DiscordDirectory:
    def __init__(self, bot: discord.Client, serves: Callable[[int], bool]) -> None:
        self._bot = bot
        self._serves = serves  # whether this process connects a server's shard
        self._rights: OrderedDict[tuple[int, int], tuple[float, Rights]] = OrderedDict()
        self._remote: dict[int, tuple[float, discord.Guild | None]] = {}

    def forget(self, guild_id: int) -> None:
        """The server's roles (or owner) changed: what anyone may do there is asked again."""
        for key in [key for key in self._rights if key[0] == guild_id]:
            del self._rights[key]
        self._remote.pop(guild_id, None)

    async def _guild(self, guild_id: int) -> discord.Guild | None:
        local = self._bot.get_guild(guild_id)
        if local is not None or self._serves(guild_id):
            return local
        kept = self._remote.get(guild_id)
        if kept is not None and time.monotonic() < kept[0]:
            return kept[1]
        try:
            guild: discord.Guild | None = await bounded(self._bot.fetch_guild(guild_id))
        except (discord.NotFound, discord.Forbidden):
            guild = None
        self._remote[guild_id] = (time.monotonic() + REMOTE_GUILD_SECONDS, guild)
        return guild

    async def servers_among(self, guild_ids: Iterable[int]) -> set[int]:
        # Another process's servers are asked of Discord when their pages are visited.
        return {
            guild_id
            for guild_id in guild_ids
            if self._bot.get_guild(guild_id) is not None or not self._serves(guild_id)
        }

    async def guild_name(self, guild_id: int) -> str | None:
        guild = await self._guild(guild_id)
        return None if guild is None else guild.name

    async def rights(self, guild_id: int, user_id: int, *, fresh: bool = False) -> Rights:
        kept = None if fresh else self._rights.get((guild_id, user_id))
        if kept is not None and time.monotonic() < kept[0]:
            return kept[1]
        rights = await self._look_up_rights(guild_id, user_id)
        self._rights[(guild_id, user_id)] = (time.monotonic() + RIGHTS_SECONDS, rights)
        self._rights.move_to_end((guild_id, user_id))
        while len(self._rights) > RIGHTS_KEPT:
            self._rights.popitem(last=False)
        return rights

    async def _look_up_rights(self, guild_id: int, user_id: int) -> Rights:
        guild = await self._guild(guild_id)
        if guild is None:
            return Rights()
        try:
            member = await bounded(guild.fetch_member(user_id))
        except (discord.NotFound, discord.Forbidden):  # not (or no longer) in the server
            return Rights()
        permissions = member.guild_permissions
        return Rights(
            manage_guild=permissions.manage_guild, manage_messages=permissions.manage_messages
        )

    async def member_names(self, guild_id: int, member_ids: Iterable[int]) -> dict[int, str]:
        guild = await self._guild(guild_id)
        if guild is None:
            return {}
        names: dict[int, str] = {}
        missing = []
        for member_id in dict.fromkeys(member_ids):
            member = guild.get_member(member_id)
            if member is None:
                missing.append(member_id)
            else:
                names[member_id] = member.display_name
        if not missing:
            return names
        if self._bot.get_guild(guild_id) is None:
            # Another process's server: a few by REST; the rest show their ids this time.
            for member_id in missing[:REMOTE_NAMES_AT_MOST]:
                try:
                    member = await bounded(guild.fetch_member(member_id))
                except (discord.NotFound, discord.Forbidden):
                    continue
                names[member_id] = member.display_name
            return names
        for start in range(0, len(missing), NAMES_PER_BATCH):
            batch = missing[start : start + NAMES_PER_BATCH]
            try:
                found = await asyncio.wait_for(
                    guild.query_members(user_ids=batch, limit=len(batch), cache=False),
                    DISCORD_TIMEOUT,
                )
            except (TimeoutError, discord.ClientException):
                break  # names are a courtesy: ids stand in for the rest
            names.update({member.id: member.display_name for member in found})
        return names

    async def search_members(self, guild_id: int, query: str, limit: int) -> list[int]:
        if await self._guild(guild_id) is None:
            return []
        route = discord.http.Route("GET", "/guilds/{guild_id}/members/search", guild_id=guild_id)
        try:
            found = await bounded(
                self._bot.http.request(route, params={"query": query, "limit": limit})
            )
        except (discord.NotFound, discord.Forbidden):
            return []
        return [int(member["user"]["id"]) for member in found if isinstance(member, dict)]

    async def role_names(self, guild_id: int) -> dict[int, str]:
        guild = await self._guild(guild_id)
        if guild is None:
            return {}
        return {role.id: role.name for role in guild.roles if not role.is_default()}

    async def delete_message(self, channel_id: int, message_id: int) -> None:
        try:
            await bounded(self._bot.http.delete_message(channel_id, message_id))
        except discord.NotFound:
            return  # gone already: fine
        except discord.Forbidden as exc:
            raise DirectoryRefused(f"Discord refused to delete the message ({exc.code})") from None
