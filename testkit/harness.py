"""The real bot, wired to the fakes on loopback: its settings, and a harness that starts, stops
and restarts it in this process. Shared by the tests and the benchmark."""

from __future__ import annotations

import asyncio
import io
import socket
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from bot.assembly import Assembly
from bot.client import HailuoBot
from bot.jobs.records import Job
from bot.settings import Settings, load_settings
from bot.store.driver import Row
from testkit.fake_apiframe import API_KEY, FakeApiframe
from testkit.fake_discord import FakeDiscord

DISCORD_TOKEN = "MTIzNDU2.fake-discord-token.for-tests-only"


class EngineChoice:
    """The database the end-to-end tests run the bot on: None for a SQLite file in the test's
    folder, else a PostgreSQL URL (the end-to-end tests set it for each test)."""

    url: str | None = None


ENGINE = EngineChoice()


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_settings(
    tmp_path: Path, discord: FakeDiscord, apiframe: FakeApiframe, **overrides: Any
) -> Settings:
    values: dict[str, Any] = {
        "discord_token": DISCORD_TOKEN,
        "apiframe_api_key": API_KEY,
        "database_path": tmp_path / "bot.sqlite3",
        "discord_api_base_url": discord.api_base,
        "discord_gateway_url": discord.gateway_url,
        "apiframe_base_url": apiframe.base_url,
        "apiframe_poll_interval_seconds": 0.05,
        "apiframe_max_poll_interval_seconds": 0.2,
        "apiframe_typical_render_seconds": 0.1,
        "progress_edit_interval_seconds": 0.0,
        "default_credits": 20,  # as in BotProcess: the default of 0 has tests of its own
        "http_port": 0,
    }
    if ENGINE.url is not None:
        values["database_url"] = ENGINE.url
    values.update(overrides)
    return load_settings(None, **values)


STOP_WITHIN = 60.0


async def bounded(step: Awaitable[object], what: str, within: float = STOP_WITHIN) -> None:
    """Await a step of a shutdown; if it hangs, fail naming it, with every task's stack, rather
    than hang the whole test run."""
    try:
        await asyncio.wait_for(step, within)
    except TimeoutError:
        stacks = io.StringIO()
        for task in asyncio.all_tasks():
            task.print_stack(file=stacks)
        raise AssertionError(
            f"{what} took over {within:.0f} s; tasks:\n{stacks.getvalue()}"
        ) from None


class RunningBot:
    """The real bot, started against the fakes; `restart()` keeps the same database."""

    def __init__(self, settings: Settings, discord: FakeDiscord) -> None:
        self.settings = settings
        self.discord = discord
        self.bot: HailuoBot | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> HailuoBot:
        bot = HailuoBot(self.settings, guild_ready_timeout=0.05)
        self.bot = bot
        self._task = asyncio.create_task(bot.start(DISCORD_TOKEN))
        waiter = asyncio.create_task(bot.wait_until_ready())
        done, _ = await asyncio.wait(
            {waiter, self._task}, timeout=15, return_when=asyncio.FIRST_COMPLETED
        )
        if self._task in done:
            waiter.cancel()
            self._task.result()
        if waiter not in done:
            raise TimeoutError("the bot did not become ready")
        return bot

    @property
    def services(self) -> Assembly:
        """The running bot's parts (its stores, ledger, runner…)."""
        assert self.bot is not None
        return self.bot.services

    async def stop(self) -> None:
        if self.bot is not None:
            await bounded(self.bot.close(), "closing the bot")
        if self._task is not None:
            await bounded(asyncio.gather(self._task, return_exceptions=True), "the bot's task")
        self.bot = None
        self._task = None

    async def crash(self) -> None:
        """Stop with jobs in flight; the runner saves nothing more than it already had."""
        assert self.bot is not None
        await self.bot.services.runner.close()
        await self.stop()

    async def restart(self) -> HailuoBot:
        await self.stop()
        return await self.start()

    async def rows(self, sql: str, *args: object) -> list[Row]:
        """Rows of the bot's own database, on either engine (`$1` placeholders)."""
        return await self.services.database.fetch(sql, *args)

    async def row(self, sql: str, *args: object) -> Row | None:
        found = await self.rows(sql, *args)
        return found[0] if found else None

    async def delivered(self, job_id: str, within: float = 20.0) -> Job:
        """The job once its outcome was delivered and recorded (what `/video show` and
        `/credits` read), not merely visible in Discord."""
        jobs = self.services.jobs

        async def recorded() -> Job:
            while True:
                job = await jobs.require(job_id)
                if job.delivered_at is not None:
                    return job
                await asyncio.sleep(0.02)

        return await asyncio.wait_for(recorded(), within)
