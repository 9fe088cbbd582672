"""A new owner's first hour: every start-up mistake is one clear line, and the documented set-ups
(an untouched `.env`, the Docker image's environment) do what the README says."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from dotenv import dotenv_values

from bot.settings import load_settings
from testkit.fake_apiframe import API_KEY, FakeApiframe
from testkit.fake_discord import FakeDiscord
from testkit.harness import DISCORD_TOKEN, free_port
from testkit.processes import REPO, BotProcess

NOWHERE = "http://127.0.0.1:9"  # the discard port: nothing listens, connections are refused


async def start(workdir: Path, env: dict[str, str], within: float = 60) -> tuple[int, str]:
    """`python -m bot` with exactly `env`; its exit code and everything it printed."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        cwd=workdir,
        env={
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(REPO),
            "HOME": str(workdir),
            **env,
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), within)
    assert process.returncode is not None
    return process.returncode, out.decode(errors="replace")


def assert_one_clear_line(output: str, *fragments: str) -> str:
    assert "Traceback" not in output, output
    assert DISCORD_TOKEN not in output and API_KEY not in output
    last = output.strip().splitlines()[-1]
    for fragment in fragments:
        assert fragment in last, output
    return last


async def test_an_untouched_env_file_names_the_missing_token(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text((REPO / ".env.example").read_text())
    code, output = await start(tmp_path, {})
    assert code == 2
    assert_one_clear_line(output, "DISCORD_TOKEN is not set", "APIFRAME_API_KEY is not set")
    assert len(output.strip().splitlines()) == 1


async def test_unreachable_discord_is_one_line_after_retries(tmp_path: Path) -> None:
    code, output = await start(
        tmp_path,
        {
            "DISCORD_TOKEN": DISCORD_TOKEN,
            "APIFRAME_API_KEY": "not-an-apiframe-key",
            "DISCORD_API_BASE_URL": f"{NOWHERE}/api/v10",
            "DISCORD_GATEWAY_URL": "ws://127.0.0.1:9/",
            "APIFRAME_BASE_URL": NOWHERE,
            "DATABASE_PATH": str(tmp_path / "db.sqlite3"),
            "HTTP_PORT": "0",
        },
    )
    assert code == 1
    assert_one_clear_line(
        output, "could not reach Discord at http://127.0.0.1:9/api/v10", "DISCORD_API_BASE_URL"
    )
    assert "trying again" in output  # transient failures are retried, and it says so
    assert "ERROR" not in output.replace("ERROR    bot: hailuo-bot cannot start", "")
    assert "logging in using static token" not in output  # discord.py's chatter stays quiet
    assert "does not look like an Apiframe API key" in output
    assert "PyNaCl" not in output and "davey" not in output
    # The database was made and migrated before connecting: the shell works already.
    with sqlite3.connect(tmp_path / "db.sqlite3") as raw:
        assert raw.execute("SELECT COUNT(*) FROM schema_migrations").fetchone()[0] >= 4


async def test_unreachable_apiframe_is_one_line(tmp_path: Path, fake_discord: FakeDiscord) -> None:
    code, output = await start(
        tmp_path,
        {
            "DISCORD_TOKEN": DISCORD_TOKEN,
            "APIFRAME_API_KEY": API_KEY,
            "DISCORD_API_BASE_URL": fake_discord.api_base,
            "DISCORD_GATEWAY_URL": fake_discord.gateway_url,
            "APIFRAME_BASE_URL": NOWHERE,
            "DATABASE_PATH": str(tmp_path / "db.sqlite3"),
            "HTTP_PORT": "0",
        },
    )
    assert code == 1
    assert_one_clear_line(
        output, "could not reach Apiframe at http://127.0.0.1:9", "APIFRAME_BASE_URL"
    )


async def test_a_busy_http_port_is_one_line(
    tmp_path: Path, fake_discord: FakeDiscord, fake_apiframe: FakeApiframe
) -> None:
    port = fake_apiframe.port  # already taken
    code, output = await start(
        tmp_path,
        {
            "DISCORD_TOKEN": DISCORD_TOKEN,
            "APIFRAME_API_KEY": API_KEY,
            "DISCORD_API_BASE_URL": fake_discord.api_base,
            "DISCORD_GATEWAY_URL": fake_discord.gateway_url,
            "APIFRAME_BASE_URL": fake_apiframe.base_url,
            "DATABASE_PATH": str(tmp_path / "db.sqlite3"),
            "HTTP_PORT": str(port),
        },
    )
    assert code == 1
    assert_one_clear_line(output, f"cannot listen on 127.0.0.1:{port}", "HTTP_PORT")


async def test_a_normal_start_prints_the_invite_link_and_no_voice_warnings(
    tmp_path: Path, fake_discord: FakeDiscord, fake_apiframe: FakeApiframe
) -> None:
    bot = BotProcess(tmp_path, fake_discord, fake_apiframe)
    await bot.start()
    try:
        await fake_discord.wait_for(lambda: "Apiframe account ready" in bot.logs(), within=20)
    finally:
        await bot.close()
    logs = bot.logs()
    invite = (
        f"https://discord.com/oauth2/authorize?client_id={fake_discord.application_id}"
        "&scope=bot+applications.commands&permissions=274878024704"
    )
    assert invite in logs
    assert "PyNaCl" not in logs and "davey" not in logs


def docker_environment(env_file: Path) -> dict[str, str]:
    """What `docker run --env-file .env` gives the process: the image's ENV lines, then every
    assignment of the env file on top (Docker's env file wins over the image)."""
    dockerfile = (REPO / "Dockerfile").read_text()
    image: dict[str, str] = {}
    joined = dockerfile.replace("\\\n", " ")  # continuation lines make one ENV line
    for line in joined.splitlines():
        if line.startswith("ENV "):
            image.update(re.findall(r"(\w+)=(\S+)", line))
    given = {k: v for k, v in dotenv_values(env_file).items() if v is not None}
    return {**image, **given}


def test_the_documented_docker_run_keeps_the_database_on_the_volume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        (REPO / ".env.example")
        .read_text()
        .replace("DISCORD_TOKEN=", f"DISCORD_TOKEN={DISCORD_TOKEN}")
        .replace("APIFRAME_API_KEY=", f"APIFRAME_API_KEY={API_KEY}")
    )
    environment = docker_environment(env_file)
    assert 'VOLUME ["/data"]' in (REPO / "Dockerfile").read_text()
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(None)
    assert settings.database_path.is_absolute()
    assert settings.database_path.parts[:2] == ("/", "data")
    # Reachable from outside the container, for webhooks behind a proxy.
    assert settings.http_host == "0.0.0.0"


