"""The dashboard under abuse: what an attacker, a misbehaving Discord or a heavy export could
do to the whole bot through it, each as the review found it, and what the bot does now.

1. logins and callbacks cannot make the bot hammer Discord's token endpoint;
2. page views cost Discord no member fetch for strangers, and one per few seconds for admins;
3. the ledger's CSV streams in pages, one export per server at a time;
4. Log out (or the owner) ends a session for good, and the database holds no key to make one;
5. a misbehaving Discord gets the right answer, in time, never a traceback;
6. a Delete Discord refuses leaves the video as it was;
7. thumbnails are bounded, and a failure is not tried again on every request;
8. the public archive: private caching, files gone on Delete, private permissions;
9. Extend decodes no frame for requests its member cannot pay for;
10. a person who manages hundreds of servers logs in with a small cookie;
11. a forged settings form is refused in words;
12. `/video show public` of a video a moderator deleted answers privately.
"""

from __future__ import annotations

import asyncio
import io
import re
import stat
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yarl
from PIL import Image

from bot.dashboard.sessions import digest
from bot.operations.cli import run_cli
from bot.settings import load_store_settings
from testkit.commands import hailuo, opt
from testkit.fake_apiframe import FakeApiframe
from testkit.fake_discord import FakeDiscord, FakeMember
from testkit.harness import RunningBot, free_port, make_settings
from testkit.media import small_mp4
from tests.e2e.test_dashboard import Site

READY = "your video is ready"
TOKEN = "/oauth2/token"


@pytest.fixture
async def site(
    tmp_path: Path, fake_discord: FakeDiscord, fake_apiframe: FakeApiframe
) -> AsyncIterator[Site]:
    port = free_port()
    base = f"http://127.0.0.1:{port}/dashboard"
    settings = make_settings(
        tmp_path,
        fake_discord,
        fake_apiframe,
        http_port=port,
        dashboard_public_url=base,
        discord_client_secret=fake_discord.client_secret,
        video_archive_dir=tmp_path / "videos",
        video_public_base_url=f"http://127.0.0.1:{port}",
    )
    harness = RunningBot(settings, fake_discord)
    await harness.start()
    yield Site(harness, base, tmp_path / "screenshots")
    await harness.stop()


def jar() -> aiohttp.CookieJar:
    return aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1, an address not a name


async def logged_in(site: Site, member: FakeMember, http: aiohttp.ClientSession) -> None:
    site.discord.log_in(member)
    async with http.get(f"{site.base}/login") as answer:
        assert answer.status == 200, answer.status


def token_requests(discord: FakeDiscord) -> int:
    return sum(1 for method, path in discord.requests if (method, path) == ("POST", TOKEN))


def member_fetches(discord: FakeDiscord) -> int:
    return sum(
        1
        for method, path in discord.requests
        if method == "GET" and re.fullmatch(r"/guilds/\d+/members/\d+", path)
    )


async def made_video(site: Site, member: FakeMember, prompt: str = "a lighthouse") -> str:
    asked = await site.discord.invoke("hailuo", hailuo(prompt), member=member)
    await site.discord.wait_reply(asked, READY, within=20)
    [job] = await site.bot.rows("SELECT id FROM jobs WHERE prompt = $1", prompt)
    return str(job["id"])


# -- 1. logins and callbacks -----------------------------------------------------------------------


