"""The admin dashboard in a real browser (headless Chromium): logging in with Discord, the
overview and its chart, granting credits that the ledger, the audit channel and `/credits`
agree on, who is refused (also after losing the permission), forms without their CSRF token,
the video grid, and logging out. Each page is screenshotted (into `HAILUO_SCREENSHOTS` when
set: the README's pictures come from there)."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import yarl

from testkit.browser import Browser
from testkit.commands import hailuo, opt
from testkit.fake_apiframe import FakeApiframe
from testkit.fake_discord import FakeDiscord, FakeMember
from testkit.harness import RunningBot, free_port, make_settings
from testkit.processes import BotProcess

READY = "your video is ready"


@dataclass
class Site:
    bot: RunningBot
    base: str
    shots: Path

    @property
    def discord(self) -> FakeDiscord:
        return self.bot.discord

    def server(self, path: str = "") -> str:
        return f"{self.base}/{self.discord.guild_id}{path}"


async def open_site(
    tmp_path: Path, fake_discord: FakeDiscord, fake_apiframe: FakeApiframe, **overrides: object
) -> Site:
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
        **overrides,
    )
    harness = RunningBot(settings, fake_discord)
    await harness.start()
    shots = Path(os.environ.get("HAILUO_SCREENSHOTS", tmp_path / "screenshots"))
    return Site(harness, base, shots)


@pytest.fixture
async def site(
    tmp_path: Path, fake_discord: FakeDiscord, fake_apiframe: FakeApiframe
) -> AsyncIterator[Site]:
    opened = await open_site(tmp_path, fake_discord, fake_apiframe)
    yield opened
    await opened.bot.stop()


async def log_in(site: Site, browser: Browser, member: FakeMember) -> None:
    site.discord.log_in(member)
    await browser.get(f"{site.base}/")
    await browser.click("#login")  # Discord's consent, then back to the dashboard
    await browser.wait_for("return document.querySelector('.servers, #no-servers')")


async def video(site: Site, member: FakeMember, prompt: str, channel_id: int | None = None) -> None:
    asked = await site.discord.invoke(
        "hailuo", hailuo(prompt), member=member, channel_id=channel_id
    )
    await site.discord.wait_reply(asked, READY, within=20)


async def test_an_admin_sees_the_overview_and_grants_credits_everyone_agrees_on(
    site: Site, browser: Browser
) -> None:
    discord = site.discord
    admin, ana = discord.add_member("admin", admin=True), discord.add_member("ana")
    audit = await discord.add_channel("credit-log")
    await discord.wait_reply(
        await discord.invoke(
            "quota",
            [opt("log", None, 1) | {"options": [opt("channel", str(audit), 7)]}],
            member=admin,
        ),
        "",
    )
    await video(site, ana, "a red kite over hills")

    await log_in(site, browser, admin)
    assert "Video Club" in await browser.text(".servers")
    await browser.click(".servers a")
    await browser.wait_for("return document.querySelector('#spend .value')")
    assert await browser.text("#spend .value") == "5"
    assert await browser.text("#charged .value") == "5"
    # The chart is drawn (an SVG the bot rendered), not an empty box.
    assert await browser.wait_for(
        "const c = document.querySelector('#spend-chart');"
        " return c.complete && c.naturalWidth > 0 && c.naturalWidth"
    )
    assert "Ana" in await browser.text("#top-members")
    await browser.screenshot(site.shots / "overview.png")

    await browser.get(site.server(f"/members/{ana.id}"))
    await browser.fill("#amount", "10")
    await browser.fill("#reason", "won the contest")
    await browser.click("#save-credits")
    await browser.wait_for("return document.querySelector('.flash.ok')")
    assert await browser.text("#balance") == "25"
    await browser.screenshot(site.shots / "member.png")

    assert site.bot.bot is not None
    assert await site.bot.services.ledger.balance(discord.guild_id, ana.id) == 25
    [grant] = [
        e for e in await site.bot.services.ledger.history(discord.guild_id, ana.id) if e.delta == 10
    ]
    assert grant.actor_id == admin.id and "won the contest" in grant.reason
    await discord.wait_for(
        lambda: any("won the contest" in m.content for m in discord.channel_messages(audit))
    )
    shown = await discord.invoke("credits", member=ana)
    assert "**25**" in (await discord.wait_reply(shown, "credits in this server")).content

    for page, name in (("/ledger", "ledger"), ("/settings", "settings"), ("/members", "members")):
        await browser.get(site.server(page))
        await browser.screenshot(site.shots / f"{name}.png")
    assert "won the contest" in await browser.text("body") or name == "members"


async def test_members_without_manage_server_see_nothing_and_get_403_even_after_login(
    site: Site, browser: Browser
) -> None:
    discord = site.discord
    ben = discord.add_member("ben")
    await log_in(site, browser, ben)
    assert await browser.count("#no-servers") == 1
    await browser.get(site.server())
    assert "Manage Server" in await browser.text("#error")
    status, _ = await browser.status(site.server("/ledger"))
    assert status == 403

    # An admin who loses the permission after logging in is refused at their next form (a
    # form asks Discord afresh), and from the next page on once the server's roles change.
    cleo = discord.add_member("cleo", admin=True)
    await browser.forget()  # a new person at the same browser
    await browser.get(f"{site.base}/")
    await log_in(site, browser, cleo)
    await browser.get(site.server("/settings"))
    assert await browser.count("#form-cap") == 1
    discord.demote(cleo)
    await browser.fill("#form-cap input[name=amount]", "5")
    await browser.click("#form-cap button")
    await browser.wait_for("return document.querySelector('#error')")
    assert "Manage Server" in await browser.text("#error")
    assert (await site.bot.services.guild_settings.get(discord.guild_id)).monthly_cap is None
    await discord.change_role(discord.managers_role, permissions=0)
    await browser.get(site.server("/settings"))
    assert "Manage Server" in await browser.text("#error")


async def test_a_form_without_its_csrf_token_changes_nothing(site: Site, browser: Browser) -> None:
    discord = site.discord
    admin, dan = discord.add_member("admin", admin=True), discord.add_member("dan")
    await log_in(site, browser, admin)
    await browser.get(site.server(f"/members/{dan.id}"))
    await browser.run("document.querySelector('form.credits input[name=csrf]').remove()")
    await browser.fill("#amount", "500")
    await browser.click("#save-credits")
    await browser.wait_for("return document.querySelector('#error')")
    assert "expired" in await browser.text("#error")
    assert site.bot.bot is not None
    assert await site.bot.services.ledger.history(discord.guild_id, dan.id) == []
    # The same with a forged token, posted from elsewhere with the session's cookie.
    status, _ = await browser.status(
        site.server(f"/members/{dan.id}"), data={"csrf": "forged", "amount": "500"}
    )
    assert status == 403
    assert await site.bot.services.ledger.history(discord.guild_id, dan.id) == []


async def test_the_video_grid_shows_thumbnails_blurs_adult_videos_and_plays_one(
    site: Site, browser: Browser
) -> None:
    discord = site.discord
    admin, eve = discord.add_member("admin", admin=True), discord.add_member("eve")
    adults = await discord.add_channel("after-dark", age_restricted=True)
    await video(site, eve, "a lighthouse at dusk")
    await video(site, eve, "a moody nightclub", channel_id=adults)
    await log_in(site, browser, admin)
    await browser.get(site.server("/videos"))
    assert await browser.count(".tile") == 2
    await browser.wait_for(
        "return [...document.querySelectorAll('.tile img')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    blur = "return getComputedStyle(document.querySelector('.tile.adult img')).filter"
    assert "blur" in await browser.run(blur)
    await browser.screenshot(site.shots / "videos.png")
    await browser.click(".tile.adult .reveal")
    assert await browser.run(blur) == "none"

    await browser.click(".tile:not(.adult) a")
    await browser.wait_for("return document.querySelector('#player')")
    # The file is served to the player with byte ranges, as browsers ask for video.
    source = await browser.run("return document.querySelector('#player').src")
    status, headers = await browser.status(source, headers={"Range": "bytes=4-11"})
    assert (status, headers["Content-Type"]) == (206, "video/mp4")
    await browser.screenshot(site.shots / "video.png")


async def test_logging_out_ends_the_session(site: Site, browser: Browser) -> None:
    discord = site.discord
    admin = discord.add_member("admin", admin=True)
    admin.locale = "de"
    await log_in(site, browser, admin)
    assert "Deine Server" in await browser.text("h1")  # the reader's language
    await browser.click("#logout")
    await browser.wait_for("return document.querySelector('#login')")
    discord.log_in(None)  # and nobody is signed in to Discord any more
    await browser.get(site.server())
    assert await browser.count("#spend") == 0


async def test_the_pages_fit_a_phone(site: Site, browser: Browser) -> None:
    discord = site.discord
    admin = discord.add_member("admin", admin=True)
    await video(site, discord.add_member("fay"), "a paper boat")
    phone = Browser(width=390, height=844)
    try:
        await log_in(site, phone, admin)
        for page in ("", "/videos", "/settings"):
            await phone.get(site.server(page))
            overflow = await phone.run(
                "return document.documentElement.scrollWidth - window.innerWidth"
            )
            assert overflow <= 0, page
        await phone.get(site.server())
        await phone.screenshot(site.shots / "overview-phone.png")
    finally:
        await phone.quit()


async def test_forged_logins_go_nowhere_and_every_answer_carries_its_protections(
    site: Site,
) -> None:
    """Without a browser: what an attacker's own client sees."""
    discord = site.discord
    admin = discord.add_member("admin", admin=True)
    discord.log_in(admin)
    jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1, an address not a name
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        async with http.get(f"{site.base}/") as answer:
            policy = answer.headers["Content-Security-Policy"]
            assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
            assert "script-src 'self'" in policy and "http" not in policy

        # A callback with a state this browser was not given logs nobody in.
        async with http.get(f"{site.base}/login", allow_redirects=False) as answer:
            authorize = answer.headers["Location"]
            cookie = answer.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
        async with http.get(authorize, allow_redirects=False) as answer:
            callback = yarl.URL(answer.headers["Location"])
        async with http.get(callback.update_query(state="someone-elses")) as answer:
            assert answer.status == 400
        async with http.get(site.server(), allow_redirects=False) as answer:
            assert answer.status == 302 and "/login" in answer.headers["Location"]
        # The right state logs in once; the same callback replayed is refused.
        async with http.get(callback) as answer:
            assert answer.status == 200
        async with http.get(callback) as answer:
            assert answer.status == 400

        # After logging in, a "next" that leads off the dashboard is not followed.
        async with http.get(
            f"{site.base}/login", params={"next": "//evil.example/dashboard/"}
        ) as answer:
            assert answer.status == 200 and answer.url.path == "/dashboard/"
            assert answer.url.host == "127.0.0.1"
        async with http.get(site.server()) as answer:
            assert answer.status == 200 and 'id="spend"' in await answer.text()


