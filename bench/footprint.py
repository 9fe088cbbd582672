"""4. Footprint: memory, CPU and `/credits` latency of the bot process with 1,000 jobs in
flight, and a restart in that state, to its first answer, beside `import discord` alone."""

from __future__ import annotations

import asyncio
import math
import os
import time
from pathlib import Path

from bench.cold_start import restart_row
from bench.delivery import busiest_second
from bench.stage import Row, Sizes, Stage, burst, ms, percentile
from testkit.commands import integer, sub
from testkit.fake_apiframe import JobScript


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return math.nan


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def footprint(workdir: Path, sizes: Sizes) -> list[Row]:
    count = sizes.footprint_jobs
    async with Stage(workdir / "footprint") as stage:
        stage.apiframe.default_script = JobScript(render_seconds=3600)
        bot = stage.bot("bot")
        await bot.start()
        await stage.settle_in()
        assert bot.process is not None
        pid = bot.process.pid
        admin = stage.discord.add_member("admin", admin=True)
        await stage.discord.invoke(
            "quota",
            [sub("limits", integer("per_member", 5), integer("per_server", 1000))],
            member=admin,
        )
        await burst(stage.discord, 5)
        await asyncio.sleep(1)
        before = rss_mb(pid)
        for start in range(0, count, 100):
            await burst(stage.discord, min(100, count - start))
        # 5 warm-up jobs + count: the server limit (1,000) admits at most 1,000 of them.
        await stage.discord.wait_for(
            lambda: len(stage.apiframe.jobs) >= min(count, 1000), within=300
        )
        await asyncio.sleep(2)
        during = rss_mb(pid)
        cpu_before, wall_before = cpu_seconds(pid), time.monotonic()
        latencies: list[float] = []
        member = stage.discord.add_member("reader")
        for _ in range(100 if count >= 1000 else 10):
            interaction = await stage.discord.invoke("credits", member=member)
            asked = interaction
            await stage.discord.wait_for(lambda: asked.callback_at is not None)  # noqa: B023
            assert interaction.callback_at is not None
            latencies.append(interaction.callback_at - interaction.sent_at)
            await asyncio.sleep(0.15)
        cpu_share = (cpu_seconds(pid) - cpu_before) / (time.monotonic() - wall_before)
        in_flight = len(stage.apiframe.jobs)
        began = wall_before
        checks = [
            t
            for t, (m, p, _) in zip(
                stage.apiframe.request_times, stage.apiframe.requests, strict=True
            )
            if t >= began and m == "GET" and p.startswith("/v2/jobs/")
        ]
        peak = busiest_second(checks)
        # A deploy in the busiest hour: every job in flight is picked up again at start.
        restarted = await restart_row(
            stage, bot, member, f"with {in_flight} jobs in flight (a deploy while busy)"
        )
        await bot.close()
    growth = during - before
    p99 = percentile(latencies, 0.99)
    return [
        Row(
            f"memory growth with {in_flight} jobs in flight",
            f"{growth:.1f} MB",
            f"{before:.0f} MB idle",
            "",
            "< 40 MB",
            growth < 40,
        ),
        Row(
            "CPU while waiting and polling",
            f"{cpu_share:.1%} of a core",
            "",
            "",
            "< 5%",
            cpu_share < 0.05,
        ),
        Row(
            f"/credits answer with {in_flight} jobs running, p99",
            ms(p99),
            "",
            "",
            "< 100 ms",
            p99 < 0.1,
        ),
        Row(
            f"busiest second of checks to Apiframe, {in_flight} jobs in flight",
            f"{peak}",
            "budget 10 a second",
            "",
            "≤ 10 (+1 banked)",
            peak <= 11,
        ),
        restarted,
    ]