def healthcheck() -> list[str]:
    """The image's HEALTHCHECK command, with this machine's Python for the image's."""
    dockerfile = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    found = re.search(r"^HEALTHCHECK .*?CMD (\[.*\])$", dockerfile, re.M)
    assert found is not None
    command: list[str] = json.loads(found.group(1))
    assert command[0] == "python"
    return [sys.executable, *command[1:]]


async def test_the_images_healthcheck_follows_http_port(
    tmp_path: Path, fake_discord: FakeDiscord, fake_apiframe: FakeApiframe
) -> None:
    port = free_port()  # not the image's 8080
    bot = BotProcess(tmp_path, fake_discord, fake_apiframe, HTTP_PORT=str(port))
    env = {**bot.env, "HTTP_HOST": "0.0.0.0"}  # as in the image
    bot.env.update(env)

    def probe() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            healthcheck(), env=env, capture_output=True, text=True, timeout=60, check=False
        )

    await bot.start()
    try:
        await fake_discord.wait_for(lambda: "Apiframe account ready" in bot.logs(), within=20)
        deadline = asyncio.get_running_loop().time() + 20
        while (answer := await asyncio.to_thread(probe)).returncode != 0:
            assert asyncio.get_running_loop().time() < deadline, answer.stderr
            await asyncio.sleep(0.5)
        assert answer.stdout.strip() == "ready"
    finally:
        await bot.close()
    stopped = await asyncio.to_thread(probe)
    assert stopped.returncode == 1
    assert f"nothing answers at http://127.0.0.1:{port}/readyz" in stopped.stderr
    assert "Traceback" not in stopped.stderr


def test_a_backup_in_the_container_lands_on_the_volume(tmp_path: Path) -> None:
    """`docker compose exec bot python -m bot db backup`: the image's DATABASE_PATH is on the
    /data volume, and a backup with no path goes to /data/backups (the image's working folder,
    /app, is not the bot user's to write)."""
    env_file = tmp_path / ".env"
    env_file.write_text((REPO / ".env.example").read_text())
    volume = tmp_path / "volume"
    environment = {
        name: value.replace("/data", str(volume))
        for name, value in docker_environment(env_file).items()
    }
    workdir = tmp_path / "app"
    workdir.mkdir()
    # Credits given before the first start make the database; then its backup.
    for command in (("credits", "set", "--guild", "1", "--member", "2", "5"), ("db", "backup")):
        done = subprocess.run(
            [sys.executable, "-m", "bot", *command],
            cwd=workdir,
            env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO), **environment},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    [copy] = (volume / "backups").iterdir()
    assert copy.name.startswith("hailuo-") and copy.suffix == ".sqlite3"
    assert list(workdir.iterdir()) == []
