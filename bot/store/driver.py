"""The one interface every store is written against, whichever engine is underneath.

A store's SQL is written once, with PostgreSQL's numbered placeholders (`$1`, `$2`); the SQLite
engine translates them to its own (`?1`, `?2`) in `sqlite_sql`, the one place that knows both.
A store never sees a connection: it reads with `fetch`/`fetch_one`, writes one statement with
`execute`, and runs anything of several statements as a body, a coroutine function of a `Tx`,
given to `write` (one transaction) or `read` (one consistent snapshot).

Bodies only ever await their `Tx`, never anything else: that is what lets SQLite run them on its
single writer thread, inside the group commit, without an event loop, while PostgreSQL runs the
same body on a pooled connection. `Tx.row_lock` is the one thing a body may need to know of the
engine: `" FOR UPDATE"` where several writers lock the rows they decide on (PostgreSQL), `""`
where one writer at a time excludes all others anyway (SQLite).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources
from typing import Any, Literal, Protocol, Self, TypeVar

from bot.errors import HailuoBotError

T = TypeVar("T")
Engine = Literal["sqlite", "postgresql"]
_PLACEHOLDER = re.compile(r"\$(\d+)")
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class Row(Protocol):
    """A result row, by column name or position: sqlite3's and asyncpg's alike."""

    def __getitem__(self, key: str | int, /) -> Any: ...

    def __iter__(self) -> Iterator[Any]: ...

    def keys(self) -> Iterable[str]: ...


class Tx(Protocol):
    """The statements of one transaction (or one read snapshot)."""

    row_lock: str

    async def fetch(self, sql: str, *args: object) -> list[Row]: ...

    async def fetch_one(self, sql: str, *args: object) -> Row | None: ...

    async def value(self, sql: str, *args: object) -> Any:
        """The first column of the first row, or None when there is no row."""
        ...

    async def execute(self, sql: str, *args: object) -> int:
        """Run one statement; the number of rows it changed."""
        ...

    async def execute_many(self, sql: str, rows: Iterable[Sequence[object]]) -> None: ...


Body = Callable[[Tx], Awaitable[T]]


class Driver(Protocol):
    """A database, as the stores see it."""

    @property
    def engine(self) -> Engine: ...

    async def write(self, body: Body[T], *, lock: str | None = None) -> T:
        """Run `body` as one transaction, whole or not at all. With `lock`, transactions of
        every process that name the same key run one at a time."""
        ...

    async def read(self, body: Body[T]) -> T:
        """Run `body` on one consistent, committed snapshot; it must not write."""
        ...

    async def fetch(self, sql: str, *args: object) -> list[Row]: ...

    async def fetch_one(self, sql: str, *args: object) -> Row | None: ...

    async def execute(self, sql: str, *args: object) -> int:
        """One writing statement as its own transaction; the rows it changed."""
        ...


class Opened:
    """`async with engine:` opens it (creating and migrating the database) and closes it."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()


class StoreUnavailable(HailuoBotError):
    """The database could not be opened or reached. The message says which (never with a
    password) and what to check."""


class StoreBusy(HailuoBotError):
    """The database could not take this operation in time (every connection stayed busy).
    Only this operation fails; nothing of it was written."""


@lru_cache(maxsize=1024)
def sqlite_sql(sql: str) -> str:
    """The statement with SQLite's numbered placeholders instead of PostgreSQL's."""
    return _PLACEHOLDER.sub(r"?\1", sql)


def storable(value: object) -> object:
    """A parameter as either engine is given it. PostgreSQL's text cannot hold NUL (a statement
    with one fails), so neither engine gets one: it becomes U+FFFD, the replacement character.
    What members type has its control characters taken out before this; this is the net
    under everything else (an error message from Apiframe, say)."""
    if isinstance(value, str) and "\x00" in value:
        return value.replace("\x00", "\ufffd")
    return value


def sqlite_value(value: object) -> object:
    """A parameter as SQLite keeps it: times as ISO 8601 text in UTC (so that they sort),
    flags as 0 or 1, text as `storable`."""
    if isinstance(value, datetime):
        return to_db_time(value)
    if isinstance(value, bool):
        return int(value)
    return storable(value)


def to_db_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def moment(value: object) -> datetime | None:
    """A time read back from either engine (SQLite keeps text, PostgreSQL timestamps)."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def placeholders(count: int, start: int = 1) -> str:
    """`$start, $start+1, …`: for `IN (…)` lists, which both engines read the same way."""
    return ", ".join(f"${n}" for n in range(start, start + count))


def where_given(conditions: Iterable[tuple[str, object | None]]) -> tuple[str, list[object]]:
    """The conditions whose value is given (None leaves one out), joined with AND, each `{}`
    numbered as a placeholder from $1; and their values. Only the filters asked for reach the
    query, so each can use its index."""
    clauses: list[str] = []
    values: list[object] = []
    for condition, value in conditions:
        if value is not None:
            values.append(value)
            clauses.append(condition.format(f"${len(values)}"))
    return " AND ".join(clauses), values


def changed(status: str) -> int:
    """Rows changed, from asyncpg's status string (`UPDATE 3`, `INSERT 0 1`)."""
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def bundled_migrations(package: str) -> list[tuple[int, str, str]]:
    """(version, file name, SQL) of every numbered migration in the package, in order."""
    found: list[tuple[int, str, str]] = []
    for entry in resources.files(package).iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)