@dataclass
class Client:
    """An admin's own HTTP client, logged in: for what needs no browser."""

    http: aiohttp.ClientSession
    site: Site

    async def page(self, path: str = "") -> str:
        async with self.http.get(self.site.server(path)) as answer:
            assert answer.status == 200, (path, answer.status)
            return await answer.text()

    async def post(self, path: str, form: dict[str, str], from_page: str) -> str:
        """Post a form with the CSRF token of the page it is on; the page it leads to."""
        token = re.search(r'name="csrf" value="([^"]+)"', await self.page(from_page))
        assert token is not None
        async with self.http.post(
            self.site.server(path), data={"csrf": token[1], **form}
        ) as answer:
            assert answer.status == 200, (path, answer.status)
            return await answer.text()


@pytest.fixture
async def client(site: Site) -> AsyncIterator[Client]:
    admin = site.discord.add_member("admin", admin=True)
    site.discord.log_in(admin)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(f"{site.base}/login") as answer:
            assert answer.status == 200
        yield Client(http, site)


async def test_settings_are_checked_and_kept_as_the_quota_commands_keep_them(
    site: Site, client: Client
) -> None:
    discord = site.discord
    said = await client.post("/settings/cap", {"amount": "60"}, "/settings")
    assert "The monthly cap is now 60." in said
    admin = discord.add_member("another-admin", admin=True)
    shown = await discord.invoke("quota", [opt("show", None, 1)], member=admin)
    assert "60" in (await discord.wait_reply(shown, "cap")).content

    # Out of range: refused, said why, nothing changed.
    said = await client.post(
        "/settings/limits", {"per_member": "0", "per_server": "5"}, "/settings"
    )
    assert 'class="flash error"' in said
    assert site.bot.bot is not None
    kept = await site.bot.services.guild_settings.get(discord.guild_id)
    assert kept.per_member_limit != 0 and kept.monthly_cap == 60

    # Blocked words from the dashboard refuse a prompt before anything is charged.
    said = await client.post("/settings/words", {"words": "kraken, sea serpent"}, "/settings")
    assert "Blocked words saved: 2 in all." in said
    gus = discord.add_member("gus")
    asked = await discord.invoke("hailuo", hailuo("a k.r.a.k.e.n at dawn"), member=gus)
    await discord.wait_reply(asked, "blocked")
    assert await site.bot.services.ledger.history(discord.guild_id, gus.id) == []