@pytest.mark.engines("sqlite")
async def test_made_up_callbacks_cannot_make_the_bot_hammer_discords_token_endpoint(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    """Before: 500 callbacks with a fresh login token each and a made-up code sent 500
    requests to the token endpoint, 200 more while Discord answered 429, a log line each."""
    discord = site.discord
    discord.log_in(discord.add_member("anyone"))
    statuses: list[int] = []

    async def attempt(address: str) -> None:
        headers = {"X-Forwarded-For": address}
        async with aiohttp.ClientSession(cookie_jar=jar()) as http:
            async with http.get(
                f"{site.base}/login", headers=headers, allow_redirects=False
            ) as answer:
                if answer.status != 302:
                    statuses.append(answer.status)
                    return
                state = yarl.URL(answer.headers["Location"]).query["state"]
            made_up = yarl.URL(f"{site.base}/callback").with_query(code="made-up", state=state)
            async with http.get(made_up, headers=headers, allow_redirects=False) as answer:
                statuses.append(answer.status)

    # One address: its own limit (5 at once).
    for _ in range(100):
        await attempt("203.0.113.7")
    assert token_requests(discord) <= 5
    assert statuses.count(429) >= 90
    # Many addresses (one request each): the whole bot's limit (10 at once, 30 a minute).
    await asyncio.gather(*(attempt(f"198.51.100.{n}") for n in range(200)))
    assert token_requests(discord) <= 5 + 10 + 2
    refusals = [r for r in caplog.records if "too fast" in r.getMessage()]
    assert 1 <= len(refusals) <= 2  # a line a minute, with the count of the others


@pytest.mark.engines("sqlite")
async def test_discords_429_on_the_token_endpoint_keeps_logins_away_for_its_retry_after(
    site: Site,
) -> None:
    discord = site.discord
    discord.log_in(discord.add_member("anyone"))
    discord.fail("POST", "^/oauth2/token$", 429, headers={"Retry-After": "30"}, times=1)
    async with aiohttp.ClientSession(cookie_jar=jar()) as http:
        async with http.get(f"{site.base}/login") as answer:
            assert answer.status == 503
            assert "asked the bot to wait" in await answer.text()
            assert int(answer.headers["Retry-After"]) >= 29
        before = token_requests(discord)
        for _ in range(3):
            async with http.get(f"{site.base}/login") as answer:
                assert answer.status == 503
        assert token_requests(discord) == before  # nothing sent while Discord said to wait


async def test_a_state_reaches_discord_once_and_only_from_the_browser_it_was_given_to(
    site: Site,
) -> None:
    discord = site.discord
    discord.log_in(discord.add_member("anyone"))
    async with aiohttp.ClientSession(cookie_jar=jar()) as mine:
        async with mine.get(f"{site.base}/login", allow_redirects=False) as answer:
            authorize = answer.headers["Location"]
        async with mine.get(authorize, allow_redirects=False) as answer:
            callback = yarl.URL(answer.headers["Location"])
        # Another browser (no login cookie) with the same link: refused, nothing sent.
        async with (
            aiohttp.ClientSession(cookie_jar=jar()) as theirs,
            theirs.get(callback) as answer,
        ):
            assert answer.status == 400
        assert token_requests(discord) == 0
        async with mine.get(callback) as answer:
            assert answer.status == 200
        async with mine.get(callback) as answer:  # the same state again
            assert answer.status == 400
        assert token_requests(discord) == 1


@pytest.mark.engines("sqlite")
async def test_a_login_started_from_another_site_logs_nobody_out(site: Site) -> None:
    admin = site.discord.add_member("admin", admin=True)
    async with aiohttp.ClientSession(cookie_jar=jar()) as http:
        await logged_in(site, admin, http)
        async with http.get(f"{site.base}/login", allow_redirects=False) as answer:
            assert answer.status == 302  # on its way to Discord, as a link elsewhere sends it
        async with http.get(site.server(), allow_redirects=False) as answer:
            assert answer.status == 200


# -- 2. member fetches -----------------------------------------------------------------------------


@pytest.mark.engines("sqlite")
async def test_strangers_cost_discord_nothing_and_admins_one_look_per_few_seconds(
    site: Site,
) -> None:
    """Before: 300 requests from an account in none of the bot's servers made 300 member
    fetches; 20 byte ranges of one video, 20."""
    discord = site.discord
    stranger = discord.add_member("stranger")
    stranger.permissions = 0  # Discord lists the server for them, but they manage nothing
    async with aiohttp.ClientSession(cookie_jar=jar()) as http:
        await logged_in(site, stranger, http)
        before = member_fetches(discord)
        for _ in range(300):
            async with http.get(site.server(), allow_redirects=False) as answer:
                assert answer.status == 403
        assert member_fetches(discord) == before

    admin = discord.add_member("admin", admin=True)
    job = await made_video(site, discord.add_member("maker"))
    async with aiohttp.ClientSession(cookie_jar=jar()) as http:
        await logged_in(site, admin, http)
        before = member_fetches(discord)
        for start in range(0, 200, 10):
            headers = {"Range": f"bytes={start}-{start + 9}"}
            async with http.get(site.server(f"/videos/{job}.mp4"), headers=headers) as answer:
                assert answer.status == 206
        assert member_fetches(discord) - before <= 1


@pytest.mark.engines("sqlite")
async def test_names_are_asked_of_the_gateway_in_batches(site: Site) -> None:
    discord = site.discord
    admin = discord.add_member("admin", admin=True)
    members = [discord.add_member(f"member{n}") for n in range(30)]
    for member in members:
        await site.bot.services.ledger.add_credits(discord.guild_id, member.id, 1, actor_id=1)
    async with aiohttp.ClientSession(cookie_jar=jar()) as http:
        await logged_in(site, admin, http)
        before = member_fetches(discord)
        async with http.get(site.server("/members")) as answer:
            page = await answer.text()
    assert "Member17" in page  # their display names
    assert member_fetches(discord) - before <= 1  # the admin's own rights at most
    assert len(discord.member_requests) == 1  # one batch for the thirty


# -- 3. the ledger's CSV ---------------------------------------------------------------------------


async def test_the_ledger_file_streams_whole_and_each_server_exports_once_at_a_time(
    site: Site,
) -> None:
    discord = site.discord
    admin = discord.add_member("admin", admin=True)
    ledger = site.bot.services.ledger
    for n in range(120):
        await ledger.add_credits(discord.guild_id, 1000 + n, 1, actor_id=admin.id, note=f"n{n}")
    async with aiohttp.ClientSession(cookie_jar=jar()) as http:
        await logged_in(site, admin, http)

        async def download() -> str:
            async with http.get(site.server("/ledger.csv")) as answer:
                assert answer.status == 200
                assert answer.headers.get("Content-Length") is None  # streamed, not held
                return await answer.text()

        files = await asyncio.gather(*(download() for _ in range(4)))
    lines = files[0].splitlines()
    assert lines[0].startswith("time,member") and len(lines) == 1 + 2 * 120  # openings too
    assert all(text == files[0] for text in files)


# -- 4. sessions -----------------------------------------------------------------------------------


async def test_log_out_ends_the_session_for_good_and_the_database_holds_no_key(
    site: Site, tmp_path: Path
) -> None:
    """Before: a cookie copied before Log out worked for 7 days, and the cookie key sat in
    the database, so a reader of it could make a session as any admin."""
    admin = site.discord.add_member("admin", admin=True)
    async with aiohttp.ClientSession(cookie_jar=jar()) as http:
        await logged_in(site, admin, http)
        copied = next(c.value for c in http.cookie_jar if c.key == "hailuo_dashboard")
        page = await (await http.get(site.server())).text()
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf is not None
        async with http.post(f"{site.base}/logout", data={"csrf": csrf[1]}) as answer:
            assert answer.status == 200
    headers = {"Cookie": f"hailuo_dashboard={copied}"}
    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as thief,
        thief.get(site.server(), headers=headers, allow_redirects=False) as answer,
    ):
        assert answer.status == 302 and "/login" in answer.headers["Location"]
    assert await site.bot.rows("SELECT * FROM bot_state WHERE key LIKE 'dashboard%'") == []

    # What the database keeps of a session is no cookie: only the id's digest.
    async with aiohttp.ClientSession(cookie_jar=jar()) as http:
        await logged_in(site, admin, http)
        live = next(c.value for c in http.cookie_jar if c.key == "hailuo_dashboard")
        rows = await site.bot.rows("SELECT * FROM dashboard_sessions")
        assert [row["id_sha256"] for row in rows] == [digest(live)]
        assert all(live not in str(value) for row in rows for value in row)
        # The owner ends it from the shell.
        settings = load_store_settings(None, database_path=tmp_path / "bot.sqlite3")
        if site.bot.settings.on_postgres:
            settings = load_store_settings(None, database_url=site.bot.settings.store_url)
        said = io.StringIO()
        command = ["dashboard", "logout", "--member", str(admin.id)]
        assert await run_cli(command, settings, said) == 0
        assert "ended 1 session" in said.getvalue()
        async with http.get(site.server(), allow_redirects=False) as answer:
            assert answer.status == 302


