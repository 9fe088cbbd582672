"""9. Dashboard: the overview page's time to first byte, and its spend chart's, for a server with
100,000 ledger rows and 10,000 jobs, beside `/quota export` of the same ledger; and restarts on
that database, the dashboard on."""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import aiohttp

from bench.cold_start import restart_row
from bench.ledger import make_job
from bench.stage import Row, Sizes, Stage, ms, percentile
from bot.clock import utc_now
from bot.jobs.records import NewJob
from bot.money.ledger import Ledger
from bot.store import stores_on
from bot.store.sqlite import SqliteDatabase
from testkit.commands import sub
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


async def dashboard(workdir: Path, sizes: Sizes) -> list[Row]:
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
