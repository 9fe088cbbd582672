"""The dashboard's store: server-side sessions (found by the SHA-256 of the id in the browser's
cookie, never by the id itself) and the login states already used, on either engine."""

from __future__ import annotations

from datetime import datetime

from bot.store.driver import Driver, Tx, moment


class SqlDashboardSessions:
    def __init__(self, driver: Driver) -> None:
        self._db = driver

    async def load(self, id_sha256: str, now: datetime) -> str | None:
        """The session's data (JSON), unless it ended or expired."""
        row = await self._db.fetch_one(
            "SELECT data FROM dashboard_sessions WHERE id_sha256 = $1 AND expires_at > $2",
            id_sha256,
            now,
        )
        return None if row is None else str(row[0])

    async def save(
        self, id_sha256: str, user_id: int, data: str, now: datetime, expires_at: datetime
    ) -> None:
        await self._db.execute(
            "INSERT INTO dashboard_sessions (id_sha256, user_id, data, created_at, expires_at) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id_sha256) DO UPDATE SET "
            "data = excluded.data",
            id_sha256,
            user_id,
            data,
            now,
            expires_at,
        )

    async def end(self, id_sha256: str) -> None:
        await self._db.execute("DELETE FROM dashboard_sessions WHERE id_sha256 = $1", id_sha256)

    async def end_for(self, user_id: int | None) -> int:
        """End every session of one person (None: of everyone); how many there were."""
        if user_id is None:
            return await self._db.execute("DELETE FROM dashboard_sessions")
        return await self._db.execute("DELETE FROM dashboard_sessions WHERE user_id = $1", user_id)

    async def open_sessions(self, now: datetime) -> list[tuple[int, datetime, datetime]]:
        """(person, since, until) of every session that has not ended, newest first."""
        rows = await self._db.fetch(
            "SELECT user_id, created_at, expires_at FROM dashboard_sessions "
            "WHERE expires_at > $1 ORDER BY created_at DESC",
            now,
        )
        found = []
        for row in rows:
            since, until = moment(row[1]), moment(row[2])
            assert since is not None and until is not None
            found.append((int(row[0]), since, until))
        return found

    async def use_state(self, state_sha256: str, expires_at: datetime, now: datetime) -> bool:
        """Mark a login's state used; False when it already was (by any process). Old states
        are let go of on the way."""

        async def body(tx: Tx) -> bool:
            await tx.execute("DELETE FROM dashboard_login_states WHERE expires_at < $1", now)
            await tx.execute("DELETE FROM dashboard_sessions WHERE expires_at < $1", now)
            return bool(
                await tx.execute(
                    "INSERT INTO dashboard_login_states (state_sha256, expires_at) "
                    "VALUES ($1, $2) ON CONFLICT (state_sha256) DO NOTHING",
                    state_sha256,
                    expires_at,
                )
            )

        return await self._db.write(body)
