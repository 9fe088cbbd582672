"""The floors of the ledger benchmarks: the store's own transaction bodies, run one after
another on one plain connection, with nothing of the engines' machinery around them (no writer
thread, no group commit, no pool, no retries). Measured beside the real engines, they show what
that machinery costs or gains."""

from __future__ import annotations

import sqlite3
from typing import Any, Final, TypeVar

import asyncpg

from bot.store.driver import Body, Row, Tx
from bot.store.postgres import PostgresTx
from bot.store.sqlite import PRAGMAS, SqliteTx, finish

T = TypeVar("T")


class PlainSqlite:
    """Each body in its own `BEGIN IMMEDIATE ... COMMIT` on one sqlite3 connection."""

    engine: Final = "sqlite"

    def __init__(self, path: str) -> None:
        self._connection = sqlite3.connect(path, isolation_level=None)
        self._connection.row_factory = sqlite3.Row
        for pragma in PRAGMAS:
            self._connection.execute(pragma)
        self._tx = SqliteTx(self._connection)

    def close(self) -> None:
        self._connection.close()

    async def write(self, body: Body[T], *, lock: str | None = None) -> T:
        self._connection.execute("BEGIN IMMEDIATE")
        try:
            result = finish(body(self._tx))
        except BaseException:
            self._connection.execute("ROLLBACK")
            raise
        self._connection.execute("COMMIT")
        return result

    async def read(self, body: Body[T]) -> T:
        return finish(body(self._tx))

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        return await self._tx.fetch(sql, *args)

    async def fetch_one(self, sql: str, *args: object) -> Row | None:
        return await self._tx.fetch_one(sql, *args)

    async def execute(self, sql: str, *args: object) -> int:
        async def one(tx: Tx) -> int:
            return await tx.execute(sql, *args)

        return await self.write(one)


class PlainPostgres:
    """Each body in its own transaction on one asyncpg connection."""

    engine: Final = "postgresql"

    def __init__(self, connection: asyncpg.Connection[Any]) -> None:
        self._connection = connection
        self._tx = PostgresTx(connection)  # type: ignore[arg-type]

    async def write(self, body: Body[T], *, lock: str | None = None) -> T:
        async with self._connection.transaction():
            return await body(self._tx)

    async def read(self, body: Body[T]) -> T:
        return await body(self._tx)

    async def fetch(self, sql: str, *args: object) -> list[Row]:
        return await self._tx.fetch(sql, *args)

    async def fetch_one(self, sql: str, *args: object) -> Row | None:
        return await self._tx.fetch_one(sql, *args)

    async def execute(self, sql: str, *args: object) -> int:
        return await self._tx.execute(sql, *args)