# -- 5. a misbehaving Discord ----------------------------------------------------------------------


@pytest.mark.engines("sqlite")
async def test_discord_failing_or_stalling_gets_the_right_answer_in_time(site: Site) -> None:
    """Before: a 503 from Discord read as "no Manage Server", a 40 s stall was waited out."""
    discord = site.discord
    admin = discord.add_member("admin", admin=True)
    members = r"^/guilds/\d+/members/\d+$"
    async with aiohttp.ClientSession(cookie_jar=jar()) as http:
        await logged_in(site, admin, http)
        discord.fail("GET", members, 503, times=100)
        async with http.get(site.server("/settings"), allow_redirects=False) as answer:
            text = await answer.text()
            assert answer.status == 503 and "Discord did not answer" in text
            assert "Manage Server" not in text and "Traceback" not in text
        discord.faults.clear()

        async def stall(method: str, path: str, body: dict[str, Any]) -> None:
            if re.fullmatch(r"/guilds/\d+/members/\d+", path):
                await asyncio.sleep(40)

        discord.before.append(stall)
        began = time.monotonic()
        async with http.get(site.server("/ledger"), allow_redirects=False) as answer:
            assert answer.status == 503
        assert time.monotonic() - began < 8
        discord.before.remove(stall)
        async with http.get(site.server("/ledger")) as answer:
            assert answer.status == 200


