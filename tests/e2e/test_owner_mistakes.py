"""What a new owner gets wrong, each met as they would meet it: the real `python -m bot …` in a
child process, answered in one line that names the setting or file and the fix, with exit code
1 (2 for a command or setting typed wrong), never a traceback, never a secret."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import quote

import asyncpg
import pytest

from testkit.fake_apiframe import API_KEY, FakeApiframe
from testkit.fake_discord import FakeDiscord
from testkit.harness import DISCORD_TOKEN
from testkit.postgres import Cluster
from testkit.processes import REPO

pytestmark = pytest.mark.engines("sqlite")  # each test picks its database itself

NOWHERE: Final = "http://127.0.0.1:9"  # the discard port: connections are refused
PASSWORD: Final = "Xy7/Qz9+Ab@:#?%"  # every character a URL reserves
SECRETS: Final = (DISCORD_TOKEN, API_KEY, "Xy7", "Qz9")
SECRETLESS: Final = {"DISCORD_TOKEN": DISCORD_TOKEN, "APIFRAME_API_KEY": API_KEY}


@dataclass(frozen=True)
class Answer:
    code: int
    output: str

    @property
    def line(self) -> str:
        lines = self.output.strip().splitlines()
        return lines[-1] if lines else ""

    def is_one_clear_line(self, *fragments: str) -> bool:
        """One line (or warnings before it), no traceback, no secret, every fragment in it."""
        assert "Traceback" not in self.output, self.output
        assert "Event loop is closed" not in self.output, self.output
        for secret in SECRETS:
            assert secret not in self.output, self.output
        for fragment in fragments:
            assert fragment in self.line, self.output
        return True


def bot(
    *arguments: str, cwd: Path, env: dict[str, str] | None = None, user: bool = False
) -> Answer:
    """`python -m bot …` in `cwd` with exactly `env` (plus what Python needs); with `user`, as an
    unprivileged user other than the database's owner."""
    command = [sys.executable, "-m", "bot", *arguments]
    if user:
        command = [*as_another_user(), *command]
    done = subprocess.run(
        command,
        cwd=cwd,
        env={
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(REPO),
            "HOME": str(cwd),
            **(env or {}),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
        check=False,
    )
    return Answer(done.returncode, done.stdout)


def as_another_user() -> list[str]:
    if os.geteuid() != 0:
        return []  # already not the owner of files made 0644 below: they are read-only for us
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv to become another user")
    return [setpriv, "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


@pytest.fixture
def folder() -> Iterator[Path]:
    """A folder any user may enter (pytest's own are the owner's alone)."""
    path = Path(tempfile.mkdtemp(prefix="hailuo-owner-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# -- the database URL -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://hailuo:{PASSWORD}@db.example.com/hailuo",
        "postgresql://hailuo:Xy7Qz9@db.example.com:fivefour/hailuo",
    ],
    ids=["reserved characters in the password", "a port that is not a number"],
)
@pytest.mark.parametrize(
    "command", [(), ("check", "--offline"), ("db", "verify")], ids=["start", "check", "verify"]
)
def test_a_database_url_that_cannot_be_read_is_one_line_without_the_password(
    folder: Path, url: str, command: tuple[str, ...]
) -> None:
    answer = bot(*command, cwd=folder, env={**SECRETLESS, "DATABASE_URL": url})
    assert answer.code in (1, 2)
    assert answer.is_one_clear_line("DATABASE_URL", "percent-encode", "%2F")


async def test_a_password_with_reserved_characters_works_percent_encoded(
    folder: Path, postgres_cluster: Cluster
) -> None:
    admin = await asyncpg.connect(postgres_cluster.url("postgres"))
    try:
        await admin.execute("DROP DATABASE IF EXISTS reserved_chars")
        await admin.execute("DROP ROLE IF EXISTS reserved_chars")
        await admin.execute(f"CREATE ROLE reserved_chars LOGIN PASSWORD '{PASSWORD}'")
        await admin.execute("CREATE DATABASE reserved_chars OWNER reserved_chars")
    finally:
        await admin.close()
    base = postgres_cluster.url("reserved_chars")
    host = base.split("@", 1)[1]
    url = f"postgresql://reserved_chars:{quote(PASSWORD, safe='')}@{host}"
    answer = bot("db", "verify", cwd=folder, env={"DATABASE_URL": url})
    assert answer.code == 0, answer.output
    assert "ok: balances, ledger and jobs agree" in answer.output
    assert answer.is_one_clear_line()


# -- the owner's commands before the first start --------------------------------------------


def test_the_owners_commands_work_before_the_first_start(folder: Path) -> None:
    """Giving credits before the first start makes the database (and says so); reading from
    one that is not there says so, and makes none (run from another folder, it once answered
    "0, no account yet" from a new, empty database)."""
    shown = bot("credits", "show", "--guild", "1", "--member", "2", cwd=folder)
    assert shown.code == 1
    assert shown.is_one_clear_line("there is no database at", "DATABASE_PATH")
    assert not (folder / "data").exists()
    given = bot("credits", "set", "--guild", "1", "--member", "2", "5", cwd=folder)
    assert given.code == 0 and "creating a new database at" in given.output
    assert "no data yet" in given.output
    verify = bot("db", "verify", cwd=folder)
    assert verify.code == 0 and "ok: balances, ledger and jobs agree" in verify.output
    with sqlite3.connect(folder / "data" / "hailuo-bot.sqlite3") as raw:
        assert raw.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0] > 0


def test_a_folder_that_cannot_be_written_is_the_one_refusal(folder: Path) -> None:
    locked = folder / "locked"
    locked.mkdir(mode=0o555)
    env = {"DATABASE_PATH": str(locked / "db" / "hailuo-bot.sqlite3")}
    answer = bot(
        "credits", "set", "--guild", "1", "--member", "2", "5", cwd=folder, env=env, user=True
    )
    assert answer.code == 1
    assert answer.is_one_clear_line("not writable by this user", str(locked / "db"))


@pytest.mark.parametrize(
    "command",
    [
        ("db", "verify"),
        ("credits", "show", "--guild", "1", "--member", "2"),
        ("credits", "set", "--guild", "1", "--member", "2", "5"),
    ],
    ids=["verify", "show", "set"],
)
def test_a_database_readable_but_not_writable_is_one_line(
    folder: Path, command: tuple[str, ...]
) -> None:
    made = bot("credits", "set", "--guild", "1", "--member", "2", "0", cwd=folder)
    assert made.code == 0  # made by the bot's user
    database = folder / "data" / "hailuo-bot.sqlite3"
    # Readable by everyone; as root, run as another user, else take away our own write.
    readable = 0o644 if os.geteuid() == 0 else 0o444
    for file in database.parent.iterdir():
        file.chmod(readable)
    (folder / "data").chmod(readable | 0o111)
    answer = bot(*command, cwd=folder, user=True)
    assert answer.code == 1
    assert answer.is_one_clear_line(
        str(Path("data") / "hailuo-bot.sqlite3"), "user that runs the bot"
    )


def test_a_database_that_is_another_file_is_one_line(folder: Path) -> None:
    (folder / "data").mkdir()
    (folder / "data" / "hailuo-bot.sqlite3").write_bytes(os.urandom(4096))
    for command in ((), ("db", "verify")):
        answer = bot(*command, cwd=folder, env=SECRETLESS)
        assert answer.code == 1
        assert answer.is_one_clear_line("is not a SQLite database", "restore it from a backup")


def test_a_failed_database_open_never_ends_in_a_closed_event_loop(folder: Path) -> None:
    """Once one start in twelve: a start that stops at the database ends cleanly every time."""
    (folder / "data").mkdir()
    (folder / "data" / "hailuo-bot.sqlite3").write_bytes(os.urandom(4096))
    env = {
        **SECRETLESS,
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(REPO),
        "HOME": str(folder),
    }
    starts = [
        subprocess.Popen(
            [sys.executable, "-m", "bot"],
            cwd=folder,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(24)
    ]
    for start in starts:
        output, _ = start.communicate(timeout=120)
        assert start.returncode == 1
        assert Answer(1, output).is_one_clear_line("is not a SQLite database")


@pytest.mark.parametrize(
    "command",
    [
        ("credits", "show", "--guild", "1", "--member", "2"),
        ("credits", "set", "--guild", "1", "--member", "2", "5"),
        ("ledger", "export", "--guild", "1"),
        ("db", "verify"),
        ("db", "backup"),
    ],
    ids=["show", "set", "export", "verify", "backup"],
)
def test_a_data_folder_this_user_cannot_enter_is_one_line(
    folder: Path, command: tuple[str, ...]
) -> None:
    """Before: a PermissionError traceback from each of these."""
    made = bot("credits", "set", "--guild", "1", "--member", "2", "0", cwd=folder)
    assert made.code == 0
    (folder / "data").chmod(0o700)  # the bot's user's alone
    answer = bot(*command, cwd=folder, user=True)
    assert answer.code == 1
    assert answer.is_one_clear_line("data", "user")


def test_a_database_made_where_none_was_says_so(folder: Path) -> None:
    """A start from the wrong folder (or with a wrong DATABASE_PATH) used to make a new, empty
    database without a word; `check --offline` called it "opened, migrated"."""
    checked = bot("check", "--offline", cwd=folder, env=SECRETLESS)
    assert "none yet, the first start makes it" in checked.output
    assert "this is not its database" in checked.output
    assert not (folder / "data").exists()
    env = {**SECRETLESS, "DISCORD_API_BASE_URL": f"{NOWHERE}/api/v10"}
    started = bot(cwd=folder, env=env)
    assert "a new database at" in started.output and "no data yet" in started.output


def test_a_secret_that_is_not_set_names_the_env_file_that_was_read(folder: Path) -> None:
    (folder / ".env").write_text(f"DISCORD_TOKNE={DISCORD_TOKEN}\nAPIFRAME_API_KEY={API_KEY}\n")
    answer = bot(cwd=folder)
    assert answer.code == 2
    assert answer.is_one_clear_line(
        f"DISCORD_TOKEN is not set (put it in {folder / '.env'}",
        "sets DISCORD_TOKNE, which is not a setting: did you mean DISCORD_TOKEN?",
    )
    elsewhere = folder / "elsewhere"
    elsewhere.mkdir()
    missing = bot(cwd=elsewhere)
    assert missing.is_one_clear_line(f"there is no .env in {elsewhere}")


def test_typo_hints_stay_beside_other_mistakes(folder: Path) -> None:
    (folder / ".env").write_text(
        f"DISCORD_TOKEN={DISCORD_TOKEN}\nAPIFRAME_API_KEY={API_KEY}\nHTTP_PROT=9000\n"
        "LOG_LEVEL=loud\nVIDEO_PRICES=hailuo-02 768p 6s=5, hailuo-9 768p 6s=3\n"
    )
    for command in ((), ("check", "--offline")):
        answer = bot(*command, cwd=folder)
        assert answer.is_one_clear_line(
            "LOG_LEVEL: must be one of",
            "VIDEO_PRICES: its second price names no model",
            "sets HTTP_PROT, which is not a setting: did you mean HTTP_PORT?",
        )
        assert "hailuo-9" not in answer.output and "loud" not in answer.output


def test_settings_as_owners_write_them_are_read_as_meant(folder: Path) -> None:
    env = {
        "DISCORD_TOKEN": f"Bot {DISCORD_TOKEN} ",  # pasted from an Authorization header
        "APIFRAME_API_KEY": f"  {API_KEY}\t",
        "CARD_STYLE": "Classic",
        "LOG_FORMAT": "JSON",
        "POSTGRES_POOL_SIZE": "500",  # SQLite has no pool: not its business
    }
    answer = bot("check", "--offline", cwd=folder, env=env)
    assert answer.code == 0, answer.output
    assert "warning" not in answer.output


def test_webhooks_without_the_http_server_are_refused(folder: Path) -> None:
    env = {
        **SECRETLESS,
        "APIFRAME_WEBHOOK_URL": "https://bot.example.com/apiframe/webhook",
        "HTTP_PORT": "0",
    }
    for command in ((), ("check", "--offline")):
        answer = bot(*command, cwd=folder, env=env)
        assert answer.code in (1, 2)
        assert answer.is_one_clear_line("APIFRAME_WEBHOOK_URL needs the HTTP server", "HTTP_PORT")


def test_check_without_the_secrets_still_checks_what_needs_none(folder: Path) -> None:
    answer = bot("check", "--offline", cwd=folder)
    assert answer.code == 1
    assert "✖ settings: DISCORD_TOKEN is not set" in answer.output
    assert "database at" in answer.output and "HTTP server" in answer.output
    assert "languages: English" in answer.output


# -- values typed wrong -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "fragment"),
    [
        (("credits", "show", "--guild", "1" * 23, "--member", "2"), "is not a Discord id"),
        (("credits", "show", "--guild", "-4", "--member", "2"), "is not a Discord id"),
        (("credits", "add", "--guild", "1", "--member", "2", "9" * 30), "not an amount of credits"),
        (("credits", "set", "--guild", "1", "--member", "2", "lots"), "not an amount of credits"),
        (("credits", "sett", "--guild", "1"), "invalid choice: 'sett'"),
    ],
    ids=["23-digit id", "negative id", "huge amount", "words for an amount", "typo"],
)
def test_out_of_range_ids_and_amounts_are_one_line(
    folder: Path, command: tuple[str, ...], fragment: str
) -> None:
    answer = bot(*command, cwd=folder)
    assert answer.code == 2
    assert answer.is_one_clear_line(fragment, "--help")
    assert len(answer.output.strip().splitlines()) == 1


def test_ledger_export_never_replaces_a_file_and_names_a_missing_folder(folder: Path) -> None:
    assert bot("credits", "set", "--guild", "1", "--member", "2", "5", cwd=folder).code == 0
    missing = bot("ledger", "export", "--guild", "1", "--out", "missing/x.csv", cwd=folder)
    assert missing.code == 1
    assert missing.is_one_clear_line("the folder missing does not exist")
    kept = folder / "ledger.csv"
    kept.write_text("the owner's own notes\n")
    again = bot("ledger", "export", "--guild", "1", "--out", "ledger.csv", cwd=folder)
    assert again.code == 1
    assert again.is_one_clear_line("ledger.csv exists already", "choose a new name")
    assert kept.read_text() == "the owner's own notes\n"
    fresh = bot("ledger", "export", "--guild", "1", "--out", "new.csv", cwd=folder)
    assert fresh.code == 0 and (folder / "new.csv").read_text().startswith("time,member,")


@pytest.mark.parametrize(
    "command", [(), ("check", "--offline"), ("db", "verify")], ids=["start", "check", "verify"]
)
def test_an_env_file_that_is_not_utf8_is_one_line(folder: Path, command: tuple[str, ...]) -> None:
    (folder / ".env").write_bytes(
        b"DISCORD_TOKEN=" + DISCORD_TOKEN.encode() + b"\n# Gr\xfc\xdfe aus M\xfcnchen\n"
    )
    answer = bot(*command, cwd=folder)
    assert answer.code in (1, 2)
    assert answer.is_one_clear_line(".env is not UTF-8 text", "save it again as UTF-8")


# -- settings caught early ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "value", "fragment"),
    [
        (
            "APIFRAME_WEBHOOK_URL",
            "http://bot.example.com/apiframe/webhook",
            "must start with https://",
        ),
        (
            "APIFRAME_WEBHOOK_URL",
            "bot.example.com/apiframe/webhook",
            "must be a full https:// address",
        ),
        ("SHARD_IDS", "0;1", "shard numbers separated by commas, such as 0,1"),
    ],
    ids=["http webhook", "webhook without a scheme", "shard ids with a semicolon"],
)
@pytest.mark.parametrize("command", [(), ("check", "--offline")], ids=["start", "check"])
def test_pattern_settings_are_explained_in_words(
    folder: Path, setting: str, value: str, fragment: str, command: tuple[str, ...]
) -> None:
    env = {**SECRETLESS, setting: value, "SHARD_COUNT": "2"}
    answer = bot(*command, cwd=folder, env=env)
    assert answer.code in (1, 2)
    assert answer.is_one_clear_line(setting, fragment)
    assert "^" not in answer.line and "\\d" not in answer.line  # no regular expression


