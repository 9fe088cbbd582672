"""A fake Discord on 127.0.0.1: the REST routes and gateway events the bot uses, strictly.

It is a contract check as much as a stand-in: unknown interactions answer 404/10062, a second
callback 400/40060, an expired token 401/50027, unknown routes 404, and JSON goes out with the
exact `application/json` content type discord.py expects.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import yarl
from aiohttp import WSMsgType, web

from testkit.snowflakes import snowflake

TOKEN_LIFETIME = 15 * 60
EPHEMERAL = 1 << 6
COMPONENTS_V2 = 1 << 15
# Components V2: what a message flagged with it may carry, and Discord's limits on it.
V2_TYPES = {1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 17}
V2_MAX_COMPONENTS = 40
V2_MAX_TEXT = 4000
MANAGE_GUILD = 1 << 5
ALL_MEMBER_PERMISSIONS = (1 << 41) - 1 - (1 << 3) - MANAGE_GUILD  # everything but admin/manage


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=json.dumps(payload).encode(),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def discord_error(status: int, code: int, message: str) -> web.Response:
    return json_response({"code": code, "message": message}, status=status)


@dataclass
class FakeMember:
    id: int
    name: str
    permissions: int = ALL_MEMBER_PERMISSIONS
    roles: list[int] = field(default_factory=list)
    locale: str = "en-US"  # the language of the member's Discord client

    def user_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "username": self.name,
            "discriminator": "0",
            "global_name": self.name.title(),
            "avatar": None,
        }

    def member_json(self) -> dict[str, Any]:
        return {
            "user": self.user_json(),
            "roles": [str(r) for r in self.roles],
            "joined_at": "2026-01-01T00:00:00+00:00",
            "permissions": str(self.permissions),
            "flags": 0,
            "deaf": False,
            "mute": False,
            "nick": None,
            "avatar": None,
            "pending": False,
        }


@dataclass
class FakeMessage:
    id: int
    channel_id: int
    content: str
    flags: int = 0
    interaction_token: str | None = None
    nonce: str | None = None
    allowed_mentions: dict[str, Any] | None = None
    loading: bool = False
    deleted: bool = False
    edits: int = 0
    edited_at: float | None = None  # time.monotonic() of the last edit
    components: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)

    def buttons(self) -> dict[str, str]:
        """label -> custom_id of every button on the message, however deep."""
        return {
            component.get("label", ""): component["custom_id"]
            for component in walk(self.components)
            if component.get("type") == 2 and "custom_id" in component
        }

    @property
    def v2(self) -> bool:
        return bool(self.flags & COMPONENTS_V2)

    def video_link(self) -> str:
        """The link the message plays the video from: a V2 gallery's link, or a classic
        message's last line (empty: none, such as when the file is attached)."""
        for item in self.gallery():
            url = str(item.get("media", {}).get("url", ""))
            if not url.startswith("attachment://"):
                return url
        last = self.content.splitlines()[-1] if self.content else ""
        return last if last.startswith(("http://", "https://")) else ""

    def gallery(self) -> list[dict[str, Any]]:
        """The items of the message's media galleries: `media.url`, `spoiler`."""
        return [
            item
            for component in walk(self.components)
            if component.get("type") == 12
            for item in component.get("items", [])
        ]

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    def to_json(self, author: dict[str, Any], files_base: str = "") -> dict[str, Any]:
        base = files_base or "https://cdn.discord.test"
        attachments = [
            {
                "id": str(1000 + index),
                "filename": name,
                "size": len(data),
                "url": f"{base}/{self.id}/{name}",
                "proxy_url": f"{base}/{self.id}/{name}",
            }
            for index, (name, data) in enumerate(self.files.items())
        ]
        return {
            "id": str(self.id),
            "channel_id": str(self.channel_id),
            "type": 0,
            "content": "" if self.v2 else self.content,
            "author": author,
            "attachments": attachments,
            "embeds": [],
            "mentions": [],
            "mention_roles": [],
            "mention_everyone": False,
            "pinned": False,
            "tts": False,
            "timestamp": "2026-11-24T00:00:00+00:00",
            "edited_timestamp": None,
            "flags": self.flags,
            "components": self.components,
        }


