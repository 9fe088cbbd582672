"""9. Dashboard: the overview page's time to first byte, and its spend chart's, for a server with
100,000 ledger rows and 10,000 jobs, beside `/quota export` of the same ledger; restarts on that
database, the dashboard on; a flood of anonymous logins (what reaches Discord's token endpoint,
and the commands' answers meanwhile, beside no flood); and the longest stall of the bot's event
loop while eight people download a 200,000-row ledger at once."""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import aiohttp

from bench.cold_start import restart_row
from bench.ledger import make_job
from bench.stage import ROOT, Row, Sizes, Stage, burst, ms, percentile
from bot.clock import utc_now
from bot.jobs.records import NewJob
from bot.money.ledger import Ledger
from bot.store import stores_on
from bot.store.driver import Tx
from bot.store.sqlite import SqliteDatabase
from testkit.commands import sub
from testkit.fake_apiframe import JobScript
from testkit.fake_discord import FakeInteraction, FakeMessage
from testkit.harness import free_port


async def _seed_busy_server(path: Path, guild_id: int, ledger_rows: int, job_count: int) -> None:
    """A server that has run for a month: `job_count` jobs (one in ten failed and refunded),
    each a reservation and a charge or refund, and grants up to `ledger_rows` ledger rows,
    spread over 30 days, all written through the ledger as the bot writes them."""
    members = 500
    # Each member's first move also writes their opening row.
    grants = max(ledger_rows - 2 * job_count - members, members)
    now = utc_now()
    moment = [now]
    async with SqliteDatabase(path) as database:
        stores = stores_on(database, 10**6)
        ledger = Ledger(stores.ledger, clock=lambda: moment[0])

        async def in_chunks(work: list[Callable[[], Awaitable[object]]]) -> None:
            for start in range(0, len(work), 100):
                moment[0] = now - timedelta(days=29 * (1 - start / len(work)))
                await asyncio.gather(*[step() for step in work[start : start + 100]])

        await in_chunks(
            [
                lambda index=index: ledger.add_credits(guild_id, index % members, 25, 1)  # type: ignore[misc]
                for index in range(grants)
            ]
        )
        jobs = [make_job(guild_id, index % members) for index in range(job_count)]

        async def run_job(index: int, job: NewJob) -> None:
            await ledger.reserve(job)
            await stores.jobs.record_submitted(job.id, f"busy-{index}", "QUEUED")
            if index % 10 == 9:
                await ledger.refund(job.id, "Apiframe failed the job")
            else:
                await ledger.commit_charge(job.id, "https://example.invalid/v.mp4", 90)
            await stores.jobs.mark_delivered(job.id, "interaction")  # the member was told

        await in_chunks(
            [
                lambda index=index, job=job: run_job(index, job)  # type: ignore[misc]
                for index, job in enumerate(jobs)
            ]
        )


async def _first_bytes(http: aiohttp.ClientSession, url: str, count: int) -> list[float]:
    """Time to first byte of `count` sequential requests, after one to warm up."""
    times: list[float] = []
    for attempt in range(count + 1):
        began = time.perf_counter()
        async with http.get(url) as response:
            await response.content.readany()
            arrived = time.perf_counter() - began
            assert response.status == 200, (url, response.status)
            await response.read()
        if attempt:
            times.append(arrived)
    return times


def _login_limit(seconds: float) -> int:
    """What the dashboard lets reach Discord's token endpoint in `seconds`: its burst, then its
    rate (bot/dashboard/site.py)."""
    return int(10 + 30 * seconds / 60) + 1


