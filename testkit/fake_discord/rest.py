"""The fake Discord's REST API, strictly: the routes the bot uses (its user and application,
the gateway, commands, interaction callbacks and webhooks, channel messages, DMs, users and
members), scripted failures and hooks around every request, files on the CDN, and 404 for
everything else."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from aiohttp import web

from testkit.fake_discord.interactions import Interactions
from testkit.fake_discord.oauth import OAuth
from testkit.fake_discord.records import FakeMember, discord_error, json_response
from testkit.fake_discord.store import Store
from testkit.snowflakes import snowflake


class Rest(Interactions, Store, OAuth):
    async def _message_file(self, request: web.Request) -> web.Response:
        self.file_downloads += 1
        message = self.messages.get(int(request.match_info["message"]))
        data = None if message is None else message.files.get(request.match_info["filename"])
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="video/mp4")

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
        if (sold := await self._store_route(request, path)) is not None:
            return sold
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
                    "owner": (self.app_owner or self.bot_user).user_json(),
                    "team": self._team_json(),
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
        if method == "DELETE" and (match := re.fullmatch(r"/users/@me/guilds/(\d+)", path)):
            # The bot leaves a server: gone from its world, and GUILD_DELETE says so.
            guild_id = int(match.group(1))
            if guild_id not in self.more_guilds and guild_id != self.guild_id:
                return discord_error(404, 10004, "Unknown Guild")
            self.left_guilds.add(guild_id)
            await self.dispatch("GUILD_DELETE", {"id": str(guild_id), "guild_id": str(guild_id)})
            return web.Response(status=204)
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
        if method == "GET" and (match := re.fullmatch(r"/guilds/(\d+)", path)):
            guild_id = int(match.group(1))
            if guild_id != self.guild_id and guild_id not in self.more_guilds:
                return discord_error(404, 10004, "Unknown Guild")
            return json_response(self._guild_json(guild_id))
        return discord_error(404, 0, f"404: Not Found ({method} {path})")

    def _team_json(self) -> dict[str, Any] | None:
        """The application's team, when it has one (its members are the bot's owners)."""
        if not self.app_team:
            return None
        team_id = str(self.application_id + 1)
        return {
            "id": team_id,
            "name": "the team",
            "icon": None,
            "owner_user_id": str(self.app_team[0].id),
            "members": [
                {
                    "membership_state": 2,
                    "permissions": ["*"],
                    "team_id": team_id,
                    "role": "admin",
                    "user": member.user_json(),
                }
                for member in self.app_team
            ],
        }

    async def _commands(self, request: web.Request, method: str) -> web.Response:
        if method == "PUT":
            body = await request.json()
            self.command_syncs += 1
            # As Discord answers: a message command's description is empty, not absent.
            self.commands = [
                {
                    "description": "",
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

    async def _channel_message(self, request: web.Request, channel_id: int) -> web.Response:
        if channel_id in self.forbidden_channels:
            return discord_error(403, 50013, "Missing Permissions")
        if channel_id in self.foreign_guilds.values():  # a server that has not added the bot
            return discord_error(403, 50001, "Missing Access")
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