# -- 6. a Delete Discord refuses -------------------------------------------------------------------


async def test_a_delete_discord_refuses_leaves_the_video_as_it_was(site: Site) -> None:
    """Before: the video was marked deleted, the message stayed up, the admin got a 500, and
    Delete was no longer offered."""
    discord = site.discord
    admin = discord.add_member("admin", admin=True)
    job = await made_video(site, discord.add_member("maker"))
    async with aiohttp.ClientSession(cookie_jar=jar()) as http:
        await logged_in(site, admin, http)
        page = await (await http.get(site.server(f"/videos/{job}"))).text()
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf is not None and "delete" in page.lower()
        discord.fail("DELETE", r"^/channels/\d+/messages/\d+$", 403, times=5)
        async with http.post(
            site.server(f"/videos/{job}/delete"), data={"csrf": csrf[1]}
        ) as answer:
            said = await answer.text()
            assert answer.status == 200 and "refused to delete" in said
        assert (await site.bot.services.jobs.require(job)).deleted_at is None
        assert site.bot.services.videos.archived_path(job).is_file()  # type: ignore[union-attr]
        discord.faults.clear()
        async with http.post(
            site.server(f"/videos/{job}/delete"), data={"csrf": csrf[1]}
        ) as answer:
            assert "Deleted" in await answer.text()
    assert (await site.bot.services.jobs.require(job)).deleted_at is not None
    assert all(m.deleted for m in discord.messages.values() if not m.ephemeral and m.files)


# -- 7. thumbnails ---------------------------------------------------------------------------------


@pytest.mark.engines("sqlite")
async def test_a_giant_frame_gives_no_thumbnail_quickly_and_is_not_tried_again(
    site: Site, fake_apiframe: FakeApiframe, tmp_path: Path
) -> None:
    """Before: a small MP4 with one 8192x8192 frame took 1.3 s of CPU and 993 MB, on every
    request of its thumbnail."""
    from bot.media.frames import encode_clip

    discord = site.discord
    admin = discord.add_member("admin", admin=True)
    fake_apiframe.video_bytes = encode_clip([Image.new("RGB", (4096, 4096), (9, 9, 9))], 1)
    job = await made_video(site, discord.add_member("maker"))
    archived = site.bot.services.videos.archived_path(job)
    assert archived is not None
    archived.unlink()  # from Apiframe's link, as when no archive is kept
    async with aiohttp.ClientSession(cookie_jar=jar()) as http:
        await logged_in(site, admin, http)
        before = fake_apiframe.cdn_requests
        began = time.monotonic()
        for _ in range(3):
            async with http.get(site.server(f"/videos/{job}.jpg")) as answer:
                assert answer.status == 200
                assert answer.content_type == "image/svg+xml"  # the placeholder
        assert time.monotonic() - began < 3
        assert fake_apiframe.cdn_requests - before == 1  # the failure was remembered


