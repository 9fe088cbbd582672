"""Logging in with Discord and out again: the server list after login, the OAuth2 round trip
with a `state` only this browser's session knows, and Log out (a form, with its CSRF token)."""

from __future__ import annotations

import hmac
import logging
import secrets

from aiohttp import web
from aiohttp_session import get_session, new_session

from bot.dashboard.middlewares import csrf_ok
from bot.dashboard.oauth import LoginFailed, new_state
from bot.dashboard.site import PATH, error_page, language, render, site_of
from bot.dashboard.values import local_path
from bot.i18n import msg

log = logging.getLogger(__name__)


async def home(request: web.Request) -> web.Response:
    session = await get_session(request)
    lang = language(request, session)
    if "user" not in session:
        return render(request, "login.html", lang, session, {})
    directory = site_of(request).directory
    servers = [
        (guild_id, name)
        for guild_id in session.get("guilds", [])
        if (name := directory.guild_name(guild_id)) is not None
    ]
    servers.sort(key=lambda server: server[1].lower())
    return render(request, "servers.html", lang, session, {"servers": servers})


async def login(request: web.Request) -> web.Response:
    session = await new_session(request)
    state = new_state()
    session["state"] = state
    session["next"] = local_path(request.query.get("next"), PATH)
    raise web.HTTPFound(site_of(request).oauth.authorize_url(state))


async def callback(request: web.Request) -> web.Response:
    session = await get_session(request)
    lang = language(request, session)
    expected = session.pop("state", None)
    given = request.query.get("state", "")
    if not expected or not hmac.compare_digest(str(expected), given):
        return error_page(
            request, lang, session, 400, msg("This login link has expired: log in again.")
        )
    code = request.query.get("code")
    if not code:
        return error_page(
            request, lang, session, 400, msg("Discord did not confirm the login: try again.")
        )
    try:
        user = await site_of(request).oauth.user_for(code)
    except LoginFailed as exc:
        log.warning("dashboard: a login failed: %s", exc)
        return error_page(
            request, lang, session, 502, msg("Discord did not confirm the login: try again.")
        )
    going = session.get("next") or f"{PATH}/"
    session.invalidate()
    fresh = await new_session(request)
    fresh.update(
        user=user.id,
        name=user.name,
        locale=user.locale,
        guilds=sorted(user.managed_guilds),
        csrf=secrets.token_urlsafe(24),
    )
    log.info("dashboard: %s logged in", user.id)
    raise web.HTTPFound(going)


async def logout(request: web.Request) -> web.Response:
    session = await get_session(request)
    form = await request.post()
    if "user" in session and csrf_ok(session, form):
        session.invalidate()
    raise web.HTTPFound(f"{PATH}/")
