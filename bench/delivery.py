"""3. Delivery lag and polling cost: the member's wait after the video exists, and the checks
each job costs, for narrow, wide and stalling render-time mixes, with and without progress, with
every clock compressed by the same factor; beside polling every 5 s and beside webhooks."""

from __future__ import annotations

import asyncio
import math
import random
import statistics
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from bench.ledger import make_jobs
from bench.stage import Row, Sizes, Stage, percentile
from bot.clock import utc_now
from bot.money.ledger import Ledger
from bot.store import stores_on
from bot.store.sqlite import SqliteDatabase
from testkit.commands import hailuo, integer, sub
from testkit.fake_apiframe import JobScript
from testkit.fake_discord import FakeInteraction, FakeMessage
from testkit.harness import free_port


def render_cases(rng: random.Random) -> list[tuple[str, Callable[[], tuple[float, float]]]]:
    """Render-time mixes, each a draw of (render seconds, share of it stalled at 1%)."""
    return [
        ("180 ± 40 s", lambda: (max(60.0, rng.gauss(180, 40)), 0.0)),
        ("log-uniform 40–600 s", lambda: (math.exp(rng.uniform(math.log(40), math.log(600))), 0.0)),
        ("stall: 1% for half, then done", lambda: (max(60.0, rng.gauss(180, 40)), 0.5)),
    ]


def busiest_second(stamps: list[float], factor: float = 1.0) -> int:
    """The most requests in any one (uncompressed) second."""
    window = 1.0 / factor
    ordered = sorted(stamps)
    best, low = 0, 0
    for high, stamp in enumerate(ordered):
        while ordered[low] <= stamp - window:
            low += 1
        best = max(best, high - low + 1)
    return best


HISTORY_JOBS = 40
ARRIVALS_OVER = 600.0  # seconds over which a run's jobs arrive


async def seed_history(path: Path, renders: list[float]) -> None:
    """Finished, delivered jobs in the bot's database, as a bot that has run for a while has:
    the render times it learns from."""
    async with SqliteDatabase(path) as database:
        stores = stores_on(database, 10**6)
        ledger, jobs = Ledger(stores.ledger), stores.jobs
        for index, (job, render) in enumerate(
            zip(make_jobs(len(renders), 50), renders, strict=True)
        ):
            await ledger.reserve(job)
            await jobs.record_submitted(job.id, f"history-{index}", "QUEUED")
            await ledger.commit_charge(job.id, "https://example.invalid/old.mp4")
            await jobs.mark_delivered(job.id, "interaction")
            finished = utc_now()
            await database.execute(
                "UPDATE jobs SET submitted_at = $1, finished_at = $2 WHERE id = $3",
                finished - timedelta(seconds=render),
                finished,
                job.id,
            )


