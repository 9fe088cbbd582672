"""The bot owner's page, "All servers": every server the bot is in with this month's spend
against its budget, how many members made videos there, and whether it waits for approval;
with a form per server to set its budget or approve it. Only for someone logged in whom the bot
counts as its owner (the application's owner or team, or `OWNER_IDS`), asked at every request;
a form also needs the session's token. The same changes as `/owner` and `python -m bot
servers`, logged with who made them."""

from __future__ import annotations

from typing import Final

from aiohttp import web
from aiohttp_session import Session, get_session

from bot.dashboard.middlewares import csrf_ok
from bot.dashboard.site import PATH, error_page, language, render, site_of
from bot.dashboard.values import FormRefused, bounded, id_in_path, whole_number
from bot.i18n import Language, msg
from bot.money.economy import MAX_BUDGET, Server

SERVERS_PAGE: Final = 50
BUDGETS: Final = range(MAX_BUDGET + 1)
ALL_SERVERS: Final = f"{PATH}/servers"


async def _owner(request: web.Request) -> tuple[Session, Language, int] | web.Response:
    """The session, language and user id of the bot's owner, logged in; else the answer to
    give (the login, or a refusal)."""
    session = await get_session(request)
    lang = language(request, session)
    if "user" not in session:
        raise web.HTTPFound(f"{PATH}/login?next={ALL_SERVERS}")
    user_id = int(session["user"])
    if not site_of(request).services.policy.is_owner(user_id):
        return error_page(
            request, lang, session, 403, msg("Only the bot's owner can see all servers.")
        )
    if request.method == "POST" and not csrf_ok(session, await request.post()):
        expired = msg("This form has expired: reload the page and try again.")
        return error_page(request, lang, session, 403, expired)
    return session, lang, user_id


async def all_servers_page(request: web.Request) -> web.Response:
    owner = await _owner(request)
    if isinstance(owner, web.Response):
        return owner
    session, lang, _ = owner
    services = site_of(request).services
    book = services.servers
    number = whole_number(request.query.get("page")) or 1
    number = max(1, number)
    rows, total = await book.table(page=number - 1, size=SERVERS_PAGE)
    pages = max(1, -(-total // SERVERS_PAGE))
    servers = [
        {
            "id": use.server.guild_id,
            "name": use.server.name or str(use.server.guild_id),
            "spent": use.spent,
            "budget": book.budget(use.server),
            "members": use.members,
            "waiting": book.waiting(use.server),
        }
        for use in rows
    ]
    values = {
        "servers": servers,
        "page_number": number,
        "pages": pages,
        "total": total,
        "month_spent": await book.month_spent(),
        "monthly_limit": services.policy.monthly_limit,
        "max_budget": MAX_BUDGET,
        # This month's credit packs, when the bot sells any.
        "sales": await services.wallets.month_sales() if services.wallets.packs else None,
    }
    return render(request, "all_servers.html", lang, session, values)


async def _known(request: web.Request, lang: Language, session: Session) -> Server | None:
    server = await site_of(request).services.servers.get(id_in_path(request, "server"))
    if server is None or server.left_at is not None:
        session["flash"] = ["error", lang.tr("The bot is not in that server any more.")]
        return None
    return server


async def set_budget(request: web.Request) -> web.Response:
    owner = await _owner(request)
    if isinstance(owner, web.Response):
        return owner
    session, lang, user_id = owner
    server = await _known(request, lang, session)
    if server is not None:
        form = await request.post()
        book = site_of(request).services.servers
        try:
            unlimited = form.get("unlimited") == "on"
            amount = None if unlimited else bounded(form.get("amount"), BUDGETS, lang)
        except FormRefused as refused:
            session["flash"] = ["error", str(refused)]
        else:
            changed = await book.set_budget(server.guild_id, amount, user_id, unlimited=unlimited)
            budget = book.budget(changed)
            said = (
                lang.tr("{name}: unlimited.", name=server.name)
                if budget is None
                else lang.tr("{name}: {budget} credits a month.", name=server.name, budget=budget)
            )
            session["flash"] = ["ok", said]
    raise web.HTTPSeeOther(ALL_SERVERS)


async def approve(request: web.Request) -> web.Response:
    owner = await _owner(request)
    if isinstance(owner, web.Response):
        return owner
    session, lang, user_id = owner
    server = await _known(request, lang, session)
    if server is not None:
        await site_of(request).services.servers.approve(server.guild_id, user_id)
        session["flash"] = [
            "ok",
            lang.tr("Approved: members of {name} can make videos now.", name=server.name),
        ]
    raise web.HTTPSeeOther(ALL_SERVERS)
