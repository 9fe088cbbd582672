"""The server's ledger as CSV, for admins (`/quota export`) and the owner (`ledger export`)."""

from __future__ import annotations

import csv
import io
from typing import Final

from bot.money.ledger import LedgerStore

COLUMNS: Final = ("time", "member", "change", "balance_after", "kind", "reason", "job", "actor")


async def ledger_csv(store: LedgerStore, guild_id: int) -> str:
    rows = await store.export_rows(guild_id)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(["" if value is None else value for value in row])
    return buffer.getvalue()