async def delivery_run(
    workdir: Path, sizes: Sizes, mode: str
) -> dict[tuple[str, bool], tuple[list[float], list[int]]]:
    """One bot process with a history of finished jobs; every render case, with and without
    progress, arriving over `ARRIVALS_OVER` seconds. Returns (lags, polls per job) per (case,
    progress reported)."""
    factor = sizes.time_factor
    rng = random.Random(180)
    draws = render_cases(rng)
    history = [draws[index % 3][1]()[0] / factor for index in range(HISTORY_JOBS)]
    jobs_per_case = max(1, sizes.polling_jobs // 6)
    gap = ARRIVALS_OVER / factor / (jobs_per_case * 6)
    async with Stage(workdir / f"delivery-{mode}") as stage:
        settings = {
            "APIFRAME_TYPICAL_RENDER_SECONDS": f"{180 / factor}",
            "APIFRAME_POLL_INTERVAL_SECONDS": f"{4 / factor}",
            "APIFRAME_MAX_POLL_INTERVAL_SECONDS": f"{30 / factor}",
            "APIFRAME_WEBHOOK_POLL_INTERVAL_SECONDS": f"{60 / factor}",
            "APIFRAME_MAX_REQUESTS_PER_SECOND": f"{10 * factor}",
            "PROGRESS_EDIT_INTERVAL_SECONDS": f"{5 / factor}",
        }
        if mode == "every 5 s":
            settings.update(
                APIFRAME_POLL_INTERVAL_SECONDS=f"{5 / factor}",
                APIFRAME_MAX_POLL_INTERVAL_SECONDS=f"{5 / factor}",
            )
        if mode == "webhooks":
            port = free_port()
            settings.update(
                HTTP_PORT=str(port),
                APIFRAME_WEBHOOK_URL=f"http://127.0.0.1:{port}/apiframe/webhook",
            )
        bot = stage.bot("bot", **settings)
        await seed_history(bot.database_path, history)
        await bot.start()
        await stage.settle_in()
        admin = stage.discord.add_member("admin", admin=True)
        await stage.discord.invoke(
            "quota",
            [sub("limits", integer("per_member", 5), integer("per_server", 1000))],
            member=admin,
        )
        await asyncio.sleep(0.5)
        interactions: dict[str, tuple[tuple[str, bool], FakeInteraction]] = {}
        order = [
            (label, draw, progress)
            for label, draw in draws
            for progress in (True, False)
            for _ in range(jobs_per_case)
        ]
        rng.shuffle(order)
        for index, (label, draw, progress) in enumerate(order):
            render, stall = draw()
            prompt = f"render {index}"
            stage.apiframe.scripts.append(
                JobScript(
                    render_seconds=render / factor, stall_share=stall, report_progress=progress
                )
            )
            interactions[prompt] = (
                (label, progress),
                await stage.discord.invoke(
                    "hailuo", hailuo(prompt), member=stage.discord.add_member(f"p{index}")
                ),
            )
            submitted = index + 1
            await stage.discord.wait_for(lambda: len(stage.apiframe.jobs) >= submitted, within=30)  # noqa: B023
            await asyncio.sleep(gap)

        def delivered(interaction: FakeInteraction) -> FakeMessage | None:
            return next(
                (
                    m
                    for m in stage.discord.replies_to(interaction)
                    if "your video is ready" in m.content
                ),
                None,
            )

        await stage.discord.wait_for(
            lambda: all(delivered(i) for _, i in interactions.values()),
            within=600 / factor * 3 + 60,
        )
        by_prompt = {job.body["prompt"]: job for job in stage.apiframe.jobs.values()}
        found: dict[tuple[str, bool], tuple[list[float], list[int]]] = {}
        for prompt, (case, interaction) in interactions.items():
            job = by_prompt[prompt]
            card = delivered(interaction)
            assert card is not None and card.edited_at is not None
            finished = job.created + (job.script.render_seconds or 0)
            lags, polls = found.setdefault(case, ([], []))
            lags.append((card.edited_at - finished) * factor)
            polls.append(job.polls)
        await bot.close()
    return found


async def delivery(workdir: Path, sizes: Sizes) -> list[Row]:
    runs = {
        mode: await delivery_run(workdir, sizes, mode) for mode in ("bot", "every 5 s", "webhooks")
    }
    rows: list[Row] = []
    cases = [
        (label, progress)
        for label, _ in render_cases(random.Random())
        for progress in (True, False)
    ]
    for case in cases:
        label = f"{case[0]}, progress {'reported' if case[1] else 'not reported'}"
        lags, polls = runs["bot"][case]
        ref_lags, ref_polls = runs["every 5 s"][case]
        hook_lags, hook_polls = runs["webhooks"][case]
        p95, ref_p95, hook_p95 = (percentile(v, 0.95) for v in (lags, ref_lags, hook_lags))
        rows += [
            Row(
                f"lag after the video exists, {label}: p50 / p95 / max",
                f"{percentile(lags, 0.5):.1f} / {p95:.1f} / {max(lags):.1f} s",
                f"every 5 s: {percentile(ref_lags, 0.5):.1f} / {ref_p95:.1f} / "
                f"{max(ref_lags):.1f} s",
                f"{p95 / ref_p95:.2f}×" if ref_p95 else "",
                "p95 ≤ 5 s",
                p95 <= 5,
            ),
            Row(
                f"lag with webhooks, {label}: p50 / p95 / max",
                f"{percentile(hook_lags, 0.5):.1f} / {hook_p95:.1f} / {max(hook_lags):.1f} s",
                "",
                "",
                "p95 ≤ 1 s",
                hook_p95 <= 1,
            ),
            Row(
                f"checks per job, {label}: polling / webhooks",
                f"{statistics.mean(polls):.1f} / {statistics.mean(hook_polls):.1f}",
                f"{statistics.mean(ref_polls):.1f} (every 5 s)",
                "",
                "",
                None,
            ),
        ]
    return rows
