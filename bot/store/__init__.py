"""Everything that keeps the bot's data: one package, two engines, one copy of the SQL.

- `driver.py`: the interface every store is written against (`Driver`, `Tx`), and the one place
  that knows how the engines' SQL differs (placeholders, how times and flags are kept).
- `sqlite.py` (the embedded default: one file, every write through one writer thread, with its
  migrations in `sqlite_migrations/` and online backups) and `postgres.py` (asyncpg, for several
  processes on one database, with `postgres_migrations/`): the engines.
- The stores, each written once over a `Driver`: `ledger.py` (balances, the append-only ledger
  and the money moves, and `db verify`), `jobs.py` (job rows, their queue and leases),
  `settings.py` (a server's settings, rules and saved defaults, and the bot's own state),
  `dashboard.py` (the dashboard's sessions and used login states), `holds.py` (which process
  runs on the database, and which carried out each interaction), `servers.py` (the servers as
  the bot's owner governs them, and the whole bot's month), with
  `rows.py` turning rows into the domain's records.
- `copy.py`: `db copy`, a SQLite database into an empty PostgreSQL one.
- `news.py`: news between processes on one database (PostgreSQL's NOTIFY and LISTEN).

The domain never sees SQL: it declares what it needs as protocols beside what it keeps
(`LedgerStore` in bot/money/ledger.py, `JobStore` in bot/jobs/records.py, `GuildSettingsStore`
in bot/money/servers.py, `RulesStore` in bot/requests/server_rules.py, `SavedDefaults` in
bot/requests/defaults.py), and `stores_for` builds the implementations for the configured
database. Nothing outside this package imports sqlite3, aiosqlite or asyncpg."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from bot.settings import StoreSettings
from bot.store.dashboard import SqlDashboardSessions
from bot.store.driver import Driver
from bot.store.holds import SqlProcessHolds
from bot.store.jobs import SqlJobStore
from bot.store.ledger import SqlLedgerStore
from bot.store.news import News
from bot.store.servers import SqlServerBook
from bot.store.settings import (
    SqlBotState,
    SqlGuildSettingsStore,
    SqlRulesStore,
    SqlSavedDefaults,
)
from bot.store.sqlite import SqliteDatabase
from bot.store.wallets import SqlWalletStore


class Database(Driver, Protocol):
    """An engine: opened (created and migrated) and closed, and pinged for readiness."""

    @property
    def where(self) -> str:
        """For logs and errors: the file, or the URL without its password."""
        ...

    @property
    def news(self) -> News | None:
        """How processes on this database hear of each other (None: one process only)."""
        ...

    # Whether its last open made it: a new database, with no data yet.
    created: bool

    async def open(self) -> None: ...
    async def close(self) -> None: ...
    async def ping(self) -> None: ...


class BotState(Protocol):
    """A few named values of the bot's own."""

    async def get_state(self, key: str) -> str | None: ...
    async def set_state(self, key: str, value: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Stores:
    """Every store of one database, and the database itself."""

    database: Database
    state: SqlBotState
    ledger: SqlLedgerStore
    jobs: SqlJobStore
    guilds: SqlGuildSettingsStore
    rules: SqlRulesStore
    defaults: SqlSavedDefaults
    dashboard: SqlDashboardSessions
    holds: SqlProcessHolds
    servers: SqlServerBook
    wallets: SqlWalletStore

    @property
    def engine(self) -> str:
        return self.database.engine

    @property
    def where(self) -> str:
        return self.database.where

    @property
    def news(self) -> News | None:
        return self.database.news


def stores_on(database: Database, default_credits: int) -> Stores:
    """Every store, on an engine (open it before use)."""
    return Stores(
        database=database,
        state=SqlBotState(database),
        ledger=SqlLedgerStore(database, default_credits),
        jobs=SqlJobStore(database, default_credits),
        guilds=SqlGuildSettingsStore(database, default_credits),
        rules=SqlRulesStore(database),
        defaults=SqlSavedDefaults(database),
        dashboard=SqlDashboardSessions(database),
        holds=SqlProcessHolds(database),
        servers=SqlServerBook(database),
        wallets=SqlWalletStore(database),
    )


def stores_for(
    settings: StoreSettings,
    *,
    on_write: Callable[[float], None] | None = None,
    on_busy: Callable[[], None] | None = None,
) -> Stores:
    """The stores for the configured database (not opened yet: open `database`)."""
    database: Database
    if settings.on_postgres:
        # Only here: a bot on its SQLite file never loads asyncpg (a faster start).
        from bot.store.postgres import PostgresDatabase  # noqa: PLC0415

        database = PostgresDatabase(
            settings.store_url,
            max_size=settings.postgres_pool_size,
            on_busy=on_busy,
            on_write=on_write,
        )
    else:
        database = SqliteDatabase(settings.sqlite_path, on_write=on_write)
    return stores_on(database, settings.default_credits)
