"""Interactions, as members make them and as the bot answers them: slash commands (and their
autocomplete), buttons and forms sent over the gateway; the callback, followups and edits of
the interaction's own messages, with Discord's rules (3 s to answer, once; 15 minutes for the
token; Components V2 checked)."""

from __future__ import annotations

import json
import time
from typing import Any

from aiohttp import web

from testkit.fake_discord.components import COMPONENTS_V2, rendered, v2_problem
from testkit.fake_discord.gateway import Gateway
from testkit.fake_discord.records import (
    ALL_MEMBER_PERMISSIONS,
    EPHEMERAL,
    TOKEN_LIFETIME,
    FakeInteraction,
    FakeMember,
    FakeMessage,
    discord_error,
    json_response,
)
from testkit.snowflakes import snowflake


class Interactions(Gateway):
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
        user_install: bool = False,
        target: dict[str, Any] | None = None,
    ) -> FakeInteraction:
        """Send an INTERACTION_CREATE for a slash command, as a member typing it would (in the
        main channel, or in `channel_id`). With `typing`, an autocomplete request instead: the
        option marked `focused` is the one being typed. With `user_install`, through the app
        the member added to their own account: in a direct message, or in a server that has
        not added the bot (`guild_id` one of `foreign_guilds`)."""
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
        if target is not None:  # a message command, on the message `target`
            payload["data"] = {
                "id": command_id,
                "name": name,
                "type": 3,
                "target_id": target["id"],
                "resolved": {"messages": {target["id"]: target}},
            }
        if in_dm:
            payload["channel_id"] = str(member.id + 1)
            payload["channel"] = {"id": str(member.id + 1), "type": 1}
            payload["user"] = member.user_json()
            payload["context"] = 1
            # Who authorised it: the member's own install, or the bot's (0 in its DMs).
            payload["authorizing_integration_owners"] = (
                {"1": str(member.id)} if user_install else {"0": "0"}
            )
        elif guild_id is not None and guild_id in self.foreign_guilds:
            where = self.foreign_guilds[guild_id]
            payload["guild_id"] = str(guild_id)
            payload["guild_locale"] = self.guild_locale
            payload["channel_id"] = str(where)
            payload["channel"] = {
                "id": str(where),
                "type": 0,
                "name": "general",
                "position": 0,
                "guild_id": str(guild_id),
                "permission_overwrites": [],
                "nsfw": where in self.age_restricted,
                "permissions": str(member.permissions),
            }
            payload["member"] = member.member_json()
            payload["context"] = 0
            payload["authorizing_integration_owners"] = {"1": str(member.id)}
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
            owners = {"0": str(guild)}
            if user_install:
                owners["1"] = str(member.id)
            payload["authorizing_integration_owners"] = owners
        interaction = FakeInteraction(interaction_id, token, created, member, payload)
        self.interactions[token] = interaction
        interaction.sent_at = time.monotonic()
        await self.dispatch("INTERACTION_CREATE", payload)
        return interaction

    async def invoke_on_message(
        self, name: str, target: dict[str, Any], *, member: FakeMember, in_dm: bool = False
    ) -> FakeInteraction:
        """Use the message command `name` on a message (as Discord sends it: `target`), from
        its menu, as a member would."""
        return await self.invoke(name, member=member, in_dm=in_dm, target=target)

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
            "channel_id": str(message.channel_id),
            "message": message.to_json(self._author(), self.files_base),
            "data": {"custom_id": custom_id, "component_type": 2},
        }
        if message.channel_id == member.id + 1:  # a button in the member's DM with the bot
            payload["channel"] = {"id": str(message.channel_id), "type": 1}
            payload["user"] = member.user_json()
            payload["context"] = 1
        else:
            payload["guild_id"] = str(self.guild_id)
            payload["guild_locale"] = self.guild_locale
            payload["channel"] = {
                "id": str(message.channel_id),
                "type": 0,
                "guild_id": str(self.guild_id),
                "name": "videos",
                "permissions": str(member.permissions),
            }
            payload["member"] = member.member_json()
            payload["context"] = 0
        interaction = FakeInteraction(interaction_id, token, created, member, payload)
        interaction.source_message_id = message.id
        self.interactions[token] = interaction
        interaction.sent_at = time.monotonic()
        await self.dispatch("INTERACTION_CREATE", payload)
        return interaction

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
            "data": {"custom_id": shown.modal["custom_id"], "components": rows},
        }
        # Who submits it: a member of the server, or (in a direct message) a user.
        if "guild_id" in shown.payload:
            payload["member"] = member.member_json()
        else:
            payload["user"] = member.user_json()
        interaction = FakeInteraction(interaction_id, token, created, member, payload)
        interaction.source_message_id = shown.source_message_id
        self.interactions[token] = interaction
        interaction.sent_at = time.monotonic()
        await self.dispatch("INTERACTION_CREATE", payload)
        return interaction

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
