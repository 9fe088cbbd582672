"""`python -m bench [--smoke]`: measure the bot beside floors taken on the same machine.

1. Answer latency under a burst: INTERACTION_CREATE leaving the fake gateway -> the interaction
   callback reaching the fake REST, for the real bot and for a bare discord.py bot that only
   defers (`bench/floor_bot.py`).
2. Ledger throughput: reserve-then-charge pairs from 100 tasks through the project's ledger,
   against the same transactions run in a plain sqlite3 loop on one connection.
3. Polling cost and delivery lag: jobs whose render times follow Apiframe's figures, with every
   clock compressed by the same factor, against polling every 5 s.
4. Footprint: memory, CPU and `/credits` latency of the bot process with 1,000 jobs in flight.
5. Cold start: `python -m bot` until it answers a command, beside `import discord` alone.

Everything talks to fakes on 127.0.0.1. Figures print as a table and go to bench/results.md.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bot.database import PRAGMAS, Database, utc_now
from bot.integrity import verify
from bot.jobs import DiscordOrigin, JobState, NewJob
from bot.ledger import Ledger, _settle
from bot.pricing import price_of
from bot.rules import GenerationRequest, validate_request
from tests.e2e.helpers import hailuo, integer, sub
from tests.e2e.processes import BotProcess
from tests.fakes.apiframe_server import FakeApiframe, JobScript
from tests.fakes.discord_server import FakeDiscord, FakeInteraction

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results.md"


@dataclass
class Sizes:
    burst: int = 200
    big_burst: int = 1000
    ledger_pairs: int = 10_000
    polling_jobs: int = 60
    time_factor: float = 30.0
    footprint_jobs: int = 1000
    cold_starts: int = 3

    @classmethod
    def smoke(cls) -> Sizes:
        return cls(burst=10, big_burst=20, ledger_pairs=200, polling_jobs=4, time_factor=120.0,
                   footprint_jobs=20, cold_starts=1)


@dataclass
class Row:
    measure: str
    bot: str
    reference: str
    ratio: str
    target: str
    met: bool | None


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    index = min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))
    return ordered[index]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


# -- fakes and processes -----------------------------------------------------------------------

class Stage:
    """A fake Discord and a fake Apiframe on loopback, and processes started against them."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.discord = FakeDiscord()
        self.apiframe = FakeApiframe()

    async def __aenter__(self) -> Stage:
        await self.discord.start()
        await self.apiframe.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.discord.stop()
        await self.apiframe.stop()

    def bot(self, name: str, **settings: str) -> BotProcess:
        """The bot with its production polling settings unless a section says otherwise."""
        folder = self.workdir / name
        folder.mkdir(parents=True, exist_ok=True)
        production = {"APIFRAME_POLL_INTERVAL_SECONDS": "5",
                      "APIFRAME_MAX_POLL_INTERVAL_SECONDS": "60",
                      "APIFRAME_TYPICAL_RENDER_SECONDS": "180",
                      "PROGRESS_EDIT_INTERVAL_SECONDS": "5"}
        return BotProcess(folder, self.discord, self.apiframe,
                          **{"LOG_LEVEL": "WARNING", **production, **settings})

    async def floor(self) -> asyncio.subprocess.Process:
        identified = self.discord.identifies
        env = self.bot("floor").env
        process = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "bench" / "floor_bot.py"), cwd=self.workdir, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        await self.discord.wait_for(lambda: self.discord.identifies > identified, within=60)
        await asyncio.sleep(0.5)
        return process

    async def settle_in(self) -> None:
        """Give a just-connected bot time to process READY and its guild."""
        await asyncio.sleep(2.5)


async def burst(discord: FakeDiscord, count: int) -> list[float]:
    members = [discord.add_member(f"b{index}") for index in range(count)]
    interactions: list[FakeInteraction] = await asyncio.gather(
        *[discord.invoke("hailuo", hailuo(f"burst {index}"), member=member)
          for index, member in enumerate(members)])
    await discord.wait_for(lambda: all(i.callback_at for i in interactions), within=120)
    return [i.callback_at - i.sent_at for i in interactions if i.callback_at]


async def stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()


# -- 1. answer latency --------------------------------------------------------------------------

async def measure_burst(workdir: Path, count: int, *, floor: bool) -> list[float]:
    """Latencies of `count` commands at once, each side on a fresh fake Discord, so neither
    bot's run can leave state (connections, messages, members) that the other pays for."""
    async with Stage(workdir / f"latency-{'floor' if floor else 'bot'}-{count}") as stage:
        stage.apiframe.default_script = JobScript(polls_before_done=10**9)
        if floor:
            process = await stage.floor()
        else:
            bot = stage.bot("bot")
            await bot.start()
        await stage.settle_in()
        await burst(stage.discord, 5)  # warm up
        times = await burst(stage.discord, count)
        if floor:
            await stop(process)
        else:
            await bot.close()
    return times


