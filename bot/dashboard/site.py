"""The dashboard's pages, as an aiohttp application mounted at `/dashboard`.

Who may see what: a person logs in with Discord; the server list shows the servers the bot is
in where Discord said, at login, they may manage the server. Every page of a server, and every
form, asks again with the bot's own view of the member at that moment (`Directory.rights`): a
person who lost Manage Server after logging in gets 403, however they got the URL.

Sessions live in an encrypted, signed cookie (HttpOnly, SameSite=Lax, Secure behind https),
keyed by a secret the bot keeps in its database. Every form carries the session's CSRF token
and is refused without it. Pages carry a content-security policy that allows nothing but the
dashboard's own files.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import jinja2
from aiohttp import web
from aiohttp_session import Session, get_session, new_session, session_middleware
from aiohttp_session.cookie_storage import EncryptedCookieStorage

from bot.clock import utc_now
from bot.dashboard.directory import Directory, Rights
from bot.dashboard.figures import overview, spend_chart
from bot.dashboard.oauth import LoginFailed, OAuthClient, new_state
from bot.errors import RequestRejected, UserFacingError
from bot.i18n import Language, Text, catalogues, msg
from bot.jobs.records import Job, JobState
from bot.media.frames import FrameUnavailable, thumbnail
from bot.money.allowances import EVERYONE, Period
from bot.money.rules import MAX_AMOUNT, EntryKind
from bot.requests.defaults import SERVER, OptionDefaults
from bot.requests.rules import Model
from bot.service.reports import ledger_csv
from bot.services import Services
from bot.store.jobs import SqlJobStore
from bot.store.ledger import SqlLedgerStore

log = logging.getLogger(__name__)

PATH: Final = "/dashboard"
HERE: Final = Path(__file__).resolve().parent
COOKIE: Final = "hailuo_dashboard"
COOKIE_KEY_STATE: Final = "dashboard_cookie_key"
SESSION_DAYS: Final = 7
LEDGER_PAGE: Final = 50
VIDEO_PAGE: Final = 24
MEMBERS_SHOWN: Final = 50
NAMES_KEPT: Final = 2048
NAME_SECONDS: Final = 600.0
THUMBNAILS_KEPT: Final = 256
THUMBNAILS_AT_ONCE: Final = 2
THUMBNAIL_SOURCE_MAX_BYTES: Final = 50 * 1024 * 1024
OUTCOMES: Final = {"made": JobState.COMPLETED, "failed": JobState.FAILED}


@dataclass(frozen=True, slots=True)
class Visit:
    """One request to a server's pages: who, where, with what rights, in which language."""

    guild_id: int
    guild_name: str
    user_id: int
    rights: Rights
    lang: Language
    session: Session


Handler = Callable[[web.Request, Visit], Awaitable[web.StreamResponse]]