def test_a_frame_larger_than_any_of_hailuos_is_refused_before_it_is_decoded() -> None:
    from bot.media.frames import FrameUnavailable, encode_clip, thumbnail

    giant = encode_clip([Image.new("RGB", (2560, 2048), (1, 2, 3))], 1)
    with pytest.raises(FrameUnavailable, match="larger than any"):
        thumbnail(giant)
    assert thumbnail(small_mp4()).startswith(b"\xff\xd8")  # a JPEG


# -- 8. the public archive -------------------------------------------------------------------------


async def test_archived_videos_are_private_to_caches_and_the_machine_and_go_with_delete(
    site: Site, tmp_path: Path
) -> None:
    discord = site.discord
    maker = discord.add_member("maker")
    job = await made_video(site, maker)
    path = site.bot.services.videos.archived_path(job)
    assert path is not None and path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    [row] = await site.bot.rows("SELECT public_name FROM jobs WHERE id = $1", job)
    if row["public_name"] is not None:
        link = f"{site.base.removesuffix('/dashboard')}/videos/{row['public_name']}.mp4"
        async with aiohttp.ClientSession() as http, http.get(link) as answer:
            assert answer.status == 200
            assert answer.headers["Cache-Control"].startswith("private")
    card = next(m for m in discord.messages.values() if m.files and not m.ephemeral)
    pressed = await discord.click(card, "Delete", member=maker)
    await discord.wait_reply(pressed, "Deleted")
    assert not path.exists()


# -- 9. Extend's frames ----------------------------------------------------------------------------


async def test_extend_decodes_no_frame_for_requests_its_member_cannot_pay_for(
    site: Site, fake_apiframe: FakeApiframe
) -> None:
    """Before: a member with 5 credits submitted Extend 8 times at once: 8 frames decoded,
    7 refused afterwards."""
    discord = site.discord
    fake_apiframe.video_bytes = small_mp4(width=480, height=320)  # a frame Hailuo takes
    maker = discord.add_member("maker")
    await made_video(site, maker)  # 20 - 5: 15 left
    await site.bot.services.ledger.set_balance(discord.guild_id, maker.id, 5, actor_id=1)
    card = next(m for m in discord.messages.values() if m.files and not m.ephemeral)
    archived = site.bot.services.videos.archived_path(
        str((await site.bot.rows("SELECT id FROM jobs"))[0]["id"])
    )
    assert archived is not None
    archived.unlink()  # the frame comes from the card's file: each decode is a download
    shown = [await discord.click(card, "Extend", member=maker) for _ in range(8)]
    for interaction in shown:
        await discord.wait_for(lambda i=interaction: i.modal is not None)  # type: ignore[misc]
    before = discord.file_downloads
    sent = await asyncio.gather(
        *(discord.submit_modal(i, {"What happens next": "onward"}, member=maker) for i in shown)
    )
    for interaction in sent:
        await discord.wait_for(
            lambda i=interaction: any(  # type: ignore[misc]
                not m.loading for m in discord.replies_to(i)
            ),
            within=30,
        )
    assert discord.file_downloads - before == 1
    # The private answers only: the public card of the one accepted may say "credits
    # reserved" too, while it waits behind the requests still being checked.
    said = [m.content for i in sent for m in discord.replies_to(i) if m.ephemeral]
    assert sum("credits reserved" in text for text in said) == 1
    assert sum("Nothing was charged" in text for text in said) == 7


# -- 10. many servers ------------------------------------------------------------------------------


