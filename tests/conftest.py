"""Fixtures shared by the whole suite: real SQLite files, fake Discord and Apiframe on loopback,
and the real bot wired to them."""

from __future__ import annotations

import asyncio
import io
import logging
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.app import HailuoBot
from bot.database import Database
from bot.settings import Settings, load_settings
from tests.fakes.apiframe_server import API_KEY, FakeApiframe
from tests.fakes.discord_server import FakeDiscord

DISCORD_TOKEN = "MTIzNDU2.fake-discord-token.for-tests-only"


def image_bytes(width: int, height: int, image_format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 40)).save(buffer, format=image_format)
    return buffer.getvalue()


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    async with Database(tmp_path / "ledger.sqlite3") as db:
        yield db


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def fake_apiframe() -> AsyncIterator[FakeApiframe]:
    fake = FakeApiframe()
    await fake.start()
    yield fake
    await fake.stop()


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
        "default_credits": 20,
        "http_port": 0,
        "_env_file": None,
    }
    values.update(overrides)
    return load_settings(**values)


class ErrorLog(logging.Handler):
    """Collects ERROR records so a failure inside discord.py fails the test."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


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

    async def stop(self) -> None:
        if self.bot is not None:
            await self.bot.close()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        self.bot = None
        self._task = None

    async def crash(self) -> None:
        """Stop with jobs in flight; the runner saves nothing more than it already had."""
        assert self.bot is not None
        bot = self.bot
        if bot._runner is not None:
            await bot._runner.close()
        await self.stop()

    async def restart(self) -> HailuoBot:
        await self.stop()
        return await self.start()


@pytest.fixture
async def error_log() -> AsyncIterator[ErrorLog]:
    handler = ErrorLog()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)


@pytest.fixture
async def running(
    tmp_path: Path, fake_discord: FakeDiscord, fake_apiframe: FakeApiframe, error_log: ErrorLog
) -> AsyncIterator[RunningBot]:
    harness = RunningBot(make_settings(tmp_path, fake_discord, fake_apiframe), fake_discord)
    await harness.start()
    yield harness
    await harness.stop()
