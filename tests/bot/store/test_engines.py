"""The two engines under the stores: one schema, the same limits, and PostgreSQL's promises
about its pool (never a wait forever) and its LISTEN connection (kept alive)."""

from __future__ import annotations

import ast
import asyncio
import re
import sqlite3
from pathlib import Path

import asyncpg
import pytest

from bot.money.rules import EntryKind
from bot.store.driver import StoreBusy
from bot.store.postgres import PostgresDatabase
from bot.store.sqlite import SqliteDatabase
from tests.bot.factories import GUILD, new_job
from tests.conftest import Backend

REPO = Path(__file__).resolve().parents[3]
# How the engines' column types are compared: PostgreSQL's own types, as SQLite keeps them.
AS_SQLITE = {
    "bigint": "INTEGER",
    "integer": "INTEGER",
    "boolean": "INTEGER",
    "text": "TEXT",
    "timestamp with time zone": "TEXT",
    "bytea": "BLOB",
}
Schema = dict[str, object]
FLAG_CHECK = re.compile(r"CHECK\s*\(\s*(?:\w+ IS NULL OR )?\w+ IN \(0, 1\)\s*\)", re.IGNORECASE)


def sqlite_schema(path: Path) -> Schema:
    with sqlite3.connect(path) as raw:
        tables = [
            name
            for (name,) in raw.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations'"
            )
        ]
        schema: Schema = {}
        for table in tables:
            columns = {
                name: (kind.upper(), bool(not_null or primary))
                for _, name, kind, not_null, _, primary in raw.execute(
                    f"PRAGMA table_info({table})"
                )
            }
            keys = [
                name
                for _, name, *_rest, primary in raw.execute(f"PRAGMA table_info({table})")
                if primary
            ]
            indexes = {}
            for _, name, unique, origin, partial in raw.execute(f"PRAGMA index_list({table})"):
                if origin == "pk":
                    continue
                cols = [c for _, _, c in raw.execute(f"PRAGMA index_info({name})")]
                indexes[name if origin == "c" else f"unique({','.join(cols)})"] = (
                    bool(unique),
                    tuple(cols),
                    bool(partial),
                )
            references = sorted(
                (row[3], row[2], row[4]) for row in raw.execute(f"PRAGMA foreign_key_list({table})")
            )
            sql = raw.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
            ).fetchone()[0]
            schema[table] = {
                "columns": columns,
                "primary key": sorted(keys),
                "indexes": indexes,
                "references": references,
                # A flag's CHECK (x IN (0, 1)) is SQLite's BOOLEAN: not a rule of its own.
                "checks": len(re.findall(r"\bCHECK\s*\(", sql, re.IGNORECASE))
                - len(FLAG_CHECK.findall(sql)),
            }
    return schema


async def postgres_schema(url: str) -> Schema:
    connection = await asyncpg.connect(url)
    try:
        schema: Schema = {}
        tables = [
            row["table_name"]
            for row in await connection.fetch(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = "
                "current_schema() AND table_name <> 'schema_migrations'"
            )
        ]
        for table in tables:
            columns = {
                row["column_name"]: (AS_SQLITE[row["data_type"]], row["is_nullable"] == "NO")
                for row in await connection.fetch(
                    "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
                    "WHERE table_schema = current_schema() AND table_name = $1",
                    table,
                )
            }
            keys = [
                row["attname"]
                for row in await connection.fetch(
                    "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = "
                    "i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = $1::regclass "
                    "AND i.indisprimary",
                    table,
                )
            ]
            indexes = {}
            for row in await connection.fetch(
                "SELECT c.relname, i.indisunique, i.indpred IS NOT NULL AS partial, "
                "con.contype, ARRAY(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY "
                "AS k(attnum, n) JOIN pg_attribute a ON a.attrelid = i.indrelid "
                "AND a.attnum = k.attnum ORDER BY k.n) AS cols "
                "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "LEFT JOIN pg_constraint con ON con.conindid = i.indexrelid "
                "WHERE i.indrelid = $1::regclass AND NOT i.indisprimary",
                table,
            ):
                cols = tuple(row["cols"])
                name = (
                    f"unique({','.join(cols)})" if row["contype"] in ("u", b"u") else row["relname"]
                )
                indexes[name] = (row["indisunique"], cols, row["partial"])
            references = sorted(
                (row["from"], row["to_table"], row["to"])
                for row in await connection.fetch(
                    "SELECT kcu.column_name AS from, ccu.table_name AS to_table, "
                    "ccu.column_name AS to FROM information_schema.table_constraints tc "
                    "JOIN information_schema.key_column_usage kcu "
                    "ON kcu.constraint_name = tc.constraint_name "
                    "JOIN information_schema.constraint_column_usage ccu "
                    "ON ccu.constraint_name = tc.constraint_name "
                    "WHERE tc.constraint_type = 'FOREIGN KEY' AND tc.table_name = $1",
                    table,
                )
            )
            checks = await connection.fetchval(
                "SELECT COUNT(*) FROM pg_constraint WHERE conrelid = $1::regclass "
                "AND contype = 'c'",
                table,
            )
            schema[table] = {
                "columns": columns,
                "primary key": sorted(keys),
                "indexes": indexes,
                "references": references,
                "checks": checks,
            }
        return schema
    finally:
        await connection.close()


