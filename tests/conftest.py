"""Fixtures shared by the whole suite: real SQLite files, fake Discord and Apiframe on loopback,
and the real bot wired to them."""

from __future__ import annotations

import io
import logging
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.money.ledger import Ledger
from bot.money.servers import ServerSettings
from bot.store import Database, Stores, stores_on
from bot.store.jobs import SqlJobStore
from bot.store.ledger import SqlLedgerStore
from bot.store.postgres import PostgresDatabase
from bot.store.settings import SqlRulesStore, SqlSavedDefaults
from bot.store.sqlite import SqliteDatabase
from testkit.browser import Browser
from testkit.browser import unavailable as browser_unavailable
from testkit.fake_apiframe import FakeApiframe
from testkit.fake_discord import FakeDiscord
from testkit.harness import RunningBot, bounded, make_settings
from testkit.postgres import Cluster, running_cluster
from testkit.postgres import unavailable as postgres_unavailable


def image_bytes(width: int, height: int, image_format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 40)).save(buffer, format=image_format)
    return buffer.getvalue()


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[SqliteDatabase]:
    async with SqliteDatabase(tmp_path / "ledger.sqlite3") as db:
        yield db


@pytest.fixture
async def stores(database: SqliteDatabase) -> Stores:
    """Every store on a fresh SQLite file (20 credits to start with)."""
    return stores_on(database, 20)


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord()
    await fake.start()
    yield fake
    await bounded(fake.stop(), "stopping the fake Discord")


@pytest.fixture
async def fake_apiframe() -> AsyncIterator[FakeApiframe]:
    fake = FakeApiframe()
    await fake.start()
    yield fake
    await bounded(fake.stop(), "stopping the fake Apiframe")


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """A real headless Chromium (a failure in CI when it is missing, a skip elsewhere)."""
    reason = browser_unavailable()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Chromium is required in CI: {reason}")
        pytest.skip(reason)
    opened = Browser()
    yield opened
    await opened.quit()


class ErrorLog(logging.Handler):
    """Collects ERROR records so a failure inside discord.py fails the test."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


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
    return await cluster.new_database()


@pytest.fixture
async def postgres_url(postgres_cluster: Cluster) -> str:
    return await fresh_database(postgres_cluster)


@dataclass
class Backend:
    """Every store on one engine, and a way to change rows under them."""

    name: str
    stores: Stores

    @property
    def store(self) -> SqlLedgerStore:
        return self.stores.ledger

    @property
    def jobs(self) -> SqlJobStore:
        return self.stores.jobs

    @property
    def guilds(self) -> ServerSettings:
        return ServerSettings(self.stores.guilds)

    @property
    def rules(self) -> SqlRulesStore:
        return self.stores.rules

    @property
    def defaults(self) -> SqlSavedDefaults:
        return self.stores.defaults

    def ledger(self, **options: Any) -> Ledger:
        return Ledger(self.stores.ledger, **options)

    async def execute(self, sql: str, values: tuple[Any, ...] = ()) -> None:
        """Run a statement written with `{0}`, `{1}` for its values, on either engine."""
        await self.stores.database.execute(
            sql.format(*(f"${n}" for n in range(1, len(values) + 1))), *values
        )

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
    """Every store on SQLite, then on PostgreSQL (ids `sqlite` and `postgres`)."""
    engine: Database
    if request.param == "sqlite":
        engine = SqliteDatabase(tmp_path / "ledger.sqlite3")
    else:
        engine = PostgresDatabase(await fresh_database(request.getfixturevalue("postgres_cluster")))
    await engine.open()
    try:
        yield Backend(request.param, stores_on(engine, 20))
    finally:
        await engine.close()