@dataclass
class FakeInteraction:
    id: int
    token: str
    created_at: float
    member: FakeMember
    payload: dict[str, Any]
    sent_at: float = 0.0
    callback_type: int | None = None
    callback_at: float | None = None
    original_id: int | None = None
    followup_ids: list[int] = field(default_factory=list)
    source_message_id: int | None = None
    modal: dict[str, Any] | None = None  # the modal the bot answered with, if it did
    choices: list[dict[str, Any]] | None = None  # the autocomplete choices it answered with


@dataclass
class Fault:
    """A scripted failure for the next request whose method and path match."""

    method: str
    path: re.Pattern[str]
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1


class FakeDiscord:
    def __init__(self) -> None:
        self.application_id = snowflake()
        self.managers_role = snowflake()
        # Discord's OAuth2 side: the app's secret, who is signed in, the codes and tokens given.
        self.client_secret = "fake-client-secret"
        self.oauth_member: FakeMember | None = None
        self.oauth_codes: dict[str, tuple[FakeMember, str]] = {}
        self.oauth_tokens: dict[str, FakeMember] = {}
        self.bot_user = FakeMember(snowflake(), "hailuo-bot")
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
        self.system_channels: dict[int, int] = {}
        self._shards: dict[int, tuple[int, int]] = {}
        self.shard_identifies: list[tuple[int, int]] = []
        self._seq = 0
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/cdn/{key}/{filename}", self._cdn)
        app.router.add_get("/message-files/{message}/{filename}", self._message_file)
        app.router.add_get("/oauth2/authorize", self._authorize)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        # Discord accepts a thousand connections at once; aiohttp's default listen backlog
        # (128) would drop SYNs in a burst and add TCP's 1 s retransmit to every answer.
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=4096)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        for socket in list(self._sockets):
            await socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    # -- test helpers ------------------------------------------------------------------------

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

    def log_in(self, member: FakeMember | None) -> None:
        """Who Discord's OAuth2 consent screen is signed in as: the next authorization is
        theirs (granted at once, as when they press Authorize)."""
        self.oauth_member = member

    async def add_role(self, name: str) -> int:
        role_id = snowflake()
        self.roles[role_id] = name
        await self.dispatch(
            "GUILD_ROLE_CREATE",
            {"guild_id": str(self.guild_id), "role": self._role_json(role_id, name)},
        )
        return role_id

    def _role_json(self, role_id: int, name: str) -> dict[str, Any]:
        return {
            "id": str(role_id),
            "name": name,
            "permissions": "0",
            "position": 1,
            "color": 0,
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "flags": 0,
        }

    async def add_channel(self, name: str, *, age_restricted: bool = False) -> int:
        channel_id = snowflake()
        self.extra_channels[channel_id] = name
        if age_restricted:
            self.age_restricted.add(channel_id)
        await self.dispatch("CHANNEL_CREATE", self._channel_json(channel_id, name))
        return channel_id

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

    async def join_guild(
        self, owner: FakeMember, *, system_channel: bool = True
    ) -> tuple[int, int]:
        """The bot added to a new server, as an invite does: GUILD_CREATE for a server that was
        not in READY. It has one channel, its system channel unless told otherwise; returns
        (server id, channel id)."""
        guild_id, channel_id = self.add_guild(0, 1)
        self.extra_channels[channel_id] = "general"
        self.guild_owners[guild_id] = owner.id
        if system_channel:
            self.system_channels[guild_id] = channel_id
        data = self._guild_json(guild_id)
        # No `unavailable` key: a server the bot has just joined, not one coming back.
        del data["unavailable"]
        for socket in list(self._sockets):
            if self._covers(socket, guild_id):
                await self._send(socket, "GUILD_CREATE", data)
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

    async def invoke(
        self,
        name: str,
        options: list[dict[str, Any]] | None = None,
        *,
        member: FakeMember,
        attachments: list[dict[str, Any]] | None = None,
        in_dm: bool = False,
        age_seconds: float = 0.0,
        channel_id: int | None = None,
        typing: bool = False,
        guild_id: int | None = None,
    ) -> FakeInteraction:
        """Send an INTERACTION_CREATE for a slash command, as a member typing it would (in the
        main channel, or in `channel_id`). With `typing`, an autocomplete request instead: the
        option marked `focused` is the one being typed."""
        created = time.time() - age_seconds
        interaction_id = snowflake(created)
        token = f"itok-{interaction_id}"
        resolved: dict[str, Any] = {}
        if attachments:
            resolved["attachments"] = {a["id"]: a for a in attachments}
        users = [
            m for m in self.members.values() if any(_mentions(opt, m.id) for opt in options or [])
        ]
        if users:
            resolved["users"] = {str(m.id): m.user_json() for m in users}
            resolved["members"] = {
                str(m.id): {k: v for k, v in m.member_json().items() if k != "user"} for m in users
            }
        for option in _flatten(options or []):
            if option.get("type") == 8:
                role_id = int(option["value"])
                resolved.setdefault("roles", {})[str(role_id)] = self._role_json(
                    role_id, self.roles.get(role_id, "role")
                )
            if option.get("type") == 7:
                channel_id = int(option["value"])
                channel = self._channel_json(channel_id, self.extra_channels.get(channel_id, "c"))
                resolved.setdefault("channels", {})[str(channel_id)] = {
                    **channel,
                    "permissions": str(ALL_MEMBER_PERMISSIONS),
                }
        command_id = next((c["id"] for c in self.commands if c["name"] == name), str(snowflake()))
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": 4 if typing else 2,
            "token": token,
            "version": 1,
            "locale": member.locale,
            "entitlements": [],
            "attachment_size_limit": self.attachment_size_limit,
            "app_permissions": str(ALL_MEMBER_PERMISSIONS),
            "data": {
                "id": command_id,
                "name": name,
                "type": 1,
                "options": options or [],
                "resolved": resolved,
            },
        }
        if in_dm:
            payload["channel_id"] = str(member.id + 1)
            payload["channel"] = {"id": str(member.id + 1), "type": 1}
            payload["user"] = member.user_json()
            payload["context"] = 1
        else:
            guild = guild_id or self.guild_id
            payload["guild_id"] = str(guild)
            payload["guild_locale"] = self.guild_locale
            where = channel_id or self.more_guilds.get(guild, self.channel_id)
            payload["channel_id"] = str(where)
            payload["channel"] = {
                **self._channel_json(where, self.extra_channels.get(where, "videos")),
                "permissions": str(member.permissions),
            }
            payload["member"] = member.member_json()
            payload["context"] = 0
        interaction = FakeInteraction(interaction_id, token, created, member, payload)
        self.interactions[token] = interaction
        interaction.sent_at = time.monotonic()
        await self.dispatch("INTERACTION_CREATE", payload)
        return interaction

    async def click(
        self, message: FakeMessage, label: str, *, member: FakeMember
    ) -> FakeInteraction:
        """Press a button on a message, as a member would."""
        custom_id = message.buttons()[label]
        created = time.time()
        interaction_id = snowflake(created)
        token = f"itok-{interaction_id}"
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": 3,
            "token": token,
            "version": 1,
            "locale": member.locale,
            "entitlements": [],
            "attachment_size_limit": 10 * 1024 * 1024,
            "app_permissions": str(ALL_MEMBER_PERMISSIONS),
            "guild_id": str(self.guild_id),
            "guild_locale": self.guild_locale,
            "channel_id": str(message.channel_id),
            "channel": {
                "id": str(message.channel_id),
                "type": 0,
                "guild_id": str(self.guild_id),
                "name": "videos",
                "permissions": str(member.permissions),
            },
            "member": member.member_json(),
            "context": 0,
            "message": message.to_json(self._author(), self.files_base),
            "data": {"custom_id": custom_id, "component_type": 2},
        }
        interaction = FakeInteraction(interaction_id, token, created, member, payload)
        interaction.source_message_id = message.id
        self.interactions[token] = interaction
        interaction.sent_at = time.monotonic()
        await self.dispatch("INTERACTION_CREATE", payload)
        return interaction

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
        shard, count = self._shards.get(id(socket), (0, 1))
        return (guild_id >> 22) % count == shard

    async def _send(self, socket: web.WebSocketResponse, event: str, data: dict[str, Any]) -> None:
        self._seq += 1
        await socket.send_str(json.dumps({"op": 0, "t": event, "s": self._seq, "d": data}))

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # -- gateway -----------------------------------------------------------------------------

    def _guild_json(self, guild_id: int | None = None) -> dict[str, Any]:
        guild = guild_id or self.guild_id
        channel = self.more_guilds.get(guild, self.channel_id)
        return {
            "id": str(guild),
            "name": "Video Club",
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
                {
                    **self._role_json(self.managers_role, "managers"),
                    "permissions": str(MANAGE_GUILD | ALL_MEMBER_PERMISSIONS),
                },
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
        finally:
            with contextlib.suppress(ValueError):
                self._sockets.remove(socket)
            self._shards.pop(id(socket), None)
        return socket

    @property
    def files_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/message-files"

    async def _message_file(self, request: web.Request) -> web.Response:
        self.file_downloads += 1
        message = self.messages.get(int(request.match_info["message"]))
        data = None if message is None else message.files.get(request.match_info["filename"])
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="video/mp4")

    async def submit_modal(
        self, shown: FakeInteraction, values: dict[str, str], *, member: FakeMember
    ) -> FakeInteraction:
        """Submit the modal the bot showed in answer to `shown`: `values` by field label (a
        select's by its label's text, as an option's value); fields not given keep what the
        bot pre-filled (a select, its default option)."""
        assert shown.modal is not None, "the bot answered with no modal"
        created = time.time()
        interaction_id = snowflake(created)
        token = f"itok-{interaction_id}"
        rows: list[dict[str, Any]] = []
        for row in shown.modal["components"]:
            if row["type"] == 18:  # a label around one component (a select, here)
                inner = row["component"]
                chosen = values.get(row.get("label", "")) or next(
                    (o["value"] for o in inner.get("options", []) if o.get("default")), None
                )
                rows.append(
                    {
                        "type": 18,
                        "component": {
                            "type": inner["type"],
                            "custom_id": inner["custom_id"],
                            "values": [] if chosen is None else [chosen],
                        },
                    }
                )
                continue
            rows.append(
                {
                    "type": 1,
                    "components": [
                        {
                            "type": 4,
                            "custom_id": field_["custom_id"],
                            "value": values.get(field_.get("label", ""), field_.get("value", "")),
                        }
                        for field_ in row["components"]
                    ],
                }
            )
        payload: dict[str, Any] = {
            **{k: v for k, v in shown.payload.items() if k not in ("id", "token", "data")},
            "id": str(interaction_id),
            "type": 5,
            "token": token,
            "member": member.member_json(),
            "data": {"custom_id": shown.modal["custom_id"], "components": rows},
        }
        interaction = FakeInteraction(interaction_id, token, created, member, payload)
        interaction.source_message_id = shown.source_message_id
        self.interactions[token] = interaction
        interaction.sent_at = time.monotonic()
        await self.dispatch("INTERACTION_CREATE", payload)
        return interaction

    async def _cdn(self, request: web.Request) -> web.StreamResponse:
        key = request.match_info["key"]
        for hook in list(self.on_download):
            await hook(key)
        found = self.attachments.get(key)
        if found is None:
            return web.Response(status=404)
        data, content_type = found
        mode = self.attachment_modes.get(key)
        if mode is None:
            return web.Response(body=data, content_type=content_type.split(";")[0])
        response = web.StreamResponse(headers={"Content-Type": content_type})
        await response.prepare(request)
        try:
            if mode == "slow":
                for offset in range(0, len(data), 64):
                    await response.write(data[offset : offset + 64])
                    await asyncio.sleep(0.2)
            elif mode == "endless":
                while True:
                    await response.write(b"\0" * 65536)
                    await asyncio.sleep(0.001)
            elif mode == "oversized":
                for _ in range(400):  # 26 MB, whatever the metadata said
                    await response.write(b"\0" * 65536)
            await response.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return response

    # -- REST --------------------------------------------------------------------------------

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        self.requests.append((request.method, path))
        for fault in self.faults:
            if fault.method == request.method and fault.path.search(path) and fault.times > 0:
                fault.times -= 1
                return json_response(fault.body, fault.status, fault.headers)
        if (
            request.content_type.startswith("multipart/")
            and (request.content_length or 0) > self.upload_limit
        ):
            return discord_error(413, 40005, "Request entity too large")
        body: dict[str, Any] = {}
        if self.before or self.after:
            if request.method in ("POST", "PATCH"):
                body = await self._payload(request)
            for hook in list(self.before):
                await hook(request.method, path, body)
        try:
            response = await self._route(request, path)
        finally:
            await self._notify()
        for hook in list(self.after):
            await hook(request.method, path, body)
        return response

    async def _route(self, request: web.Request, path: str) -> web.StreamResponse:
        method = request.method
        if path == "/oauth2/token" or request.headers.get("Authorization", "").startswith(
            "Bearer "
        ):
            return await self._oauth(request, path)
        if (
            self.accepted_token is not None
            and request.headers.get("Authorization") != f"Bot {self.accepted_token}"
        ):
            return discord_error(401, 0, "401: Unauthorized")
        if method == "GET" and path == "/users/@me":
            return json_response({**self.bot_user.user_json(), "bot": True})
        if method == "GET" and path == "/oauth2/applications/@me":
            return json_response(
                {
                    "id": str(self.application_id),
                    "name": "hailuo-bot",
                    "icon": None,
                    "description": "",
                    "bot_public": True,
                    "bot_require_code_grant": False,
                    "verify_key": "0" * 64,
                    "flags": 0,
                    "owner": self.bot_user.user_json(),
                    "team": None,
                }
            )
        if method == "GET" and path in ("/gateway", "/gateway/bot"):
            return json_response(
                {
                    "url": self.gateway_url,
                    "shards": 1,
                    "session_start_limit": {
                        "total": 1000,
                        "remaining": 1000,
                        "reset_after": 0,
                        "max_concurrency": 1,
                    },
                }
            )
        if match := re.fullmatch(r"/applications/(\d+)/commands", path):
            return await self._commands(request, method)
        if match := re.fullmatch(r"/interactions/(\d+)/([^/]+)/callback", path):
            return await self._callback(request, match.group(2))
        if (match := re.fullmatch(r"/webhooks/(\d+)/([^/]+)", path)) and method == "POST":
            return await self._followup(request, match.group(2))
        if match := re.fullmatch(r"/webhooks/(\d+)/([^/]+)/messages/([^/]+)", path):
            return await self._webhook_message(request, match.group(2), match.group(3))
        if match := re.fullmatch(r"/channels/(\d+)/messages/(\d+)", path):
            found = self.messages.get(int(match.group(2)))
            if found is None or found.deleted or found.channel_id != int(match.group(1)):
                return discord_error(404, 10008, "Unknown Message")
            if method == "DELETE":
                await self.delete_message(found)
                return web.Response(status=204)
            if method == "GET":
                return json_response(found.to_json(self._author(), self.files_base))
        if (match := re.fullmatch(r"/channels/(\d+)/messages", path)) and method == "POST":
            return await self._channel_message(request, int(match.group(1)))
        if method == "POST" and path == "/users/@me/channels":
            body = await request.json()
            recipient = int(body["recipient_id"])
            if recipient in self.closed_dms:
                return discord_error(403, 50007, "Cannot send messages to this user")
            recipient_member = self.members.get(recipient) or FakeMember(recipient, "someone")
            return json_response(
                {
                    "id": str(recipient + 1),
                    "type": 1,
                    "recipients": [recipient_member.user_json()],
                    "last_message_id": None,
                }
            )
        if match := re.fullmatch(r"/users/(\d+)", path):
            member = self.members.get(int(match.group(1)))
            if member is None:
                return discord_error(404, 10013, "Unknown User")
            return json_response(member.user_json())
        if method == "GET" and (match := re.fullmatch(r"/guilds/(\d+)/members/search", path)):
            query = request.query.get("query", "").lower()
            limit = int(request.query.get("limit", "1"))
            hits = [m for m in self.members.values() if m.name.lower().startswith(query)]
            return json_response([m.member_json() for m in hits[:limit]])
        if method == "GET" and (match := re.fullmatch(r"/guilds/(\d+)/members/(\d+)", path)):
            member = self.members.get(int(match.group(2)))
            if member is None:
                return discord_error(404, 10007, "Unknown Member")
            return json_response(member.member_json())
        return discord_error(404, 0, f"404: Not Found ({method} {path})")

    # -- OAuth2 (the dashboard's "Login with Discord") ----------------------------------------

    async def _authorize(self, request: web.Request) -> web.StreamResponse:
        """The consent screen, as if the signed-in member pressed Authorize at once."""
        query = request.query
        if query.get("client_id") != str(self.application_id):
            return web.Response(status=400, text="unknown client_id")
        if query.get("response_type") != "code" or "identify" not in query.get("scope", ""):
            return web.Response(status=400, text="bad response_type or scope")
        redirect = query.get("redirect_uri", "")
        if self.oauth_member is None:
            return web.Response(status=401, text="nobody is signed in to Discord")
        code = secrets.token_urlsafe(16)
        self.oauth_codes[code] = (self.oauth_member, redirect)
        target = yarl.URL(redirect).update_query(code=code, state=query.get("state", ""))
        raise web.HTTPFound(str(target))

    async def _oauth(self, request: web.Request, path: str) -> web.Response:
        if path == "/oauth2/token" and request.method == "POST":
            form = await request.post()
            if form.get("client_secret") != self.client_secret or form.get("client_id") != str(
                self.application_id
            ):
                return json_response({"error": "invalid_client"}, 401)
            given = self.oauth_codes.pop(str(form.get("code", "")), None)
            if given is None or form.get("grant_type") != "authorization_code":
                return json_response({"error": "invalid_grant"}, 400)
            member, redirect = given
            if form.get("redirect_uri") != redirect:
                return json_response({"error": "invalid_grant"}, 400)
            token = secrets.token_urlsafe(24)
            self.oauth_tokens[token] = member
            return json_response(
                {
                    "access_token": token,
                    "token_type": "Bearer",
                    "expires_in": 604800,
                    "refresh_token": secrets.token_urlsafe(24),
                    "scope": "identify guilds",
                }
            )
        signed_in = self.oauth_tokens.get(
            request.headers.get("Authorization", "").removeprefix("Bearer ")
        )
        if signed_in is None:
            return discord_error(401, 0, "401: Unauthorized")
        member = signed_in
        if path == "/users/@me":
            return json_response({**member.user_json(), "locale": member.locale})
        if path == "/users/@me/guilds":
            return json_response(
                [
                    {
                        "id": str(guild),
                        "name": "Video Club",
                        "icon": None,
                        "owner": False,
                        "permissions": str(member.permissions),
                        "features": [],
                    }
                    for guild in (self.guild_id, *self.more_guilds)
                ]
            )
        return discord_error(404, 0, f"404: Not Found ({request.method} {path})")

    async def _commands(self, request: web.Request, method: str) -> web.Response:
        if method == "PUT":
            body = await request.json()
            self.command_syncs += 1
            self.commands = [
                {
                    **command,
                    "id": str(snowflake()),
                    "application_id": str(self.application_id),
                    "version": str(snowflake()),
                }
                for command in body
            ]
            return json_response(self.commands)
        if method == "GET":
            return json_response(self.commands)
        return discord_error(405, 0, "405: Method Not Allowed")

    def _live(self, token: str) -> FakeInteraction | web.Response:
        interaction = self.interactions.get(token)
        if interaction is None:
            return discord_error(404, 10062, "Unknown interaction")
        if time.time() - interaction.created_at > TOKEN_LIFETIME:
            return discord_error(401, 50027, "Invalid Webhook Token")
        return interaction

    async def _payload(self, request: web.Request) -> dict[str, Any]:
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            raw = form.get("payload_json")
            payload: dict[str, Any] = json.loads(raw) if isinstance(raw, str) else {}
            payload["_files"] = {
                value.filename: value.file.read()
                for key, value in form.items()
                if key.startswith("files[") and isinstance(value, web.FileField)
            }
            if "data" in payload and isinstance(payload["data"], dict):
                payload["data"]["_files"] = payload["_files"]
            return payload
        raw_body = await request.read()  # cached by aiohttp, so hooks may read it first
        return json.loads(raw_body) if raw_body else {}

    async def _callback(self, request: web.Request, token: str) -> web.Response:
        interaction = self.interactions.get(token)
        if interaction is None or time.time() - interaction.created_at > 3:
            return discord_error(404, 10062, "Unknown interaction")
        if interaction.callback_type is not None:
            return discord_error(400, 40060, "Interaction has already been acknowledged.")
        body = await self._payload(request)
        kind = body["type"]
        data = body.get("data") or {}
        source_message = (
            self.messages.get(interaction.source_message_id)
            if kind == 7 and interaction.source_message_id is not None
            else None
        )
        if kind in (4, 7) and (
            refused := self._v2_refused(data, set(data.get("_files", {})), source_message)
        ):
            return refused
        interaction.callback_type = kind
        interaction.callback_at = time.monotonic()
        if kind in (4, 5):
            message = self._new_message(self._channel_of(interaction), data, token)
            message.loading = kind == 5
            interaction.original_id = message.id
        elif kind == 9:
            interaction.modal = data
        elif kind == 8:
            interaction.choices = data.get("choices", [])
        elif kind == 7 and interaction.source_message_id is not None:
            source = self.messages[interaction.source_message_id]
            if "content" in data:
                source.content = data["content"] or ""
            if "components" in data:
                source.components = data["components"]
            source.flags |= int(data.get("flags") or 0) & COMPONENTS_V2
            self._render(source)
            source.edits += 1
        answer: dict[str, Any] = {
            "id": str(interaction.id),
            "type": interaction.payload["type"],
            "response_message_loading": kind == 5,
            "response_message_ephemeral": bool(int(data.get("flags") or 0) & EPHEMERAL),
        }
        message_id = interaction.original_id if kind in (4, 5) else interaction.source_message_id
        if message_id is not None:
            answer["response_message_id"] = str(message_id)
        return json_response({"interaction": answer})

    def _new_message(self, channel_id: int, data: dict[str, Any], token: str | None) -> FakeMessage:
        message = FakeMessage(
            id=snowflake(),
            channel_id=channel_id,
            content=data.get("content") or "",
            flags=int(data.get("flags") or 0),
            interaction_token=token,
            nonce=data.get("nonce"),
            allowed_mentions=data.get("allowed_mentions"),
            components=data.get("components") or [],
            files=data.get("_files", {}),
        )
        self._render(message)
        self.messages[message.id] = message
        return message

    @staticmethod
    def _render(message: FakeMessage) -> None:
        """A Components V2 message has no content of its own: for the tests, its content is
        what a reader reads (its text displays)."""
        if message.v2:
            message.content = rendered(message.components)

    def _v2_refused(
        self, data: dict[str, Any], files: set[str], message: FakeMessage | None = None
    ) -> web.Response | None:
        """Discord's answer to a Components V2 payload it would refuse (None: taken)."""
        flags = int(data.get("flags") or 0)
        if message is not None and message.v2:
            if "flags" in data and not flags & COMPONENTS_V2:
                return discord_error(400, 50035, "Invalid Form Body: cannot remove the V2 flag")
            flags |= COMPONENTS_V2
        if not flags & COMPONENTS_V2:
            return None
        if self.refuse_components_v2:
            return discord_error(400, 50035, "Invalid Form Body: components v2 refused")
        problem = v2_problem(data, files)
        if problem is not None:
            self.refused_v2.append(problem)
            return discord_error(400, 50035, f"Invalid Form Body: {problem}")
        return None

    def _channel_of(self, interaction: FakeInteraction) -> int:
        return int(interaction.payload.get("channel_id") or self.channel_id)

    def _author(self) -> dict[str, Any]:
        return {**self.bot_user.user_json(), "bot": True}

    async def _followup(self, request: web.Request, token: str) -> web.Response:
        live = self._live(token)
        if isinstance(live, web.Response):
            return live
        if live.callback_type is None:
            return discord_error(404, 10015, "Unknown Webhook")
        data = await self._payload(request)
        if len(data.get("content") or "") > 2000:
            return discord_error(400, 50035, "Invalid Form Body: content over 2000")
        if refused := self._v2_refused(data, set(data.get("_files", {}))):
            return refused
        original = self.original(live)
        if original is not None and original.loading and not original.deleted:
            # The first followup after a defer replaces the "thinking" message and keeps
            # the defer's ephemeral flag, as Discord does.
            original.loading = False
            original.content = data.get("content") or ""
            original.allowed_mentions = data.get("allowed_mentions")
            original.components = data.get("components") or []
            original.files = data.get("_files", {})
            original.flags |= int(data.get("flags") or 0) & COMPONENTS_V2
            self._render(original)
            message = original
        else:
            message = self._new_message(self._channel_of(live), data, token)
        live.followup_ids.append(message.id)
        return json_response(message.to_json(self._author()))

    async def _webhook_message(
        self, request: web.Request, token: str, message_ref: str
    ) -> web.Response:
        live = self._live(token)
        if isinstance(live, web.Response):
            return live
        message_id = live.original_id if message_ref == "@original" else int(message_ref)
        message = self.messages.get(message_id) if message_id is not None else None
        if message is None or message.deleted or message.interaction_token != token:
            return discord_error(404, 10008, "Unknown Message")
        if request.method == "GET":
            return json_response(message.to_json(self._author()))
        if request.method == "DELETE":
            await self.delete_message(message)
            return web.Response(status=204)
        if request.method == "PATCH":
            data = await self._payload(request)
            if len(data.get("content") or "") > 2000:
                return discord_error(400, 50035, "Invalid Form Body: content over 2000")
            files = dict(message.files)
            if "attachments" in data:
                # The new list replaces the old one: kept files are referenced by id.
                kept = {str(1000 + i): name for i, name in enumerate(message.files)}
                files = {
                    kept[str(a["id"])]: message.files[kept[str(a["id"])]]
                    for a in data["attachments"]
                    if str(a.get("id")) in kept
                }
                files.update(data.get("_files", {}))
            checked = {"components": message.components, **data}
            if refused := self._v2_refused(checked, set(files), message):
                return refused
            if "content" in data:
                message.content = data["content"] or ""
            if "components" in data:
                message.components = data["components"] or []
            message.files = files
            message.flags |= int(data.get("flags") or 0) & COMPONENTS_V2
            self._render(message)
            message.allowed_mentions = data.get("allowed_mentions", message.allowed_mentions)
            message.loading = False
            message.edits += 1
            message.edited_at = time.monotonic()
            return json_response(message.to_json(self._author()))
        return discord_error(405, 0, "405: Method Not Allowed")

    async def _channel_message(self, request: web.Request, channel_id: int) -> web.Response:
        if channel_id in self.forbidden_channels:
            return discord_error(403, 50013, "Missing Permissions")
        is_dm = any(channel_id == member_id + 1 for member_id in self.members)
        if channel_id != self.channel_id and channel_id not in self.extra_channels and not is_dm:
            return discord_error(404, 10003, "Unknown Channel")
        data = await self._payload(request)
        if refused := self._v2_refused(data, set(data.get("_files", {}))):
            return refused
        nonce = data.get("nonce")
        if nonce is not None and data.get("enforce_nonce"):
            for existing in self.messages.values():
                if existing.nonce == nonce and existing.channel_id == channel_id:
                    return json_response(existing.to_json(self._author()))
        if len(data.get("content") or "") > 2000:
            return discord_error(400, 50035, "Invalid Form Body")
        message = self._new_message(channel_id, data, None)
        return json_response(message.to_json(self._author()))