@pytest.mark.parametrize(
    "command", [(), ("check", "--offline"), ("db", "verify")], ids=["start", "check", "shell"]
)
def test_every_wrong_value_is_named_at_once(folder: Path, command: tuple[str, ...]) -> None:
    (folder / ".env").write_text(
        f"DISCORD_TOKEN={DISCORD_TOKEN}\nAPIFRAME_API_KEY={API_KEY}\nHTTP_PORT=eighty\n"
        "DEFAULT_CREDITS=-5\nLOG_LEVEL=loud\nAPIFRAME_SIMULATE=maybe\n"
    )
    answer = bot(*command, cwd=folder)
    assert answer.code == (1 if command[:1] == ("check",) else 2)  # check reports, exit 1
    assert answer.is_one_clear_line(
        "HTTP_PORT: must be a whole number from 0 to 65535",
        "DEFAULT_CREDITS: must be a whole number from 0 to 1000000",
        "LOG_LEVEL: must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL",
    )
    if not command or command[0] == "check":  # the shell commands read no Apiframe setting
        assert "APIFRAME_SIMULATE: must be true or false" in answer.line
    assert "eighty" not in answer.output and "loud" not in answer.output  # described, not quoted


def test_a_misspelt_setting_in_env_is_named_with_the_likely_one(folder: Path) -> None:
    (folder / ".env").write_text(
        f"DISCORD_TOKEN={DISCORD_TOKEN}\nAPIFRAME_API_KEY={API_KEY}\nHTTP_PROT=9000\n"
        "LOGLEVEL=DEBUG\nCOMPOSE_PROJECT_NAME=videos\n"
    )
    checked = bot("check", "--offline", cwd=folder)
    assert "sets HTTP_PROT, which is not a setting: did you mean HTTP_PORT?" in checked.output
    assert "sets LOGLEVEL, which is not a setting: did you mean LOG_LEVEL?" in checked.output
    assert "COMPOSE_PROJECT_NAME" not in checked.output  # other programs' lines are theirs
    shell = bot("credits", "set", "--guild", "1", "--member", "2", "5", cwd=folder)
    assert "did you mean HTTP_PORT?" in shell.output and shell.code == 0


