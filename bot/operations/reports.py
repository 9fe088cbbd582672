"""The server's ledger as CSV, for admins (`/quota export`, the dashboard) and the owner
(`ledger export`), made without stalling the bot for every other server:

- read in pages of `PAGE_ROWS` rows, each its own short read (other servers' reads take turns
  between them), and each page formatted off the event loop;
- streamed page by page to where it goes (a download, a file), never held whole;
- one export per server at a time, and `EXPORTS_AT_ONCE` for the whole bot: the others wait
  their turn, for `WAIT_FOR_TURN` at most.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Final

from bot.errors import UserFacingError
from bot.i18n import msg
from bot.money.ledger import LedgerStore

COLUMNS: Final = ("time", "member", "change", "balance_after", "kind", "reason", "job", "actor")
PAGE_ROWS: Final = 5000
EXPORTS_AT_ONCE: Final = 3
WAIT_FOR_TURN: Final = 60.0


class ExportBusy(UserFacingError):
    """Too many exports are being made: this one did not get its turn in time."""


def csv_text(rows: Iterable[Iterable[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in rows:
        writer.writerow(["" if value is None else value for value in row])
    return buffer.getvalue()


async def ledger_csv_pages(
    store: LedgerStore, guild_id: int, *, page_rows: int = PAGE_ROWS
) -> AsyncIterator[str]:
    """The CSV file of the server's ledger, a page of text at a time (the header first)."""
    yield csv_text([COLUMNS])
    after = 0
    while True:
        page = await store.export_page(guild_id, after, page_rows)
        if not page:
            return
        after = page[-1][0]
        yield await asyncio.to_thread(csv_text, [fields for _, fields in page])


async def ledger_csv(store: LedgerStore, guild_id: int) -> str:
    """The whole file at once (for small ledgers and tests; exports stream the pages)."""
    return "".join([page async for page in ledger_csv_pages(store, guild_id)])


class LedgerExports:
    """Whose turn it is to export: one export per server, a few for the whole bot."""

    def __init__(
        self, store: LedgerStore, *, at_once: int = EXPORTS_AT_ONCE, wait: float = WAIT_FOR_TURN
    ) -> None:
        self._store = store
        self._wait = wait
        self._bot = asyncio.Semaphore(at_once)
        self._servers: dict[int, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def turn(self, guild_id: int) -> AsyncIterator[AsyncIterator[str]]:
        """The server's ledger as CSV pages, once its turn has come (`ExportBusy` when it has
        not come in time)."""
        lock, users = self._servers.get(guild_id, (asyncio.Lock(), 0))
        self._servers[guild_id] = (lock, users + 1)
        try:
            try:
                async with asyncio.timeout(self._wait):
                    await lock.acquire()
            except TimeoutError:
                raise ExportBusy(
                    msg("The ledger is being exported for someone else: try again in a minute.")
                ) from None
            try:
                try:
                    async with asyncio.timeout(self._wait):
                        await self._bot.acquire()
                except TimeoutError:
                    raise ExportBusy(
                        msg("Many ledgers are being exported right now: try again in a minute.")
                    ) from None
                try:
                    yield ledger_csv_pages(self._store, guild_id)
                finally:
                    self._bot.release()
            finally:
                lock.release()
        finally:
            lock, users = self._servers[guild_id]
            if users == 1:
                del self._servers[guild_id]
            else:
                self._servers[guild_id] = (lock, users - 1)
