"""The server's ledger as CSV, for admins (`/quota export`) and the owner (`ledger export`)."""

from __future__ import annotations

import csv
import io
from typing import Final

from bot.database import Database

COLUMNS: Final = ("time", "member", "change", "balance_after", "kind", "reason", "job", "actor")


async def ledger_csv(database: Database, guild_id: int) -> str:
    rows = await database.fetch_all(
        "SELECT created_at, member_id, delta, balance_after, kind, reason, job_id, actor_id "
        "FROM ledger WHERE guild_id = ? ORDER BY id",
        (guild_id,),
    )
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(["" if value is None else value for value in tuple(row)])
    return buffer.getvalue()