async def test_a_busy_http_port_is_found_before_discord_hears_of_the_bot(
    folder: Path, fake_discord: FakeDiscord, fake_apiframe: FakeApiframe
) -> None:
    port = fake_apiframe.port  # already taken
    env = {
        **SECRETLESS,
        "DISCORD_API_BASE_URL": fake_discord.api_base,
        "DISCORD_GATEWAY_URL": fake_discord.gateway_url,
        "APIFRAME_BASE_URL": fake_apiframe.base_url,
        "HTTP_PORT": str(port),
    }
    checked = await asyncio.to_thread(bot, "check", "--offline", cwd=folder, env=env)
    assert checked.code == 1
    assert f"✖ cannot listen on 127.0.0.1:{port}" in checked.output
    assert "HTTP_PORT" in checked.output
    started = await asyncio.to_thread(bot, cwd=folder, env=env)
    assert started.code == 1
    assert started.is_one_clear_line(f"cannot listen on 127.0.0.1:{port}", "HTTP_PORT")
    assert fake_discord.requests == []  # not logged in, no commands synced


def test_simulate_mode_is_the_first_line_of_the_log(folder: Path) -> None:
    env = {
        "DISCORD_TOKEN": DISCORD_TOKEN,
        "APIFRAME_SIMULATE": "1",
        "DISCORD_API_BASE_URL": f"{NOWHERE}/api/v10",
        "HTTP_PORT": "0",
    }
    answer = bot(cwd=folder, env=env)
    first = answer.output.strip().splitlines()[0]
    assert "APIFRAME_SIMULATE is on" in first and "nothing is billed" in first
    assert "hailuo-bot 0." in first  # and the release, as every first line names it