async def test_members_are_found_by_name_and_the_ledger_file_is_the_export(
    site: Site, client: Client
) -> None:
    discord = site.discord
    hana = discord.add_member("hana")
    await video(site, hana, "a kite festival")
    found = await client.page("/members?q=han")
    assert f"/members/{hana.id}" in found
    assert f"/members/{hana.id}" in await client.page(f"/members?q={hana.id}")

    async with client.http.get(site.server("/ledger.csv")) as answer:
        downloaded = await answer.read()
        assert answer.headers["Content-Type"].startswith("text/csv")
    admin = discord.add_member("exporter", admin=True)
    exported = await discord.invoke("quota", [opt("export", None, 1)], member=admin)
    reply = await discord.wait_reply(exported, "rows")
    [attached] = reply.files.values()
    assert downloaded == attached and downloaded.count(b"\n") >= 3


async def test_a_video_deleted_from_the_dashboard_is_gone_everywhere(
    site: Site, client: Client
) -> None:
    discord = site.discord
    ivy = discord.add_member("ivy")
    await video(site, ivy, "a glass harbour")
    grid = await client.page("/videos")
    [job] = re.findall(r"/videos/([0-9a-f-]{36})\"", grid)
    assert site.bot.bot is not None
    stored = await site.bot.services.jobs.get(job)
    assert stored is not None and stored.card_message_id is not None
    balance = await site.bot.services.ledger.balance(discord.guild_id, ivy.id)

    said = await client.post(f"/videos/{job}/delete", {}, f"/videos/{job}")
    assert "Deleted." in said
    assert discord.messages[stored.card_message_id].deleted
    async with client.http.get(site.server(f"/videos/{job}.mp4")) as answer:
        assert answer.status == 404
    # Still listed, for the record, but marked, and its frame is not shown any more.
    grid = await client.page("/videos")
    assert "deleted" in grid and f"/videos/{job}.jpg" not in grid
    async with client.http.get(site.server(f"/videos/{job}.jpg")) as answer:
        assert answer.content_type == "image/svg+xml"
    assert await site.bot.services.ledger.balance(discord.guild_id, ivy.id) == balance


