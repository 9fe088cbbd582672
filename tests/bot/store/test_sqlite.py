"""The SQLite engine: writes commit together, one that fails is undone alone, every read sees
every commit before it, and a body may await nothing but its transaction."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.store.driver import Tx
from bot.store.settings import SqlBotState
from bot.store.sqlite import SqliteDatabase, backup


async def insert(tx: Tx, key: str) -> None:
    await tx.execute("INSERT INTO bot_state (key, value) VALUES ($1, 'v')", key)


async def test_a_read_after_a_write_sees_it_even_while_other_reads_run(
    database: SqliteDatabase,
) -> None:
    state = SqlBotState(database)
    stop = asyncio.Event()

    async def busy_reader() -> None:
        while not stop.is_set():
            await database.fetch("SELECT * FROM bot_state")

    readers = [asyncio.create_task(busy_reader()) for _ in range(10)]
    try:
        for index in range(200):
            key = f"k{index}"

            async def one(tx: Tx, key: str = key) -> None:
                await insert(tx, key)

            await database.write(one)
            assert await state.get_state(f"k{index}") == "v"
    finally:
        stop.set()
        await asyncio.gather(*readers)


async def test_a_failing_transaction_is_undone_alone(database: SqliteDatabase) -> None:
    async def fails(tx: Tx) -> None:
        await insert(tx, "partial")
        raise ValueError("no")

    outcomes = await asyncio.gather(
        database.write(lambda tx: insert(tx, "a")),
        database.write(fails),
        database.write(lambda tx: insert(tx, "b")),
        return_exceptions=True,
    )
    assert isinstance(outcomes[1], ValueError)
    state = SqlBotState(database)
    assert await state.get_state("a") == "v" and await state.get_state("b") == "v"
    assert await state.get_state("partial") is None


async def test_a_body_that_awaits_anything_but_its_transaction_is_refused(
    database: SqliteDatabase,
) -> None:
    async def strays(tx: Tx) -> None:
        await insert(tx, "x")
        await asyncio.sleep(0)  # would hold the write lock across the event loop

    with pytest.raises(RuntimeError, match="awaited something other"):
        await database.write(strays)
    assert await SqlBotState(database).get_state("x") is None


async def test_a_read_body_sees_one_snapshot(database: SqliteDatabase) -> None:
    await database.write(lambda tx: insert(tx, "a"))

    async def count_twice(tx: Tx) -> tuple[int, int]:
        first = int(await tx.value("SELECT COUNT(*) FROM bot_state"))
        return first, int(await tx.value("SELECT COUNT(*) FROM bot_state"))

    assert await database.read(count_twice) == (1, 1)


async def test_writes_need_an_open_database(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "x.sqlite3")
    with pytest.raises(RuntimeError):
        await db.write(lambda tx: insert(tx, "x"))


async def test_opening_twice_is_opening_once(tmp_path: Path) -> None:
    db = SqliteDatabase(tmp_path / "x.sqlite3")
    await db.open()
    writer = db._writer
    await db.open()
    assert db._writer is writer
    await db.close()


async def test_the_database_its_journal_and_its_backups_are_the_owners_alone(
    tmp_path: Path,
) -> None:
    path = tmp_path / "data" / "bot.sqlite3"
    async with SqliteDatabase(path) as db:
        await db.write(lambda tx: insert(tx, "a"))
        files = [path, path.with_name("bot.sqlite3-wal"), path.with_name("bot.sqlite3-shm")]
        assert [f.stat().st_mode & 0o777 for f in files] == [0o600] * 3
        assert path.parent.stat().st_mode & 0o777 == 0o700
        await backup(path, tmp_path / "backup.sqlite3")
    assert (tmp_path / "backup.sqlite3").stat().st_mode & 0o777 == 0o600


async def test_a_database_made_by_an_earlier_version_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "bot.sqlite3"
    path.touch(mode=0o644)
    path.chmod(0o644)
    async with SqliteDatabase(path):
        pass
    assert path.stat().st_mode & 0o777 == 0o600