@pytest.mark.engines("sqlite")
async def test_someone_who_manages_hundreds_of_servers_logs_in_with_a_small_cookie(
    site: Site,
) -> None:
    """Before: 201 servers made a 6,039-byte cookie, which Chromium drops."""
    discord = site.discord
    for _ in range(200):
        discord.add_guild(0, 1)  # servers they manage; the bot is in none of these
    admin = discord.add_member("admin", admin=True)
    async with aiohttp.ClientSession(cookie_jar=jar()) as http:
        await logged_in(site, admin, http)
        cookie = next(c for c in http.cookie_jar if c.key == "hailuo_dashboard")
        assert len(cookie.value) < 64
        async with http.get(site.server()) as answer:
            assert answer.status == 200
        async with http.get(f"{site.base}/") as answer:
            assert "Video Club" in await answer.text()


# -- 11. a forged settings form --------------------------------------------------------------------


async def test_a_forged_defaults_form_is_refused_in_words(site: Site) -> None:
    """Before: model hailuo-99, duration 7, or a missing field gave a 500 with a traceback."""
    admin = site.discord.add_member("admin", admin=True)
    async with aiohttp.ClientSession(cookie_jar=jar()) as http:
        await logged_in(site, admin, http)
        page = await (await http.get(site.server("/settings"))).text()
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf is not None
        for form in (
            {"model": "hailuo-99", "duration": "6"},
            {"duration": "7"},
            {"resolution": "4k"},
            {},
        ):
            async with http.post(
                site.server("/settings/defaults"), data={"csrf": csrf[1], **form}
            ) as answer:
                said = await answer.text()
                assert answer.status == 200, form
                assert "Traceback" not in said
                if form:
                    assert 'class="flash error"' in said, form
    defaults = await site.bot.services.option_defaults.get(site.discord.guild_id, 0)
    assert defaults.model is None and defaults.duration is None


# -- 12. /video show of a deleted video ------------------------------------------------------------


async def test_showing_a_deleted_video_in_public_answers_privately(site: Site) -> None:
    """Before: `/video show public:True` of a video whose message a moderator deleted posted,
    in public, a card quoting the prompt the moderator had removed."""
    discord = site.discord
    maker = discord.add_member("maker")
    job = await made_video(site, maker, "something a moderator removed")
    card = next(m for m in discord.messages.values() if m.files and not m.ephemeral)
    await discord.delete_message(card)  # a moderator, with Discord's own Delete
    [row] = await site.bot.rows("SELECT id FROM jobs WHERE id = $1", job)
    short = str(row["id"])[:8]
    shown = await discord.invoke(
        "video",
        [opt("show", None, 1) | {"options": [opt("id", short, 3), opt("public", True, 5)]}],
        member=maker,
    )
    answer = await discord.wait_reply(shown, "deleted")
    assert answer.ephemeral
    assert not any(
        "moderator removed" in m.content and not m.ephemeral for m in discord.replies_to(shown)
    )


# -- also: sharded bots ----------------------------------------------------------------------------


@pytest.mark.engines("postgres")
async def test_every_process_of_a_sharded_bot_answers_for_every_server(
    tmp_path: Path, fake_discord: FakeDiscord, fake_apiframe: FakeApiframe
) -> None:
    """Before: a page served by one process called a server on another process's shards
    "not a server the bot is in"."""
    here = (fake_discord.guild_id >> 22) % 2
    elsewhere, _ = fake_discord.add_guild(1 - here, 2)
    port = free_port()
    base = f"http://127.0.0.1:{port}/dashboard"
    settings = make_settings(
        tmp_path,
        fake_discord,
        fake_apiframe,
        http_port=port,
        dashboard_public_url=base,
        discord_client_secret=fake_discord.client_secret,
        shard_count=2,
        shard_ids=str(here),
    )
    harness = RunningBot(settings, fake_discord)
    await harness.start()
    try:
        admin = fake_discord.add_member("admin", admin=True)
        async with aiohttp.ClientSession(cookie_jar=jar()) as http:
            fake_discord.log_in(admin)
            async with http.get(f"{base}/login") as answer:
                listed = await answer.text()
            assert listed.count("Video Club") == 2  # this process's server, and the other's
            async with http.get(f"{base}/{elsewhere}") as answer:
                assert answer.status == 200 and 'id="spend"' in await answer.text()
    finally:
        await harness.stop()
