"""`python -m bot` as a real process: config errors, a full job, SIGTERM, logs free of secrets."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

from tests.conftest import DISCORD_TOKEN
from tests.e2e.helpers import hailuo
from tests.fakes.apiframe_server import API_KEY, FakeApiframe
from tests.fakes.discord_server import FakeDiscord

REPO = Path(__file__).resolve().parents[2]


def bot_environment(tmp_path: Path, discord: FakeDiscord, apiframe: FakeApiframe
                    ) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        "DISCORD_TOKEN": DISCORD_TOKEN,
        "APIFRAME_API_KEY": API_KEY,
        "DATABASE_PATH": str(tmp_path / "bot.sqlite3"),
        "DISCORD_API_BASE_URL": discord.api_base,
        "DISCORD_GATEWAY_URL": discord.gateway_url,
        "APIFRAME_BASE_URL": apiframe.base_url,
        "APIFRAME_POLL_INTERVAL_SECONDS": "0.05",
        "APIFRAME_MAX_POLL_INTERVAL_SECONDS": "0.2",
        "APIFRAME_TYPICAL_RENDER_SECONDS": "0.1",
        "PROGRESS_EDIT_INTERVAL_SECONDS": "0",
        "LOG_LEVEL": "DEBUG",
    }


async def test_missing_token_stops_with_a_message_naming_it(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", cwd=tmp_path,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO),
             "APIFRAME_API_KEY": "afk_x"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 2
    assert b"DISCORD_TOKEN is not set" in stderr
    assert b"Traceback" not in stderr


async def test_a_full_run_then_sigterm(tmp_path: Path, fake_discord: FakeDiscord,
                                       fake_apiframe: FakeApiframe) -> None:
    env = bot_environment(tmp_path, fake_discord, fake_apiframe)
    env["PYTHONPATH"] = str(REPO)
    log_path = tmp_path / "bot.log"
    with log_path.open("wb") as log_file:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", cwd=tmp_path, env=env,
            stdout=log_file, stderr=log_file)
        try:
            await fake_discord.wait_for(lambda: fake_discord.identifies >= 1, within=30)
            member = fake_discord.add_member("ana")
            interaction = await fake_discord.invoke("hailuo", hailuo("waves at dusk"),
                                                    member=member)
            await fake_discord.wait_reply(interaction, "your video is ready", within=30)

            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(process.wait(), 15)
            stopped_in = time.monotonic() - started
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    assert code == 0
    assert stopped_in < 5
    logs = log_path.read_text()
    assert "shutting down" in logs
    assert DISCORD_TOKEN not in logs
    assert API_KEY not in logs
    assert "submitted as Apiframe job" in logs
