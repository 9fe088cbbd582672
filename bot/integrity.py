"""Checks that the money adds up, and online backups of the database file."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path

from bot.database import Database
from bot.errors import HailuoBotError
from bot.money import balance_problem, job_problems, last_row_problem, orphan_problem


async def verify(database: Database) -> list[str]:
    """Every way the ledger, the balances and the jobs disagree; empty when all is well."""
    problems: list[str] = []
    for row in await database.fetch_all(
        "SELECT a.guild_id, a.member_id, a.balance, COALESCE(SUM(l.delta), 0) AS total "
        "FROM accounts a LEFT JOIN ledger l ON l.guild_id = a.guild_id "
        "AND l.member_id = a.member_id GROUP BY a.guild_id, a.member_id "
        "HAVING a.balance != total"
    ):
        problems.append(balance_problem(row[0], row[1], row[2], row[3]))
    for row in await database.fetch_all(
        "SELECT l.guild_id, l.member_id, l.balance_after, a.balance FROM ledger l "
        "JOIN accounts a ON a.guild_id = l.guild_id AND a.member_id = l.member_id "
        "WHERE l.id = (SELECT MAX(id) FROM ledger m WHERE m.guild_id = l.guild_id "
        "AND m.member_id = l.member_id) AND l.balance_after != a.balance"
    ):
        problems.append(last_row_problem(row[0], row[1], row[2], row[3]))
    for row in await database.fetch_all(
        "SELECT j.id, j.state, "
        "SUM(l.kind = 'reserve') AS reserves, SUM(l.kind = 'charge') AS charges, "
        "SUM(l.kind = 'refund') AS refunds FROM jobs j LEFT JOIN ledger l ON l.job_id = j.id "
        "GROUP BY j.id"
    ):
        problems.extend(job_problems(row[0], row[1], row[2] or 0, row[3] or 0, row[4] or 0))
    for row in await database.fetch_all(
        "SELECT l.id, l.job_id FROM ledger l LEFT JOIN jobs j ON j.id = l.job_id "
        "WHERE l.job_id IS NOT NULL AND j.id IS NULL"
    ):
        problems.append(orphan_problem(row[0], row[1]))
    return problems


class BackupRefused(HailuoBotError):
    """A backup that cannot be made as asked; nothing was written."""


async def backup(source: Path, target: Path) -> None:
    """Copy the live database with SQLite's online backup; safe while the bot runs.

    Raises `BackupRefused`, having written nothing, when there is no database to copy, the
    target exists, or its folder does not.
    """

    def copy() -> None:
        if not source.is_file():
            raise BackupRefused(
                f"there is no database at {source} yet (set DATABASE_PATH, or start the bot once)"
            )
        if target.exists():
            raise BackupRefused(f"{target} already exists: choose a new name")
        if not target.parent.is_dir():
            raise BackupRefused(f"the folder {target.parent} does not exist: create it first")
        # Read-only, so a source that vanished in between is never created empty.
        with closing(sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)) as src:
            src.execute("PRAGMA busy_timeout=10000")
            try:
                with closing(sqlite3.connect(target)) as dst:
                    src.backup(dst)
            except sqlite3.Error as exc:
                target.unlink(missing_ok=True)
                raise BackupRefused(f"could not write {target}: {exc}") from None

    await asyncio.to_thread(copy)
