"""Open the stores the settings name: the SQLite file (the default) or a PostgreSQL database."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.database import Database
from bot.defaults import SavedDefaults
from bot.guilds import GuildSettingsStore
from bot.jobs import JobStore
from bot.server_rules import RulesStore
from bot.settings import StoreSettings
from bot.store import LedgerStore, StateStore
from bot.store.postgres import (
    PostgresDatabase,
    PostgresGuildSettingsStore,
    PostgresJobStore,
    PostgresLedgerStore,
    PostgresRulesStore,
    PostgresSavedDefaults,
    redacted,
)
from bot.store.sqlite import (
    SqliteGuildSettingsStore,
    SqliteJobStore,
    SqliteLedgerStore,
    SqliteRulesStore,
    SqliteSavedDefaults,
)


@dataclass(frozen=True, slots=True)
class Stores:
    """Every store of one database, and the database itself (`state`)."""

    backend: str  # "sqlite" or "postgresql"
    where: str  # for logs and errors: the file, or the URL without its password
    state: StateStore
    ledger: LedgerStore
    jobs: JobStore
    guilds: GuildSettingsStore
    rules: RulesStore
    defaults: SavedDefaults
    sqlite: Database | None = None  # the SQLite database, when that is the backend


def stores_for(
    settings: StoreSettings, *, on_write: Callable[[float], None] | None = None
) -> Stores:
    """The stores for the configured database (not opened yet: open `state`)."""
    default = settings.default_credits
    if settings.on_postgres:
        postgres = PostgresDatabase(settings.store_url, max_size=settings.postgres_pool_size)
        return Stores(
            backend="postgresql",
            where=redacted(settings.store_url),
            state=postgres,
            ledger=PostgresLedgerStore(postgres, default),
            jobs=PostgresJobStore(postgres),
            guilds=PostgresGuildSettingsStore(postgres, default),
            rules=PostgresRulesStore(postgres),
            defaults=PostgresSavedDefaults(postgres),
        )
    database = Database(settings.sqlite_path, on_write=on_write)
    return Stores(
        backend="sqlite",
        where=str(settings.sqlite_path),
        state=database,
        ledger=SqliteLedgerStore(database, default),
        jobs=SqliteJobStore(database),
        guilds=SqliteGuildSettingsStore(database, default),
        rules=SqliteRulesStore(database),
        defaults=SqliteSavedDefaults(database),
        sqlite=database,
    )