async def answer_latency(workdir: Path, sizes: Sizes) -> list[Row]:
    rows: list[Row] = []
    for count in (sizes.burst, sizes.big_burst):
        floor_times = await measure_burst(workdir, count, floor=True)
        bot_times = await measure_burst(workdir, count, floor=False)
        floor_p99, bot_p99 = percentile(floor_times, 0.99), percentile(bot_times, 0.99)
        for label, share in (("p50", 0.5), ("p99", 0.99), ("max", 1.0)):
            ours, floor_value = percentile(bot_times, share), percentile(floor_times, share)
            target, met = "", None
            if label == "p99":
                target = "≤ 1.5× floor" + ("" if count == sizes.burst else ", < 1 s")
                met = bot_p99 <= 1.5 * floor_p99 if count == sizes.burst else bot_p99 < 1.0
            rows.append(Row(f"answer latency, {count} at once, {label}", ms(ours),
                            ms(floor_value), f"{ours / floor_value:.2f}×", target, met))
    return rows


# -- 2. ledger throughput -----------------------------------------------------------------------

def make_jobs(count: int, members: int) -> list[NewJob]:
    spec = validate_request(GenerationRequest("a benchmark video"))
    origin_time = utc_now()
    return [NewJob(id=NewJob.new_id(),
                   origin=DiscordOrigin(guild_id=1, channel_id=2, member_id=index % members,
                                        application_id=3, interaction_token="t",
                                        interaction_created_at=origin_time),
                   spec=spec, price=price_of(spec)) for index in range(count)]


def submit_sql(tx: sqlite3.Connection, job_id: str) -> None:
    tx.execute("UPDATE jobs SET state = 'submitted', apiframe_job_id = ?, remote_status = "
               "'QUEUED', submitted_at = ?, updated_at = ? WHERE id = ? AND state = 'reserved'",
               (job_id, "t", "t", job_id))


async def ledger_throughput(workdir: Path, sizes: Sizes) -> list[Row]:
    pairs, members = sizes.ledger_pairs, 100
    starting = 10**9

    # The limit: the very same transaction bodies, one after another on one connection.
    path = workdir / "ledger-plain.sqlite3"
    async with Database(path) as setup:
        ledger = Ledger(setup, starting)
        for member in range(members):
            await ledger.balance(1, member)
    plain = sqlite3.connect(path, isolation_level=None)
    plain.row_factory = sqlite3.Row
    for pragma in PRAGMAS:
        plain.execute(pragma)
    jobs = make_jobs(pairs, members)
    started = time.perf_counter()
    for job in jobs:
        now = datetime.now(UTC)
        for body, args in ((ledger._reserve, (job, now)), (submit_sql, (job.id,)),
                           (_settle, (job.id, JobState.COMPLETED, now, "https://v", None, None,
                                      False))):
            plain.execute("BEGIN IMMEDIATE")
            body(plain, *args)  # type: ignore[operator]
            plain.execute("COMMIT")
    plain_rate = pairs / (time.perf_counter() - started)
    plain.close()

    # The project's ledger, from 100 concurrent tasks.
    async with Database(workdir / "ledger.sqlite3") as database:
        ledger = Ledger(database, starting)
        for member in range(members):
            await ledger.balance(1, member)
        queue = make_jobs(pairs, members)

        async def worker() -> None:
            while queue:
                job = queue.pop()
                await ledger.reserve(job)
                await database.write(submit_sql, job.id)
                await ledger.commit_charge(job.id, "https://v")

        started = time.perf_counter()
        await asyncio.gather(*[worker() for _ in range(100)])
        rate = pairs / (time.perf_counter() - started)
        problems = await verify(database)
        charged = await database.fetch_one("SELECT COUNT(*) FROM ledger WHERE kind = 'charge'")
        spent = await database.fetch_one("SELECT SUM(balance) FROM accounts")
    assert charged is not None and spent is not None
    expected_total = members * starting - pairs * 5
    double_spends = len(problems) + int(int(spent[0]) != expected_total) + abs(
        int(charged[0]) - pairs)
    return [
        Row(f"ledger: {pairs:,} reserve→charge pairs, 100 tasks", f"{rate:,.0f} pairs/s",
            f"{plain_rate:,.0f} pairs/s", f"{rate / plain_rate:.0%}", "≥ 50% of the limit",
            rate >= 0.5 * plain_rate),
        Row("ledger: double spends and mismatches after the run", str(double_spends), "", "",
            "0", double_spends == 0),
    ]


# -- 3. polling cost and delivery lag ----------------------------------------------------------

