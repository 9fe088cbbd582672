"""`python -m bench [--smoke]`: measure the bot beside floors taken on the same machine.

1. Answer latency under a burst: INTERACTION_CREATE leaving the fake gateway -> the interaction
   callback reaching the fake REST, for the real bot and for a bare discord.py bot that only
   defers (`bench/floor_bot.py`).
   The same burst's answers and job cards with the Components V2 card beside the classic one.
2. Ledger throughput: reserve-then-charge pairs from 100 tasks through the project's ledger,
   against the same transactions run in a plain sqlite3 loop on one connection.
3. Delivery lag and polling cost: the member's wait after the video exists, and the checks each
   job costs, for narrow, wide and stalling render-time mixes, with and without progress, with
   every clock compressed by the same factor; beside polling every 5 s and beside webhooks.
4. Footprint: memory, CPU and `/credits` latency of the bot process with 1,000 jobs in flight,
   and a restart in that state, to its first answer, beside `import discord` alone.
5. Blocked words: one server's 1,000 entries against a long prompt, beside a search per entry.
6. Cold start: `python -m bot` until it answers a command, beside `import discord` alone (and,
   in sections 4 and 9, with 1,000 jobs to resume and on a busy server's database).
7. PostgreSQL: the ledger beside a plain asyncpg loop, a flood of servers admitting on a small
   pool, and two shard processes beside one.
8. Hostile input: Extend's last frame beside decoding the whole clip, and answer latency while
   forged webhooks pour in beside the same bot left alone.
9. Dashboard: the overview page's time to first byte, and its spend chart's, for a server with
   100,000 ledger rows and 10,000 jobs (all within the chart's 30 days, its worst case), beside
   `/quota export` of the same ledger; and restarts on that database, the dashboard on.
10. The owner's bounds: 200 requests admitted at once with server budgets and the monthly
    limit on, beside neither, over 200 servers and in one, on SQLite and PostgreSQL.
11. Stories: joining five 10 s 1080p clips into one MP4, its CPU and the memory it adds to the
    process, beside reading every packet of the clips; and clips that differ, encoded again.

Everything talks to fakes on 127.0.0.1. Figures print as a table and go to bench/results.md.
The stage they share is `bench/stage.py`; each section is a file of its own, named above.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sqlite3
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from bench.cold_start import cold_start
from bench.dashboard import dashboard
from bench.delivery import ARRIVALS_OVER, HISTORY_JOBS, delivery
from bench.economy import owner_bounds
from bench.footprint import footprint
from bench.hostile import hostile
from bench.latency import answer_latency, card_latency
from bench.ledger import ledger_throughput
from bench.postgres import postgres
from bench.stage import RESULTS, Row, Sizes, table
from bench.stories import stories
from bench.words import blocked_words

SECTIONS: list[tuple[str, Callable[[Path, Sizes], Awaitable[list[Row]]]]] = [
    ("latency", answer_latency),
    ("cards", card_latency),
    ("ledger", ledger_throughput),
    ("delivery", delivery),
    ("footprint", footprint),
    ("cold-start", cold_start),
    ("blocked-words", blocked_words),
    ("postgres", postgres),
    ("hostile", hostile),
    ("dashboard", dashboard),
    ("owner-bounds", owner_bounds),
    ("stories", stories),
]


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
        machine = (
            f"{os.cpu_count()} cores, Python {platform.python_version()}, "
            f"SQLite {sqlite3.sqlite_version}, {platform.machine()}"
        )
        RESULTS.write_text(
            "# Benchmark results\n\n"
            f"Last run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine}.\n"
            "Produced by `python -m bench`; see `bench/run.py` and its sections for what each "
            "line measures.\n\n"
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
            f"- Delivery compresses every clock {sizes.time_factor:.0f}× (render times, check "
            "intervals and the request budget alike); lags are reported in uncompressed "
            "seconds, from the moment the fake Apiframe's job finished to the card's edit that "
            "carries the video file. Each mode runs all six cases in one bot process, "
            f"{max(1, sizes.polling_jobs // 6)} jobs a case in a shuffled order, arriving over "
            f"{ARRIVALS_OVER:.0f} s. Each bot starts with {HISTORY_JOBS} finished jobs drawn from "
            "the same three mixes in its database, as a bot that has run for a while has. "
            "'every 5 s' is the bot with both intervals at 5 s.\n"
            "- The busiest second counts the checks (`GET /v2/jobs/{id}`) the fake Apiframe "
            "received in any one-second window while 1,000 jobs were in flight.\n"
            "- Blocked words: random entries of 4 to 10 letters; the reference folds the prompt "
            "the same way, then runs one compiled search per entry. The near-miss prompt is made "
            "of every entry less its last letter, the worst case for shared beginnings.\n"
            "- PostgreSQL runs in a throwaway cluster on the same machine (fsync off, as in the "
            "tests). Its ledger floor is a plain asyncpg loop on one connection running the "
            "statements the store runs for each pair, one pair after another; 'hot members' "
            "puts every pair on five accounts, the worst case for the row locks. The two-process "
            "burst splits the commands over two servers on different shards, one process each, "
            "beside one process running both shards.\n"
            "- Extend's clips are a blurred noise field panning across the frame (texture and "
            "motion, so each frame costs what a rendered one does), 24 frames a second; CPU is "
            "the process's, the decoder's threads included, median of "
            f"{sizes.extend_rounds} calls. With one keyframe there is nothing to skip, and the "
            "saving is the pictures no longer made of every frame. The flood comes from a "
            "separate process: nine in ten deliveries carry a wrong signature, one in ten 60 KiB "
            "of padding, one in a hundred a body nested 10,000 deep; the burst starts a third of "
            "the way into it.\n"
            "- The dashboard's server is seeded through the ledger as the bot writes it: 500 "
            "members, one video in ten failed and refunded, every row within the last 30 days "
            "(the chart's worst case), on SQLite. Time to first byte is from the request leaving "
            f"an aiohttp client to its first body bytes, {sizes.dashboard_requests} requests one "
            "after another after one to warm up; the export is from the command to its file. "
            "The login flood comes from a separate process: each attempt starts a login and "
            "comes back with its state and a made-up code, from an address of its own (the "
            "worst case for per-address limits); the limit allowed is the dashboard's burst of "
            "10 plus 30 a minute over the flood. The CSV downloads' stall is the longest a "
            "`/healthz` asked every 10 ms waited, while eight admins each downloaded the whole "
            "ledger.\n"
            "- The owner's bounds: the reservation each request makes, 200 from different "
            "members at once through the ledger, with every server's budget and the monthly "
            "limit set too high to refuse, beside the same with neither (the whole bot's month "
            "row is kept on both sides: it is what lets a limit set mid-month know the month's "
            f"spend). Median of 21 rounds alternating between the sides.\n",
            encoding="utf-8",
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, no results file")
    parser.add_argument(
        "--only", choices=[name for name, _ in SECTIONS], help="run one section (no results file)"
    )
    args = parser.parse_args(argv)
    sizes = Sizes.smoke() if args.smoke else Sizes()
    with tempfile.TemporaryDirectory(prefix="hailuo-bench-") as folder:
        rows = asyncio.run(
            run(sizes, Path(folder), write=not (args.smoke or args.only), only=args.only)
        )
    return 0 if all(row.met is not False for row in rows) or args.smoke else 1
