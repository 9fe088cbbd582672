"""What the dashboard asks of Discord (`bot/dashboard/directory.py`), answered by the client:
rights from the member as Discord has them now, names from the cache or REST."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

import discord

from bot.dashboard.directory import Rights


class DiscordDirectory:
    """What the dashboard asks of Discord, answered by the bot: rights from the member as
    Discord has them now (fetched, never the login-time list), names from the cache or REST."""

    def __init__(self, bot: discord.Client) -> None:
        self._bot = bot

    def guild_name(self, guild_id: int) -> str | None:
        guild = self._bot.get_guild(guild_id)
        return None if guild is None else guild.name

    async def rights(self, guild_id: int, user_id: int) -> Rights:
        guild = self._bot.get_guild(guild_id)
        if guild is None:
            return Rights()
        try:
            member = await guild.fetch_member(user_id)
        except discord.HTTPException:  # not (or no longer) in the server, or Discord is down
            return Rights()
        permissions = member.guild_permissions
        return Rights(
            manage_guild=permissions.manage_guild, manage_messages=permissions.manage_messages
        )

    async def member_names(self, guild_id: int, member_ids: Iterable[int]) -> dict[int, str]:
        guild = self._bot.get_guild(guild_id)
        names: dict[int, str] = {}
        for member_id in member_ids:
            member = guild.get_member(member_id) if guild is not None else None
            if member is None and guild is not None:
                with contextlib.suppress(discord.HTTPException):
                    member = await guild.fetch_member(member_id)
            if member is not None:
                names[member_id] = member.display_name
        return names

    async def search_members(self, guild_id: int, query: str, limit: int) -> list[int]:
        guild = self._bot.get_guild(guild_id)
        if guild is None:
            return []
        route = discord.http.Route("GET", "/guilds/{guild_id}/members/search", guild_id=guild_id)
        try:
            found = await self._bot.http.request(route, params={"query": query, "limit": limit})
        except discord.HTTPException:
            return []
        return [int(member["user"]["id"]) for member in found if isinstance(member, dict)]

    def role_names(self, guild_id: int) -> dict[int, str]:
        guild = self._bot.get_guild(guild_id)
        if guild is None:
            return {}
        return {role.id: role.name for role in guild.roles if not role.is_default()}

    async def delete_message(self, channel_id: int, message_id: int) -> None:
        with contextlib.suppress(discord.NotFound):
            await self._bot.http.delete_message(channel_id, message_id)
