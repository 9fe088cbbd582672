"""Fixtures shared by the whole suite: real SQLite files, fake Discord and Apiframe on loopback,
and the real bot wired to them."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import socket
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from PIL import Image

from bot.app import HailuoBot
from bot.database import Database, to_db_time
from bot.defaults import SavedDefaults
from bot.guilds import GuildSettingsStore
from bot.jobs import Job, JobStore
from bot.ledger import Ledger
from bot.server_rules import RulesStore
from bot.settings import Settings, load_settings
from bot.store import LedgerStore
from bot.store.postgres import (
    PostgresDatabase,
    PostgresGuildSettingsStore,
    PostgresJobStore,
    PostgresLedgerStore,
    PostgresRulesStore,
    PostgresSavedDefaults,
)
from bot.store.sqlite import (
    SqliteGuildSettingsStore,
    SqliteJobStore,
    SqliteLedgerStore,
    SqliteRulesStore,
    SqliteSavedDefaults,
)
from tests.fakes.apiframe_server import API_KEY, FakeApiframe
from tests.fakes.discord_server import FakeDiscord
from tests.postgres_cluster import Cluster, running_cluster
from tests.postgres_cluster import unavailable as postgres_unavailable

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

    async def delivered(self, job_id: str, within: float = 20.0) -> Job:
        """The job once its outcome was delivered and recorded (what `/video show` and
        `/credits` read), not merely visible in Discord."""
        assert self.bot is not None
        jobs = self.bot.jobs

        async def recorded() -> Job:
            while True:
                job = await jobs.require(job_id)
                if job.delivered_at is not None:
                    return job
                await asyncio.sleep(0.02)

        return await asyncio.wait_for(recorded(), within)


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


# -- the ledger's stores, on both backends -----------------------------------------------------


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[Cluster]:
    """One throwaway PostgreSQL cluster for the whole run (each test gets its own database)."""
    reason = postgres_unavailable()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required in CI: {reason}")
        pytest.skip(reason)
    with running_cluster() as cluster:
        yield cluster


async def fresh_database(cluster: Cluster) -> str:
    """A new, empty database in the test cluster; its URL."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(cluster.url("postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    return cluster.url(name)


@pytest.fixture
async def postgres_url(postgres_cluster: Cluster) -> str:
    return await fresh_database(postgres_cluster)


@pytest.fixture
async def running_on_postgres(
    tmp_path: Path,
    fake_discord: FakeDiscord,
    fake_apiframe: FakeApiframe,
    error_log: ErrorLog,
    postgres_url: str,
) -> AsyncIterator[RunningBot]:
    """The real bot, as `running`, with PostgreSQL as its store."""
    settings = make_settings(tmp_path, fake_discord, fake_apiframe, database_url=postgres_url)
    harness = RunningBot(settings, fake_discord)
    await harness.start()
    yield harness
    await harness.stop()


def _execute(tx: sqlite3.Connection, sql: str, values: tuple[Any, ...]) -> None:
    tx.execute(sql, values)


@dataclass
class Backend:
    """A ledger store on one backend, and a way to change server settings under it."""

    name: str
    store: LedgerStore
    execute: Callable[[str, tuple[Any, ...]], Awaitable[None]]
    jobs: JobStore
    guilds: GuildSettingsStore
    rules: RulesStore
    defaults: SavedDefaults

    def ledger(self, **options: Any) -> Ledger:
        return Ledger(self.store, 0, **options)

    async def submitted(self, job_id: str) -> None:
        """The job reached Apiframe (the runner's step between reserving and settling)."""
        await self.execute("UPDATE jobs SET state = 'submitted' WHERE id = {0}", (job_id,))

    async def set_cap(self, guild_id: int, cap: int) -> None:
        await self.execute(
            "INSERT INTO guild_settings (guild_id, monthly_cap, updated_at) VALUES ({0}, {1}, {2})"
            " ON CONFLICT (guild_id) DO UPDATE SET monthly_cap = excluded.monthly_cap",
            (guild_id, cap, datetime.now(UTC)),
        )

    async def set_default(self, guild_id: int, amount: int) -> None:
        await self.execute(
            "INSERT INTO guild_settings (guild_id, default_credits, updated_at) "
            "VALUES ({0}, {1}, {2}) "
            "ON CONFLICT (guild_id) DO UPDATE SET default_credits = excluded.default_credits",
            (guild_id, amount, datetime.now(UTC)),
        )

    async def set_allowance(self, guild_id: int, amount: int, period: str) -> None:
        await self.execute(
            "INSERT INTO allowances (guild_id, role_id, amount, period, updated_at) "
            "VALUES ({0}, 0, {1}, {2}, {3})",
            (guild_id, amount, period, datetime.now(UTC)),
        )


@pytest.fixture(params=["sqlite", "postgres"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """The ledger's store on SQLite, then on PostgreSQL (ids `sqlite` and `postgres`)."""
    if request.param == "sqlite":
        async with Database(tmp_path / "ledger.sqlite3") as database:

            async def on_sqlite(sql: str, values: tuple[Any, ...]) -> None:
                stamped = tuple(to_db_time(v) if isinstance(v, datetime) else v for v in values)
                await database.write(_execute, sql.format(*("?" for _ in values)), stamped)

            yield Backend(
                "sqlite",
                SqliteLedgerStore(database, 20),
                on_sqlite,
                SqliteJobStore(database),
                SqliteGuildSettingsStore(database, 20),
                SqliteRulesStore(database),
                SqliteSavedDefaults(database),
            )
        return
    url = await fresh_database(request.getfixturevalue("postgres_cluster"))
    async with PostgresDatabase(url) as postgres:

        async def on_postgres(sql: str, values: tuple[Any, ...]) -> None:
            async with postgres.connection() as connection:
                await connection.execute(
                    sql.format(*(f"${n}" for n in range(1, len(values) + 1))), *values
                )

        yield Backend(
            "postgres",
            PostgresLedgerStore(postgres, 20),
            on_postgres,
            PostgresJobStore(postgres),
            PostgresGuildSettingsStore(postgres, 20),
            PostgresRulesStore(postgres),
            PostgresSavedDefaults(postgres),
        )
