"""Builds the discord.py bot and wires the pieces together.

This is the one module under `bot/` that imports discord: everything that decides lives in the
other modules and is reached from the cogs through the attributes this bot carries.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from datetime import timedelta
from typing import Final

import aiohttp
import discord
import yarl
from discord import app_commands
from discord.ext import commands

from bot.apiframe import ApiframeAuthError, ApiframeClient, ApiframeError
from bot.audit import AuditTrail
from bot.database import Database
from bot.downloads import AttachmentFetcher
from bot.guilds import GuildSettingsStore
from bot.jobs import JobStore
from bot.ledger import Ledger
from bot.rules import IMAGE_MAX_BYTES
from bot.runner import JobRunner, PollPolicy
from bot.settings import Settings
from cogs._delivery import DiscordAuditSink, DiscordJobReporter
from cogs._errors import install_error_handler

log = logging.getLogger(__name__)

EXTENSIONS: Final = ("cogs.generate", "cogs.credits")
COMMAND_HASH_KEY: Final = "command_hash"


def point_discord_at(settings: Settings) -> None:
    """Send discord.py's REST and gateway traffic where the settings say (a proxy, a test)."""
    discord.http.Route.BASE = settings.discord_api_base_url.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)


class HailuoBot(commands.Bot):
    def __init__(self, settings: Settings, **options: object) -> None:
        point_discord_at(settings)
        intents = discord.Intents.none()
        intents.guilds = True
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            help_command=None,
            allowed_mentions=discord.AllowedMentions.none(),
            # aiohttp's default pool of 100 connections queues interaction answers behind
            # edits and followups during a burst; Discord's own rate limits still apply.
            connector=aiohttp.TCPConnector(limit=1000),
            **options,  # type: ignore[arg-type]
        )
        self.settings = settings
        self.database = Database(settings.database_path)
        self.ledger = Ledger(self.database, settings.default_credits)
        self.guild_settings = GuildSettingsStore(self.database, settings.default_credits)
        self.jobs = JobStore(self.database)
        self.apiframe = ApiframeClient(
            settings.apiframe_base_url, settings.apiframe_api_key,
            timeout=settings.apiframe_timeout_seconds,
        )
        self.fetcher = AttachmentFetcher(
            max_bytes=IMAGE_MAX_BYTES,
            timeout=settings.attachment_download_timeout_seconds,
        )
        self.audit = AuditTrail(self.database, self.guild_settings, DiscordAuditSink(self))
        self.ledger.on_change(self.audit.wake)
        # The reporter needs the bot, so the runner is made in setup_hook.
        self._runner: JobRunner | None = None
        self._account_check: asyncio.Task[None] | None = None

    @property
    def runner(self) -> JobRunner:
        if self._runner is None:
            raise RuntimeError("the bot has not been set up yet")
        return self._runner

    async def setup_hook(self) -> None:
        await self.database.open()
        self._runner = JobRunner(
            self.jobs, self.ledger, self.guild_settings, self.apiframe, DiscordJobReporter(self),
            PollPolicy(
                interval=self.settings.apiframe_poll_interval_seconds,
                max_interval=self.settings.apiframe_max_poll_interval_seconds,
                typical_render=self.settings.apiframe_typical_render_seconds,
                progress_edit_interval=self.settings.progress_edit_interval_seconds,
                max_wait=timedelta(minutes=self.settings.apiframe_max_wait_minutes),
                give_up_after=timedelta(hours=self.settings.apiframe_give_up_hours),
                late_interval=self.settings.apiframe_late_poll_interval_seconds,
            ),
        )
        install_error_handler(self.tree)
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        await self.sync_commands_if_changed()
        await self.runner.resume_pending()
        self.audit.start()
        self._account_check = asyncio.create_task(self.check_apiframe_account())

    async def check_apiframe_account(self) -> None:
        """Say at start-up whether Apiframe accepts the key, rather than at a member's expense."""
        try:
            me = await self.apiframe.me()
        except ApiframeAuthError as exc:
            log.error("Apiframe refused APIFRAME_API_KEY (HTTP %s): videos will fail until it "
                      "is fixed", exc.status)
            return
        except ApiframeError as exc:
            log.warning("could not check the Apiframe account at start-up: %s", exc)
            return
        team = me.get("team")
        credits_left = team.get("credits", "unknown") if isinstance(team, dict) else "unknown"
        log.info("Apiframe account ready: %s credits left", credits_left)

    async def sync_commands_if_changed(self) -> bool:
        """Push the slash commands to Discord only when their definition changed."""
        definition = command_definition(self.tree)
        key = f"{COMMAND_HASH_KEY}:{self.application_id}"
        digest = hashlib.sha256(definition.encode()).hexdigest()
        if await self.database.get_state(key) == digest:
            log.info("slash commands unchanged; not syncing")
            return False
        synced = await self.tree.sync()
        await self.database.set_state(key, digest)
        log.info("synced %d slash command(s)", len(synced))
        return True

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.close()
        if self._account_check is not None:
            self._account_check.cancel()
        await self.audit.close()
        await super().close()
        await self.fetcher.close()
        await self.apiframe.close()
        await self.database.close()


def command_definition(tree: app_commands.CommandTree[HailuoBot]) -> str:
    payload = [command.to_dict(tree) for command in tree.get_commands()]
    return json.dumps(payload, sort_keys=True, separators=(",", ":"))