async def polling(workdir: Path, sizes: Sizes) -> list[Row]:
    factor = sizes.time_factor
    rng = random.Random(180)
    async with Stage(workdir / "polling") as stage:
        bot = stage.bot("bot", APIFRAME_POLL_INTERVAL_SECONDS=f"{5 / factor}",
                        APIFRAME_MAX_POLL_INTERVAL_SECONDS=f"{60 / factor}",
                        APIFRAME_TYPICAL_RENDER_SECONDS=f"{180 / factor}",
                        APIFRAME_TIMEOUT_SECONDS="30", PROGRESS_EDIT_INTERVAL_SECONDS="0")
        await bot.start()
        await stage.settle_in()
        admin = stage.discord.add_member("admin", admin=True)
        await stage.discord.invoke("quota", [sub("limits", integer("per_member", 5),
                                                 integer("per_server", 1000))], member=admin)
        await asyncio.sleep(0.5)
        renders: dict[str, float] = {}
        interactions: dict[str, FakeInteraction] = {}
        for index in range(sizes.polling_jobs):
            long_clip = index % 3 == 2
            render = max(60.0, rng.gauss(270, 60) if long_clip else rng.gauss(180, 40))
            prompt = f"render {index}"
            stage.apiframe.scripts.append(JobScript(render_seconds=render / factor))
            options = hailuo(prompt, duration=10 if long_clip else 6)
            interactions[prompt] = await stage.discord.invoke(
                "hailuo", options, member=stage.discord.add_member(f"p{index}"))
            renders[prompt] = render
            await stage.discord.wait_for(lambda n=index: len(stage.apiframe.jobs) > n, within=30)

        def done() -> bool:
            return all(any("your video is ready" in m.content
                           for m in stage.discord.replies_to(i)) for i in interactions.values())
        await stage.discord.wait_for(done, within=600 / factor * 4 + 60)
        calls, lags, gaps = [], [], []
        by_prompt = {job.body["prompt"]: job for job in stage.apiframe.jobs.values()}
        for prompt, interaction in interactions.items():
            job = by_prompt[prompt]
            card = next(m for m in stage.discord.replies_to(interaction)
                        if "your video is ready" in m.content)
            finished = job.created + (job.script.render_seconds or 0)
            assert card.edited_at is not None
            lags.append((card.edited_at - finished) * factor)
            calls.append(job.polls)
            gaps.extend((b - a) * factor for a, b in zip(job.poll_times, job.poll_times[1:],
                                                         strict=False))
        await bot.close()
    reference_calls = statistics.mean(math.ceil(r / 5) for r in renders.values())
    mean_calls, mean_lag = statistics.mean(calls), statistics.mean(lags)
    shortest = min(gaps) if gaps else math.inf
    return [
        Row(f"polls per job ({sizes.polling_jobs} jobs, mean render "
            f"{statistics.mean(renders.values()):.0f} s)", f"{mean_calls:.1f}",
            f"{reference_calls:.1f} (every 5 s)", f"{mean_calls / reference_calls:.2f}×",
            "≤ 12 on average", mean_calls <= 12),
        Row("delivery lag: COMPLETED → link in the member's reply, mean", f"{mean_lag:.1f} s",
            "≤ 5 s (every 5 s: 2.5 s)", "", "≤ 5 s", mean_lag <= 5),
        Row("delivery lag, max", f"{max(lags):.1f} s", "", "", "", None),
        Row("shortest gap between two polls of one job", f"{shortest:.1f} s", "", "", "≥ 2 s",
            shortest >= 2.0),
    ]


# -- 4. footprint -------------------------------------------------------------------------------

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
        await stage.discord.invoke("quota", [sub("limits", integer("per_member", 5),
                                                 integer("per_server", 1000))], member=admin)
        await burst(stage.discord, 5)
        await asyncio.sleep(1)
        before = rss_mb(pid)
        for start in range(0, count, 100):
            await burst(stage.discord, min(100, count - start))
        # 5 warm-up jobs + count: the server limit (1,000) admits at most 1,000 of them.
        await stage.discord.wait_for(lambda: len(stage.apiframe.jobs) >= min(count, 1000),
                                     within=300)
        await asyncio.sleep(2)
        during = rss_mb(pid)
        cpu_before, wall_before = cpu_seconds(pid), time.monotonic()
        latencies: list[float] = []
        member = stage.discord.add_member("reader")
        for _ in range(100 if count >= 1000 else 10):
            interaction = await stage.discord.invoke("credits", member=member)
            await stage.discord.wait_for(lambda i=interaction: i.callback_at is not None)
            assert interaction.callback_at is not None
            latencies.append(interaction.callback_at - interaction.sent_at)
            await asyncio.sleep(0.15)
        cpu_share = (cpu_seconds(pid) - cpu_before) / (time.monotonic() - wall_before)
        in_flight = len(stage.apiframe.jobs)
        await bot.close()
    growth = during - before
    p99 = percentile(latencies, 0.99)
    return [
        Row(f"memory growth with {in_flight} jobs in flight", f"{growth:.1f} MB",
            f"{before:.0f} MB idle", "", "< 40 MB", growth < 40),
        Row("CPU while waiting and polling", f"{cpu_share:.1%} of a core", "", "", "< 5%",
            cpu_share < 0.05),
        Row(f"/credits answer with {in_flight} jobs running, p99", ms(p99), "", "", "< 100 ms",
            p99 < 0.1),
    ]