def walk(components: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every component, children after their parent (rows, containers, sections, accessories)."""
    for component in components:
        yield component
        yield from walk(component.get("components", []))
        accessory = component.get("accessory")
        if isinstance(accessory, dict):
            yield from walk([accessory])


def rendered(components: list[dict[str, Any]]) -> str:
    """What a reader of a Components V2 message reads: its text displays, in order."""
    return "\n".join(
        str(component.get("content", ""))
        for component in walk(components)
        if component.get("type") == 10
    )


def v2_problem(data: dict[str, Any], files: set[str]) -> str | None:
    """Why Discord would refuse this Components V2 payload (None: it would take it)."""
    if data.get("content") or data.get("embeds"):
        return "a Components V2 message cannot have content or embeds"
    components = list(walk(data.get("components") or []))
    if len(components) > V2_MAX_COMPONENTS:
        return f"more than {V2_MAX_COMPONENTS} components"
    if sum(len(str(c.get("content", ""))) for c in components if c.get("type") == 10) > (
        V2_MAX_TEXT
    ):
        return f"more than {V2_MAX_TEXT} characters of text"
    for component in components:
        if component.get("type") not in V2_TYPES:
            return f"component type {component.get('type')} is not allowed"
        if component.get("type") == 12:
            items = component.get("items", [])
            if not 1 <= len(items) <= 10:
                return "a media gallery holds 1 to 10 items"
            for item in items:
                url = str((item.get("media") or {}).get("url", ""))
                if url.startswith("attachment://"):
                    if url.removeprefix("attachment://") not in files:
                        return f"{url} names no attachment of the message"
                elif not url.startswith(("https://", "http://")):
                    return f"media url {url!r} is not an http(s) URL or an attachment"
    return None


def _mentions(option: dict[str, Any], member_id: int) -> bool:
    if option.get("type") == 6 and str(option.get("value")) == str(member_id):
        return True
    return any(_mentions(inner, member_id) for inner in option.get("options", []))


def _flatten(options: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for option in options:
        found.append(option)
        found.extend(_flatten(option.get("options", [])))
    return found
