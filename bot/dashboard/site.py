"""What every page of the dashboard shares: the `Site` (the bot's services and what the pages
read through, Discord's directory, the login client, the templates and caches), the `Visit` of
one request to a server's pages, and rendering a page, an error or a flash message in the
reader's language."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import jinja2
from aiohttp import web
from aiohttp_session import Session

from bot.dashboard.caches import NameCache, ThumbnailCache
from bot.dashboard.directory import Directory, Rights
from bot.dashboard.oauth import OAuthClient
from bot.dashboard.reading import JobReads, LedgerReads
from bot.i18n import Language, Text, catalogues
from bot.services import Services

PATH: Final = "/dashboard"
HERE: Final = Path(__file__).resolve().parent
THUMBNAILS_AT_ONCE: Final = 2


@dataclass
class Site:
    services: Services
    ledger: LedgerReads
    jobs: JobReads
    directory: Directory
    oauth: OAuthClient
    secure: bool
    templates: jinja2.Environment = field(
        default_factory=lambda: jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=jinja2.select_autoescape(("html",)),
            undefined=jinja2.StrictUndefined,
        )
    )
    thumbnails: ThumbnailCache = field(default_factory=ThumbnailCache)
    thumbnailing: asyncio.Semaphore = field(
        default_factory=lambda: asyncio.Semaphore(THUMBNAILS_AT_ONCE)
    )
    names: NameCache = field(init=False)

    def __post_init__(self) -> None:
        self.names = NameCache(self.directory.member_names)


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
    page = (
        site_of(request)
        .templates.get_template(template)
        .render(
            _=lambda text, **params: lang.tr(text, **params),
            lang=lang,
            csrf=csrf_token(session),
            user_name=session.get("name"),
            flash=flash,
            base=PATH,
            **values,
        )
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
