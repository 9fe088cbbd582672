"""The pages of a server (every one behind `server_guard`): the overview and its chart, members
and a member, the ledger and its CSV file, the videos, a video, its thumbnail and file, and the
settings."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Final

from aiohttp import web

from bot.clock import utc_now
from bot.dashboard.figures import Overview, overview, spend_chart
from bot.dashboard.site import HERE, VISIT, Site, error_page, page, site_of
from bot.dashboard.values import entry_kind, id_in_path, whole_number
from bot.jobs.records import Job, JobState
from bot.media.frames import FrameUnavailable, thumbnail
from bot.media.videos import VideoUnavailable
from bot.money.allowances import EVERYONE, Period
from bot.money.rules import MAX_AMOUNT, EntryKind
from bot.money.servers import PER_MEMBER_LIMITS, PER_SERVER_LIMITS
from bot.money.summary import server_month
from bot.operations.reports import ExportBusy
from bot.requests.defaults import SERVER
from bot.requests.rules import Model

log = logging.getLogger(__name__)

LEDGER_PAGE: Final = 50
VIDEO_PAGE: Final = 24
MEMBERS_SHOWN: Final = 50
THUMBNAIL_SOURCE_MAX_BYTES: Final = 50 * 1024 * 1024
THUMBNAIL_DOWNLOAD_SECONDS: Final = 20.0
THUMBNAIL_SECONDS: Final = 5.0
OUTCOMES: Final = {"made": JobState.COMPLETED, "failed": JobState.FAILED}


async def _figures(request: web.Request) -> Overview:
    site, visit = site_of(request), request[VISIT]
    services = site.services
    month = await server_month(
        services.ledger, services.jobs, services.guild_settings, visit.guild_id
    )
    return await overview(month, site.ledger, site.jobs, visit.guild_id, utc_now())


async def overview_page(request: web.Request) -> web.Response:
    site, visit = site_of(request), request[VISIT]
    figures = await _figures(request)
    names = await site.names.names(visit.guild_id, [member for member, _ in figures.month.top])
    return page(request, "overview.html", figures=figures, names=names)


async def spend_chart_image(request: web.Request) -> web.Response:
    visit = request[VISIT]
    figures = await _figures(request)
    title = visit.lang.tr("Credits spent per day")
    svg = await asyncio.to_thread(spend_chart, figures.days, title)
    return web.Response(body=svg, content_type="image/svg+xml")


async def members_page(request: web.Request) -> web.Response:
    site, visit = site_of(request), request[VISIT]
    query = request.query.get("q", "").strip()
    wanted = whole_number(query) if query.isascii() and query.isdigit() else None
    if wanted is not None:
        member_ids = [wanted]
    elif query:
        member_ids = await site.directory.search_members(visit.guild_id, query, 25)
    else:
        member_ids = []
    balances = await site.ledger.balances(
        visit.guild_id, member_ids if query else None, MEMBERS_SHOWN
    )
    known = {member for member, _ in balances}
    rows = balances + [(member, None) for member in member_ids if member not in known]
    names = await site.names.names(visit.guild_id, [member for member, _ in rows])
    return page(request, "members.html", rows=rows, names=names, query=query)


async def member_page(request: web.Request) -> web.Response:
    site, visit = site_of(request), request[VISIT]
    services = site.services
    member_id = id_in_path(request, "member")
    # Looking must not open an account: a member new to the bot shows the starting balance.
    stored = await services.ledger.stored_balance(visit.guild_id, member_id)
    settings = await services.guild_settings.get(visit.guild_id)
    balance = settings.default_credits if stored is None else stored
    entries = await site.ledger.entries_page(visit.guild_id, member_id=member_id, limit=20)
    jobs = await services.jobs.recent_for_member(visit.guild_id, member_id, 10)
    names = await site.names.names(
        visit.guild_id, [member_id, *(e.actor_id for e in entries if e.actor_id)]
    )
    return page(
        request,
        "member.html",
        member_id=member_id,
        balance=balance,
        entries=entries,
        jobs=jobs,
        names=names,
        limit=MAX_AMOUNT,
    )


async def ledger_page(request: web.Request) -> web.Response:
    site, visit = site_of(request), request[VISIT]
    member = whole_number(request.query.get("member"))
    kind = entry_kind(request.query.get("kind"))
    before = whole_number(request.query.get("before"))
    entries = await site.ledger.entries_page(
        visit.guild_id, member_id=member, kind=kind, before_id=before, limit=LEDGER_PAGE
    )
    names = await site.names.names(
        visit.guild_id,
        {e.member_id for e in entries} | {e.actor_id for e in entries if e.actor_id},
    )
    older = entries[-1].id if len(entries) == LEDGER_PAGE else None
    return page(
        request,
        "ledger.html",
        entries=entries,
        names=names,
        member=member,
        kind=None if kind is None else kind.value,
        kinds=[k.value for k in EntryKind],
        older=older,
    )


async def ledger_file(request: web.Request) -> web.StreamResponse:
    """The ledger's CSV file, streamed page by page as it is read (never held whole), when
    this server's export has its turn."""
    site, visit = site_of(request), request[VISIT]
    name = f"ledger-{visit.guild_id}-{utc_now():%Y-%m-%d}.csv"
    try:
        async with site.services.exports.turn(visit.guild_id) as pages:
            answer = web.StreamResponse(
                headers={
                    "Content-Type": "text/csv; charset=utf-8",
                    "Content-Disposition": f'attachment; filename="{name}"',
                    "Cache-Control": "no-store",
                }
            )
            await answer.prepare(request)
            async for text in pages:
                await answer.write(text.encode())
            await answer.write_eof()
            return answer
    except ExportBusy as busy:
        return error_page(request, visit.lang, visit.session, 429, busy.text)