async def _burst_beside_login_flood(
    workdir: Path, sizes: Sizes, flood: bool
) -> tuple[list[float], int, float, str]:
    """`sizes.burst` commands at once with the dashboard on, with or without anonymous logins
    arriving at `sizes.login_flood_rate` a second from another process: the answers' times,
    the token requests Discord received, the flood's length, and what the bot answered it."""
    name = "logins" if flood else "no-logins"
    async with Stage(workdir / f"dashboard-{name}") as stage:
        stage.apiframe.default_script = JobScript(polls_before_done=10**9)
        port = free_port()
        base = f"http://127.0.0.1:{port}/dashboard"
        bot = stage.bot(
            "bot",
            HTTP_PORT=str(port),
            DASHBOARD_PUBLIC_URL=base,
            DISCORD_CLIENT_SECRET=stage.discord.client_secret,
        )
        await bot.start()
        await stage.settle_in()
        await burst(stage.discord, 5)  # warm up
        flooder, began = None, time.monotonic()
        if flood:
            flooder = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.login_flood",
                base,
                str(sizes.login_flood_rate),
                str(sizes.login_flood_seconds),
                cwd=ROOT,
                stdout=subprocess.PIPE,
            )
            await asyncio.sleep(sizes.login_flood_seconds / 3)  # the flood at full rate
        times = await burst(stage.discord, sizes.burst)
        report, took = "", 0.0
        if flooder is not None:
            out, _ = await flooder.communicate()
            took = time.monotonic() - began
            summary = json.loads(out)
            report = (
                f"{summary['sent']:,} attempts at {summary['rate']:,.0f} a second: "
                + ", ".join(f"{n:,} × {what}" for what, n in sorted(summary["answers"].items()))
            )
        tokens = sum(
            1 for request in stage.discord.requests if request == ("POST", "/oauth2/token")
        )
        await bot.close()
    return times, tokens, took, report


