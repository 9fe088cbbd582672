"""The fake Discord's gateway: READY and GUILD_CREATE for the servers of each connection's
shard, heartbeats and resumes, the events tests send (a server joined, a role or channel made,
a message deleted), and dropping every connection as an outage would."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from aiohttp import WSMsgType, web

from testkit.fake_discord.records import (
    ALL_MEMBER_PERMISSIONS,
    FakeMember,
    FakeMessage,
)
from testkit.fake_discord.world import World
from testkit.snowflakes import snowflake


class Gateway(World):
    async def add_role(self, name: str) -> int:
        role_id = snowflake()
        self.roles[role_id] = name
        await self.dispatch(
            "GUILD_ROLE_CREATE",
            {"guild_id": str(self.guild_id), "role": self._role_json(role_id, name)},
        )
        return role_id

    async def change_role(self, role_id: int, *, permissions: int) -> None:
        """A role's permissions changed (in the server's settings): GUILD_ROLE_UPDATE."""
        self.role_permissions[role_id] = permissions
        name = "managers" if role_id == self.managers_role else self.roles.get(role_id, "role")
        await self.dispatch(
            "GUILD_ROLE_UPDATE",
            {"guild_id": str(self.guild_id), "role": self._role_json(role_id, name)},
        )

    async def add_channel(self, name: str, *, age_restricted: bool = False) -> int:
        channel_id = snowflake()
        self.extra_channels[channel_id] = name
        if age_restricted:
            self.age_restricted.add(channel_id)
        await self.dispatch("CHANNEL_CREATE", self._channel_json(channel_id, name))
        return channel_id

    async def join_guild(
        self, owner: FakeMember, *, system_channel: bool = True, name: str = "Video Club"
    ) -> tuple[int, int]:
        """The bot added to a new server, as an invite does: GUILD_CREATE for a server that was
        not in READY. It has one channel, its system channel unless told otherwise; returns
        (server id, channel id)."""
        guild_id, channel_id = self.add_guild(0, 1)
        self.extra_channels[channel_id] = "general"
        self.guild_owners[guild_id] = owner.id
        self.guild_names[guild_id] = name
        if system_channel:
            self.system_channels[guild_id] = channel_id
        data = self._guild_json(guild_id)
        # No `unavailable` key: a server the bot has just joined, not one coming back.
        del data["unavailable"]
        for socket in list(self._sockets):
            if self._covers(socket, guild_id):
                await self._send(socket, "GUILD_CREATE", data)
        return guild_id, channel_id

    async def delete_message(self, message: FakeMessage) -> None:
        """The message is deleted (by the bot, or by a moderator with Discord's own Delete):
        gone, and MESSAGE_DELETE goes out as Discord sends it."""
        message.deleted = True
        await self.dispatch(
            "MESSAGE_DELETE",
            {
                "id": str(message.id),
                "channel_id": str(message.channel_id),
                "guild_id": str(self.guild_of_channel(message.channel_id)),
            },
        )

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send an event to the gateway connections that should get it: a server's events
        to the connection of its shard only."""
        self._seq += 1
        frame = json.dumps({"op": 0, "t": event, "s": self._seq, "d": data})
        guild = data.get("guild_id")
        for socket in list(self._sockets):
            if socket.closed:
                continue
            if guild is not None and not self._covers(socket, int(guild)):
                continue
            await socket.send_str(frame)

    def _covers(self, socket: web.WebSocketResponse, guild_id: int) -> bool:
        if self.every_connection:
            return True
        shard, count = self._shards.get(id(socket), (0, 1))
        return (guild_id >> 22) % count == shard

    async def _send(self, socket: web.WebSocketResponse, event: str, data: dict[str, Any]) -> None:
        self._seq += 1
        await socket.send_str(json.dumps({"op": 0, "t": event, "s": self._seq, "d": data}))

    def _guild_json(self, guild_id: int | None = None) -> dict[str, Any]:
        guild = guild_id or self.guild_id
        channel = self.more_guilds.get(guild, self.channel_id)
        return {
            "id": str(guild),
            "name": self.guild_names.get(guild, "Video Club"),
            "icon": None,
            "owner_id": str(self.guild_owners.get(guild, self.bot_user.id)),
            "system_channel_id": (
                str(self.system_channels[guild]) if guild in self.system_channels else None
            ),
            "unavailable": False,
            "member_count": 3,
            "large": False,
            "features": [],
            "emojis": [],
            "stickers": [],
            "members": [],
            "threads": [],
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "mfa_level": 0,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "premium_tier": 0,
            "nsfw_level": 0,
            "preferred_locale": self.guild_locale,
            "system_channel_flags": 0,
            "afk_timeout": 300,
            "roles": [
                {
                    "id": str(guild),
                    "name": "@everyone",
                    "permissions": str(ALL_MEMBER_PERMISSIONS),
                    "position": 0,
                    "color": 0,
                    "hoist": False,
                    "managed": False,
                    "mentionable": False,
                    "flags": 0,
                },
                self._role_json(self.managers_role, "managers"),
            ],
            "channels": [
                {
                    "id": str(channel),
                    "type": 0,
                    "name": "videos",
                    "position": 0,
                    "guild_id": str(guild),
                    "permission_overwrites": [],
                    "nsfw": False,
                }
            ],
        }

    def _chunk(self, request: dict[str, Any]) -> dict[str, Any]:
        """The answer to Request Guild Members: by ids (any intent), or by the start of a name."""
        self.member_requests.append(request)
        wanted = [int(user) for user in request.get("user_ids") or []]
        if wanted:
            found = [self.members[user] for user in wanted if user in self.members]
        else:
            query = str(request.get("query", "")).lower()
            found = [m for m in self.members.values() if m.name.lower().startswith(query)]
            found = found[: int(request.get("limit") or 100)]
        return {
            "guild_id": str(request["guild_id"]),
            "members": [member.member_json() for member in found],
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [str(user) for user in wanted if user not in self.members],
            "nonce": request.get("nonce"),
        }

    async def drop_gateway(self, *, refuse_reconnects: bool) -> None:
        """Close every gateway connection, as a network blip or an outage would."""
        self.gateway_refused = refuse_reconnects
        for socket in list(self._sockets):
            await socket.close(code=4000)

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        if self.gateway_refused:
            self.gateway_refusals += 1
            return web.Response(status=503, text="gateway unavailable")
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self._sockets.append(socket)
        await socket.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 41250}}))
        try:
            async for message in socket:
                if message.type is not WSMsgType.TEXT:
                    continue
                frame = json.loads(message.data)
                op = frame.get("op")
                if op == 1:
                    await socket.send_str(json.dumps({"op": 11}))
                elif op == 2:
                    self.identifies += 1
                    shard, count = frame["d"].get("shard") or (0, 1)
                    self._shards[id(socket)] = (int(shard), int(count))
                    self.shard_identifies.append((int(shard), int(count)))
                    guilds = [
                        guild
                        for guild in (self.guild_id, *self.more_guilds)
                        if self._covers(socket, guild)
                    ]
                    await self._send(
                        socket,
                        "READY",
                        {
                            "v": 10,
                            "user": {**self.bot_user.user_json(), "bot": True},
                            "guilds": [{"id": str(g), "unavailable": True} for g in guilds],
                            "session_id": f"session-{self.identifies}",
                            "resume_gateway_url": self.gateway_url,
                            "application": {"id": str(self.application_id), "flags": 0},
                            "shard": [int(shard), int(count)],
                        },
                    )
                    for guild in guilds:
                        await self._send(socket, "GUILD_CREATE", self._guild_json(guild))
                elif op == 6:
                    await self._send(socket, "RESUMED", {})
                elif op == 8:
                    await self._send(socket, "GUILD_MEMBERS_CHUNK", self._chunk(frame["d"]))
        finally:
            with contextlib.suppress(ValueError):
                self._sockets.remove(socket)
            self._shards.pop(id(socket), None)
        return socket