CLIENT_SECRET: Final = "dashboard-client-secret-4f9a"


@pytest.mark.parametrize(
    ("settings", "fragments"),
    [
        (
            {"DASHBOARD_PUBLIC_URL": "https://bot.example.com/dashboard"},
            ("DASHBOARD_PUBLIC_URL", "DISCORD_CLIENT_SECRET", "set the other, or unset both"),
        ),
        (
            {"DISCORD_CLIENT_SECRET": CLIENT_SECRET},
            ("DASHBOARD_PUBLIC_URL", "DISCORD_CLIENT_SECRET", "set the other, or unset both"),
        ),
        (
            {
                "DASHBOARD_PUBLIC_URL": "http://bot.example.com/dashboard",
                "DISCORD_CLIENT_SECRET": CLIENT_SECRET,
            },
            ("DASHBOARD_PUBLIC_URL", "https://"),
        ),
        (
            {
                "DASHBOARD_PUBLIC_URL": "https://bot.example.com/",
                "DISCORD_CLIENT_SECRET": CLIENT_SECRET,
            },
            ("DASHBOARD_PUBLIC_URL", "https://bot.example.com/dashboard"),
        ),
        (
            {
                "DASHBOARD_PUBLIC_URL": "https://bot.example.com/dashboard",
                "DISCORD_CLIENT_SECRET": CLIENT_SECRET,
                "HTTP_PORT": "0",
            },
            ("DASHBOARD_PUBLIC_URL needs the HTTP server", "HTTP_PORT"),
        ),
    ],
    ids=["address only", "secret only", "plain http", "not the dashboard's address", "no server"],
)
@pytest.mark.parametrize("command", [(), ("check", "--offline")], ids=["start", "check"])
def test_a_half_set_up_dashboard_is_one_line_without_the_secret(
    folder: Path, settings: dict[str, str], fragments: tuple[str, ...], command: tuple[str, ...]
) -> None:
    answer = bot(*command, cwd=folder, env={**SECRETLESS, **settings})
    assert answer.code in (1, 2)
    assert answer.is_one_clear_line(*fragments)
    assert CLIENT_SECRET not in answer.output


