"""What stands in front of every page: the security headers on every answer, and the guard of a
server's pages (logged in, the server one the bot is in, Manage Server by the bot's own view of
the member now, and the form's CSRF token on every POST)."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

from aiohttp import web
from aiohttp_session import Session, get_session

from bot.dashboard.directory import Rights
from bot.dashboard.site import PATH, VISIT, Visit, error_page, language, site_of
from bot.dashboard.values import id_in_path
from bot.i18n import msg

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
async def server_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A server's pages (every route with a `{guild}`) only for someone logged in who manages
    that server now, by the bot's own view of them; a form only with the session's token."""
    if "guild" not in request.match_info:
        return await handler(request)
    session = await get_session(request)
    lang = language(request, session)
    if "user" not in session:
        raise web.HTTPFound(f"{PATH}/login?next={request.path}")
    site = site_of(request)
    guild_id = id_in_path(request, "guild")
    name = site.directory.guild_name(guild_id)
    user_id = int(session["user"])
    # The bot's own view of the member, now: never the login-time list alone.
    rights = await site.directory.rights(guild_id, user_id) if name else Rights()
    if name is None or not rights.manage_guild:
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
        return error_page(
            request,
            lang,
            session,
            403,
            msg("This form has expired: reload the page and try again."),
        )
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
