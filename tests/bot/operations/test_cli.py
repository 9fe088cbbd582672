"""The owner's shell commands, on a real database file."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot.money.ledger import Ledger
from bot.operations.cli import run_cli
from bot.settings import StoreSettings, load_store_settings
from bot.store.jobs import SqlJobStore
from bot.store.ledger import SqlLedgerStore
from bot.store.sqlite import SqliteDatabase
from tests.bot.factories import GUILD, new_job

REPO = Path(__file__).resolve().parents[3]


async def cli(settings: StoreSettings, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = await run_cli(list(argv), settings, out)
    return code, out.getvalue()


@pytest.fixture
async def populated(tmp_path: Path) -> StoreSettings:
    settings = load_store_settings(
        env_file=None, database_path=tmp_path / "bot.sqlite3", default_credits=20
    )
    async with SqliteDatabase(settings.database_path) as db:
        ledger, jobs = Ledger(SqlLedgerStore(db, 20)), SqlJobStore(db, 20)
        done, failed, running = new_job(1), new_job(1), new_job(2)
        for job in (done, failed, running):
            await ledger.reserve(job)
        await jobs.record_submitted(done.id, "r1", "QUEUED")
        await ledger.commit_charge(done.id, "https://v/1.mp4")
        await ledger.refund(failed.id, "policy")
        await ledger.add_credits(GUILD, 3, 7, actor_id=99)
    return settings


async def test_credits_show_set_add(populated: StoreSettings) -> None:
    guild = str(GUILD)
    assert await cli(populated, "credits", "show", "--guild", guild, "--member", "1") == (0, "15\n")
    assert await cli(populated, "credits", "set", "--guild", guild, "--member", "1", "40") == (
        0,
        "balance 40 (+25)\n",
    )
    assert await cli(populated, "credits", "add", "--guild", guild, "--member", "1", "-50") == (
        0,
        "balance 0 (-40)\n",
    )
    assert (await cli(populated, "db", "verify"))[0] == 0


async def test_ledger_export_writes_csv(populated: StoreSettings, tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    code, _ = await cli(populated, "ledger", "export", "--guild", str(GUILD), "--out", str(target))
    assert code == 0
    rows = list(csv.DictReader(target.open()))
    assert [r["kind"] for r in rows].count("reserve") == 3
    assert {"time", "member", "change", "balance_after", "reason", "job", "actor"} <= set(rows[0])


async def test_verify_passes_on_a_healthy_database(populated: StoreSettings) -> None:
    code, out = await cli(populated, "db", "verify")
    assert code == 0 and out.startswith("ok")


async def test_verify_catches_a_balance_edited_behind_the_ledgers_back(
    populated: StoreSettings,
) -> None:
    with sqlite3.connect(populated.database_path) as raw:
        raw.execute("UPDATE accounts SET balance = balance + 100 WHERE member_id = 3")
    code, out = await cli(populated, "db", "verify")
    assert code == 1
    assert "member 3: balance is 127 but the ledger adds up to 27" in out


async def test_verify_catches_a_double_charge_and_an_orphan_reservation(
    populated: StoreSettings,
) -> None:
    with sqlite3.connect(populated.database_path) as raw:
        raw.execute("DROP INDEX ledger_once_per_job")
        raw.execute("DROP INDEX ledger_settled_once")
        job_id, guild, member = raw.execute(
            "SELECT id, guild_id, member_id FROM jobs WHERE state = 'completed'"
        ).fetchone()
        raw.execute(
            "INSERT INTO ledger (guild_id, member_id, kind, delta, balance_after, job_id,"
            " reason, created_at) VALUES (?, ?, 'charge', 0, 15, ?, 'x', 'now')",
            (guild, member, job_id),
        )
        raw.execute("UPDATE jobs SET state = 'completed' WHERE state = 'reserved'")
    async with SqliteDatabase(populated.database_path) as db:
        problems = await SqlLedgerStore(db, 20).disagreements()
    assert any("charged 2 and refunded 0 times" in p for p in problems)
    assert any("completed without a charge" in p for p in problems)


async def test_backup_while_the_database_is_being_written(
    populated: StoreSettings, tmp_path: Path
) -> None:
    target = tmp_path / "backup.sqlite3"
    async with SqliteDatabase(populated.database_path) as db:
        ledger = Ledger(SqlLedgerStore(db, 20))

        async def keep_writing() -> None:
            for i in range(50):
                await ledger.add_credits(GUILD, 50 + i, 1, actor_id=1)

        writer = asyncio.create_task(keep_writing())
        code, out = await cli(populated, "db", "backup", str(target))
        await writer
    assert code == 0 and "backed up" in out
    copy = load_store_settings(env_file=None, database_path=target)
    assert await cli(copy, "db", "verify") == (0, "ok: balances, ledger and jobs agree\n")
    assert (await cli(populated, "db", "backup", str(target)))[0] == 1  # never overwrites


def test_python_m_bot_db_verify_exit_code(populated: StoreSettings) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(REPO),
        "DATABASE_PATH": str(populated.database_path),
    }
    ok = subprocess.run(
        [sys.executable, "-m", "bot", "db", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    with sqlite3.connect(populated.database_path) as raw:
        raw.execute("UPDATE accounts SET balance = 999 WHERE member_id = 2")
    bad = subprocess.run(
        [sys.executable, "-m", "bot", "db", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 1 and "member 2" in bad.stdout


def dump(path: Path) -> list[tuple[object, ...]]:
    """Every row of every table, to prove a command wrote nothing."""
    with sqlite3.connect(path) as raw:
        tables = [
            r[0]
            for r in raw.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        return [(table, *row) for table in tables for row in raw.execute(f"SELECT * FROM {table}")]


async def test_credits_show_for_an_unknown_member_writes_nothing(populated: StoreSettings) -> None:
    before = dump(populated.database_path)
    code, out = await cli(populated, "credits", "show", "--guild", "999", "--member", "888")
    assert code == 0
    assert out == "20 (no account yet: this server's starting balance)\n"
    assert dump(populated.database_path) == before


async def test_credits_can_be_set_before_the_first_start(tmp_path: Path) -> None:
    fresh = load_store_settings(env_file=None, database_path=tmp_path / "data" / "bot.sqlite3")
    assert await cli(fresh, "credits", "set", "--guild", "1", "--member", "2", "50") == (
        0,
        "balance 50 (+50)\n",
    )
    assert await cli(fresh, "credits", "show", "--guild", "1", "--member", "2") == (0, "50\n")
    assert (await cli(fresh, "db", "verify"))[0] == 0


@pytest.mark.parametrize(
    "command",
    [
        ("credits", "show", "--guild", "1", "--member", "2"),
        ("db", "verify"),
        ("ledger", "export", "--guild", "1"),
        ("dashboard", "sessions"),
    ],
)
async def test_a_read_where_there_is_no_database_says_so_and_makes_none(
    tmp_path: Path, command: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    """Run from the wrong folder (or with a wrong DATABASE_PATH), a read used to make a new,
    empty database and answer from it ("0, no account yet")."""
    fresh = load_store_settings(env_file=None, database_path=tmp_path / "new.sqlite3")
    assert await cli(fresh, *command) == (1, "")
    said = capsys.readouterr().err
    assert "there is no database at" in said and "DATABASE_PATH" in said
    assert not (tmp_path / "new.sqlite3").exists()


async def test_backup_without_a_database_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = load_store_settings(env_file=None, database_path=tmp_path / "none.sqlite3")
    assert await cli(missing, "db", "backup", str(tmp_path / "copy.sqlite3")) == (1, "")
    assert "there is no database at" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


async def test_backup_into_a_missing_folder_is_a_clear_error(
    populated: StoreSettings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "no-such-folder" / "copy.sqlite3"
    assert await cli(populated, "db", "backup", str(target)) == (1, "")
    assert "the folder" in capsys.readouterr().err
    assert not target.parent.exists()


def test_help_says_no_command_runs_the_bot_and_lists_the_settings() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "bot", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO)},
    )
    assert shown.returncode == 0
    assert "none: run the bot" in shown.stdout
    for setting in ("DISCORD_TOKEN", "APIFRAME_API_KEY", "DATABASE_PATH", "HTTP_PORT"):
        assert setting in shown.stdout
    version = subprocess.run(
        [sys.executable, "-m", "bot", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO)},
    )
    assert version.returncode == 0 and version.stdout.startswith("hailuo-bot ")