async def test_the_client_secret_and_the_login_stay_out_of_the_log(
    tmp_path: Path, fake_discord: FakeDiscord, fake_apiframe: FakeApiframe
) -> None:
    """The real `python -m bot` at DEBUG, through a whole login: the log says the dashboard
    is on, and neither the client secret nor the OAuth2 code or token appears in it."""
    port = free_port()
    base = f"http://127.0.0.1:{port}/dashboard"
    process = BotProcess(
        tmp_path,
        fake_discord,
        fake_apiframe,
        HTTP_PORT=str(port),
        DASHBOARD_PUBLIC_URL=base,
        DISCORD_CLIENT_SECRET=fake_discord.client_secret,
    )
    await process.start()
    try:
        await fake_discord.wait_for(lambda: "logged in to Discord" in process.logs(), within=60)
        admin = fake_discord.add_member("admin", admin=True)
        fake_discord.log_in(admin)
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.get(f"{base}/login") as answer:
                assert answer.status == 200
            async with http.get(f"{base}/{fake_discord.guild_id}") as answer:
                assert 'id="spend"' in await answer.text()
    finally:
        await process.close()
    logs = process.logs()
    assert f"dashboard: on at {base}" in logs
    assert f"dashboard: {admin.id} logged in" in logs
    assert fake_discord.client_secret not in logs
    for token in fake_discord.oauth_tokens:
        assert token not in logs