class Dashboard:
    def __init__(
        self,
        services: Services,
        ledger_store: SqlLedgerStore,
        job_store: SqlJobStore,
        directory: Directory,
        oauth: OAuthClient,
        *,
        secure: bool,
    ) -> None:
        self._services = services
        self._ledger = ledger_store
        self._jobs = job_store
        self._directory = directory
        self._oauth = oauth
        self._secure = secure
        self._names: OrderedDict[tuple[int, int], tuple[float, str]] = OrderedDict()
        self._thumbnails: OrderedDict[str, bytes] = OrderedDict()
        self._thumbnailing = asyncio.Semaphore(THUMBNAILS_AT_ONCE)
        self._templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=jinja2.select_autoescape(("html",)),
            undefined=jinja2.StrictUndefined,
        )

    async def application(self) -> web.Application:
        """The `/dashboard` application, with its session cookies keyed from the database."""
        storage = EncryptedCookieStorage(
            await self._cookie_key(),
            cookie_name=COOKIE,
            httponly=True,
            samesite="Lax",
            secure=self._secure,
            max_age=SESSION_DAYS * 86400,
            path=PATH,
        )
        app = web.Application(middlewares=[session_middleware(storage), _protected])
        routes = app.router
        routes.add_get("/", self._home)
        routes.add_get("/login", self._login)
        routes.add_get("/callback", self._callback)
        routes.add_post("/logout", self._logout)
        routes.add_static("/static", HERE / "static", show_index=False)
        guild = "/{guild:\\d+}"
        for path, handler in (
            ("", self._overview),
            ("/spend.svg", self._chart),
            ("/members", self._members),
            ("/members/{member:\\d+}", self._member),
            ("/ledger", self._ledger_page),
            ("/ledger.csv", self._ledger_csv),
            ("/videos", self._videos),
            ("/videos/{job}.jpg", self._thumbnail),
            ("/videos/{job}.mp4", self._video_file),
            ("/videos/{job}", self._video),
            ("/settings", self._settings),
        ):
            routes.add_get(guild + path, self._guarded(handler))
        for path, handler in (
            ("/members/{member:\\d+}", self._change_credits),
            ("/videos/{job}/delete", self._delete_video),
            ("/settings/{section}", self._change_settings),
        ):
            routes.add_post(guild + path, self._guarded(handler, form=True))
        return app

    async def _cookie_key(self) -> bytes:
        """The cookie key, made once and kept in the database: sessions survive restarts,
        and every process of a sharded bot reads the same one."""
        state = self._services.state
        kept = await state.get_state(COOKIE_KEY_STATE)
        if kept is None:
            await state.set_state(
                COOKIE_KEY_STATE, base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
            )
            kept = await state.get_state(COOKIE_KEY_STATE)
        assert kept is not None
        return base64.urlsafe_b64decode(kept)

    # -- rendering -----------------------------------------------------------------------------

    def _render(
        self,
        template: str,
        lang: Language,
        session: Session,
        values: Mapping[str, object],
        *,
        status: int = 200,
    ) -> web.Response:
        flash = session.pop("flash", None)
        page = self._templates.get_template(template).render(
            _=lambda text, **params: lang.tr(text, **params),
            lang=lang,
            csrf=_csrf(session),
            user_name=session.get("name"),
            flash=flash,
            base=PATH,
            **values,
        )
        return web.Response(text=page, content_type="text/html", charset="utf-8", status=status)

    def _language(self, request: web.Request, session: Session) -> Language:
        header = request.headers.get("Accept-Language", "").split(",", 1)[0].split(";", 1)[0]
        return catalogues().choose(session.get("locale"), header.strip() or None)

    # -- logging in and out --------------------------------------------------------------------

    async def _home(self, request: web.Request) -> web.Response:
        session = await get_session(request)
        lang = self._language(request, session)
        if "user" not in session:
            return self._render("login.html", lang, session, {})
        servers = [
            (guild_id, name)
            for guild_id in session.get("guilds", [])
            if (name := self._directory.guild_name(guild_id)) is not None
        ]
        return self._render(
            "servers.html", lang, session, {"servers": sorted(servers, key=_second)}
        )

    async def _login(self, request: web.Request) -> web.Response:
        session = await new_session(request)
        state = new_state()
        session["state"] = state
        session["next"] = _local_path(request.query.get("next"))
        raise web.HTTPFound(self._oauth.authorize_url(state))

    async def _callback(self, request: web.Request) -> web.Response:
        session = await get_session(request)
        lang = self._language(request, session)
        expected = session.pop("state", None)
        given = request.query.get("state", "")
        if not expected or not hmac.compare_digest(str(expected), given):
            return self._error(
                lang, session, 400, msg("This login link has expired: log in again.")
            )
        code = request.query.get("code")
        if not code:
            return self._error(
                lang, session, 400, msg("Discord did not confirm the login: try again.")
            )
        try:
            user = await self._oauth.user_for(code)
        except LoginFailed as exc:
            log.warning("dashboard: a login failed: %s", exc)
            return self._error(
                lang, session, 502, msg("Discord did not confirm the login: try again.")
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

    async def _logout(self, request: web.Request) -> web.Response:
        session = await get_session(request)
        form = await request.post()
        if "user" in session and _csrf_ok(session, form):
            session.invalidate()
        raise web.HTTPFound(f"{PATH}/")

    def _error(self, lang: Language, session: Session, status: int, message: Text) -> web.Response:
        return self._render(
            "error.html", lang, session, {"message": lang.render(message)}, status=status
        )

    # -- who may see a server ------------------------------------------------------------------

    def _guarded(
        self, handler: Handler, *, form: bool = False
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def guarded(request: web.Request) -> web.StreamResponse:
            session = await get_session(request)
            lang = self._language(request, session)
            if "user" not in session:
                raise web.HTTPFound(f"{PATH}/login?next={request.path}")
            guild_id = _id_in_path(request, "guild")
            name = self._directory.guild_name(guild_id)
            user_id = int(session["user"])
            # The bot's own view of the member, now: never the login-time list alone.
            rights = await self._directory.rights(guild_id, user_id) if name else Rights()
            if name is None or not rights.manage_guild:
                return self._error(
                    lang,
                    session,
                    403,
                    msg(
                        "You do not have the Manage Server permission in this server (or the "
                        "bot is not in it)."
                    ),
                )
            if form and not _csrf_ok(session, await request.post()):
                return self._error(
                    lang, session, 403, msg("This form has expired: reload the page and try again.")
                )
            return await handler(request, Visit(guild_id, name, user_id, rights, lang, session))

        return guarded

    # -- pages ---------------------------------------------------------------------------------

    async def _overview(self, request: web.Request, visit: Visit) -> web.Response:
        settings = await self._services.guild_settings.get(visit.guild_id)
        figures = await overview(
            self._ledger, self._jobs, visit.guild_id, settings.monthly_cap, utc_now()
        )
        names = await self._names_of(visit.guild_id, [member for member, _ in figures.top])
        return self._page("overview.html", visit, figures=figures, names=names)

    async def _chart(self, request: web.Request, visit: Visit) -> web.Response:
        settings = await self._services.guild_settings.get(visit.guild_id)
        figures = await overview(
            self._ledger, self._jobs, visit.guild_id, settings.monthly_cap, utc_now()
        )
        title = visit.lang.tr("Credits spent per day")
        svg = await asyncio.to_thread(spend_chart, figures.days, title)
        return web.Response(body=svg, content_type="image/svg+xml")

    async def _members(self, request: web.Request, visit: Visit) -> web.Response:
        query = request.query.get("q", "").strip()
        wanted = _int(query) if query.isascii() and query.isdigit() else None
        if wanted is not None:
            member_ids = [wanted]
        elif query:
            member_ids = await self._directory.search_members(visit.guild_id, query, 25)
        else:
            member_ids = []
        balances = await self._ledger.balances(
            visit.guild_id, member_ids if query else None, MEMBERS_SHOWN
        )
        known = {member for member, _ in balances}
        rows = balances + [(member, None) for member in member_ids if member not in known]
        names = await self._names_of(visit.guild_id, [member for member, _ in rows])
        return self._page("members.html", visit, rows=rows, names=names, query=query)

    async def _member(self, request: web.Request, visit: Visit) -> web.Response:
        member_id = _id_in_path(request, "member")
        # Looking must not open an account: a member new to the bot shows the starting balance.
        stored = await self._services.ledger.stored_balance(visit.guild_id, member_id)
        settings = await self._services.guild_settings.get(visit.guild_id)
        balance = settings.default_credits if stored is None else stored
        entries = await self._ledger.entries_page(visit.guild_id, member_id=member_id, limit=20)
        jobs = await self._services.jobs.recent_for_member(visit.guild_id, member_id, 10)
        names = await self._names_of(
            visit.guild_id, [member_id, *(e.actor_id for e in entries if e.actor_id)]
        )
        return self._page(
            "member.html",
            visit,
            member_id=member_id,
            balance=balance,
            entries=entries,
            jobs=jobs,
            names=names,
            limit=MAX_AMOUNT,
        )

    async def _ledger_page(self, request: web.Request, visit: Visit) -> web.Response:
        member = _int(request.query.get("member"))
        kind = _kind(request.query.get("kind"))
        before = _int(request.query.get("before"))
        entries = await self._ledger.entries_page(
            visit.guild_id, member_id=member, kind=kind, before_id=before, limit=LEDGER_PAGE
        )
        names = await self._names_of(
            visit.guild_id,
            {e.member_id for e in entries} | {e.actor_id for e in entries if e.actor_id},
        )
        older = entries[-1].id if len(entries) == LEDGER_PAGE else None
        return self._page(
            "ledger.html",
            visit,
            entries=entries,
            names=names,
            member=member,
            kind=None if kind is None else kind.value,
            kinds=[k.value for k in EntryKind],
            older=older,
        )

    async def _ledger_csv(self, request: web.Request, visit: Visit) -> web.Response:
        text = await ledger_csv(self._ledger, visit.guild_id)
        name = f"ledger-{visit.guild_id}-{utc_now():%Y-%m-%d}.csv"
        return web.Response(
            text=text,
            content_type="text/csv",
            charset="utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    async def _videos(self, request: web.Request, visit: Visit) -> web.Response:
        member = _int(request.query.get("member"))
        model = request.query.get("model") or None
        outcome = request.query.get("outcome") or None
        state = OUTCOMES[outcome].value if outcome in OUTCOMES else None
        before = _int(request.query.get("before"))
        found = await self._jobs.gallery(
            visit.guild_id,
            member_id=member,
            model=model if model in {m.value for m in Model} else None,
            state=state,
            before_seq=before,
            limit=VIDEO_PAGE,
        )
        names = await self._names_of(visit.guild_id, {job.member_id for _, job in found})
        older = found[-1][0] if len(found) == VIDEO_PAGE else None
        return self._page(
            "videos.html",
            visit,
            jobs=[job for _, job in found],
            names=names,
            member=member,
            model=model,
            outcome=outcome,
            models=list(Model),
            older=older,
        )

    async def _video(self, request: web.Request, visit: Visit) -> web.Response:
        job = await self._job(request, visit)
        archived = self._archived(job)
        return self._page(
            "video.html",
            visit,
            job=job,
            archived=archived is not None,
            maker=(await self._names_of(visit.guild_id, [job.member_id]))[job.member_id],
            may_delete=job.member_id == visit.user_id or visit.rights.manage_messages,
        )

    async def _thumbnail(self, request: web.Request, visit: Visit) -> web.StreamResponse:
        job = await self._job(request, visit)
        # A deleted video's frame is never shown again, not even from the cache.
        picture = None if job.deleted_at is not None else self._thumbnails.get(job.id)
        if picture is None:
            picture = await self._make_thumbnail(job)
        if picture is None:
            return web.FileResponse(HERE / "static" / "no-thumbnail.svg")
        return web.Response(
            body=picture,
            content_type="image/jpeg",
            headers={"Cache-Control": "private, max-age=3600"},
        )

    async def _video_file(self, request: web.Request, visit: Visit) -> web.StreamResponse:
        job = await self._job(request, visit)
        path = self._archived(job)
        if path is None:
            raise web.HTTPNotFound()
        return web.FileResponse(path, headers={"Content-Type": "video/mp4"})

    async def _settings(self, request: web.Request, visit: Visit) -> web.Response:
        settings = await self._services.guild_settings.get(visit.guild_id)
        words = await self._services.rules.blocked_words(visit.guild_id)
        return self._page(
            "settings.html",
            visit,
            settings=settings,
            words=", ".join(words.entries),
            nsfw=await self._services.rules.nsfw_allowed(visit.guild_id),
            defaults=await self._services.option_defaults.get(visit.guild_id, SERVER),
            roles=self._directory.role_names(visit.guild_id),
            everyone=EVERYONE,
            periods=[p.value for p in Period],
            models=list(Model),
            limit=MAX_AMOUNT,
        )

    # -- forms ---------------------------------------------------------------------------------

    async def _change_credits(self, request: web.Request, visit: Visit) -> web.Response:
        member_id = _id_in_path(request, "member")
        form = await request.post()
        amount = _int(str(form.get("amount", "")))
        note = str(form.get("reason", ""))
        action = form.get("action")
        lang, ledger = visit.lang, self._services.ledger
        if amount is None or not -MAX_AMOUNT <= amount <= MAX_AMOUNT:
            bounds = {"low": -MAX_AMOUNT, "high": MAX_AMOUNT}
            self._flash(visit, "error", lang.tr("Give an amount from {low} to {high}.", **bounds))
        elif action == "set" and amount < 0:
            self._flash(visit, "error", lang.tr("A balance cannot be negative."))
        else:
            move = ledger.set_balance if action == "set" else ledger.add_credits
            change = await move(visit.guild_id, member_id, amount, visit.user_id, note)
            said = lang.tr(
                "The balance is now {balance} ({change:+d}).",
                balance=change.balance,
                change=change.delta,
            )
            self._flash(visit, "ok", said)
        raise web.HTTPSeeOther(f"{PATH}/{visit.guild_id}/members/{member_id}")

    async def _delete_video(self, request: web.Request, visit: Visit) -> web.Response:
        job = await self._job(request, visit)
        try:
            # The Delete button's own rule: its member, or someone with Manage Messages.
            await self._services.studio.delete(
                job.id, visit.guild_id, visit.user_id, manages_messages=visit.rights.manage_messages
            )
        except UserFacingError as error:
            self._flash(visit, "error", visit.lang.render(error.text))
            raise web.HTTPSeeOther(f"{PATH}/{visit.guild_id}/videos/{job.id}") from None
        self._thumbnails.pop(job.id, None)
        for channel_id, message_id in _messages_of(job):
            await self._directory.delete_message(channel_id, message_id)
        self._flash(visit, "ok", visit.lang.tr("Deleted. (Credits are not affected.)"))
        raise web.HTTPSeeOther(f"{PATH}/{visit.guild_id}/videos")

    async def _change_settings(self, request: web.Request, visit: Visit) -> web.Response:
        section = request.match_info["section"]
        form = await request.post()
        try:
            said = await self._apply_setting(visit, section, form)
        except RequestRejected as refused:
            self._flash(visit, "error", " ".join(visit.lang.render(p) for p in refused.problems))
        except UserFacingError as refused:
            self._flash(visit, "error", visit.lang.render(refused.text))
        except FormRefused as refused:
            self._flash(visit, "error", str(refused))
        except ValueError:  # a value no field of the form offers (a forged or stale form)
            self._flash(
                visit, "error", visit.lang.tr("That choice is not one this form offers: reload it.")
            )
        else:
            self._flash(visit, "ok", said)
        raise web.HTTPSeeOther(f"{PATH}/{visit.guild_id}/settings")

    async def _apply_setting(self, visit: Visit, section: str, form: Mapping[str, Any]) -> str:
        """One settings form, through the same domain calls as its `/quota` command."""
        services, guild_id, actor, lang = self._services, visit.guild_id, visit.user_id, visit.lang
        if section == "default":
            amount = _bounded(form.get("amount"), 0, MAX_AMOUNT, lang)
            await services.guild_settings.set_default_credits(guild_id, amount, actor_id=actor)
            return lang.tr("Members new to the bot now start with {amount} credits.", amount=amount)
        if section == "cap":
            cap = _bounded(form.get("amount"), 0, MAX_AMOUNT, lang)
            await services.guild_settings.set_monthly_cap(guild_id, cap or None, actor_id=actor)
            return lang.tr("The monthly cap is now {cap}.", cap=cap or lang.tr("none"))
        if section == "limits":
            per_member = _bounded(form.get("per_member"), 1, 100, lang)
            per_server = _bounded(form.get("per_server"), 1, 1000, lang)
            await services.guild_settings.set_limits(
                guild_id, per_member, per_server, actor_id=actor
            )
            await services.studio.limits_changed(guild_id)
            return lang.tr(
                "Limits saved: {member} per member, {server} for the server.",
                member=per_member,
                server=per_server,
            )
        if section == "allowance":
            amount = _bounded(form.get("amount"), 0, MAX_AMOUNT, lang)
            role = _int(str(form.get("role", "")))
            period = Period(str(form.get("period", "")))
            await services.guild_settings.set_allowance(
                guild_id,
                None if not role or role == EVERYONE else role,
                amount,
                period,
                actor_id=actor,
            )
            return lang.tr("Allowance saved.") if amount else lang.tr("Allowance removed.")
        if section == "words":
            wanted = [
                w for w in (" ".join(x.split()) for x in str(form.get("words", "")).split(",")) if w
            ]
            current = list((await services.rules.blocked_words(guild_id)).entries)
            gone = [w for w in current if w not in wanted]
            added = [w for w in wanted if w not in current]
            if gone:
                await services.rules.unblock(guild_id, gone)
            if added:
                await services.rules.block(guild_id, added, actor)
            return lang.tr(
                "Blocked words saved: {count} in all.",
                count=len((await services.rules.blocked_words(guild_id)).entries),
            )
        if section == "nsfw":
            allowed = form.get("allowed") == "on"
            await services.rules.set_nsfw_allowed(guild_id, allowed, actor)
            return (
                lang.tr("Adult content is now allowed in age-restricted channels.")
                if allowed
                else lang.tr("Adult content is now refused everywhere.")
            )
        if section == "defaults":
            given = OptionDefaults(
                duration=_int(str(form.get("duration", ""))),
                resolution=str(form.get("resolution")) or None,
                prompt_optimizer={"on": True, "off": False}.get(str(form.get("prompt_optimizer"))),
                camera=str(form.get("camera", "")).strip() or None,
                model=str(form.get("model")) or None,
            )
            await services.option_defaults.update(guild_id, SERVER, given, clear=True)
            return lang.tr("The server's defaults are saved.")
        raise web.HTTPNotFound()

    # -- helpers -------------------------------------------------------------------------------

    def _page(self, template: str, visit: Visit, **values: object) -> web.Response:
        return self._render(
            template,
            visit.lang,
            visit.session,
            {"guild_id": visit.guild_id, "guild_name": visit.guild_name, **values},
        )

    @staticmethod
    def _flash(visit: Visit, kind: str, text: str) -> None:
        visit.session["flash"] = [kind, text]

    async def _job(self, request: web.Request, visit: Visit) -> Job:
        job = await self._services.jobs.get(request.match_info["job"])
        if job is None or job.guild_id != visit.guild_id:
            raise web.HTTPNotFound()
        return job

    def _archived(self, job: Job) -> Path | None:
        if job.deleted_at is not None:
            return None
        path = self._services.videos.archived_path(job.id)
        return path if path is not None and path.is_file() else None

    async def _make_thumbnail(self, job: Job) -> bytes | None:
        """The first frame, from the archive or else Apiframe's link while it lives; kept for
        the next page (a few hundred at most)."""
        if job.state is not JobState.COMPLETED or job.deleted_at is not None:
            return None
        async with self._thumbnailing:
            video = await self._services.videos.archived(job.id)
            if video is None and job.video_url:
                try:
                    video = (
                        await self._services.videos.fetch(
                            job.video_url, "thumbnail.mp4", THUMBNAIL_SOURCE_MAX_BYTES
                        )
                    ).data
                except Exception:  # noqa: BLE001 - a missing picture is not worth a failure
                    log.info("job %s: no video to take a thumbnail from", job.id)
                    return None
            if video is None:
                return None
            try:
                picture = await asyncio.to_thread(thumbnail, video)
            except FrameUnavailable:
                return None
        self._thumbnails[job.id] = picture
        while len(self._thumbnails) > THUMBNAILS_KEPT:
            self._thumbnails.popitem(last=False)
        return picture

    async def _names_of(self, guild_id: int, member_ids: Any) -> dict[int, str]:
        """Display names, remembered a few minutes (a page lists the same members again)."""
        now = time.monotonic()
        names: dict[int, str] = {}
        missing = []
        for member in dict.fromkeys(member_ids):
            kept = self._names.get((guild_id, member))
            if kept is not None and now - kept[0] < NAME_SECONDS:
                names[member] = kept[1]
            else:
                missing.append(member)
        if missing:
            found = await self._directory.member_names(guild_id, missing)
            for member in missing:
                name = found.get(member, str(member))
                names[member] = name
                self._names[(guild_id, member)] = (now, name)
            while len(self._names) > NAMES_KEPT:
                self._names.popitem(last=False)
        return names


@web.middleware
async def _protected(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Headers on every answer: only the dashboard's own files may load; no framing."""
    response = await handler(request)
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; "
        "media-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    )
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if response.content_type == "text/html":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def _csrf(session: Session) -> str:
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        session["csrf"] = token
    return token


def _csrf_ok(session: Session, form: Mapping[str, Any]) -> bool:
    expected = session.get("csrf")
    given = form.get("csrf")
    return (
        isinstance(expected, str)
        and isinstance(given, str)
        and hmac.compare_digest(expected, given)
    )


BIGGEST: Final = 2**63 - 1  # what both engines store; Discord's ids fit


def _int(text: str | None) -> int | None:
    """A whole number a database column can hold, or None."""
    try:
        number = int(text) if text else None
    except ValueError:
        return None
    return number if number is None or abs(number) <= BIGGEST else None


def _id_in_path(request: web.Request, name: str) -> int:
    number = _int(request.match_info[name])
    if number is None:
        raise web.HTTPNotFound()
    return number


class FormRefused(Exception):
    """A form field out of its bounds: the sentence to show, already in the reader's language."""


def _bounded(value: object, low: int, high: int, lang: Language) -> int:
    number = _int(str(value or ""))
    if number is None or not low <= number <= high:
        raise FormRefused(lang.tr("Give a whole number from {low} to {high}.", low=low, high=high))
    return number


def _kind(text: str | None) -> EntryKind | None:
    try:
        return EntryKind(text) if text else None
    except ValueError:
        return None


def _local_path(text: str | None) -> str | None:
    """A place to go back to after logging in, when it is one of the dashboard's own."""
    if text and text.startswith(f"{PATH}/") and "//" not in text and "\\" not in text:
        return text
    return None


def _messages_of(job: Job) -> list[tuple[int, int]]:
    found = []
    if job.video_channel_id and job.video_message_id:
        found.append((job.video_channel_id, job.video_message_id))
    if job.card_message_id and (job.channel_id, job.card_message_id) not in found:
        found.append((job.channel_id, job.card_message_id))
    return found


def _second(item: tuple[int, str]) -> str:
    return item[1].lower()
