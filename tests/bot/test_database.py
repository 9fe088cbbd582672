"""The database: writes commit together, and every read sees every commit before it."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from bot.database import Database


def _insert(tx: sqlite3.Connection, key: str) -> None:
    tx.execute("INSERT INTO bot_state (key, value) VALUES (?, 'v')", (key,))


async def test_a_read_after_a_write_sees_it_even_while_other_reads_run(database: Database) -> None:
    stop = asyncio.Event()

    async def busy_reader() -> None:
        while not stop.is_set():
            await database.fetch_all("SELECT * FROM bot_state")

    readers = [asyncio.create_task(busy_reader()) for _ in range(10)]
    try:
        for index in range(200):
            await database.write(_insert, f"k{index}")
            assert await database.get_state(f"k{index}") == "v"
    finally:
        stop.set()
        await asyncio.gather(*readers)


async def test_a_failing_transaction_is_undone_alone(database: Database) -> None:
    def fails(tx: sqlite3.Connection) -> None:
        _insert(tx, "partial")
        raise ValueError("no")

    outcomes = await asyncio.gather(
        database.write(_insert, "a"),
        database.write(fails),
        database.write(_insert, "b"),
        return_exceptions=True,
    )
    assert isinstance(outcomes[1], ValueError)
    assert await database.get_state("a") == "v" and await database.get_state("b") == "v"
    assert await database.get_state("partial") is None


async def test_writes_need_an_open_database(tmp_path: object) -> None:
    from pathlib import Path

    db = Database(Path(str(tmp_path)) / "x.sqlite3")
    with pytest.raises(RuntimeError):
        await db.write(_insert, "x")