# -- what the owner allows ----------------------------------------------------------------------


@pytest.mark.parametrize("command", [(), ("check", "--offline")])
def test_a_budget_or_limit_that_is_no_whole_number_is_one_line(
    folder: Path, command: tuple[str, ...]
) -> None:
    env = {
        **SECRETLESS,
        "DATABASE_PATH": str(folder / "bot.sqlite3"),
        "SERVER_MONTHLY_BUDGET": "-5",
        "MONTHLY_SPEND_LIMIT": "lots",
        "NEW_SERVERS": "closed",
        "OWNER_IDS": "123, me",
    }
    answer = bot(*command, cwd=folder, env=env)
    assert answer.code in (1, 2)
    assert answer.is_one_clear_line(
        "SERVER_MONTHLY_BUDGET: must be a whole number from 0",
        "MONTHLY_SPEND_LIMIT: must be a whole number from 0",
        "NEW_SERVERS: must be one of open, approve",
        "OWNER_IDS",
    )


def test_a_budget_for_a_server_the_bot_is_not_in_is_one_line(folder: Path) -> None:
    env = {"DATABASE_PATH": str(folder / "bot.sqlite3")}
    assert (
        bot("credits", "add", "--guild", "5", "--member", "6", "1", cwd=folder, env=env).code == 0
    )
    answer = bot("servers", "budget", "--guild", "5", "200", cwd=folder, env=env)
    assert answer.code == 1
    assert answer.is_one_clear_line("not in a server with the id 5", "servers list")
    typed = bot("servers", "budget", "--guild", "5", "-1", cwd=folder, env=env)
    assert typed.code == 2 and typed.is_one_clear_line("is not a budget", "unlimited")
    listed = bot("servers", "list", cwd=folder, env=env)
    assert listed.code == 0 and "0 server(s)" in listed.output
