"""What every page of the dashboard shares: the `Site` (the bot's services and what the pages
read through, Discord's directory, the login client, the templates and caches), the `Visit` of
one request to a server's pages, and rendering a page, an error or a flash message in the
reader's language."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol

from aiohttp import web
from aiohttp_session import Session

from bot.dashboard.caches import NameCache, ThumbnailCache
from bot.dashboard.directory import Directory, Rights
from bot.dashboard.limits import Gate, RateLimit
from bot.dashboard.oauth import OAuthClient
from bot.dashboard.reading import JobReads, LedgerReads
from bot.dashboard.sessions import DatabaseSessions
from bot.i18n import Language, Text, catalogues
from bot.logs import Throttled
from bot.services import Services

if TYPE_CHECKING:
    import jinja2

PATH: Final = "/dashboard"


class SessionRecords(Protocol):
    """What the login needs of the sessions' store, beyond loading and saving them."""

    async def use_state(self, state_sha256: str, expires_at: datetime, now: datetime) -> bool: ...


HERE: Final = Path(__file__).resolve().parent
THUMBNAILS_AT_ONCE: Final = 2
THUMBNAIL_DOWNLOADS_AT_ONCE: Final = 4


@dataclass
class Site:
    services: Services
    ledger: LedgerReads
    jobs: JobReads
    directory: Directory
    oauth: OAuthClient
    secure: bool
    sessions: SessionRecords
    storage: DatabaseSessions
    login_key: bytes
    # Starting a login costs nothing but a signature; coming back from Discord costs a request
    # to its token endpoint with the application's secret: that is the scarce one.
    logins: RateLimit = field(
        default_factory=lambda: RateLimit(
            per_minute=20, burst=10, overall_per_minute=1200, overall_burst=200
        )
    )
    callbacks: RateLimit = field(
        default_factory=lambda: RateLimit(
            per_minute=10, burst=5, overall_per_minute=30, overall_burst=10
        )
    )
    token_gate: Gate = field(default_factory=Gate)
    refusals: dict[str, Throttled] = field(default_factory=dict)
    _templates: jinja2.Environment | None = field(default=None, init=False)
    thumbnails: ThumbnailCache = field(default_factory=ThumbnailCache)
    thumbnailing: asyncio.Semaphore = field(
        default_factory=lambda: asyncio.Semaphore(THUMBNAILS_AT_ONCE)
    )
    thumbnail_downloads: asyncio.Semaphore = field(
        default_factory=lambda: asyncio.Semaphore(THUMBNAIL_DOWNLOADS_AT_ONCE)
    )
    names: NameCache = field(init=False)

    def __post_init__(self) -> None:
        self.names = NameCache(self.directory.member_names)

    @property
    def templates(self) -> jinja2.Environment:
        """The pages' templates, loaded with Jinja2 on the first page (not at the bot's start,
        which the dashboard should cost nothing)."""
        if self._templates is None:
            import jinja2  # noqa: PLC0415

            self._templates = jinja2.Environment(
                loader=jinja2.FileSystemLoader(HERE / "templates"),
                autoescape=jinja2.select_autoescape(("html",)),
                undefined=jinja2.StrictUndefined,
            )
        return self._templates


SITE: Final = web.AppKey("site", Site)


@dataclass(frozen=True, slots=True)
class Visit:
    """One request to a server's pages: who, where, with what rights, in which language."""

    guild_id: int
    guild_name: str
    user_id: int
    rights: Rights
    lang: Language
    session: Session

    def flash(self, kind: str, text: str) -> None:
        """A line for the next page: `ok` or `error`."""
        self.session["flash"] = [kind, text]

    def back(self, path: str = "") -> web.HTTPSeeOther:
        """Where a form leads: a page of this server."""
        return web.HTTPSeeOther(f"{PATH}/{self.guild_id}{path}")


VISIT: Final = web.RequestKey("visit", Visit)


def site_of(request: web.Request) -> Site:
    return request.app[SITE]


def language(request: web.Request, session: Session) -> Language:
    """The reader's language: their Discord client's, else their browser's, else English."""
    header = request.headers.get("Accept-Language", "").split(",", 1)[0].split(";", 1)[0]
    return catalogues().choose(session.get("locale"), header.strip() or None)


def csrf_token(session: Session) -> str:
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        session["csrf"] = token
    return token


def render(
    request: web.Request,
    template: str,
    lang: Language,
    session: Session,
    values: Mapping[str, object],
    *,
    status: int = 200,
) -> web.Response:
    flash = session.pop("flash", None)
    site = site_of(request)
    user = session.get("user")
    page = site.templates.get_template(template).render(
        _=lambda text, **params: lang.tr(text, **params),
        lang=lang,
        csrf=csrf_token(session),
        user_name=session.get("name"),
        # The bot's owner sees the way to every server (checked again on that page).
        bot_owner=user is not None and site.services.policy.is_owner(int(user)),
        flash=flash,
        base=PATH,
        **values,
    )
    return web.Response(text=page, content_type="text/html", charset="utf-8", status=status)


def page(request: web.Request, template: str, **values: object) -> web.Response:
    """A page of the server being visited."""
    visit = request[VISIT]
    return render(
        request,
        template,
        visit.lang,
        visit.session,
        {"guild_id": visit.guild_id, "guild_name": visit.guild_name, **values},
    )


def error_page(
    request: web.Request, lang: Language, session: Session, status: int, message: Text
) -> web.Response:
    return render(
        request, "error.html", lang, session, {"message": lang.render(message)}, status=status
    )