# -- 5. cold start ------------------------------------------------------------------------------

async def cold_start(workdir: Path, sizes: Sizes) -> list[Row]:
    starts, imports = [], []
    for run in range(sizes.cold_starts):
        began = time.perf_counter()
        importer = await asyncio.create_subprocess_exec(sys.executable, "-c", "import discord",
                                                        cwd=ROOT)
        await importer.wait()
        imports.append(time.perf_counter() - began)
        async with Stage(workdir / f"cold{run}") as stage:
            bot = stage.bot("bot")
            member = stage.discord.add_member("first")
            began = time.perf_counter()
            await bot.start()
            answered: list[FakeInteraction] = []
            while not answered:
                interaction = await stage.discord.invoke("credits", member=member)
                try:
                    await stage.discord.wait_reply(interaction, "credits in this server",
                                                   within=0.5)
                    answered.append(interaction)
                except AssertionError:
                    continue
            starts.append(time.perf_counter() - began)
            await bot.close()
    start, imported = statistics.median(starts), statistics.median(imports)
    return [Row("cold start: `python -m bot` → first command answered", f"{start:.2f} s",
                f"{imported:.2f} s (import discord)", f"{start / imported:.1f}×", "", None)]


# -- report -------------------------------------------------------------------------------------

def table(rows: list[Row]) -> str:
    lines = ["| measure | bot | floor / reference | ratio | target | met |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        met = "" if row.met is None else ("yes" if row.met else "**no**")
        lines.append(f"| {row.measure} | {row.bot} | {row.reference} | {row.ratio} | "
                     f"{row.target} | {met} |")
    return "\n".join(lines)


SECTIONS: list[tuple[str, Callable[[Path, Sizes], Awaitable[list[Row]]]]] = [
    ("latency", answer_latency), ("ledger", ledger_throughput), ("polling", polling),
    ("footprint", footprint), ("cold-start", cold_start)]


async def run(sizes: Sizes, workdir: Path, write: bool, only: str | None = None) -> list[Row]:
    rows: list[Row] = []
    for name, section in SECTIONS:
        if only is not None and name != only:
            continue
        began = time.perf_counter()
        found = await section(workdir, sizes)
        rows.extend(found)
        print(f"[{name}: {time.perf_counter() - began:.0f} s]", file=sys.stderr)
    report = table(rows)
    print(report)
    if write:
        machine = (f"{os.cpu_count()} cores, Python {platform.python_version()}, "
                   f"SQLite {sqlite3.sqlite_version}, {platform.machine()}")
        RESULTS.write_text(
            "# Benchmark results\n\n"
            f"Last run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine}.\n"
            "Produced by `python -m bench`; see `bench/run.py` for what each line measures.\n\n"
            f"{report}\n\n"
            "Notes:\n"
            "- The bot and the floor bot run as processes; the fake Discord and Apiframe run in "
            "the benchmark's own process on the same 2 cores, so absolute times drift from run "
            "to run; the ratios are the figures to compare.\n"
            "- Latency is from the INTERACTION_CREATE frame leaving the fake gateway to the "
            "interaction callback reaching the fake REST API. Each side gets a fresh fake.\n"
            "- The ledger's limit runs the project's own transaction bodies one after another on "
            "one sqlite3 connection with the same pragmas; the ledger beats it because its "
            "writer commits the transactions waiting at that moment together.\n"
            f"- Polling compresses every clock {sizes.time_factor:.0f}×; calls, lags and gaps "
            "are reported in uncompressed seconds. Render times: 180 ± 40 s for 6 s clips, "
            "270 ± 60 s for 10 s clips.\n", encoding="utf-8")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, no results file")
    parser.add_argument("--only", choices=[name for name, _ in SECTIONS],
                        help="run one section (no results file)")
    args = parser.parse_args(argv)
    sizes = Sizes.smoke() if args.smoke else Sizes()
    with tempfile.TemporaryDirectory(prefix="hailuo-bench-") as folder:
        rows = asyncio.run(run(sizes, Path(folder), write=not (args.smoke or args.only),
                               only=args.only))
    return 0 if all(row.met is not False for row in rows) or args.smoke else 1


