"""Discord's OAuth2 side, for the dashboard's "Login with Discord": who is signed in, the
consent screen (granted at once), the token endpoint with the application's secret, and the two
reads a login makes."""

from __future__ import annotations

import secrets

import yarl
from aiohttp import web

from testkit.fake_discord.records import FakeMember, discord_error, json_response
from testkit.fake_discord.world import World


class OAuth(World):
    def log_in(self, member: FakeMember | None) -> None:
        """Who Discord's OAuth2 consent screen is signed in as: the next authorization is
        theirs (granted at once, as when they press Authorize)."""
        self.oauth_member = member

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
