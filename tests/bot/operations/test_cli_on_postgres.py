"""The owner's shell commands on PostgreSQL, and `db copy` from SQLite into PostgreSQL."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import msgspec
import pytest

from bot.errors import ConfigurationError
from bot.jobs.records import ImagePayload, JobSource, SourceAction
from bot.money.allowances import Period
from bot.money.ledger import Ledger
from bot.money.servers import ServerSettings
from bot.operations.cli import run_cli
from bot.requests.defaults import DefaultsStore, OptionDefaults
from bot.requests.rules import ImageRole
from bot.requests.server_rules import ServerRules
from bot.settings import Secret, StoreSettings, load_store_settings
from bot.store import stores_for
from bot.store.settings import SqlRulesStore, SqlSavedDefaults
from testkit.postgres import PASSWORD, Cluster
from tests.bot.factories import GUILD, new_job
from tests.conftest import fresh_database


async def cli(settings: StoreSettings, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = await run_cli(list(argv), settings, out)
    return code, out.getvalue()


def copying(settings: StoreSettings, url: str) -> StoreSettings:
    """The settings with COPY_TO_DATABASE_URL set, as `db copy` reads it."""
    return msgspec.structs.replace(settings, copy_to_database_url=Secret(url))


def on_postgres(url: str) -> StoreSettings:
    return load_store_settings(env_file=None, database_url=url, default_credits=20)


@pytest.fixture
async def sqlite_with_every_kind_of_row(tmp_path: Path) -> StoreSettings:
    """A SQLite database with rows in every table and every ledger kind."""
    settings = load_store_settings(
        env_file=None, database_path=tmp_path / "bot.sqlite3", default_credits=20
    )
    stores = stores_for(settings)
    await stores.database.open()
    try:
        database = stores.database
        ledger, jobs = Ledger(stores.ledger), stores.jobs
        guilds = ServerSettings(stores.guilds)
        await guilds.set_monthly_cap(GUILD, 500, actor_id=9)
        await guilds.set_limits(GUILD, 3, 12, actor_id=9)
        await guilds.set_log_channel(GUILD, 777, actor_id=9)
        await guilds.set_allowance(GUILD, None, 40, Period.WEEKLY, actor_id=9)
        await ServerRules(SqlRulesStore(database)).block(GUILD, ["zorblax", "red fog"], actor_id=9)
        await ServerRules(SqlRulesStore(database)).set_nsfw_allowed(GUILD, True, actor_id=9)
        await DefaultsStore(SqlSavedDefaults(database)).save(
            GUILD, 1, OptionDefaults(10, "768p", True, "Push in")
        )
        picture = ImagePayload(ImageRole.START, "a.png", "image/png", b"\x89PNG fake bytes")
        done = dataclasses.replace(new_job(1), images=(picture,))
        failed, running = new_job(1), new_job(2)
        for job in (done, failed, running):
            await ledger.reserve(job)
        await jobs.record_submitted(done.id, "remote-1", "QUEUED")
        await ledger.commit_charge(done.id, "https://v/1.mp4")
        await jobs.mark_delivered(done.id, "interaction", video_message=(5, 6))
        await ledger.refund(failed.id, "policy")
        again = dataclasses.replace(new_job(2), source=JobSource(done.id, SourceAction.AGAIN))
        await ledger.reserve(again)
        await ledger.add_credits(GUILD, 3, 7, actor_id=99)
        await ledger.set_balance(GUILD, 4, 11, actor_id=99)
        await stores.state.set_state("audit_cursor", "3")
    finally:
        await stores.database.close()
    return settings


async def test_db_copy_moves_every_row_and_the_bot_reads_the_same_on_the_copy(
    sqlite_with_every_kind_of_row: StoreSettings, postgres_cluster: Cluster
) -> None:
    source = sqlite_with_every_kind_of_row
    url = await fresh_database(postgres_cluster)
    code, said = await cli(copying(source, url), "db", "copy")
    assert code == 0, said
    assert "ledger: 16 row(s)" in said and "ok: balances, ledger and jobs agree" in said
    assert PASSWORD not in said and "***" in said

    before, after = stores_for(source), stores_for(on_postgres(url))
    for stores in (before, after):
        await stores.database.open()
    try:
        for member in (1, 2, 3, 4):
            assert await after.ledger.stored_balance(GUILD, member) == (
                await before.ledger.stored_balance(GUILD, member)
            )
            assert await after.ledger.history(GUILD, member, 50, 0) == (
                await before.ledger.history(GUILD, member, 50, 0)
            )
        assert await after.guilds.get(GUILD) == await before.guilds.get(GUILD)
        assert await after.rules.entries(GUILD) == ["red fog", "zorblax"]
        assert await after.rules.nsfw_allowed(GUILD)
        assert await after.defaults.get(GUILD, 1) == OptionDefaults(10, "768p", True, "Push in")
        assert await after.state.get_state("audit_cursor") == "3"
        for job in await before.jobs.recent_for_member(GUILD, 1, 10):
            assert await after.jobs.get(job.id) == await before.jobs.get(job.id)
            assert await after.jobs.images(job.id) == await before.jobs.images(job.id)
        # New rows continue after the copied ids.
        grant = await Ledger(after.ledger).add_credits(GUILD, 1, 1, actor_id=99)
        assert grant.delta == 1
        [newest] = await after.ledger.history(GUILD, 1, 1, 0)
        assert newest.id == 17
    finally:
        for stores in (before, after):
            await stores.database.close()

    code, said = await cli(on_postgres(url), "db", "verify")
    assert code == 0 and "ok" in said
    code, _ = await cli(copying(source, url), "db", "copy")
    assert code == 1  # never into a database with rows


async def test_db_copy_refuses_a_target_with_rows(
    sqlite_with_every_kind_of_row: StoreSettings,
    postgres_cluster: Cluster,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = await fresh_database(postgres_cluster)
    assert (await cli(on_postgres(url), "credits", "set", "--guild", "1", "--member", "2", "5"))[
        0
    ] == 0
    code, _ = await cli(copying(sqlite_with_every_kind_of_row, url), "db", "copy")
    assert code == 1
    assert "not empty" in capsys.readouterr().err


async def test_db_copy_refuses_a_password_on_the_command_line(
    sqlite_with_every_kind_of_row: StoreSettings,
    postgres_cluster: Cluster,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = await fresh_database(postgres_cluster)
    code, said = await cli(sqlite_with_every_kind_of_row, "db", "copy", "--to", url)
    err = capsys.readouterr().err
    assert code == 1 and said == ""
    assert "put the URL in COPY_TO_DATABASE_URL" in err and PASSWORD not in err
    assert len(err.strip().splitlines()) == 1
    code, _ = await cli(sqlite_with_every_kind_of_row, "db", "copy")
    assert code == 1
    assert "set COPY_TO_DATABASE_URL=" in capsys.readouterr().err


async def test_the_shell_commands_work_on_postgres(
    postgres_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = on_postgres(postgres_url)
    assert await cli(settings, "credits", "show", "--guild", "1", "--member", "2") == (
        0,
        "20 (no account yet: this server's starting balance)\n",
    )
    assert (await cli(settings, "credits", "add", "--guild", "1", "--member", "2", "5"))[1] == (
        "balance 25 (+5)\n"
    )
    assert (await cli(settings, "credits", "set", "--guild", "1", "--member", "2", "3"))[1] == (
        "balance 3 (-22)\n"
    )
    code, exported = await cli(settings, "ledger", "export", "--guild", "1")
    assert code == 0 and exported.count("\n") == 4  # header, opening, grant, set
    assert (await cli(settings, "db", "verify"))[0] == 0
    code, _ = await cli(settings, "db", "backup", "copy.sqlite3")
    assert code == 1 and "pg_dump" in capsys.readouterr().err


async def test_a_wrong_password_is_reported_without_it(
    postgres_cluster: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = dataclasses.replace(postgres_cluster, password="not-the-password-x1")
    code, _ = await cli(on_postgres(wrong.url("postgres")), "db", "verify")
    assert code == 1
    error = capsys.readouterr().err
    assert "cannot open PostgreSQL" in error and "not-the-password-x1" not in error
    assert "hailuo:***@127.0.0.1" in error


async def test_database_url_picks_the_backend(tmp_path: Path) -> None:
    assert not load_store_settings(env_file=None).on_postgres
    chosen = load_store_settings(env_file=None, database_url=f"sqlite:///{tmp_path}/x.sqlite3")
    assert chosen.sqlite_path == tmp_path / "x.sqlite3" and not chosen.on_postgres
    secret = load_store_settings(env_file=None, database_url="postgresql://u:hunter2@db/x")
    assert secret.on_postgres and "hunter2" not in repr(secret)
    with pytest.raises(ConfigurationError, match="DATABASE_URL must start with"):
        load_store_settings(env_file=None, database_url="mysql://u:p@db/x")