async def test_both_engines_migrate_to_the_same_schema(tmp_path: Path, postgres_url: str) -> None:
    """Tables, columns (type, NOT NULL), keys, indexes, references and checks: the two
    migration histories cannot drift apart."""
    async with SqliteDatabase(tmp_path / "bot.sqlite3"):
        pass
    async with PostgresDatabase(postgres_url):
        pass
    on_sqlite = sqlite_schema(tmp_path / "bot.sqlite3")
    on_postgres = await postgres_schema(postgres_url)
    assert sorted(on_sqlite) == sorted(on_postgres)
    for table in on_sqlite:
        assert on_sqlite[table] == on_postgres[table], table


async def test_balances_and_grants_past_two_to_the_31st(backend: Backend) -> None:
    ledger = backend.ledger()
    large = 2**31 + 10
    change = await ledger.add_credits(GUILD, 42, large, actor_id=1)
    assert change.balance == large + 20
    await ledger.add_credits(GUILD, 42, large, actor_id=1)
    assert await ledger.stored_balance(GUILD, 42) == 2 * large + 20
    await backend.guilds.set_default_credits(GUILD, large, actor_id=1)
    await backend.guilds.set_monthly_cap(GUILD, 2**40, actor_id=1)
    assert await ledger.balance(GUILD, 43) == large
    assert await backend.store.disagreements() == []


async def test_text_with_nul_is_kept_alike_on_both_engines(backend: Backend) -> None:
    """PostgreSQL's text cannot hold NUL; neither engine is given one (an error message from
    Apiframe could carry one, and the job must still settle)."""
    ledger = backend.ledger()
    change = await ledger.add_credits(GUILD, 42, 5, actor_id=1)
    assert change.balance == 25
    job = new_job(42)
    await ledger.reserve(job)
    await ledger.refund(job.id, "the model said \x00no\x00")
    [entry] = [e for e in await ledger.history(GUILD, 42) if e.kind is EntryKind.REFUND]
    assert "\ufffdno\ufffd" in entry.reason
    assert await backend.store.disagreements() == []


async def test_opening_twice_keeps_one_pool(postgres_url: str) -> None:
    database = PostgresDatabase(postgres_url)
    await database.open()
    try:
        pool = database._pool
        await database.open()  # start-up and discord.py's set-up both open it
        assert database._pool is pool
    finally:
        await database.close()


async def test_no_free_connection_fails_the_one_operation_and_counts_it(
    postgres_url: str,
) -> None:
    busy: list[None] = []
    database = PostgresDatabase(
        postgres_url, max_size=1, acquire_timeout=0.2, on_busy=lambda: busy.append(None)
    )
    async with database, database.connection():
        with pytest.raises(StoreBusy):
            await database.fetch_one("SELECT 1")
    assert len(busy) == 1
    async with database:
        assert (await database.fetch_one("SELECT 1")) is not None  # and it recovers


async def test_closing_cuts_a_connection_stuck_in_a_query(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shutdown never waits forever on a borrowed connection."""
    import bot.store.postgres

    monkeypatch.setattr(bot.store.postgres, "CLOSE_GRACE", 0.5)
    database = PostgresDatabase(postgres_url, max_size=2)
    await database.open()
    stuck = asyncio.create_task(database.fetch_one("SELECT pg_sleep(600)"))
    await asyncio.sleep(0.3)  # the query is on the server
    await asyncio.wait_for(database.close(), 30)
    with pytest.raises(Exception):  # noqa: B017 - whichever way asyncpg reports the cut
        await asyncio.wait_for(stuck, 30)


async def test_a_pool_of_one_serves_fifty_servers_admitting_at_once(postgres_url: str) -> None:
    """The admission pass that once held a connection while it waited for a second one."""
    from bot.money.ledger import Ledger
    from bot.runner import admissible
    from bot.store import stores_on
    from tests.bot.factories import new_job

    async with PostgresDatabase(postgres_url, max_size=1) as database:
        stores = stores_on(database, 20)
        ledger = Ledger(stores.ledger)
        guilds = range(5000, 5050)
        for guild in guilds:
            await ledger.reserve(new_job(1, guild_id=guild))
        passes = asyncio.gather(*(stores.jobs.admit_waiting(guild, admissible) for guild in guilds))
        reads = asyncio.gather(*(ledger.balance(guild, 1) for guild in guilds))
        admissions, _ = await asyncio.wait_for(asyncio.gather(passes, reads), 60)
    assert sum(len(admission.admitted) for admission in admissions) == 50


async def test_a_dropped_listen_connection_is_opened_again(postgres_url: str) -> None:
    heard: list[str] = []
    restored = asyncio.Event()
    async with PostgresDatabase(postgres_url) as database:
        listener = await database.listen(
            "news", heard.append, on_restored=restored.set, check_every=0.2
        )
        pid = listener.server_pid
        assert pid is not None
        await database.notify("news", "before")
        await asyncio.wait_for(_until(lambda: heard == ["before"]), 10)
        await database.fetch_one("SELECT pg_terminate_backend($1)", pid)
        await asyncio.wait_for(restored.wait(), 20)
        assert listener.server_pid not in (None, pid) and listener.restarts == 1
        await database.notify("news", "after")
        await asyncio.wait_for(_until(lambda: heard == ["before", "after"]), 10)


async def _until(condition: object) -> None:
    assert callable(condition)
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise TimeoutError


def test_only_the_store_package_speaks_to_a_database_driver() -> None:
    drivers = {"sqlite3", "aiosqlite", "asyncpg"}
    offenders = []
    for folder in ("bot", "cogs"):
        for path in (REPO / folder).rglob("*.py"):
            if path.is_relative_to(REPO / "bot" / "store"):
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = (
                    [alias.name for alias in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else []
                )
                offenders += [
                    f"{path.relative_to(REPO)}: {n}" for n in names if n.split(".")[0] in drivers
                ]
    assert offenders == []
