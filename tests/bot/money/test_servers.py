"""Server settings: every admin change is one transaction, and logged."""

from __future__ import annotations

import pytest

from bot.errors import SettingRefused
from bot.money.allowances import Period
from bot.money.servers import ServerSettings
from bot.store.settings import SqlGuildSettingsStore
from bot.store.sqlite import SqliteDatabase
from tests.bot.factories import GUILD


async def log_rows(database: SqliteDatabase) -> list[tuple[str, str | None, str | None, str]]:
    rows = await database.fetch(
        "SELECT setting, old_value, new_value, created_at FROM guild_settings_log ORDER BY id"
    )
    return [(row[0], row[1], row[2], row[3]) for row in rows]


async def test_both_limits_change_in_one_transaction(database: SqliteDatabase) -> None:
    guilds = ServerSettings(SqlGuildSettingsStore(database, 20))
    await guilds.set_limits(GUILD, 3, 12, actor_id=9)
    settings = await guilds.get(GUILD)
    assert (settings.per_member_limit, settings.per_server_limit) == (3, 12)
    logged = await log_rows(database)
    assert [row[:3] for row in logged] == [
        ("per_member_limit", None, "3"),
        ("per_server_limit", None, "12"),
    ]
    assert logged[0][3] == logged[1][3]  # one moment: one transaction


async def test_a_bad_setting_changes_nothing(database: SqliteDatabase) -> None:
    guilds = ServerSettings(SqlGuildSettingsStore(database, 20))
    with pytest.raises(SettingRefused, match="from 1 to 100"):
        await guilds.set_limits(GUILD, 0, 5, actor_id=9)
    with pytest.raises(SettingRefused, match="from 1 to 1000"):
        await guilds.set_limits(GUILD, 5, 1001, actor_id=9)
    with pytest.raises(ValueError, match="unknown server setting"):
        await SqlGuildSettingsStore(database, 20).set_columns(
            GUILD, {"balance; DROP TABLE ledger": 1}, actor_id=9
        )
    assert await log_rows(database) == []


async def test_defaults_apply_until_set_and_allowances_come_and_go(
    database: SqliteDatabase,
) -> None:
    guilds = ServerSettings(SqlGuildSettingsStore(database, 20))
    fresh = await guilds.get(GUILD)
    assert fresh.default_credits == 20 and fresh.monthly_cap is None
    await guilds.set_default_credits(GUILD, 50, actor_id=9)
    await guilds.set_allowance(GUILD, None, 30, Period.WEEKLY, actor_id=9)
    changed = await guilds.get(GUILD)
    assert changed.default_credits == 50
    assert [(a.amount, a.period) for a in changed.allowances] == [(30, Period.WEEKLY)]
    await guilds.set_allowance(GUILD, None, 0, Period.WEEKLY, actor_id=9)
    assert (await guilds.get(GUILD)).allowances == ()
