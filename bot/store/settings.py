"""The stores of what a server decides: its settings (each change logged with the admin who made
it), its rules for prompts, saved option defaults; and the bot's own few named values. Written
once, for both engines. The domain validates what is stored (`bot/money/servers.py` and
friends); the schema's CHECKs back it up."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from bot.clock import utc_now
from bot.money.allowances import EVERYONE, Period
from bot.money.servers import GuildSettings
from bot.requests.defaults import OptionDefaults
from bot.requests.server_rules import ListChange
from bot.requests.wordfilter import MAX_ENTRIES
from bot.store.driver import Driver, Tx
from bot.store.rows import settings_from_rows

SETTINGS: Final = (
    "SELECT default_credits, monthly_cap, per_member_limit, per_server_limit, log_channel_id "
    "FROM guild_settings WHERE guild_id = $1"
)
ALLOWANCES: Final = (
    "SELECT role_id, amount, period FROM allowances WHERE guild_id = $1 "
    "ORDER BY amount DESC, role_id"
)
# Column names come from code, never from members; still, only these may be set.
SETTING_COLUMNS: Final = frozenset(
    {"default_credits", "monthly_cap", "per_member_limit", "per_server_limit", "log_channel_id"}
)
LOG_SETTING: Final = (
    "INSERT INTO guild_settings_log (guild_id, setting, old_value, new_value, actor_id, "
    "created_at) VALUES ($1, $2, $3, $4, $5, $6)"
)


async def read_guild_settings(
    tx: Tx, guild_id: int, fallback_default: int, *, lock: bool = False
) -> GuildSettings:
    """A server's settings, inside any transaction; with `lock`, its row stays locked until the
    transaction ends (where rows are locked at all)."""
    row = await tx.fetch_one(SETTINGS + (tx.row_lock if lock else ""), guild_id)
    return settings_from_rows(guild_id, row, await tx.fetch(ALLOWANCES, guild_id), fallback_default)


async def log_setting(
    tx: Tx, guild_id: int, setting: str, old: object, new: object, actor_id: int, now: datetime
) -> None:
    await tx.execute(
        LOG_SETTING,
        guild_id,
        setting,
        None if old is None else str(old),
        None if new is None else str(new),
        actor_id,
        now,
    )


class SqlGuildSettingsStore:
    def __init__(self, driver: Driver, default_credits: int) -> None:
        self._db = driver
        self._fallback_default = default_credits

    async def get(self, guild_id: int) -> GuildSettings:
        async def body(tx: Tx) -> GuildSettings:
            return await read_guild_settings(tx, guild_id, self._fallback_default)

        return await self._db.read(body)

    async def log_channels(self) -> dict[int, int]:
        rows = await self._db.fetch(
            "SELECT guild_id, log_channel_id FROM guild_settings WHERE log_channel_id IS NOT NULL"
        )
        return {int(r[0]): int(r[1]) for r in rows}

    async def set_columns(
        self, guild_id: int, changes: dict[str, int | None], actor_id: int
    ) -> None:
        """Change one or more settings of a server as one transaction, each change logged."""
        unknown = set(changes) - SETTING_COLUMNS
        if unknown:
            raise ValueError(f"unknown server settings {sorted(unknown)}")
        now = utc_now()

        async def body(tx: Tx) -> None:
            for column, value in changes.items():
                old = await tx.value(
                    f"SELECT {column} FROM guild_settings WHERE guild_id = $1{tx.row_lock}",  # noqa: S608
                    guild_id,
                )
                await tx.execute(
                    f"INSERT INTO guild_settings (guild_id, {column}, updated_at, updated_by) "  # noqa: S608
                    f"VALUES ($1, $2, $3, $4) ON CONFLICT (guild_id) DO UPDATE SET "
                    f"{column} = excluded.{column}, updated_at = excluded.updated_at, "
                    "updated_by = excluded.updated_by",
                    guild_id,
                    value,
                    now,
                    actor_id,
                )
                await log_setting(tx, guild_id, column, old, value, actor_id, now)

        await self._db.write(body)

    async def set_allowance(
        self, guild_id: int, role_id: int | None, amount: int, period: Period, actor_id: int
    ) -> None:
        """Create, change or (with amount 0) remove an allowance."""
        role = EVERYONE if role_id is None else role_id
        now = utc_now()

        async def body(tx: Tx) -> None:
            if amount <= 0:
                await tx.execute(
                    "DELETE FROM allowances WHERE guild_id = $1 AND role_id = $2", guild_id, role
                )
                new_value = None
            else:
                await tx.execute(
                    "INSERT INTO allowances (guild_id, role_id, amount, period, updated_by, "
                    "updated_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (guild_id, role_id) "
                    "DO UPDATE SET amount = excluded.amount, period = excluded.period, "
                    "updated_by = excluded.updated_by, updated_at = excluded.updated_at",
                    guild_id,
                    role,
                    amount,
                    period.value,
                    actor_id,
                    now,
                )
                new_value = f"{amount} {period.value}"
            await log_setting(tx, guild_id, f"allowance:{role}", None, new_value, actor_id, now)

        await self._db.write(body)


class SqlRulesStore:
    def __init__(self, driver: Driver) -> None:
        self._db = driver

    async def entries(self, guild_id: int) -> list[str]:
        rows = await self._db.fetch(
            "SELECT entry FROM blocked_words WHERE guild_id = $1 ORDER BY entry", guild_id
        )
        return [str(row[0]) for row in rows]

    async def block(
        self, guild_id: int, entries: list[str], actor_id: int, now: datetime
    ) -> ListChange:
        async def body(tx: Tx) -> ListChange:
            count = int(
                await tx.value("SELECT COUNT(*) FROM blocked_words WHERE guild_id = $1", guild_id)
            )
            added: list[str] = []
            present: list[str] = []
            over: list[str] = []
            for entry in entries:
                if await tx.value(
                    "SELECT 1 FROM blocked_words WHERE guild_id = $1 AND entry = $2",
                    guild_id,
                    entry,
                ):
                    present.append(entry)
                elif count >= MAX_ENTRIES:
                    over.append(entry)
                else:
                    await tx.execute(
                        "INSERT INTO blocked_words (guild_id, entry, added_by, added_at) "
                        "VALUES ($1, $2, $3, $4)",
                        guild_id,
                        entry,
                        actor_id,
                        now,
                    )
                    added.append(entry)
                    count += 1
            if added:
                await log_setting(
                    tx, guild_id, "blocked_words", None, ", ".join(added), actor_id, now
                )
            return ListChange(tuple(added), tuple(present), tuple(over))

        # One admin's change at a time per server, so that the list's limit holds.
        return await self._db.write(body, lock=f"block:{guild_id}")

    async def unblock(self, guild_id: int, entries: list[str]) -> ListChange:
        async def body(tx: Tx) -> ListChange:
            removed: list[str] = []
            absent: list[str] = []
            for entry in entries:
                gone = await tx.execute(
                    "DELETE FROM blocked_words WHERE guild_id = $1 AND entry = $2", guild_id, entry
                )
                (removed if gone else absent).append(entry)
            return ListChange(tuple(removed), tuple(absent))

        return await self._db.write(body)

    async def nsfw_allowed(self, guild_id: int) -> bool:
        row = await self._db.fetch_one(
            "SELECT nsfw_allowed FROM guild_settings WHERE guild_id = $1", guild_id
        )
        return bool(row is not None and row[0])

    async def set_nsfw_allowed(
        self, guild_id: int, allowed: bool, actor_id: int, now: datetime
    ) -> None:
        async def body(tx: Tx) -> None:
            await tx.execute(
                "INSERT INTO guild_settings (guild_id, nsfw_allowed, updated_at, updated_by) "
                "VALUES ($1, $2, $3, $4) ON CONFLICT (guild_id) DO UPDATE SET "
                "nsfw_allowed = excluded.nsfw_allowed, updated_at = excluded.updated_at, "
                "updated_by = excluded.updated_by",
                guild_id,
                allowed,
                now,
                actor_id,
            )
            shown = "allowed" if allowed else "blocked"
            await log_setting(tx, guild_id, "nsfw_allowed", None, shown, actor_id, now)

        await self._db.write(body)


class SqlSavedDefaults:
    def __init__(self, driver: Driver) -> None:
        self._db = driver

    async def get(self, guild_id: int, member_id: int) -> OptionDefaults:
        row = await self._db.fetch_one(
            "SELECT duration, resolution, prompt_optimizer, camera, model FROM option_defaults "
            "WHERE guild_id = $1 AND member_id = $2",
            guild_id,
            member_id,
        )
        if row is None:
            return OptionDefaults()
        optimizer = row[2]
        return OptionDefaults(
            row[0], row[1], None if optimizer is None else bool(optimizer), row[3], row[4]
        )

    async def save(self, guild_id: int, member_id: int, defaults: OptionDefaults) -> None:
        """Replace the saved defaults (all of them: unset options are cleared)."""
        if defaults.empty:
            await self._db.execute(
                "DELETE FROM option_defaults WHERE guild_id = $1 AND member_id = $2",
                guild_id,
                member_id,
            )
            return
        await self._db.execute(
            "INSERT INTO option_defaults (guild_id, member_id, duration, resolution, "
            "prompt_optimizer, camera, model, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
            "ON CONFLICT (guild_id, member_id) DO UPDATE SET duration = excluded.duration, "
            "resolution = excluded.resolution, prompt_optimizer = excluded.prompt_optimizer, "
            "camera = excluded.camera, model = excluded.model, updated_at = excluded.updated_at",
            guild_id,
            member_id,
            defaults.duration,
            defaults.resolution,
            defaults.prompt_optimizer,
            defaults.camera,
            defaults.model,
            utc_now(),
        )


class SqlBotState:
    """A few named values of the bot's own (the audit channel's cursor, the hash of the synced
    commands)."""

    def __init__(self, driver: Driver) -> None:
        self._db = driver

    async def get_state(self, key: str) -> str | None:
        row = await self._db.fetch_one("SELECT value FROM bot_state WHERE key = $1", key)
        return None if row is None else str(row[0])

    async def set_state(self, key: str, value: str) -> None:
        await self._db.execute(
            "INSERT INTO bot_state (key, value) VALUES ($1, $2) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            key,
            value,
        )

    async def claim_state(self, key: str, value: str) -> bool:
        """Write `key` unless it is there already: whether this call wrote it (the first of
        every process to claim a one-time event)."""
        return bool(
            await self._db.execute(
                "INSERT INTO bot_state (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
                key,
                value,
            )
        )
