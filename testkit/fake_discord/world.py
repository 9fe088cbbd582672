"""The fake Discord's world: the application, its bot user, the main server with its channel,
members, roles, more channels and servers, attachments on its CDN, and what a test reads back
(messages, replies, waiting for a change). Everything else is built on it."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from testkit.fake_discord.records import (
    ALL_MEMBER_PERMISSIONS,
    MANAGE_GUILD,
    FakeInteraction,
    FakeMember,
    FakeMessage,
    Fault,
)
from testkit.snowflakes import snowflake


class World:
    def __init__(self) -> None:
        self.application_id = snowflake()
        self.managers_role = snowflake()
        # Roles' permissions where they are not none (the managers role: Manage Server).
        self.role_permissions: dict[int, int] = {
            self.managers_role: MANAGE_GUILD | ALL_MEMBER_PERMISSIONS
        }
        # Discord's OAuth2 side: the app's secret, who is signed in, the codes and tokens given.
        self.client_secret = "fake-client-secret"
        self.oauth_member: FakeMember | None = None
        self.oauth_codes: dict[str, tuple[FakeMember, str]] = {}
        self.oauth_tokens: dict[str, FakeMember] = {}
        self.bot_user = FakeMember(snowflake(), "hailuo-bot")
        # Who owns the application, as its information says (none: the bot's own user, which
        # also owns every server unless told otherwise); or its team's members.
        self.app_owner: FakeMember | None = None
        self.app_team: list[FakeMember] = []
        self.guild_id = snowflake()
        self.channel_id = snowflake()
        self.forbidden_channels: set[int] = set()
        # Components V2: refuse every such message (a Discord that does not take them yet),
        # and the reasons any was refused for.
        self.refuse_components_v2 = False
        self.refused_v2: list[str] = []
        self.roles: dict[int, str] = {}
        self.extra_channels: dict[int, str] = {}
        self.age_restricted: set[int] = set()
        self.closed_dms: set[int] = set()
        self.members: dict[int, FakeMember] = {}
        self.messages: dict[int, FakeMessage] = {}
        self.interactions: dict[str, FakeInteraction] = {}
        self.attachments: dict[str, tuple[bytes, str]] = {}
        # key -> "slow" (a trickle), "endless" (never ends) or "oversized" (more than declared)
        self.attachment_modes: dict[str, str] = {}
        self.commands: list[dict[str, Any]] = []
        self.command_syncs = 0
        self.requests: list[tuple[str, str]] = []
        self.faults: list[Fault] = []
        # Called with (method, path, body) before a REST request is handled, and after it
        # with the response too: a test can stall a request or end the bot at that moment.
        self.before: list[Callable[[str, str, dict[str, Any]], Awaitable[None]]] = []
        self.after: list[Callable[[str, str, dict[str, Any]], Awaitable[None]]] = []
        self.file_downloads = 0  # files of messages downloaded (a video to extend, say)
        # Called with an attachment's key when the bot downloads it from the CDN.
        self.on_download: list[Callable[[str], Awaitable[None]]] = []
        self.identifies = 0
        self.member_requests: list[dict[str, Any]] = []  # Request Guild Members, as sent
        self.gateway_refused = False
        self.gateway_refusals = 0  # connection attempts turned away while refusing
        self.accepted_token: str | None = None  # None: any bot token logs in
        # What interactions say they may attach, and what uploads Discord really takes:
        # a larger upload is refused with 413/40005, as Discord does.
        self.attachment_size_limit = 10 * 1024 * 1024
        self.guild_locale = "en-US"  # the server's preferred locale
        self.upload_limit = 10 * 1024 * 1024
        self._sockets: list[web.WebSocketResponse] = []
        # More servers than the main one (each with one channel), and the shard each gateway
        # connection identified as: Discord sends a server's events to its shard only.
        self.more_guilds: dict[int, int] = {}
        self.guild_owners: dict[int, int] = {}
        self.guild_names: dict[int, str] = {}
        self.left_guilds: set[int] = set()  # the servers the bot left
        # Servers that have not added the bot (members use it there through a user install):
        # server id -> its channel, where the bot may not post.
        self.foreign_guilds: dict[int, int] = {}
        # The store: the application's SKUs, the entitlements purchases made (by id), and
        # how often the bot consumed one or listed them.
        self.skus: list[dict[str, Any]] = []
        self.entitlements: dict[str, dict[str, Any]] = {}
        self.consumes = 0
        self.entitlement_lists = 0
        self.system_channels: dict[int, int] = {}
        self._shards: dict[int, tuple[int, int]] = {}
        # Every connection gets every server and every event, whatever its shard: Discord
        # delivering an interaction to two processes (during a reshard, say).
        self.every_connection = False
        self.shard_identifies: list[tuple[int, int]] = []
        self._seq = 0
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    def add_member(
        self, name: str, *, admin: bool = False, permissions: int | None = None
    ) -> FakeMember:
        perms = (
            permissions
            if permissions is not None
            else (ALL_MEMBER_PERMISSIONS | MANAGE_GUILD if admin else ALL_MEMBER_PERMISSIONS)
        )
        # An admin holds the server's managers role: what the bot reads of a member through
        # REST (roles), as interactions carry (permissions), says Manage Server.
        member = FakeMember(snowflake(), name, perms, [self.managers_role] if admin else [])
        self.members[member.id] = member
        return member

    def demote(self, member: FakeMember) -> None:
        """The member loses Manage Server (their managers role), as an owner might decide."""
        member.permissions &= ~MANAGE_GUILD
        member.roles = [role for role in member.roles if role != self.managers_role]

    def _role_json(self, role_id: int, name: str) -> dict[str, Any]:
        return {
            "id": str(role_id),
            "name": name,
            "permissions": str(self.role_permissions.get(role_id, 0)),
            "position": 1,
            "color": 0,
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }

    def add_guild(self, shard: int, shard_count: int) -> tuple[int, int]:
        """Another server, on the given shard of `shard_count` ((id >> 22) % count), with one
        channel; returns (server id, channel id)."""
        while True:
            guild_id = snowflake()
            if (guild_id >> 22) % shard_count == shard and guild_id not in self.more_guilds:
                break
            time.sleep(0.001)  # a new millisecond, so a new timestamp part
        channel_id = snowflake()
        self.more_guilds[guild_id] = channel_id
        return guild_id, channel_id

    def foreign_guild(self) -> tuple[int, int]:
        """A server that has not added the bot, with one channel: (server id, channel id)."""
        guild_id, channel_id = snowflake(), snowflake()
        self.foreign_guilds[guild_id] = channel_id
        return guild_id, channel_id

    def guild_of_channel(self, channel_id: int) -> int:
        for guild_id, main in self.more_guilds.items():
            if main == channel_id:
                return guild_id
        return self.guild_id

    def _channel_json(self, channel_id: int, name: str) -> dict[str, Any]:
        return {
            "id": str(channel_id),
            "type": 0,
            "name": name,
            "position": 0,
            "guild_id": str(self.guild_of_channel(channel_id)),
            "permission_overwrites": [],
            "nsfw": channel_id in self.age_restricted,
        }

    def add_attachment(
        self,
        filename: str,
        data: bytes,
        *,
        content_type: str | None,
        width: int | None = None,
        height: int | None = None,
        size: int | None = None,
    ) -> dict[str, Any]:
        attachment_id = snowflake()
        key = str(attachment_id)
        self.attachments[key] = (data, content_type or "application/octet-stream")
        url = f"http://127.0.0.1:{self.port}/cdn/{key}/{filename}?ex=1&is=1&hm=abc"
        payload: dict[str, Any] = {
            "id": key,
            "filename": filename,
            "size": len(data) if size is None else size,
            "url": url,
            "proxy_url": url,
        }
        if content_type is not None:
            payload["content_type"] = content_type
        if width is not None:
            payload["width"] = width
            payload["height"] = height
        return payload

    def fail(
        self,
        method: str,
        path: str,
        status: int,
        body: dict[str, Any] | None = None,
        *,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        self.faults.append(
            Fault(
                method,
                re.compile(path),
                status,
                body or {"code": 0, "message": "scripted failure"},
                headers or {},
                times,
            )
        )

    async def wait_for(self, predicate: Callable[[], bool], within: float = 10.0) -> None:
        """Wait until `predicate()` holds, re-checking on every request and every 20 ms (so
        it may also watch state outside this fake, such as the fake Apiframe's)."""

        async def _wait() -> None:
            async with self._changed:
                while not predicate():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._changed.wait(), 0.02)

        await asyncio.wait_for(_wait(), within)

    def original(self, interaction: FakeInteraction) -> FakeMessage | None:
        if interaction.original_id is None:
            return None
        return self.messages.get(interaction.original_id)

    def followups(self, interaction: FakeInteraction) -> list[FakeMessage]:
        return [self.messages[i] for i in interaction.followup_ids]

    def channel_messages(self, channel_id: int | None = None) -> list[FakeMessage]:
        target = channel_id or self.channel_id
        return [
            m
            for m in self.messages.values()
            if m.channel_id == target and m.interaction_token is None and not m.deleted
        ]

    def replies_to(self, interaction: FakeInteraction) -> list[FakeMessage]:
        """Every message the bot made through this interaction, in order."""
        return [m for m in self.messages.values() if m.interaction_token == interaction.token]

    async def wait_reply(
        self, interaction: FakeInteraction, text: str, within: float = 10.0
    ) -> FakeMessage:
        """Wait until a reply to this interaction contains `text`; return that message."""

        def found() -> bool:
            return any(text in m.content for m in self.replies_to(interaction))

        try:
            await self.wait_for(found, within)
        except TimeoutError:
            seen = [m.content for m in self.replies_to(interaction)]
            raise AssertionError(f"no reply containing {text!r}; replies were {seen!r}") from None
        return next(m for m in self.replies_to(interaction) if text in m.content)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    @property
    def files_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/message-files"

    def _author(self) -> dict[str, Any]:
        return {**self.bot_user.user_json(), "bot": True}
