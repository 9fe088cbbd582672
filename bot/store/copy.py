"""`python -m bot db copy --to postgresql://...`: move a SQLite database into PostgreSQL.

The target must be empty (its schema is created by the usual migrations). Every table is copied
whole, ids included (the ledger's ids order the audit channel, and the bot's state refers to
them), with each value turned into PostgreSQL's type for its column: text times into
timestamps, 0/1 into booleans, blobs into bytea. Then the copy is checked with `db verify`, and
its row counts against the source's. Nothing is written to the source.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from bot.store.driver import moment
from bot.store.ledger import SqlLedgerStore
from bot.store.postgres import Connection, PostgresDatabase
from bot.store.sqlite import SqliteDatabase

# Parents before children (jobs before the ledger and images that point at them).
TABLES: Final = (
    "guild_settings",
    "guild_settings_log",
    "allowances",
    "accounts",
    "jobs",
    "images",
    "job_images",
    "ledger",
    "bot_state",
    "blocked_words",
    "option_defaults",
    "pending_requests",
    "dashboard_sessions",
    "servers",
    "owner_changes",
    "month_spend",
    "server_month",
)
# Identity columns whose values the copy keeps, so their sequences must continue after them.
IDENTITIES: Final = (
    ("guild_settings_log", "id"),
    ("ledger", "id"),
    ("jobs", "seq"),
    ("owner_changes", "id"),
)
ORDER: Final = {
    "jobs": "seq",
    "ledger": "id",
    "guild_settings_log": "id",
    "images": "sha256",
    "owner_changes": "id",
}


class CopyRefused(Exception):
    """The copy cannot be made (the target is not empty, say); nothing was written."""


@dataclass(frozen=True, slots=True)
class CopyReport:
    rows: dict[str, int]
    problems: list[str]


async def copy_to_postgres(source: SqliteDatabase, target: PostgresDatabase) -> CopyReport:
    """Copy every table; raises `CopyRefused` if the target holds any row already."""
    async with target.connection() as connection:
        for table in TABLES:
            if await connection.fetchval(f"SELECT EXISTS (SELECT 1 FROM {table})"):  # noqa: S608
                raise CopyRefused(
                    f"the target database is not empty ({table} has rows): copy into a new, "
                    "empty database"
                )

    counts: dict[str, int] = {}
    async with target.connection() as connection, connection.transaction():
        for table in TABLES:
            counts[table] = await _copy_table(source, connection, table)
        for table, column in IDENTITIES:
            await connection.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "  # noqa: S608
                f"COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1, false)"
            )
    problems = await SqlLedgerStore(target, 0).disagreements()
    for table, expected in counts.items():
        async with target.connection() as connection:
            found = await connection.fetchval(f"SELECT COUNT(*) FROM {table}")  # noqa: S608
        if found != expected:
            problems.append(f"{table}: {expected} rows in the source, {found} in the copy")
    return CopyReport(counts, problems)


async def _copy_table(source: SqliteDatabase, connection: Connection, table: str) -> int:
    types = {
        str(row["column_name"]): str(row["data_type"])
        for row in await connection.fetch(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = $1",
            table,
        )
    }
    order = ORDER.get(table, "1")
    rows = await source.fetch(f"SELECT * FROM {table} ORDER BY {order}")  # noqa: S608
    if not rows:
        return 0
    columns = [name for name in rows[0].keys() if name in types]  # noqa: SIM118
    records = [tuple(_converted(row[name], types[name]) for name in columns) for row in rows]
    await connection.copy_records_to_table(table, records=records, columns=columns)
    return len(records)


def _converted(value: object, data_type: str) -> object:
    if value is None:
        return None
    if data_type.startswith("timestamp"):
        return moment(value)
    if data_type == "boolean":
        return bool(value)
    if data_type == "bytea" and isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return value
