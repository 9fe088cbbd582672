"""Logging in with Discord and out again.

`/login` writes nothing anywhere: it gives the browser a random nonce in a short-lived cookie
and sends it to Discord with a `state` that carries that nonce, where to go afterwards and when
it expires, signed with a key derived from the application's client secret (so a state is
never made by anyone else, and no key sits in the database). `/callback` reaches Discord only:
- within the rate limits (per client address and for the whole bot), checked first;
- with a state this dashboard signed, not expired, for the nonce in this browser's cookie;
- while Discord has not asked the bot to wait (its 429 closes the door for its Retry-After);
- once per state, whichever process the callback reaches (the state is marked used first).
A login Discord confirms makes a new server-side session; Log out (a form with its CSRF
token) ends it. Refusals cost a log line a minute, with their count.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from datetime import UTC, datetime
from typing import Final

from aiohttp import web
from aiohttp_session import Session, get_session, new_session

from bot.clock import utc_now
from bot.dashboard.limits import client_address
from bot.dashboard.middlewares import csrf_ok
from bot.dashboard.oauth import LoginFailed, LoginThrottled
from bot.dashboard.site import PATH, Site, error_page, language, render, site_of
from bot.dashboard.values import local_path
from bot.i18n import Language, msg
from bot.logs import Throttled
from bot.settings import Secret

log = logging.getLogger(__name__)

LOGIN_COOKIE: Final = "hailuo_login"
LOGIN_SECONDS: Final = 600
NEXT_MAX: Final = 300


def login_key(client_secret: Secret) -> bytes:
    """The key that signs login states: derived from the application's client secret (a
    setting), so it is never kept, and a database reader learns nothing from it."""
    secret = client_secret.get_secret_value().encode()
    return hashlib.sha256(b"hailuo-bot dashboard login states\x00" + secret).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def signed_state(key: bytes, nonce: str, going: str | None, now: float) -> str:
    payload = _b64(json.dumps({"n": nonce, "e": int(now) + LOGIN_SECONDS, "p": going}).encode())
    signature = _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())
    return f"{payload}.{signature}"


def read_state(key: bytes, state: str, nonce: str | None, now: float) -> tuple[str | None, int]:
    """(where to go, when it expires) of a state this dashboard signed for this browser's
    nonce and that has not expired; `ValueError` otherwise."""
    payload, _, signature = state.partition(".")
    expected = _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())
    if not nonce or not hmac.compare_digest(expected, signature):
        raise ValueError("not a state of ours")
    facts = json.loads(_unb64(payload))
    if not hmac.compare_digest(str(facts.get("n")), nonce) or int(facts["e"]) < now:
        raise ValueError("another browser's state, or an expired one")
    going = facts.get("p")
    return (going if isinstance(going, str) else None), int(facts["e"])


def refused(site: Site, what: str) -> Throttled:
    return site.refusals.setdefault(what, Throttled(log, every=60.0))


async def home(request: web.Request) -> web.Response:
    session = await get_session(request)
    lang = language(request, session)
    if "user" not in session:
        return render(request, "login.html", lang, session, {})
    directory = site_of(request).directory
    servers = []
    for guild_id in session.get("guilds", []):
        name = await directory.guild_name(int(guild_id))
        if name is not None:
            servers.append((guild_id, name))
    servers.sort(key=lambda server: server[1].lower())
    return render(request, "servers.html", lang, session, {"servers": servers})


async def login(request: web.Request) -> web.Response:
    site = site_of(request)
    wait = site.logins.allow(client_address(request))
    if wait is not None:
        refused(site, "logins").warning("dashboard: refused logins coming too fast")
        return await too_fast(request, wait)
    nonce = secrets.token_urlsafe(16)
    going = local_path(request.query.get("next"), PATH)
    state = signed_state(site.login_key, nonce, going[:NEXT_MAX] if going else None, time.time())
    answer = web.HTTPFound(site.oauth.authorize_url(state))
    answer.set_cookie(
        LOGIN_COOKIE,
        nonce,
        max_age=LOGIN_SECONDS,
        path=PATH,
        httponly=True,
        samesite="Lax",
        secure=site.secure,
    )
    raise answer


async def callback(request: web.Request) -> web.Response:
    site = site_of(request)
    wait = site.callbacks.allow(client_address(request))
    if wait is not None:
        refused(site, "callbacks").warning("dashboard: refused login callbacks coming too fast")
        return await too_fast(request, wait)
    session = await get_session(request)
    lang = language(request, session)
    state = request.query.get("state", "")
    try:
        going, expires = read_state(
            site.login_key, state, request.cookies.get(LOGIN_COOKIE), time.time()
        )
    except (ValueError, KeyError, TypeError):
        refused(site, "states").warning("dashboard: refused login callbacks with a bad state")
        return error_page(
            request, lang, session, 400, msg("This login link has expired: log in again.")
        )
    code = request.query.get("code")
    if not code:
        return error_page(
            request, lang, session, 400, msg("Discord did not confirm the login: try again.")
        )
    closed = site.token_gate.wait()
    if closed is not None:
        return discord_busy(request, lang, session, closed)
    expiry = datetime.fromtimestamp(expires, UTC)
    if not await site.sessions.use_state(_digest(state), expiry, utc_now()):
        refused(site, "replays").warning("dashboard: refused a login state used before")
        return error_page(
            request, lang, session, 400, msg("This login link has expired: log in again.")
        )
    try:
        user = await site.oauth.user_for(code)
    except LoginThrottled as exc:
        site.token_gate.close_for(exc.retry_after)
        log.warning("dashboard: %s; logins wait until then", exc)
        return discord_busy(request, lang, session, exc.retry_after)
    except LoginFailed as exc:
        refused(site, "failures").warning("dashboard: a login failed: %s", str(exc))
        return error_page(
            request, lang, session, 502, msg("Discord did not confirm the login: try again.")
        )
    await site.storage.end(session)  # a new login is a new session, whatever came before
    fresh = await new_session(request)
    fresh.update(
        user=user.id,
        name=user.name,
        locale=user.locale,
        # Only the servers the bot serves: the session stays small however many someone runs.
        guilds=sorted(await site.directory.servers_among(user.managed_guilds)),
        csrf=secrets.token_urlsafe(24),
    )
    log.info("dashboard: %s logged in", user.id)
    answer = web.HTTPFound(going or f"{PATH}/")
    answer.del_cookie(LOGIN_COOKIE, path=PATH)
    raise answer


async def logout(request: web.Request) -> web.Response:
    session = await get_session(request)
    form = await request.post()
    if "user" in session and csrf_ok(session, form):
        session.invalidate()  # its row goes with it: a copied cookie is worth nothing now
    raise web.HTTPFound(f"{PATH}/")


async def too_fast(request: web.Request, wait: float) -> web.Response:
    session: Session = await get_session(request)
    lang = language(request, session)
    page = error_page(
        request,
        lang,
        session,
        429,
        msg("Too many logins from here: try again in {seconds} s.", seconds=int(wait) + 1),
    )
    page.headers["Retry-After"] = str(int(wait) + 1)
    return page


def discord_busy(
    request: web.Request, lang: Language, session: Session, wait: float
) -> web.Response:
    seconds = int(wait) + 1
    page = error_page(
        request,
        lang,
        session,
        503,
        msg("Discord asked the bot to wait: try logging in again in {seconds} s.", seconds=seconds),
    )
    page.headers["Retry-After"] = str(int(wait) + 1)
    return page


def _digest(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()
