"""What stands in front of every page: the security headers on every answer, and the guard of a
server's pages (logged in, the server one the bot is in, Manage Server by the bot's own view of
the member now, and the form's CSRF token on every POST)."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from aiohttp import web
from aiohttp_session import Session, get_session

from bot.dashboard.directory import DirectoryUnavailable, Rights
from bot.dashboard.site import PATH, VISIT, Visit, error_page, language, site_of
from bot.dashboard.values import id_in_path
from bot.i18n import msg

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

POLICY: Final = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
    "media-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Headers on every answer: only the dashboard's own files may load; no framing."""
    response = await handler(request)
    response.headers.setdefault("Content-Security-Policy", POLICY)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if response.content_type == "text/html":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


@web.middleware
async def discord_unavailable(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Discord did not answer a call a page needed: say so, with a way forward, whatever page
    it was (never a wrong reason, never a traceback)."""
    try:
        return await handler(request)
    except DirectoryUnavailable as exc:
        log.info("dashboard: %s (%s %s)", exc, request.method, request.path)
        session = await get_session(request)
        page = error_page(
            request,
            language(request, session),
            session,
            503,
            msg("Discord did not answer in time: try again in a moment."),
        )
        page.headers["Retry-After"] = "5"
        return page


@web.middleware
async def server_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A server's pages (every route with a `{guild}`) only for someone logged in who manages
    that server now, by the bot's own view of them; a form only with the session's token.

    The cheap checks come first: a server that is not in the session's list (the servers Discord
    said, at login, the person manages and the bot serves) is refused without asking Discord,
    so that a stranger's requests never reach it."""
    if "guild" not in request.match_info:
        return await handler(request)
    session = await get_session(request)
    lang = language(request, session)
    if "user" not in session:
        raise web.HTTPFound(f"{PATH}/login?next={request.path}")
    site = site_of(request)
    guild_id = id_in_path(request, "guild")
    user_id = int(session["user"])
    listed = guild_id in session.get("guilds", [])
    name = await site.directory.guild_name(guild_id) if listed else None
    # The bot's own view of the member, now: never the login-time list alone.
    # A form asks afresh (what it changes is checked at the moment it acts); a page may use
    # what was asked a few seconds ago.
    writing = request.method == "POST"
    rights = await site.directory.rights(guild_id, user_id, fresh=writing) if name else Rights()
    if name is None or not rights.manage_guild:
        if listed:
            # Lost the permission (or the bot left): the server leaves the session too.
            session["guilds"] = [g for g in session.get("guilds", []) if g != guild_id]
        return error_page(
            request,
            lang,
            session,
            403,
            msg(
                "You do not have the Manage Server permission in this server (or the bot is "
                "not in it)."
            ),
        )
    if request.method == "POST" and not csrf_ok(session, await request.post()):
        expired = msg("This form has expired: reload the page and try again.")
        return error_page(request, lang, session, 403, expired)
    request[VISIT] = Visit(guild_id, name, user_id, rights, lang, session)
    return await handler(request)


def csrf_ok(session: Session, form: Mapping[str, Any]) -> bool:
    expected = session.get("csrf")
    given = form.get("csrf")
    return (
        isinstance(expected, str)
        and isinstance(given, str)
        and hmac.compare_digest(expected, given)
    )
