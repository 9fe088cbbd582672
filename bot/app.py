"""Builds the discord.py bot and wires the pieces together.

This is the one module under `bot/` that imports discord: everything that decides lives in the
other modules and is reached from the cogs through the attributes this bot carries. It never
imports `cogs/`: it loads the extensions by name, and the front-end extension hands back the
pieces the job lifecycle needs to reach members (`use_front_end`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Final, cast

import aiohttp
import discord
import yarl
from discord import app_commands
from discord.ext import commands

from bot.apiframe.client import ApiframeAuthError, ApiframeClient, ApiframeError
from bot.apiframe.webhooks import webhook_signing_key
from bot.dashboard.directory import Rights
from bot.errors import ConfigurationError, StartupFailed
from bot.i18n import catalogues_fingerprint
from bot.jobs.delivery import Deliverer, JobReporter
from bot.jobs.polling import PollShape, RenderTimes
from bot.jobs.records import Job
from bot.jobs.submission import Submitter
from bot.jobs.watching import Watcher, WatchPolicy
from bot.media.attachments import AttachmentFetcher
from bot.media.frames import FrameTaker
from bot.media.videos import VideoFetcher
from bot.metrics import Metrics
from bot.money.ledger import Ledger
from bot.money.pricing import PriceTable
from bot.money.servers import ServerSettings
from bot.requests.defaults import DefaultsStore
from bot.requests.rules import IMAGE_MAX_BYTES
from bot.requests.server_rules import ServerRules
from bot.runner import JobRunner
from bot.service.audit import AuditSink, AuditTrail
from bot.service.invite import invite_url
from bot.service.web import VIDEOS_PATH, WebServer
from bot.services import services_of
from bot.settings import Settings
from bot.store import stores_for
from bot.store.driver import StoreUnavailable
from bot.store.jobs import SqlJobStore
from bot.store.ledger import SqlLedgerStore
from bot.studio import Studio

if TYPE_CHECKING:  # loaded only for a bot on PostgreSQL, trying the simulator, or a dashboard
    from bot.apiframe.simulator import ApiframeSimulator
    from bot.dashboard.site import Dashboard
    from bot.store.postgres import Listener, PostgresDatabase

log = logging.getLogger(__name__)

# The front end: `cogs.reporting` must come first, it provides the reporter and audit sink.
EXTENSIONS: Final = (
    "cogs.reporting",
    "cogs.generate",
    "cogs.credits",
    "cogs.quota",
    "cogs.actions",
    "cogs.welcome",
)
COMMAND_HASH_KEY: Final = "command_hash"
# PostgreSQL NOTIFY channel on which processes pass on webhook news about jobs.
NEWS_CHANNEL: Final = "hailuo_job_news"
GAUGES_EVERY: Final = 15.0


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
            **shards_of(settings),  # type: ignore[arg-type]
            **options,  # type: ignore[arg-type]
        )
        self.settings = settings
        try:
            self.prices = PriceTable.with_overrides(settings.video_prices)
        except ValueError as exc:
            raise ConfigurationError(f"VIDEO_PRICES: {exc}") from None
        self.metrics = Metrics()
        self.stores = stores_for(
            settings,
            on_write=self.metrics.database_write.observe,
            on_busy=self.metrics.database_busy.inc,
        )
        self.database = self.stores.database
        self.state = self.stores.state
        # Several processes on PostgreSQL: webhook news for a job driven elsewhere goes there.
        self._news = (
            cast("PostgresDatabase", self.database)
            if self.database.engine == "postgresql"
            else None
        )
        self.relay: Listener | None = None  # the LISTEN for news from other processes
        self._relayed: set[asyncio.Task[None]] = set()
        self.ledger = Ledger(
            self.stores.ledger, metrics=self.metrics, simulated=settings.apiframe_simulate
        )
        self.guild_settings = ServerSettings(self.stores.guilds)
        self.jobs = self.stores.jobs
        self.rules = ServerRules(self.stores.rules)
        self.option_defaults = DefaultsStore(self.stores.defaults)
        self.simulator: ApiframeSimulator | None = None
        if settings.apiframe_simulate:
            from bot.apiframe.simulator import ApiframeSimulator  # noqa: PLC0415 - trying it out only

            self.simulator = ApiframeSimulator(
                settings.apiframe_api_key, settings.apiframe_simulate_seconds
            )
        self.apiframe = ApiframeClient(
            self.simulator.base_url if self.simulator else settings.apiframe_base_url,
            settings.apiframe_api_key,
            timeout=settings.apiframe_timeout_seconds,
            max_requests_per_second=settings.apiframe_max_requests_per_second,
            metrics=self.metrics,
        )
        self.fetcher = AttachmentFetcher(
            max_bytes=IMAGE_MAX_BYTES,
            timeout=settings.attachment_download_timeout_seconds,
        )
        self.videos = VideoFetcher(
            timeout=settings.video_download_timeout_seconds, archive_dir=settings.video_archive_dir
        )
        self.frames = FrameTaker(self.videos)
        self.render_times = RenderTimes(typical=settings.apiframe_typical_render_seconds)
        self.web = WebServer(settings.http_host, settings.http_port, metrics=self.metrics)
        self.gateway_connected = False
        # Made in setup_hook, once the front end has handed over its reporter and sink.
        self._runner: JobRunner | None = None
        self._studio: Studio | None = None
        self._audit: AuditTrail | None = None
        self._front_end: tuple[JobReporter, AuditSink] | None = None
        self.set_up = False  # setup_hook has begun: a failure now is not a login failure
        self._serving = False
        self._gauges: asyncio.Task[None] | None = None

    @property
    def runner(self) -> JobRunner:
        if self._runner is None:
            raise RuntimeError("the bot has not been set up yet")
        return self._runner

    @property
    def studio(self) -> Studio:
        if self._studio is None:
            raise RuntimeError("the bot has not been set up yet")
        return self._studio

    @property
    def audit(self) -> AuditTrail:
        if self._audit is None:
            raise RuntimeError("the bot has not been set up yet")
        return self._audit

    def use_front_end(self, reporter: JobReporter, audit_sink: AuditSink) -> None:
        """Called by the front-end extension: how jobs and ledger changes reach members."""
        self._front_end = (reporter, audit_sink)

    async def setup_hook(self) -> None:
        self.set_up = True
        await self.database.open()
        if self.simulator is not None:
            await self.simulator.start()
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        if self._front_end is None:
            raise RuntimeError("no front end registered a job reporter")
        reporter, audit_sink = self._front_end
        self._runner = self._build_runner(reporter)
        self._audit = AuditTrail(self.state, self.stores.ledger, self.guild_settings, audit_sink)
        self._studio = Studio(
            self.ledger, self.jobs, self._runner, self.rules, self._audit, self.prices
        )
        self.ledger.on_change(self._audit.wake)
        if self._news is not None:
            # While the relay was down, news may have been missed: check every job at once.
            self.relay = await self._news.listen(
                NEWS_CHANNEL, self._heard_relayed, on_restored=self.runner.check_all_now
            )
        shards = self.settings.local_shards
        if shards is None or 0 in shards:
            # Commands are global: one process (shard 0's) registers them for all.
            await self.sync_commands_if_changed()
        await self.serve_http()
        await self.runner.resume_pending()
        self.runner.supervise()
        self._audit.start()
        self._gauges = asyncio.create_task(self._keep_gauges(), name="metrics-gauges")

    async def serve_http(self) -> None:
        """Start the HTTP server, once: at start-up before anything talks to Discord (so a busy
        port is found before commands are synced), or at set-up for a bot started directly."""
        if not self.settings.http_port or self._serving:
            return
        self._serve_http()
        if self.settings.dashboard_on:
            # Jinja2, the cookie sessions and their cryptography: loaded only when it is on.
            from bot.dashboard.site import PATH  # noqa: PLC0415

            self.web.app.add_subapp(PATH, await self._dashboard().application())
            log.info("dashboard: on at %s", self.settings.dashboard_public_url)
        await self.web.start()
        self._serving = True

    def _dashboard(self) -> Dashboard:
        from bot.dashboard.oauth import OAuthClient  # noqa: PLC0415
        from bot.dashboard.site import Dashboard  # noqa: PLC0415

        settings = self.settings
        assert settings.dashboard_public_url is not None
        assert settings.discord_client_secret is not None
        oauth = OAuthClient(
            settings.discord_api_base_url,
            lambda: self.application_id,
            settings.discord_client_secret,
            f"{settings.dashboard_public_url}/callback",
        )
        stores = self.stores
        assert isinstance(stores.ledger, SqlLedgerStore)
        assert isinstance(stores.jobs, SqlJobStore)
        return Dashboard(
            services_of(self),
            stores.ledger,
            stores.jobs,
            DiscordDirectory(self),
            oauth,
            secure=settings.dashboard_public_url.startswith("https://"),
        )

    def _serve_http(self) -> None:
        settings = self.settings
        if settings.apiframe_webhook_url:
            self.web.add_webhook(webhook_signing_key(settings.apiframe_api_key), self._hear)
        self.web.add_readiness("gateway", self._gateway_state)
        self.web.add_readiness("database", self._database_state)
        self.web.add_readiness("job_runner", self._runner_state)
        self.web.add_metrics(self.metrics, settings.metrics_token)
        if settings.video_public_base_url is not None:
            self.web.add_videos(self._public_video)

    async def _hear(self, apiframe_job_id: str, status: str, progress: int | None) -> bool | None:
        if self._runner is None:
            return None  # still starting: refused, so that Apiframe may deliver it again
        return await self._runner.hear(apiframe_job_id, status, progress)

    async def _gateway_state(self) -> str | None:
        if self.gateway_connected and self.is_ready() and not self.is_closed():
            return None
        return "not connected to Discord's gateway"

    async def _database_state(self) -> str | None:
        await self.database.ping()
        return None

    async def _runner_state(self) -> str | None:
        if self._runner is None:
            return "starting"
        # Four missed beats: the supervisor is stuck (a minute at most with the default beat).
        limit = self.runner.heartbeat * 4.5
        age = self.runner.beat_age
        return None if age <= limit else f"stuck: no heartbeat for {age:.0f} s"

    async def _keep_gauges(self) -> None:
        """The gauges counted from the database, brought up to date in the background every
        `GAUGES_EVERY` seconds: a scrape of /metrics only reads memory."""
        while True:
            try:
                await self.refresh_gauges()
            except Exception:
                log.warning("metrics: the job gauges could not be counted", exc_info=True)
            await asyncio.sleep(GAUGES_EVERY)

    async def refresh_gauges(self) -> None:
        """Count the jobs by state for the gauges (what the background task does)."""
        counts = await self.jobs.counts_by_state()
        for state in ("waiting", "reserved", "submitted", "completed", "failed"):
            self.metrics.jobs.labels(state).set(counts.get(state, 0))
        self.metrics.queue.labels("servers").set(counts.get("waiting", 0))
        budget = self.apiframe.budget
        self.metrics.queue.labels("apiframe_budget").set(budget.waiting if budget else 0)

    async def on_ready(self) -> None:
        self.gateway_connected = True

    async def on_resumed(self) -> None:
        self.gateway_connected = True

    async def on_disconnect(self) -> None:
        self.gateway_connected = False

    def _build_runner(self, reporter: JobReporter) -> JobRunner:
        settings = self.settings
        webhooks = bool(settings.apiframe_webhook_url and settings.http_port)
        if settings.apiframe_webhook_url and not settings.http_port:
            log.warning(
                "APIFRAME_WEBHOOK_URL is set but HTTP_PORT=0 turns the HTTP server "
                "off: polling instead"
            )
        interval = settings.apiframe_poll_interval_seconds
        policy = WatchPolicy(
            shape=PollShape(
                interval=interval,
                early_interval=settings.apiframe_max_poll_interval_seconds,
                webhook_interval=settings.apiframe_webhook_poll_interval_seconds,
            ),
            progress_edit_interval=settings.progress_edit_interval_seconds,
            max_wait=timedelta(minutes=settings.apiframe_max_wait_minutes),
            give_up_after=timedelta(hours=settings.apiframe_give_up_hours),
            late_interval=settings.apiframe_late_poll_interval_seconds,
            webhooks=webhooks,
        )
        return JobRunner(
            self.jobs,
            self.ledger,
            Submitter(
                self.apiframe,
                self.jobs,
                retry_floor=interval,
                webhook_url=settings.apiframe_webhook_url if webhooks else None,
            ),
            Watcher(self.apiframe, self.jobs, reporter, self.render_times, policy),
            Deliverer(
                self.jobs,
                reporter,
                self.videos,
                archiving=settings.video_archive_dir is not None,
                publishing=settings.video_public_base_url is not None,
                retry_floor=interval,
                metrics=self.metrics,
            ),
            reporter,
            self.render_times,
            metrics=self.metrics,
            owner=self.owner,
            lease_seconds=settings.job_lease_seconds,
            local=self.serves,
            relay=self._relay_news if self._news is not None else None,
            image_retention=timedelta(days=settings.source_image_retention_days),
            on_content_refusal=self._content_refused,
        )

    def public_video_url(self, job: Job) -> str | None:
        base = self.settings.video_public_base_url
        if base is None or job.public_name is None:
            return None
        return f"{base}{VIDEOS_PATH}/{job.public_name}.mp4"

    async def _public_video(self, name: str) -> Path | None:
        """The archived file behind a public name, unless its video was deleted (by its member
        or a moderator: never shown again)."""
        job = await self.jobs.by_public_name(name)
        if job is None or job.deleted_at is not None:
            return None
        return self.videos.archived_path(job.id)

    async def _content_refused(self, job: Job, error: str) -> None:
        if self._audit is not None:
            await self._audit.content_refused(job, error)

    @property
    def owner(self) -> str:
        """This process's name on the job leases: its shards, which no other live process
        connects, so a restart with the same shards takes its own jobs back at once."""
        shards = self.settings.local_shards
        if shards is None:
            return "all-shards"
        return f"shards {','.join(map(str, shards))} of {self.settings.shard_count}"

    def serves(self, guild_id: int) -> bool:
        """Whether this process connects the shard of this server (Discord's formula)."""
        shards = self.settings.local_shards
        if shards is None:
            return True
        assert self.settings.shard_count is not None
        return (guild_id >> 22) % self.settings.shard_count in shards

    async def _relay_news(self, apiframe_job_id: str, status: str, progress: int | None) -> None:
        assert self._news is not None
        await self._news.notify(
            NEWS_CHANNEL, json.dumps([apiframe_job_id, status, progress], separators=(",", ":"))
        )

    def _heard_relayed(self, payload: str) -> None:
        try:
            apiframe_job_id, status, progress = json.loads(payload)
        except (ValueError, TypeError):
            log.warning("ignored a malformed job notice from another process")
            return
        task = asyncio.create_task(
            self.runner.hear_relayed(str(apiframe_job_id), str(status), progress)
        )
        self._relayed.add(task)
        task.add_done_callback(self._relayed.discard)

    async def sync_commands_if_changed(self) -> bool:
        """Push the slash commands to Discord only when their definition changed."""
        definition = await command_definition(self.tree)
        key = f"{COMMAND_HASH_KEY}:{self.application_id}"
        digest = hashlib.sha256(definition.encode()).hexdigest()
        if await self.state.get_state(key) == digest:
            log.info("slash commands unchanged; not syncing")
            return False
        synced = await self.tree.sync()
        await self.state.set_state(key, digest)
        log.info("synced %d slash command(s)", len(synced))
        return True

    async def close(self) -> None:
        if self._gauges is not None:
            self._gauges.cancel()
            await asyncio.gather(self._gauges, return_exceptions=True)
        if self._runner is not None:
            await self._runner.close()
        if self._audit is not None:
            await self._audit.close()
        await self.web.stop()
        await super().close()
        await self.fetcher.close()
        await self.videos.close()
        await self.apiframe.close()
        if self.simulator is not None:
            await self.simulator.stop()
        await self.database.close()


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


# -- start-up: everything before the gateway ---------------------------------------------------

STARTUP_ATTEMPTS: Final = 4
STARTUP_BACKOFF: Final = 1.0
NETWORK_FIX: Final = "check this machine's network connection and DNS"


async def with_retries(
    what: str,
    url: str,
    setting: str,
    attempt: Callable[[], Awaitable[None]],
    transient: tuple[type[BaseException], ...],
) -> None:
    """Run `attempt`, retrying transient network failures with backoff, then give up in one
    line naming `what` could not be reached at `url` and the setting to check."""
    for tries in range(1, STARTUP_ATTEMPTS + 1):
        try:
            await attempt()
            return
        except transient as exc:
            reason = str(exc) or type(exc).__name__
            if tries == STARTUP_ATTEMPTS:
                raise StartupFailed(
                    f"could not reach {what} at {url} after {tries} tries ({reason}): "
                    f"{NETWORK_FIX}, or {setting}"
                ) from None
            delay = STARTUP_BACKOFF * 2 ** (tries - 1)
            log.warning(
                "could not reach %s at %s (%s); trying again in %.0f s (%d of %d)",
                what,
                url,
                reason,
                delay,
                tries + 1,
                STARTUP_ATTEMPTS,
            )
            await asyncio.sleep(delay)


async def start_up(bot: HailuoBot, settings: Settings) -> None:
    """Everything before the gateway: database, Discord login, Apiframe account."""
    try:
        await bot.database.open()
    except StoreUnavailable as exc:
        raise StartupFailed(str(exc)) from None
    await bot.serve_http()  # a busy port is found now, before Discord hears of the bot

    unreachable = (aiohttp.ClientConnectionError, OSError, TimeoutError)
    base = settings.discord_api_base_url.rstrip("/")

    async def reach_discord() -> None:
        # A plain request first: discord.py's login opens an HTTP session for good, so it is
        # tried once, when Discord is known to answer. Any HTTP answer means it is reachable.
        timeout = aiohttp.ClientTimeout(total=15)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(f"{base}/gateway") as response,
        ):
            await response.read()

    await with_retries("Discord", base, "DISCORD_API_BASE_URL", reach_discord, unreachable)
    try:
        await bot.login(settings.discord_token.get_secret_value())
    except discord.LoginFailure:
        raise ConfigurationError(
            "Discord refused DISCORD_TOKEN: reset the bot's token in the Developer Portal (Bot "
            "tab) and set it again"
        ) from None
    except discord.HTTPException as exc:
        if bot.set_up:
            raise
        raise StartupFailed(
            f"Discord answered HTTP {exc.status} at {base}: check DISCORD_API_BASE_URL, or "
            "try again later"
        ) from None
    except unreachable as exc:
        if bot.set_up:  # raised by the set-up after login, not by the login
            raise StartupFailed(f"the bot could not finish setting up: {exc}") from None
        raise StartupFailed(
            f"could not reach Discord at {base} ({exc}): {NETWORK_FIX}, or DISCORD_API_BASE_URL"
        ) from None
    log.info("logged in to Discord; invite the bot with %s", invite_url(bot.application_id))

    apiframe_url = bot.apiframe.base_url
    try:
        me = await bot.apiframe.me()
    except ApiframeAuthError as exc:
        log.error(
            "Apiframe refused APIFRAME_API_KEY (HTTP %s): videos will fail until it is "
            "fixed; create a key in Apiframe's dashboard and set it again",
            exc.status,
        )
        return
    except ApiframeError as exc:
        raise StartupFailed(
            f"could not reach Apiframe at {apiframe_url} "
            f"({exc.message}): {NETWORK_FIX}, or APIFRAME_BASE_URL"
        ) from None
    team = me.get("team")
    credits_left = team.get("credits", "unknown") if isinstance(team, dict) else "unknown"
    log.info("Apiframe account ready: %s credits left", credits_left)