async def _seed_ledger(path: Path, guild_id: int, rows: int) -> None:
    """`rows` ledger rows for one server, written at once (the export reads them as they are;
    their balances are not what this measures)."""
    async with SqliteDatabase(path) as database:
        now = utc_now()

        async def body(tx: Tx) -> None:
            await tx.execute_many(
                "INSERT INTO ledger (guild_id, member_id, kind, delta, balance_after, job_id, "
                "actor_id, reason, created_at) VALUES ($1, $2, 'grant', 5, $3, NULL, 1, $4, $5)",
                (
                    (guild_id, index % 500, 5 * (index // 500 + 1), f"granted 5: row {index}", now)
                    for index in range(rows)
                ),
            )

        await database.write(body)


async def _longest_stall(base: str, stop: asyncio.Event) -> float:
    """The longest wait for the bot's /healthz, asked every 10 ms until `stop`: what a stall of
    its event loop costs everything else it serves."""
    longest = 0.0
    async with aiohttp.ClientSession() as http:
        while not stop.is_set():
            began = time.perf_counter()
            async with http.get(f"{base}/healthz") as answer:
                await answer.read()
            longest = max(longest, time.perf_counter() - began)
            await asyncio.sleep(0.01)
    return longest


async def _csv_downloads(workdir: Path, sizes: Sizes) -> Row:
    """Eight admins download the same 200,000-row ledger at once; meanwhile, the longest the
    bot took to answer its health check."""
    async with Stage(workdir / "dashboard-csv") as stage:
        port = free_port()
        root = f"http://127.0.0.1:{port}"
        base = f"{root}/dashboard"
        bot = stage.bot(
            "bot",
            HTTP_PORT=str(port),
            DASHBOARD_PUBLIC_URL=base,
            DISCORD_CLIENT_SECRET=stage.discord.client_secret,
        )
        await _seed_ledger(bot.database_path, stage.discord.guild_id, sizes.csv_rows)
        await bot.start()
        await stage.settle_in()
        stop = asyncio.Event()
        stalls = asyncio.create_task(_longest_stall(root, stop))
        await asyncio.sleep(0.5)

        async def download(index: int) -> int:
            admin = stage.discord.add_member(f"admin{index}", admin=True)
            # Eight people, eight addresses (through a proxy on this machine, as in production).
            async with aiohttp.ClientSession(
                cookie_jar=aiohttp.CookieJar(unsafe=True),
                headers={"X-Forwarded-For": f"192.0.2.{index + 1}"},
            ) as http:
                stage.discord.log_in(admin)
                async with http.get(f"{base}/login") as response:
                    assert response.status == 200, response.status
                async with http.get(f"{base}/{stage.discord.guild_id}/ledger.csv") as response:
                    assert response.status == 200, response.status
                    return (await response.read()).count(b"\n") - 1

        began = time.perf_counter()
        counts = await asyncio.gather(*(download(index) for index in range(8)))
        took = time.perf_counter() - began
        stop.set()
        longest = await stalls
        await bot.close()
    assert set(counts) == {sizes.csv_rows}, counts
    return Row(
        f"longest event-loop stall (a /healthz answer) while 8 people download a "
        f"{sizes.csv_rows:,}-row ledger at once",
        ms(longest),
        f"{took:.1f} s for the 8 files",
        "",
        "< 100 ms",
        longest < 0.1,
    )


async def dashboard(workdir: Path, sizes: Sizes) -> list[Row]:
    """Every row of this section, in order."""
    rows = await _busy_server(workdir, sizes)
    calm, _, _, _ = await _burst_beside_login_flood(workdir, sizes, flood=False)
    flooded, tokens, took, report = await _burst_beside_login_flood(workdir, sizes, flood=True)
    calm_p99, flooded_p99 = percentile(calm, 0.99), percentile(flooded, 0.99)
    allowed = _login_limit(took)
    rows += [
        Row(
            f"answer latency, {sizes.burst} at once, during {sizes.login_flood_rate:,} "
            "anonymous logins a second, p99",
            ms(flooded_p99),
            f"{ms(calm_p99)} (no logins)",
            f"{flooded_p99 / calm_p99:.2f}×",
            "≤ 1.5× no logins",
            flooded_p99 <= 1.5 * calm_p99,
        ),
        Row(
            "requests that reached Discord's token endpoint during that flood",
            f"{tokens}",
            f"{allowed} allowed by the limit in {took:.0f} s ({report})",
            "",
            "≤ the limit",
            tokens <= allowed,
        ),
        await _csv_downloads(workdir, sizes),
    ]
    return rows


async def _busy_server(workdir: Path, sizes: Sizes) -> list[Row]:
    """The overview page and its chart for a busy server, beside `/quota export`."""
    async with Stage(workdir / "dashboard") as stage:
        port = free_port()
        base = f"http://127.0.0.1:{port}/dashboard"
        bot = stage.bot(
            "bot",
            HTTP_PORT=str(port),
            DASHBOARD_PUBLIC_URL=base,
            DISCORD_CLIENT_SECRET=stage.discord.client_secret,
        )
        began = time.perf_counter()
        await _seed_busy_server(
            bot.database_path,
            stage.discord.guild_id,
            sizes.dashboard_ledger_rows,
            sizes.dashboard_jobs,
        )
        print(f"[dashboard: seeded in {time.perf_counter() - began:.0f} s]", file=sys.stderr)
        await bot.start()
        await stage.settle_in()
        data = f"{sizes.dashboard_ledger_rows:,} ledger rows and {sizes.dashboard_jobs:,} jobs"
        restarted = await restart_row(
            stage, bot, stage.discord.add_member("first"), f"on a database of {data}, dashboard on"
        )
        await stage.settle_in()
        admin = stage.discord.add_member("admin", admin=True)
        stage.discord.log_in(admin)
        jar = aiohttp.CookieJar(unsafe=True)  # cookies for 127.0.0.1, an address not a name
        async with aiohttp.ClientSession(cookie_jar=jar) as http:
            async with http.get(f"{base}/login") as response:
                assert response.status == 200, response.status
            server = f"{base}/{stage.discord.guild_id}"
            overview = await _first_bytes(http, server, sizes.dashboard_requests)
            chart = await _first_bytes(http, f"{server}/spend.svg", sizes.dashboard_requests)
        exports: list[float] = []
        rows_said = ""
        for _ in range(max(3, sizes.dashboard_requests // 10)):
            interaction = await stage.discord.invoke("quota", [sub("export")], member=admin)

            def exported(interaction: FakeInteraction = interaction) -> FakeMessage | None:
                return next((m for m in stage.discord.followups(interaction) if m.files), None)

            # The fake wakes waiters on every request, so this is when the file arrived (the
            # message itself is the deferred reply, made when the command was acknowledged).
            await stage.discord.wait_for(lambda: exported() is not None, within=120)
            exports.append(time.monotonic() - interaction.sent_at)
            done = exported()
            assert done is not None
            rows_said = done.content
        await bot.close()
    overview_p95, chart_p95 = percentile(overview, 0.95), percentile(chart, 0.95)
    export_p50 = statistics.median(exports)
    return [
        restarted,
        Row(
            f"dashboard overview, time to first byte, {data}, p95",
            ms(overview_p95),
            f"{ms(export_p50)} (/quota export of the same ledger, p50; {rows_said})",
            f"{overview_p95 / export_p50:.2f}×",
            "< 200 ms",
            overview_p95 < 0.2,
        ),
        Row(
            f"dashboard spend chart (30 days, SVG), time to first byte, {data}, p95",
            ms(chart_p95),
            "",
            "",
            "",
            None,
        ),
    ]
