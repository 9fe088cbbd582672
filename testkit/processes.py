"""The real bot as a child process (`python -m bot`), pointed at the fakes on loopback."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from bot.settings import load_store_settings
from bot.store import Stores, stores_for
from testkit.fake_apiframe import API_KEY, FakeApiframe
from testkit.fake_discord import FakeDiscord
from testkit.harness import DISCORD_TOKEN, ENGINE

REPO = Path(__file__).resolve().parents[1]


class BotProcess:
    """Starts, kills and restarts the bot on one database; only ever signals its own child."""

    def __init__(
        self, workdir: Path, discord: FakeDiscord, apiframe: FakeApiframe, **settings: str
    ) -> None:
        self.workdir = workdir
        self.discord = discord
        self.log_path = workdir / "bot.log"
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(REPO),
            "DISCORD_TOKEN": DISCORD_TOKEN,
            "APIFRAME_API_KEY": API_KEY,
            "DATABASE_PATH": str(workdir / "bot.sqlite3"),
            "DISCORD_API_BASE_URL": discord.api_base,
            "DISCORD_GATEWAY_URL": discord.gateway_url,
            "APIFRAME_BASE_URL": apiframe.base_url,
            "APIFRAME_POLL_INTERVAL_SECONDS": "0.05",
            "APIFRAME_MAX_POLL_INTERVAL_SECONDS": "0.2",
            "APIFRAME_TYPICAL_RENDER_SECONDS": "0.1",
            "PROGRESS_EDIT_INTERVAL_SECONDS": "0",
            "LOG_LEVEL": "DEBUG",
            "HTTP_PORT": "0",
            # As an owner who hands out credits from the start; the default (none until a
            # server's admins decide) has tests of its own.
            "DEFAULT_CREDITS": "20",
            **({"DATABASE_URL": ENGINE.url} if ENGINE.url else {}),
            **settings,
        }
        self.process: asyncio.subprocess.Process | None = None
        self.kills = 0

    @property
    def database_path(self) -> Path:
        return Path(self.env["DATABASE_PATH"])

    def stores(self) -> Stores:
        """The stores of this process's database, for the test to read (open them first)."""
        return stores_for(
            load_store_settings(
                None, database_path=self.database_path, database_url=self.env.get("DATABASE_URL")
            )
        )

    async def start(self) -> None:
        identified = self.discord.identifies
        log = self.log_path.open("ab")
        try:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", cwd=self.workdir, env=self.env, stdout=log, stderr=log
            )
        finally:
            log.close()
        await self.discord.wait_for(lambda: self.discord.identifies > identified, within=60)

    async def start_expecting_exit(self, within: float = 60) -> int:
        """Start a process that should stop by itself (a refusal at start); its exit code."""
        log = self.log_path.open("ab")
        try:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", cwd=self.workdir, env=self.env, stdout=log, stderr=log
            )
        finally:
            log.close()
        return await asyncio.wait_for(self.process.wait(), within)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
            await self.process.wait()
            self.kills += 1

    async def terminate(self, within: float = 15) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), within)

    async def close(self) -> None:
        await self.kill()

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