async def videos_page(request: web.Request) -> web.Response:
    site, visit = site_of(request), request[VISIT]
    member = whole_number(request.query.get("member"))
    model = request.query.get("model") or None
    outcome = request.query.get("outcome") or None
    state = OUTCOMES[outcome].value if outcome in OUTCOMES else None
    before = whole_number(request.query.get("before"))
    found = await site.jobs.gallery(
        visit.guild_id,
        member_id=member,
        model=model if model in {m.value for m in Model} else None,
        state=state,
        before_seq=before,
        limit=VIDEO_PAGE,
    )
    names = await site.names.names(visit.guild_id, {job.member_id for _, job in found})
    older = found[-1][0] if len(found) == VIDEO_PAGE else None
    return page(
        request,
        "videos.html",
        jobs=[job for _, job in found],
        names=names,
        member=member,
        model=model,
        outcome=outcome,
        models=list(Model),
        older=older,
    )


async def video_page(request: web.Request) -> web.Response:
    site, visit = site_of(request), request[VISIT]
    job = await visited_job(request)
    maker = (await site.names.names(visit.guild_id, [job.member_id]))[job.member_id]
    return page(
        request,
        "video.html",
        job=job,
        archived=archived(site, job) is not None,
        maker=maker,
        may_delete=job.member_id == visit.user_id or visit.rights.manage_messages,
    )


async def thumbnail_image(request: web.Request) -> web.StreamResponse:
    site = site_of(request)
    job = await visited_job(request)
    # A deleted video's frame is never shown again, not even from the cache.
    picture = None if job.deleted_at is not None else site.thumbnails.get(job.id)
    if picture is None:
        picture = await make_thumbnail(site, job)
    if picture is None:
        return web.FileResponse(HERE / "static" / "no-thumbnail.svg")
    return web.Response(
        body=picture,
        content_type="image/jpeg",
        headers={"Cache-Control": "private, max-age=3600"},
    )


async def video_file(request: web.Request) -> web.StreamResponse:
    job = await visited_job(request)
    path = archived(site_of(request), job)
    if path is None:
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={"Content-Type": "video/mp4"})


async def settings_page(request: web.Request) -> web.Response:
    site, visit = site_of(request), request[VISIT]
    services = site.services
    settings = await services.guild_settings.get(visit.guild_id)
    words = await services.rules.blocked_words(visit.guild_id)
    return page(
        request,
        "settings.html",
        settings=settings,
        words=", ".join(words.entries),
        nsfw=await services.rules.nsfw_allowed(visit.guild_id),
        defaults=await services.option_defaults.get(visit.guild_id, SERVER),
        roles=await site.directory.role_names(visit.guild_id),
        everyone=EVERYONE,
        periods=[p.value for p in Period],
        models=list(Model),
        limit=MAX_AMOUNT,
        per_member=PER_MEMBER_LIMITS,
        per_server=PER_SERVER_LIMITS,
    )


async def visited_job(request: web.Request) -> Job:
    """The job named in the path, when it is one of the visited server's."""
    job = await site_of(request).services.jobs.get(request.match_info["job"])
    if job is None or job.guild_id != request[VISIT].guild_id:
        raise web.HTTPNotFound()
    return job


def archived(site: Site, job: Job) -> Path | None:
    if job.deleted_at is not None:
        return None
    path = site.services.videos.archived_path(job.id)
    return path if path is not None and path.is_file() else None


async def make_thumbnail(site: Site, job: Job) -> bytes | None:
    """The first frame, from the archive or else Apiframe's link while it lives; kept for the
    next page (a few hundred at most). The download holds no decoding slot; the decoding is
    bounded in frame size and time; a video that gives none is not tried again for a while."""
    if job.state is not JobState.COMPLETED or job.deleted_at is not None:
        return None
    if site.thumbnails.failed_recently(job.id):
        return None
    video = await _thumbnail_source(site, job)
    if video is None:
        site.thumbnails.note_failure(job.id)
        return None
    async with site.thumbnailing:
        decoding = asyncio.ensure_future(asyncio.to_thread(thumbnail, video))
        try:
            picture = await asyncio.wait_for(asyncio.shield(decoding), THUMBNAIL_SECONDS)
        except (FrameUnavailable, TimeoutError) as exc:
            log.info("job %s: no thumbnail (%s)", job.id, exc or "too slow")
            site.thumbnails.note_failure(job.id)
            if not decoding.done():  # a decoding thread cannot be stopped: let it end alone
                decoding.add_done_callback(lambda done: done.exception())
            return None
    site.thumbnails.keep(job.id, picture)
    return picture


async def _thumbnail_source(site: Site, job: Job) -> bytes | None:
    videos = site.services.videos
    async with site.thumbnail_downloads:
        video = await videos.archived(job.id)
        if video is not None or not job.video_url:
            return video
        try:
            async with asyncio.timeout(THUMBNAIL_DOWNLOAD_SECONDS):
                fetched = await videos.fetch(
                    job.video_url, "thumbnail.mp4", THUMBNAIL_SOURCE_MAX_BYTES
                )
        except (VideoUnavailable, TimeoutError) as exc:
            log.info("job %s: no video to take a thumbnail from (%s)", job.id, exc or "slow")
            return None
        return fetched.data
