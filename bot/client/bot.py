"""`HailuoBot`: the discord.py client that carries the bot's parts to Discord.

It never imports `cogs/`: it loads the front-end extension by its name first (that extension
hands the assembly the reporter and audit sink through which jobs reach members), then the
features, then lets the assembly start its work.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from typing import Final

import aiohttp
import discord
import yarl
from discord import app_commands
from discord.ext import commands

from bot.assembly import Assembly
from bot.client.directory import DiscordDirectory
from bot.i18n import catalogues_fingerprint
from bot.settings import Settings

log = logging.getLogger(__name__)

# How jobs and ledger rows reach members: loaded before any feature, which may use it.
FRONT_END: Final = "cogs.front_end"
FEATURES: Final = ("cogs.videos", "cogs.credits", "cogs.servers", "cogs.wallet")
COMMAND_HASH_KEY: Final = "command_hash"


def point_discord_at(settings: Settings) -> None:
    """Send discord.py's REST and gateway traffic where the settings say (a proxy, a test).

    discord.py (2.7) offers no supported way to choose another REST base or gateway: both are
    class attributes (`Route.BASE`, `DiscordWebSocket.DEFAULT_GATEWAY`) read by every request
    and connection, and `Client` takes only an HTTP proxy. So this is the one place that sets
    them, for the whole process, before the bot is made; with the default settings it leaves
    Discord's own addresses in place.
    """
    discord.http.Route.BASE = settings.discord_api_base_url.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)


def shards_of(settings: Settings) -> dict[str, object]:
    """discord.py's shard options; none: Discord's recommended count, all in this process."""
    if settings.shard_count is None:
        return {}
    return {"shard_count": settings.shard_count, "shard_ids": list(settings.local_shards or ())}


class HailuoTree(app_commands.CommandTree["HailuoBot"]):
    """The slash commands, each carried out by one process only: the first, of every process
    on the database, to claim the interaction (should Discord deliver it to two)."""

    async def interaction_check(self, interaction: discord.Interaction[HailuoBot]) -> bool:
        if interaction.type is discord.InteractionType.autocomplete:
            return True  # a suggestion moves nothing, and is asked for at every keystroke
        return await self.client.services.claim(interaction.id)


class HailuoBot(commands.AutoShardedBot):
    def __init__(self, settings: Settings, **options: object) -> None:
        point_discord_at(settings)
        # The bot has no voice features: discord.py need not warn at every start that the
        # voice libraries (PyNaCl, davey) are missing.
        discord.VoiceClient.warn_nacl = False
        discord.VoiceClient.warn_dave = False
        intents = discord.Intents.none()
        intents.guilds = True
        # Not for reading messages (the Message Content intent stays off): for hearing that a
        # message was deleted, so that a moderator's decision is never undone.
        intents.guild_messages = True
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            help_command=None,
            allowed_mentions=discord.AllowedMentions.none(),
            # aiohttp's default pool of 100 connections queues interaction answers behind
            # edits and followups during a burst; Discord's own rate limits still apply.
            connector=aiohttp.TCPConnector(limit=1000),
            max_messages=None,  # nothing here reads old messages: keep none in memory
            tree_cls=HailuoTree,
            **shards_of(settings),  # type: ignore[arg-type]
            **options,  # type: ignore[arg-type]
        )
        self.settings = settings
        self.services = Assembly(settings)
        self.directory = DiscordDirectory(self, self.services.serves)
        self.gateway_connected = False
        self.lost_hold = False  # another copy took the database over: this one stopped
        self.set_up = False  # setup_hook has begun: a failure now is not a login failure

    async def setup_hook(self) -> None:
        self.set_up = True
        await self.services.open(on_hold_lost=self._hold_lost)
        await self._learn_owners()
        await self.load_extension(FRONT_END)
        for feature in FEATURES:
            await self.load_extension(feature)
        shards = self.settings.local_shards
        if shards is None or 0 in shards:
            # Commands are global: one process (shard 0's) registers them for all.
            await self.sync_commands_if_changed()
        await self.serve_http()
        await self.services.start_work(connected=self.wait_until_ready)

    async def serve_http(self) -> None:
        """The HTTP server, once: at start-up before anything talks to Discord (so a busy port
        is found before commands are synced), or at set-up for a bot started directly."""
        await self.services.serve_http(
            self._gateway_state,
            directory=lambda: self.directory,
            application_id=lambda: self.application_id,
        )

    async def _learn_owners(self) -> None:
        """Who owns the bot, as Discord's application information says: its team's members,
        or its owner (with OWNER_IDS beside them)."""
        try:
            application = await self.application_info()
        except discord.HTTPException as exc:
            log.warning(
                "Discord did not say who owns the bot (HTTP %s): its owners are OWNER_IDS and "
                "those Discord named at the last start, until the next start",
                exc.status,
            )
            return
        if application.team is not None:
            owners = [member.id for member in application.team.members]
        else:
            owners = [application.owner.id]
        await self.services.set_owners(owners)

    def _hold_lost(self) -> None:
        self.lost_hold = True
        self._stopping = asyncio.create_task(self.close(), name="stop-after-losing-the-hold")

    async def _gateway_state(self) -> str | None:
        if self.gateway_connected and self.is_ready() and not self.is_closed():
            return None
        return "not connected to Discord's gateway"

    async def on_ready(self) -> None:
        self.gateway_connected = True

    async def on_resumed(self) -> None:
        self.gateway_connected = True

    async def on_disconnect(self) -> None:
        self.gateway_connected = False

    # What a person may do in a server changes with its roles and its owner: the dashboard's
    # view of them is asked again.
    async def on_guild_role_create(self, role: discord.Role) -> None:
        self.directory.forget(role.guild.id)

    async def on_guild_role_update(self, before: discord.Role, after: discord.Role) -> None:
        self.directory.forget(after.guild.id)

    async def on_guild_role_delete(self, role: discord.Role) -> None:
        self.directory.forget(role.guild.id)

    async def on_guild_update(self, before: discord.Guild, after: discord.Guild) -> None:
        self.directory.forget(after.id)

    async def on_guild_remove(self, guild: discord.Guild) -> None:
        self.directory.forget(guild.id)

    async def sync_commands_if_changed(self) -> bool:
        """Push the slash commands to Discord only when their definition changed."""
        definition = await command_definition(self.tree)
        key = f"{COMMAND_HASH_KEY}:{self.application_id}"
        digest = hashlib.sha256(definition.encode()).hexdigest()
        state = self.services.state
        if await state.get_state(key) == digest:
            log.info("slash commands unchanged; not syncing")
            return False
        synced = await self.tree.sync()
        await state.set_state(key, digest)
        log.info("synced %d slash command(s)", len(synced))
        return True

    async def close(self) -> None:
        await self.services.stop_work()
        await super().close()
        await self.services.close()


async def command_definition(tree: app_commands.CommandTree[HailuoBot]) -> str:
    """The commands as Discord would receive them, and the catalogues their translations come
    from (a new translation is a change worth syncing): the catalogues' text, not their
    reading, so that a start with nothing to sync reads none."""
    payload = [command.to_dict(tree) for command in tree.get_commands()]
    return json.dumps(
        {"commands": payload, "translations": catalogues_fingerprint()},
        sort_keys=True,
        separators=(",", ":"),
    )
