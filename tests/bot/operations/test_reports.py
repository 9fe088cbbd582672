"""The ledger's CSV on both engines: read in pages, one at a time, and exports that take turns
(one per server, a few for the bot) and give up in words when their turn does not come."""

from __future__ import annotations

import pytest

from bot.operations.reports import ExportBusy, LedgerExports, ledger_csv_pages
from tests.conftest import Backend


async def test_the_pages_of_an_export_are_read_one_at_a_time(backend: Backend) -> None:
    """Pages of a few rows: the file is the same as one read at once would make."""
    ledger = backend.ledger()
    for n in range(23):
        await ledger.add_credits(1, 100 + n, 1, actor_id=9)
    rows = 2 * 23  # each account's opening, and the grant
    pages = [page async for page in ledger_csv_pages(backend.store, 1, page_rows=5)]
    assert len(pages) == 1 + 10  # the header, then the rows in pages of 5
    whole = [page async for page in ledger_csv_pages(backend.store, 1)]
    assert "".join(pages) == "".join(whole) and "".join(pages).count("\n") == 1 + rows


async def test_exports_wait_their_turn_then_give_up_in_words(backend: Backend) -> None:
    exports = LedgerExports(backend.store, at_once=1, wait=0.2)
    async with exports.turn(1):
        with pytest.raises(ExportBusy):  # the same server: its one export runs
            async with exports.turn(1):
                pass
        with pytest.raises(ExportBusy):  # another server: the bot's one slot is taken
            async with exports.turn(2):
                pass
    async with exports.turn(2) as pages:
        first = [page async for page in pages][0]  # noqa: RUF015 - every page is read
        assert first.startswith("time,")