class DiscordDirectory:
    """What the dashboard asks of Discord, answered by the bot: rights from the member as
    Discord has them now (fetched, never the login-time list), names from the cache or REST."""

    def __init__(self, bot: HailuoBot) -> None:
        self._bot = bot

    def guild_name(self, guild_id: int) -> str | None:
        guild = self._bot.get_guild(guild_id)
        return None if guild is None else guild.name

    async def rights(self, guild_id: int, user_id: int) -> Rights:
        guild = self._bot.get_guild(guild_id)
        if guild is None:
            return Rights()
        try:
            member = await guild.fetch_member(user_id)
        except discord.HTTPException:  # not (or no longer) in the server, or Discord is down
            return Rights()
        permissions = member.guild_permissions
        return Rights(
            manage_guild=permissions.manage_guild, manage_messages=permissions.manage_messages
        )

    async def member_names(self, guild_id: int, member_ids: Iterable[int]) -> dict[int, str]:
        guild = self._bot.get_guild(guild_id)
        names: dict[int, str] = {}
        for member_id in member_ids:
            member = guild.get_member(member_id) if guild is not None else None
            if member is None and guild is not None:
                with contextlib.suppress(discord.HTTPException):
                    member = await guild.fetch_member(member_id)
            if member is not None:
                names[member_id] = member.display_name
        return names

    async def search_members(self, guild_id: int, query: str, limit: int) -> list[int]:
        guild = self._bot.get_guild(guild_id)
        if guild is None:
            return []
        route = discord.http.Route("GET", "/guilds/{guild_id}/members/search", guild_id=guild_id)
        try:
            found = await self._bot.http.request(route, params={"query": query, "limit": limit})
        except discord.HTTPException:
            return []
        return [int(member["user"]["id"]) for member in found if isinstance(member, dict)]

    def role_names(self, guild_id: int) -> dict[int, str]:
        guild = self._bot.get_guild(guild_id)
        if guild is None:
            return {}
        return {role.id: role.name for role in guild.roles if not role.is_default()}

    async def delete_message(self, channel_id: int, message_id: int) -> None:
        with contextlib.suppress(discord.NotFound):
            await self._bot.http.delete_message(channel_id, message_id)
