"""What the fake Discord keeps: its members, messages and interactions as tests read them, the
failures a test scripts, and Discord's JSON error shape."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from testkit.fake_discord.components import COMPONENTS_V2, walk

TOKEN_LIFETIME = 15 * 60
EPHEMERAL = 1 << 6
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

    def premium_skus(self) -> list[int]:
        """The SKUs of the message's premium (Buy) buttons, in order."""
        return [
            int(component["sku_id"])
            for component in walk(self.components)
            if component.get("type") == 2 and component.get("style") == 6
        ]

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