async def test_hostile_numbers_and_forged_choices_are_refused_without_an_error_page(
    site: Site, client: Client
) -> None:
    huge = "9" * 30
    for path in (
        f"/members/{huge}",
        f"/members?q={huge}",
        f"/ledger?member={huge}",
        "/videos/a%00b",
        "/videos/a%00b.jpg",
        "/videos?model=%00&outcome=%00",
        "/members?q=a%00b",
    ):
        async with client.http.get(site.server(path)) as answer:
            assert answer.status in (200, 404), (path, answer.status)
    async with client.http.get(site.server("/members?q=²³")) as answer:
        assert answer.status == 200
    said = await client.post(
        "/settings/allowance", {"amount": "5", "period": "fortnightly"}, "/settings"
    )
    assert "That choice is not one this form offers" in said
    said = await client.post("/settings/cap", {"amount": huge}, "/settings")
    assert "Give a whole number from 0 to" in said


async def test_a_balance_is_set_and_never_below_zero(site: Site, client: Client) -> None:
    discord = site.discord
    jo = discord.add_member("jo")
    page = f"/members/{jo.id}"
    said = await client.post(page, {"amount": "7", "action": "set", "reason": "reset"}, page)
    assert "The balance is now 7" in said
    said = await client.post(page, {"amount": "-1", "action": "set"}, page)
    assert "A balance cannot be negative." in said
    said = await client.post(page, {"amount": "99999999999999999999"}, page)
    assert "Give an amount from" in said
    assert site.bot.bot is not None
    assert await site.bot.services.ledger.balance(discord.guild_id, jo.id) == 7


async def test_the_owner_governs_every_server_from_all_servers(
    tmp_path: Path,
    fake_discord: FakeDiscord,
    fake_apiframe: FakeApiframe,
    browser: Browser,
) -> None:
    olga = fake_discord.add_member("olga")
    fake_discord.app_owner = olga
    site = await open_site(tmp_path, fake_discord, fake_apiframe, new_servers="approve")
    try:
        discord = site.discord
        guild, _ = await discord.join_guild(discord.add_member("host"), name="Film Club")
        servers = site.bot.services.servers
        await discord.wait_for(lambda: len(discord.channel_messages(olga.id + 1)) >= 2)

        # An admin of a server is no owner: no link, and the page refuses them.
        admin = discord.add_member("admin", admin=True)
        await log_in(site, browser, admin)
        assert await browser.count("#all-servers-link") == 0
        status, _ = await browser.status(f"{site.base}/servers")
        assert status == 403
        await browser.forget()

        await log_in(site, browser, olga)
        await browser.click("#all-servers-link")
        await browser.wait_for("return document.querySelector('#all-servers')")
        table = await browser.text("#all-servers")
        assert "Film Club" in table and "Video Club" in table
        assert "100" in await browser.text(f"#server-{guild}")  # the default budget
        await browser.screenshot(site.shots / "all-servers.png")

        row = f"#server-{guild}"
        await browser.click(f"{row} form.approve button")
        await browser.wait_for("return document.querySelector('.flash.ok')")
        approved = await servers.get(guild)
        assert approved is not None and not servers.waiting(approved)

        await browser.fill(f"{row} input[name=amount]", "250")
        await browser.click(f"{row} button[name=set]")
        # The approval's line is on the page until the form's answer replaces the page.
        await browser.wait_for(
            "const said = document.querySelector('.flash.ok');"
            " return said && said.textContent.includes('250')"
        )
        changed = await servers.get(guild)
        assert servers.budget(changed) == 250
        who = await site.bot.row(
            "SELECT actor_id FROM owner_changes WHERE guild_id = $1 AND change = 'budget'", guild
        )
        assert who is not None and int(who["actor_id"]) == olga.id

        # A form without the session's token changes nothing.
        status, _ = await browser.status(
            f"{site.base}/servers/{guild}/budget", data={"csrf": "forged", "amount": "9"}
        )
        assert status == 403
        assert servers.budget(await servers.get(guild)) == 250
    finally:
        await site.bot.stop()
