"""The dashboard's aiohttp application, mounted at `/dashboard`: its middlewares, its
server-side sessions and its route table. `build_dashboard` is all the rest of the bot
calls."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from aiohttp import web
from aiohttp_session import session_middleware

from bot.dashboard import auth, forms, owner, pages
from bot.dashboard.auth import login_key
from bot.dashboard.directory import Directory
from bot.dashboard.middlewares import discord_unavailable, security_headers, server_guard
from bot.dashboard.oauth import OAuthClient
from bot.dashboard.sessions import DatabaseSessions
from bot.dashboard.site import HERE, PATH, SITE, Site
from bot.services import Services

COOKIE: Final = "hailuo_dashboard"
SESSION_DAYS: Final = 7
SERVER: Final = "/{guild:\\d+}"


async def build_dashboard(
    services: Services, directory: Directory, application_id: Callable[[], int | None]
) -> web.Application:
    """The `/dashboard` application for the bot's settings, asking Discord through
    `directory` (the application's id is known once the bot has logged in)."""
    settings = services.settings
    assert settings.dashboard_public_url is not None
    assert settings.discord_client_secret is not None
    oauth = OAuthClient(
        settings.discord_api_base_url,
        application_id,
        settings.discord_client_secret,
        f"{settings.dashboard_public_url}/callback",
    )
    secure = settings.dashboard_public_url.startswith("https://")
    stores = services.stores
    storage = DatabaseSessions(
        stores.dashboard, cookie_name=COOKIE, path=PATH, secure=secure, days=SESSION_DAYS
    )
    site = Site(
        services,
        stores.ledger,
        stores.jobs,
        directory,
        oauth,
        secure,
        sessions=stores.dashboard,
        storage=storage,
        login_key=login_key(settings.discord_client_secret),
    )
    app = web.Application(
        middlewares=[
            session_middleware(storage),
            security_headers,
            discord_unavailable,
            server_guard,
        ]
    )
    app[SITE] = site
    add_routes(app.router)
    return app


def add_routes(routes: web.UrlDispatcher) -> None:
    routes.add_get("/", auth.home)
    routes.add_get("/login", auth.login)
    routes.add_get("/callback", auth.callback)
    routes.add_post("/logout", auth.logout)
    routes.add_static("/static", HERE / "static", show_index=False)
    # The bot owner's page (its own guard: the owner, logged in).
    routes.add_get("/servers", owner.all_servers_page)
    routes.add_post("/servers/{server:\\d+}/budget", owner.set_budget)
    routes.add_post("/servers/{server:\\d+}/approve", owner.approve)
    # A server's pages: `server_guard` lets through only someone who manages it now.
    routes.add_get(SERVER, pages.overview_page)
    routes.add_get(SERVER + "/spend.svg", pages.spend_chart_image)
    routes.add_get(SERVER + "/members", pages.members_page)
    routes.add_get(SERVER + "/members/{member:\\d+}", pages.member_page)
    routes.add_post(SERVER + "/members/{member:\\d+}", forms.change_credits)
    routes.add_get(SERVER + "/ledger", pages.ledger_page)
    routes.add_get(SERVER + "/ledger.csv", pages.ledger_file)
    routes.add_get(SERVER + "/videos", pages.videos_page)
    routes.add_get(SERVER + "/videos/{job}.jpg", pages.thumbnail_image)
    routes.add_get(SERVER + "/videos/{job}.mp4", pages.video_file)
    routes.add_get(SERVER + "/videos/{job}", pages.video_page)
    routes.add_post(SERVER + "/videos/{job}/delete", forms.delete_video)
    routes.add_get(SERVER + "/settings", pages.settings_page)
    routes.add_post(SERVER + "/settings/{section}", forms.change_settings)
