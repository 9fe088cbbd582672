"""Which process runs the bot on this database (`process_holds`), and which process carried out
each interaction (`claimed_interactions`), on either engine.

A hold is taken in one transaction that every process takes turns at (an advisory lock on
PostgreSQL, the one writer on SQLite): expired holds go, a live one that overlaps is reported,
and otherwise the hold is written. It is renewed while the process runs and dropped when it
stops; a process that dies leaves a hold that expires by itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.store.driver import Driver, Row, Tx, moment, placeholders


@dataclass(frozen=True, slots=True)
class Hold:
    scope: str  # "all", or "shard N"
    holder: str  # a random id of the process
    host: str
    pid: int
    version: str
    started_at: datetime
    renewed_at: datetime
    expires_at: datetime


def _hold(row: Row) -> Hold:
    times = [moment(row[name]) for name in ("started_at", "renewed_at", "expires_at")]
    started, renewed, expires = (time for time in times if time is not None)
    return Hold(
        str(row["scope"]),
        str(row["holder"]),
        str(row["host"]),
        int(row["pid"]),
        str(row["version"]),
        started,
        renewed,
        expires,
    )


def overlap(mine: list[str], theirs: str) -> bool:
    """Whether a hold on `theirs` covers servers of mine: "all" covers every shard."""
    return theirs == "all" or "all" in mine or theirs in mine


class SqlProcessHolds:
    def __init__(self, driver: Driver) -> None:
        self._db = driver

    async def take(
        self, mine: Hold, scopes: list[str], now: datetime, dead: list[str]
    ) -> Hold | None:
        """Take the hold on `scopes` for `mine` (its scope field is ignored); or, when a live
        process of another holder holds one of them, that hold. `dead`: holders known to have
        died (their process is gone from this machine), whose holds go at once."""

        async def body(tx: Tx) -> Hold | None:
            await tx.execute("DELETE FROM process_holds WHERE expires_at < $1", now)
            if dead:
                await tx.execute(
                    f"DELETE FROM process_holds WHERE holder IN ({placeholders(len(dead))})",  # noqa: S608
                    *dead,
                )
            for row in await tx.fetch(
                "SELECT * FROM process_holds WHERE holder <> $1", mine.holder
            ):
                held = _hold(row)
                if overlap(scopes, held.scope):
                    return held
            for scope in scopes:
                await tx.execute(
                    "INSERT INTO process_holds (scope, holder, host, pid, version, started_at, "
                    "renewed_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
                    "ON CONFLICT (scope) DO UPDATE SET holder = excluded.holder, "
                    "host = excluded.host, pid = excluded.pid, version = excluded.version, "
                    "started_at = excluded.started_at, renewed_at = excluded.renewed_at, "
                    "expires_at = excluded.expires_at",
                    scope,
                    mine.holder,
                    mine.host,
                    mine.pid,
                    mine.version,
                    mine.started_at,
                    now,
                    mine.expires_at,
                )
            return None

        return await self._db.write(body, lock="process-holds")

    async def renew(self, holder: str, now: datetime, until: datetime) -> bool:
        """Keep the holder's holds until `until`; False when it has none any more (another
        process took over, after this one stayed silent past its expiry)."""
        return bool(
            await self._db.execute(
                "UPDATE process_holds SET renewed_at = $2, expires_at = $3 WHERE holder = $1",
                holder,
                now,
                until,
            )
        )

    async def release(self, holder: str) -> None:
        await self._db.execute("DELETE FROM process_holds WHERE holder = $1", holder)

    async def live(self, now: datetime) -> list[Hold]:
        """Every hold that has not expired (what `check` reports)."""
        rows = await self._db.fetch(
            "SELECT * FROM process_holds WHERE expires_at >= $1 ORDER BY scope", now
        )
        return [_hold(row) for row in rows]

    async def claim_interaction(self, interaction_id: int, now: datetime) -> bool:
        """Whether this process is the first to take up the interaction (any process)."""
        return bool(
            await self._db.execute(
                "INSERT INTO claimed_interactions (interaction_id, claimed_at) VALUES ($1, $2) "
                "ON CONFLICT (interaction_id) DO NOTHING",
                interaction_id,
                now,
            )
        )

    async def forget_interactions(self, before: datetime) -> int:
        """Claims older than any interaction Discord still lets be answered."""
        return await self._db.execute(
            "DELETE FROM claimed_interactions WHERE claimed_at < $1", before
        )
