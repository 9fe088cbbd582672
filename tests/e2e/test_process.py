"""`python -m bot` as a real process: config errors, a full job, SIGTERM, logs free of secrets."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

from testkit.commands import hailuo
from testkit.fake_apiframe import API_KEY, FakeApiframe
from testkit.fake_discord import FakeDiscord
from testkit.harness import DISCORD_TOKEN
from testkit.processes import REPO, BotProcess


async def test_missing_token_stops_with_a_message_naming_it(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        cwd=tmp_path,
        env={
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(REPO),
            "APIFRAME_API_KEY": "afk_x",
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    assert b"DISCORD_TOKEN is not set" in stderr
    assert b"Traceback" not in stderr


async def test_a_full_run_then_sigterm(
    tmp_path: Path, fake_discord: FakeDiscord, fake_apiframe: FakeApiframe
) -> None:
    bot = BotProcess(tmp_path, fake_discord, fake_apiframe)
    await bot.start()
    try:
        member = fake_discord.add_member("ana")
        interaction = await fake_discord.invoke("hailuo", hailuo("waves at dusk"), member=member)
        await fake_discord.wait_reply(interaction, "your video is ready", within=30)
        started = time.monotonic()
        code = await bot.terminate()
        stopped_in = time.monotonic() - started
    finally:
        await bot.close()
    assert code == 0
    assert stopped_in < 5
    logs = bot.logs()
    assert "shutting down" in logs
    assert DISCORD_TOKEN not in logs
    assert API_KEY not in logs
    assert "submitted as Apiframe job" in logs


async def test_a_wrong_token_stops_with_a_clear_message(
    tmp_path: Path, fake_discord: FakeDiscord, fake_apiframe: FakeApiframe
) -> None:
    fake_discord.accepted_token = "some-other-token"
    bot = BotProcess(tmp_path, fake_discord, fake_apiframe)
    log = bot.log_path.open("wb")
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", cwd=tmp_path, env=bot.env, stdout=log, stderr=log
        )
        code = await asyncio.wait_for(process.wait(), 30)
    finally:
        log.close()
    assert code == 2
    logs = bot.logs()
    assert "Discord refused DISCORD_TOKEN" in logs
    assert "Traceback" not in logs and DISCORD_TOKEN not in logs


async def test_a_refused_apiframe_key_is_reported_at_start(
    tmp_path: Path, fake_discord: FakeDiscord, fake_apiframe: FakeApiframe
) -> None:
    bot = BotProcess(tmp_path, fake_discord, fake_apiframe, APIFRAME_API_KEY="afk_revoked_key_1")
    await bot.start()
    try:
        await fake_discord.wait_for(lambda: "Apiframe refused" in bot.logs(), within=10)
    finally:
        await bot.close()
    assert "afk_revoked_key_1" not in bot.logs()


async def test_sigterm_during_a_discord_outage_stops_at_once(
    tmp_path: Path, fake_discord: FakeDiscord, fake_apiframe: FakeApiframe
) -> None:
    """Deep into an outage discord.py waits out reconnect backoffs of many seconds (up to
    minutes); `docker stop` must not wait for one to end."""
    bot = BotProcess(tmp_path, fake_discord, fake_apiframe)
    await bot.start()
    try:
        await fake_discord.wait_for(lambda: fake_discord.identifies > 0, within=60)
        await fake_discord.drop_gateway(refuse_reconnects=True)
        # After the fourth refusal the next wait is drawn from up to 16 s.
        await fake_discord.wait_for(lambda: fake_discord.gateway_refusals >= 4, within=60)
        started = time.monotonic()
        code = await bot.terminate(within=30)
        stopped_in = time.monotonic() - started
    finally:
        await bot.close()
    assert code == 0
    assert stopped_in < 3
    assert "shutting down" in bot.logs()
