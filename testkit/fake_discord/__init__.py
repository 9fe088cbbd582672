"""A fake Discord on 127.0.0.1: the REST routes and gateway events the bot uses, strictly.

It is a contract check as much as a stand-in: unknown interactions answer 404/10062, a second
callback 400/40060, an expired token 401/50027, unknown routes 404, and JSON goes out with the
exact `application/json` content type discord.py expects.

One facade, `FakeDiscord`, built in layers: `world.py` (the application, servers, members,
channels, attachments, and what tests read back), `gateway.py` (events), `interactions.py`
(commands, buttons and forms, and the bot's answers to them), `oauth.py` (Login with Discord),
`rest.py` (the REST routes); `records.py` and `components.py` hold what they share.
"""

from __future__ import annotations

from aiohttp import web

from testkit.fake_discord.components import COMPONENTS_V2, rendered, v2_problem, walk
from testkit.fake_discord.records import (
    ALL_MEMBER_PERMISSIONS,
    EPHEMERAL,
    MANAGE_GUILD,
    TOKEN_LIFETIME,
    FakeInteraction,
    FakeMember,
    FakeMessage,
    Fault,
    discord_error,
    json_response,
)
from testkit.fake_discord.rest import Rest

__all__ = [
    "ALL_MEMBER_PERMISSIONS",
    "COMPONENTS_V2",
    "EPHEMERAL",
    "MANAGE_GUILD",
    "TOKEN_LIFETIME",
    "FakeDiscord",
    "FakeInteraction",
    "FakeMember",
    "FakeMessage",
    "Fault",
    "discord_error",
    "json_response",
    "rendered",
    "v2_problem",
    "walk",
]


class FakeDiscord(Rest):
    """Discord as the bot sees it, on loopback; start it, point the bot at `api_base` and
    `gateway_url`, and act as members through it."""

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
