"""6. Cold start: `python -m bot` until it answers a command, beside `import discord` alone."""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path

from bench.stage import ROOT, Row, Sizes, Stage
from testkit.fake_discord import FakeMember
from testkit.harness import free_port
from testkit.processes import BotProcess


async def first_answer(stage: Stage, bot: BotProcess, member: FakeMember) -> float:
    """Seconds from starting the process to the answer of its first command."""
    began = time.perf_counter()
    await bot.start()
    while True:
        interaction = await stage.discord.invoke("credits", member=member)
        try:
            await stage.discord.wait_reply(interaction, "credits in this server", within=0.1)
        except AssertionError:
            continue  # sent before the bot could take it: send another
        return time.perf_counter() - began


async def import_discord() -> float:
    """Seconds for a Python process that only imports discord.py: the cold-start floor."""
    began = time.perf_counter()
    importer = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import discord", cwd=ROOT
    )
    await importer.wait()
    return time.perf_counter() - began


async def restart_row(stage: Stage, bot: BotProcess, member: FakeMember, what: str) -> Row:
    """Restarts of a running bot, each timed to its first answer, beside `import discord` taken
    between them (medians of three); leaves the bot running."""
    restarts, imports = [], []
    for _ in range(3):
        await bot.close()
        imports.append(await import_discord())
        restarts.append(await first_answer(stage, bot, member))
    restart, imported = statistics.median(restarts), statistics.median(imports)
    return Row(
        f"cold start {what}: restarted → first command answered",
        f"{restart:.2f} s",
        f"{imported:.2f} s (import discord)",
        f"{restart / imported:.1f}×",
        "≤ 1.5×",
        restart <= 1.5 * imported,
    )


async def cold_start(workdir: Path, sizes: Sizes) -> list[Row]:
    """A restart (the process starting on the database it left: every deploy and reboot),
    and the very first start (a new database to migrate, the commands to sync), each beside
    `import discord` alone."""
    restarts, firsts, imports = [], [], []
    for run in range(sizes.cold_starts):
        imports.append(await import_discord())
        async with Stage(workdir / f"cold{run}") as stage:
            member = stage.discord.add_member("first")
            # As an owner runs it: the HTTP server (health, metrics, webhooks) on, as by default.
            bot = stage.bot("bot", HTTP_PORT=str(free_port()))
            firsts.append(await first_answer(stage, bot, member))
            await bot.close()
            restarts.append(await first_answer(stage, bot, member))
            await bot.close()
    imported = statistics.median(imports)
    restart, first = statistics.median(restarts), statistics.median(firsts)
    return [
        Row(
            "cold start: `python -m bot` restarted → first command answered",
            f"{restart:.2f} s",
            f"{imported:.2f} s (import discord)",
            f"{restart / imported:.1f}×",
            "≤ 1.5×",
            restart <= 1.5 * imported,
        ),
        Row(
            "first start ever: a new database migrated, the commands synced → first answer",
            f"{first:.2f} s",
            f"{imported:.2f} s (import discord)",
            f"{first / imported:.1f}×",
            "",
            None,
        ),
    ]
