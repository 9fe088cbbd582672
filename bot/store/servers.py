"""The servers the bot is in, as its owner governs them (`servers`), every change the owner made
(`owner_changes`), and the whole bot's spend of each month (`month_spend`), on either engine.

The reservation reads a server's row inside its own transaction (`read_server`), locked when
a budget applies, so that reservations in one server take turns at its budget; the whole bot's
month is one row, raised by a conditional UPDATE that is the reservation's last statement, so
that its lock is held no longer than the commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from bot.clock import utc_now
from bot.jobs.records import PaidFrom
from bot.money.economy import Approval, Server, ServerFacts, ServerMonthUse, month_key
from bot.store.driver import Driver, Row, Tx, moment

SERVER: Final = "SELECT * FROM servers WHERE guild_id = $1"
LOG_CHANGE: Final = (
    "INSERT INTO owner_changes (guild_id, change, old_value, new_value, actor_id, created_at) "
    "VALUES ($1, $2, $3, $4, $5, $6)"
)
RAISE_MONTH: Final = (
    "INSERT INTO month_spend (month, spent) VALUES ($1, $2) "
    "ON CONFLICT (month) DO UPDATE SET spent = month_spend.spent + excluded.spent"
)


@dataclass(frozen=True, slots=True)
class ServerMonth:
    """A server's month so far: what was paid from the credits its admins hand out (the
    owner's budget counts it), and from members' wallets there (the admins' cap counts both)."""

    server: int = 0
    wallet: int = 0

    @property
    def total(self) -> int:
        return self.server + self.wallet


def server_from_row(row: Row) -> Server:
    joined = moment(row["joined_at"])
    assert joined is not None
    return Server(
        guild_id=int(row["guild_id"]),
        name=str(row["name"]),
        owner_id=None if row["owner_id"] is None else int(row["owner_id"]),
        member_count=None if row["member_count"] is None else int(row["member_count"]),
        approval=Approval(str(row["approval"])),
        budget=None if row["budget"] is None else int(row["budget"]),
        unlimited=bool(row["unlimited"]),
        joined_at=joined,
        left_at=moment(row["left_at"]),
    )


async def read_server(tx: Tx, guild_id: int, *, lock: bool = False) -> Server | None:
    """The server's row inside any transaction; with `lock`, it stays locked until the end of
    the transaction (where rows are locked at all)."""
    row = await tx.fetch_one(SERVER + (tx.row_lock if lock else ""), guild_id)
    return None if row is None else server_from_row(row)


async def raise_server_month(
    tx: Tx,
    guild_id: int,
    now: datetime,
    price: int,
    paid_from: PaidFrom,
    budget: int | None,
    cap: int | None,
) -> int | None:
    """Add a reservation to the server's month, in the one statement that checks it: the new
    total of its column, or None when it would cross the owner's `budget` (counting what the
    admins handed out) or the admins' `cap` (counting all); nothing is added then. The row is
    locked from here to the commit, no longer."""
    if any(bound is not None and price > bound for bound in (budget, cap)):
        return None
    column = "spent" if paid_from is PaidFrom.SERVER else "wallet_spent"
    bounds, values = [], [guild_id, month_key(now), price]
    if budget is not None:
        values.append(budget)
        bounds.append(f"server_month.spent + excluded.spent <= ${len(values)}")
    if cap is not None:
        values.append(cap)
        bounds.append(
            f"server_month.spent + server_month.wallet_spent + excluded.{column} <= ${len(values)}"
        )
    within = f" WHERE {' AND '.join(bounds)}" if bounds else ""
    raised = await tx.value(
        f"INSERT INTO server_month (guild_id, month, {column}) VALUES ($1, $2, $3) "  # noqa: S608
        f"ON CONFLICT (guild_id, month) DO UPDATE SET {column} = server_month.{column} "
        f"+ excluded.{column}{within} RETURNING {column}",
        *values,
    )
    return None if raised is None else int(raised)


async def raise_month(tx: Tx, now: datetime, price: int, limit: int | None) -> int | None:
    """Add a reservation to the whole bot's month: the new total, or None when it would cross
    `limit` (nothing is added then)."""
    if limit is not None and price > limit:
        return None
    within = "" if limit is None else " WHERE month_spend.spent + excluded.spent <= $3"
    raised = await tx.value(
        f"{RAISE_MONTH}{within} RETURNING spent",
        month_key(now),
        price,
        *(() if limit is None else (limit,)),
    )
    return None if raised is None else int(raised)


async def lower_months(
    tx: Tx, guild_id: int, created_at: datetime, price: int, paid_from: PaidFrom
) -> None:
    """A refunded job no longer counts in the month it was asked in: the server's (in the
    column of whoever paid; a personal job's space keeps none) and the whole bot's."""
    month = month_key(created_at)
    column = "spent" if paid_from is PaidFrom.SERVER else "wallet_spent"
    lowered = f"{column} = CASE WHEN {column} < $2 THEN 0 ELSE {column} - $2 END"
    # In the reservation's order (the server's row, then the whole bot's): two transactions
    # never wait for each other's rows the opposite way round.
    if guild_id > 0:
        await tx.execute(
            f"UPDATE server_month SET {lowered} WHERE month = $1 AND guild_id = $3",  # noqa: S608
            month,
            price,
            guild_id,
        )
    await tx.execute(
        "UPDATE month_spend SET spent = CASE WHEN spent < $2 THEN 0 ELSE spent - $2 END "
        "WHERE month = $1",
        month,
        price,
    )


async def server_month(tx: Tx, guild_id: int, now: datetime) -> ServerMonth:
    """The server's month so far, reserved credits included."""
    row = await tx.fetch_one(
        "SELECT spent, wallet_spent FROM server_month WHERE guild_id = $1 AND month = $2",
        guild_id,
        month_key(now),
    )
    return ServerMonth() if row is None else ServerMonth(int(row[0]), int(row[1]))


async def server_month_spend(tx: Tx, guild_id: int, now: datetime) -> int:
    """The server's spend this month out of its admins' credits (what its budget counts)."""
    return (await server_month(tx, guild_id, now)).server


async def month_spent(tx: Tx, now: datetime) -> int:
    value = await tx.value("SELECT spent FROM month_spend WHERE month = $1", month_key(now))
    return 0 if value is None else int(value)


class SqlServerBook:
    def __init__(self, driver: Driver) -> None:
        self._db = driver

    async def seen(
        self, facts: ServerFacts, approval: Approval, now: datetime, *, decide: bool = False
    ) -> Server:
        """Record a server the bot is in (joined, or found at start); a known one keeps its
        approval (unless `decide`: added again) and budget, and has its name, owner and size
        brought up to date."""
        kept = "excluded.approval" if decide else "servers.approval"

        async def body(tx: Tx) -> Server:
            await tx.execute(
                "INSERT INTO servers (guild_id, name, owner_id, member_count, approval, "  # noqa: S608
                "joined_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) "
                "ON CONFLICT (guild_id) DO UPDATE SET name = excluded.name, "
                "owner_id = excluded.owner_id, member_count = excluded.member_count, "
                f"approval = {kept}, left_at = NULL, updated_at = excluded.updated_at",
                facts.guild_id,
                facts.name,
                facts.owner_id,
                facts.member_count,
                approval.value,
                now,
            )
            server = await read_server(tx, facts.guild_id)
            assert server is not None
            return server

        return await self._db.write(body)

    async def has_history(self, guild_id: int) -> bool:
        """Whether the server used the bot before it was known here (it joined under an older
        release): such a server is let in as it was, whatever NEW_SERVERS says now."""
        found = await self._db.fetch_one(
            "SELECT 1 FROM guild_settings WHERE guild_id = $1 UNION ALL "
            "SELECT 1 FROM jobs WHERE guild_id = $1 LIMIT 1",
            guild_id,
        )
        return found is not None

    async def left(self, guild_id: int, now: datetime) -> None:
        await self._db.execute(
            "UPDATE servers SET left_at = $2, updated_at = $2 WHERE guild_id = $1", guild_id, now
        )

    async def get(self, guild_id: int) -> Server | None:
        row = await self._db.fetch_one(SERVER, guild_id)
        return None if row is None else server_from_row(row)

    async def approve(self, guild_id: int, actor_id: int) -> Server | None:
        """Let a waiting server use the bot (logged with who did it); None: no such server."""
        return await self._change(guild_id, actor_id, "approval", {"approval": "approved"})

    async def set_budget(
        self, guild_id: int, budget: int | None, actor_id: int, *, unlimited: bool = False
    ) -> Server | None:
        """The owner's budget for a server: a number, or unlimited (logged with who did it);
        None: no such server."""
        return await self._change(
            guild_id,
            actor_id,
            "budget",
            {"budget": None if unlimited else budget, "unlimited": unlimited},
        )

    async def note_leave(self, guild_id: int, actor_id: int) -> Server | None:
        """The owner made the bot leave the server (logged); None: no such server."""
        return await self._change(guild_id, actor_id, "left", {"left_at": utc_now()})

    async def _change(
        self, guild_id: int, actor_id: int, change: str, columns: dict[str, object]
    ) -> Server | None:
        async def body(tx: Tx) -> Server | None:
            before = await read_server(tx, guild_id, lock=True)
            if before is None:
                return None
            now = utc_now()
            assignments = ", ".join(f"{name} = ${n + 2}" for n, name in enumerate(columns))
            await tx.execute(
                f"UPDATE servers SET {assignments}, updated_at = ${len(columns) + 2} "  # noqa: S608
                "WHERE guild_id = $1",
                guild_id,
                *columns.values(),
                now,
            )
            after = await read_server(tx, guild_id)
            assert after is not None
            await tx.execute(
                LOG_CHANGE,
                guild_id,
                change,
                _said(before, change),
                _said(after, change),
                actor_id,
                now,
            )
            return after

        return await self._db.write(body)

    async def page(
        self, since: datetime, *, offset: int = 0, limit: int = 20
    ) -> tuple[list[ServerMonthUse], int]:
        """The servers the bot is in, the biggest spenders this month first: each with its
        spend out of its admins' credits and how many members made videos; and how many
        servers there are in all."""
        rows = await self._db.fetch(
            "SELECT s.*, COALESCE(t.spent, 0) AS spent, COALESCE(m.members, 0) AS members "
            "FROM servers s LEFT JOIN server_month t ON t.guild_id = s.guild_id "
            "AND t.month = $4 LEFT JOIN (SELECT guild_id, COUNT(DISTINCT member_id) AS members "
            "FROM jobs WHERE created_at >= $1 GROUP BY guild_id) m ON m.guild_id = s.guild_id "
            "WHERE s.left_at IS NULL ORDER BY spent DESC, s.name, s.guild_id LIMIT $2 OFFSET $3",
            since,
            limit,
            offset,
            month_key(since),
        )
        total = await self._db.fetch_one("SELECT COUNT(*) FROM servers WHERE left_at IS NULL")
        used = [
            ServerMonthUse(server_from_row(row), int(row["spent"]), int(row["members"]))
            for row in rows
        ]
        return used, 0 if total is None else int(total[0])

    async def named(self, text: str, limit: int = 25) -> list[Server]:
        """Servers whose name holds `text` (for the owner's suggestions as they type)."""
        rows = await self._db.fetch(
            "SELECT * FROM servers WHERE left_at IS NULL AND LOWER(name) LIKE $1 "
            "ORDER BY name LIMIT $2",
            f"%{text.lower()}%",
            limit,
        )
        return [server_from_row(row) for row in rows]

    async def server_month_spend(self, guild_id: int, now: datetime) -> int:
        async def body(tx: Tx) -> int:
            return await server_month_spend(tx, guild_id, now)

        return await self._db.read(body)

    async def month_spent(self, now: datetime) -> int:
        """All servers' spend this month (what the whole bot's limit counts)."""
        value = await self._db.fetch_one(
            "SELECT spent FROM month_spend WHERE month = $1", month_key(now)
        )
        return 0 if value is None else int(value[0])


def _said(server: Server, change: str) -> str:
    if change == "approval":
        return server.approval.value
    if change == "budget":
        if server.unlimited:
            return "unlimited"
        return "default" if server.budget is None else str(server.budget)
    return "left" if server.left_at is not None else "in"
