"""Every part of the bot that decides, built from the settings and wired together, without
Discord: the stores and the ledger, the server's rules and defaults, the Apiframe client (or its
simulator), the fetchers, the HTTP server, the job runner, the studio and the audit trail.

`Assembly` is what `bot/services.py` describes, and what the front end is handed. The Discord
client (`bot/client/`) owns one and drives its life:

1. `open()`: the database (created and migrated) and the simulator, before anything else;
2. `serve_http(...)`: the HTTP server, before Discord hears of the bot (a busy port is found
   first);
3. `use_front_end(...)`, by the front-end extension: how jobs and ledger rows reach members;
4. `start_work()`: the runner, the studio and the audit trail made, news from other processes
   heard, interrupted jobs resumed;
5. `stop_work()` then, once the client is closed, `close()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Final

from bot.apiframe.client import ApiframeClient
from bot.apiframe.webhooks import webhook_signing_key
from bot.clock import utc_now
from bot.errors import ConfigurationError
from bot.jobs.delivery import Deliverer, JobReporter
from bot.jobs.polling import PollShape, RenderTimes
from bot.jobs.records import Job, PendingRequest
from bot.jobs.submission import Submitter
from bot.jobs.watching import Watcher, WatchPolicy
from bot.media.attachments import AttachmentFetcher
from bot.media.frames import FrameTaker
from bot.media.joining import Joiner
from bot.media.videos import VideoFetcher
from bot.metrics import Metrics
from bot.money.economy import OwnerNotices, ServerBook, SpendAlerts
from bot.money.ledger import Ledger
from bot.money.pricing import PriceTable
from bot.money.servers import ServerSettings
from bot.money.wallet import CreditPacks, Wallets
from bot.operations.audit import AuditSink, AuditTrail
from bot.operations.hold import DatabaseHold, scopes_of
from bot.operations.owners import known_owners, owner_policy, remember_owners
from bot.operations.reports import LedgerExports
from bot.operations.web import VIDEOS_PATH, WebServer
from bot.release import version
from bot.requests.defaults import DefaultsStore
from bot.requests.rules import IMAGE_MAX_BYTES
from bot.requests.server_rules import ServerRules
from bot.runner import JobRunner
from bot.settings import Settings
from bot.store import stores_for
from bot.store.news import NewsListener
from bot.stories import StoryDirector
from bot.studio import Studio

if TYPE_CHECKING:  # loaded only when trying the simulator, or with the dashboard on
    from bot.apiframe.simulator import ApiframeSimulator
    from bot.dashboard.directory import Directory

log = logging.getLogger(__name__)

# The channel on which processes sharing a database pass on webhook news about jobs.
NEWS_CHANNEL: Final = "hailuo_job_news"
GAUGES_EVERY: Final = 15.0
HOUSEKEEPING_EVERY: Final = 600.0
# Discord takes an interaction's answers for 15 minutes: its claim is kept a while longer.
CLAIMS_KEPT: Final = timedelta(hours=1)
# How long jobs in flight wait at start for the gateway to be ready before being picked up.
RESUME_WAIT: Final = 5.0
Readiness = Callable[[], Awaitable[str | None]]


class Assembly:
    def __init__(self, settings: Settings) -> None:
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
        # What the bot's owner allows; who the owner is comes from Discord once logged in.
        self.policy = owner_policy(settings)
        self.ledger = Ledger(
            self.stores.ledger,
            metrics=self.metrics,
            simulated=settings.apiframe_simulate,
            policy=self.policy,
        )
        self.servers = ServerBook(self.stores.servers, self.policy)
        self.wallets = Wallets(self.stores.wallets, CreditPacks(settings.credit_pack_map))
        self.spend_alerts = SpendAlerts(self.policy, self.stores.state)
        self.ledger.watch_month(self.spend_alerts.month_moved)
        self.guild_settings = ServerSettings(self.stores.guilds)
        self.exports = LedgerExports(self.stores.ledger)
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
        self.joiner = Joiner()
        self.render_times = RenderTimes(typical=settings.apiframe_typical_render_seconds)
        self.web = WebServer(settings.http_host, settings.http_port, metrics=self.metrics)
        # One copy of the bot per database (per shard): a second refuses to start.
        self.hold = DatabaseHold(
            self.stores.holds,
            scopes_of(settings.local_shards),
            lease_seconds=settings.job_lease_seconds,
            version=version(),
            on_lost=self._hold_lost,
        )
        self._on_hold_lost: Callable[[], None] = lambda: None
        self.owner_notices: OwnerNotices | None = None
        self._housekeeping: asyncio.Task[None] | None = None
        # Several processes on one database hear of each other's webhook news through it.
        self.relay: NewsListener | None = None
        self._relayed: set[asyncio.Task[None]] = set()
        # Made by `start_work`, once the front end has handed over its reporter and sink.
        self._runner: JobRunner | None = None
        self._studio: Studio | None = None
        self._audit: AuditTrail | None = None
        self._front_end: tuple[JobReporter, AuditSink] | None = None
        self._opened = False
        self._serving = False
        self._gauges: asyncio.Task[None] | None = None
        self._resuming: asyncio.Task[None] | None = None

    # -- what the front end uses ---------------------------------------------------------

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

    def use_owner_notices(self, notices: OwnerNotices) -> None:
        """Called by the servers' extension: how the owner hears of what needs them."""
        self.owner_notices = notices
        self.spend_alerts.tell(notices)

    async def set_owners(self, from_discord: Iterable[int]) -> None:
        """Who owns the bot, as Discord's application information says (its owner, or its
        team's members), together with OWNER_IDS; kept for the shell commands, which cannot
        ask Discord."""
        named = frozenset(from_discord)
        self.policy.owners = named | self.settings.owner_id_set
        await remember_owners(self.state, named)

    def public_video_url(self, job: Job) -> str | None:
        base = self.settings.video_public_base_url
        if base is None or job.public_name is None:
            return None
        return f"{base}{VIDEOS_PATH}/{job.public_name}.mp4"

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

    # -- its life -----------------------------------------------------------------------------

    async def open(self, on_hold_lost: Callable[[], None] | None = None) -> None:
        """The database (created and migrated), this copy's hold on it (`AnotherCopyRuns`
        when another copy runs there), and the simulator; a second call does nothing.
        `on_hold_lost`: called should another copy take the database over later."""
        if on_hold_lost is not None:
            self._on_hold_lost = on_hold_lost
        if self._opened:
            return
        await self.database.open()
        if self.database.created:
            log.warning(
                "a new database at %s: no data yet (if the bot has run before, it kept its data "
                "elsewhere: check DATABASE_PATH or DATABASE_URL, and the folder it starts in)",
                self.database.where,
            )
        await self.hold.take()
        self.hold.keep()
        # The owners Discord named last time, until it names them again once logged in.
        self.policy.owners |= await known_owners(self.state)
        if self.simulator is not None:
            await self.simulator.start()
        self._opened = True

    def _hold_lost(self) -> None:
        self._on_hold_lost()

    async def claim(self, interaction_id: int) -> bool:
        """Whether this process is the first to take up this interaction, in any process on
        this database (a command or button that moves credits is carried out once)."""
        return await self.stores.holds.claim_interaction(interaction_id, utc_now())

    async def serve_http(
        self,
        gateway: Readiness,
        *,
        directory: Callable[[], Directory],
        application_id: Callable[[], int | None],
    ) -> None:
        """Start the HTTP server, once (port 0: never): the webhooks, readiness (the gateway's
        as the client reports it), metrics, public videos, and the dashboard when it is on,
        asking Discord through `directory`."""
        if not self.settings.http_port or self._serving:
            return
        settings = self.settings
        if settings.apiframe_webhook_url:
            self.web.add_webhook(webhook_signing_key(settings.apiframe_api_key), self._hear)
        self.web.add_readiness("gateway", gateway)
        self.web.add_readiness("database", self._database_state)
        self.web.add_readiness("job_runner", self._runner_state)
        self.web.add_metrics(self.metrics, settings.metrics_token)
        if settings.video_public_base_url is not None:
            self.web.add_videos(self._public_video)
        if settings.dashboard_on:
            # Jinja2, the cookie sessions and their cryptography: loaded only when it is on.
            from bot.dashboard.app import build_dashboard  # noqa: PLC0415
            from bot.dashboard.site import PATH  # noqa: PLC0415

            self.web.mount(PATH, await build_dashboard(self, directory(), application_id))
            log.info("dashboard: on at %s", settings.dashboard_public_url)
        await self.web.start()
        self._serving = True

    async def start_work(self, connected: Callable[[], Awaitable[object]] | None = None) -> None:
        """Everything that acts on jobs and ledger rows, once the front end is in: the runner,
        the studio and the audit trail; news from other processes; interrupted jobs resumed
        once `connected()` is done (the gateway is ready), or after `RESUME_WAIT` at most."""
        if self._front_end is None:
            raise RuntimeError("no front end registered a job reporter")
        reporter, audit_sink = self._front_end
        self._runner = self._build_runner(reporter)
        self._audit = AuditTrail(self.state, self.stores.ledger, self.guild_settings, audit_sink)
        self._studio = Studio(
            self.ledger,
            self.jobs,
            self._runner,
            self.rules,
            self._audit,
            self.prices,
            archive=self.videos,
        )
        self.ledger.on_change(self._audit.wake)
        news = self.stores.news
        if news is not None:
            # While the relay was down, news may have been missed: check every job at once.
            self.relay = await news.listen(
                NEWS_CHANNEL, self._heard_relayed, on_restored=self._runner.check_all_now
            )
        # Jobs in flight are picked up beside the gateway's connection, not before it: a
        # restart in a busy hour answers its first command without waiting for a thousand
        # of them. The supervisor starts once they are, so that it never claims them one by one.
        interrupted = await self._runner.interrupted()  # before any request of this start
        self._resuming = asyncio.create_task(
            self._resume(self._runner, interrupted, connected), name="resume-jobs"
        )
        self._audit.start()
        self._gauges = asyncio.create_task(self._keep_gauges(), name="metrics-gauges")
        self._housekeeping = asyncio.create_task(self._keep_house(), name="housekeeping")

    async def _keep_house(self) -> None:
        """What is kept only for a while: interaction claims older than any answer Discord
        still takes."""
        while True:
            await asyncio.sleep(HOUSEKEEPING_EVERY)
            try:
                await self.stores.holds.forget_interactions(utc_now() - CLAIMS_KEPT)
            except Exception:
                log.warning("could not forget old interaction claims", exc_info=True)

    async def _resume(
        self,
        runner: JobRunner,
        interrupted: list[PendingRequest],
        connected: Callable[[], Awaitable[object]] | None,
    ) -> None:
        if connected is not None:
            # Members' commands first: the jobs have waited on Apiframe, and wait a moment more.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(connected(), RESUME_WAIT)
        try:
            await runner.resume_pending(interrupted)
        except Exception:
            log.exception("could not pick up the jobs in flight; the supervisor will")
        runner.supervise()
        runner.resumed = True

    async def stop_work(self) -> None:
        """No new work: the gauges, the runner, the audit trail and the HTTP server stop."""
        if self._resuming is not None:
            self._resuming.cancel()
            await asyncio.gather(self._resuming, return_exceptions=True)
        for task in (self._gauges, self._housekeeping):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if self._runner is not None:
            await self._runner.close()
        if self._audit is not None:
            await self._audit.close()
        await self.web.stop()

    async def close(self) -> None:
        """What is left, once nothing more will be asked of it: the HTTP clients, the
        simulator, the database."""
        await self.fetcher.close()
        await self.videos.close()
        await self.apiframe.close()
        if self.simulator is not None:
            await self.simulator.stop()
        if self._opened:
            await self.hold.release()
        await self.database.close()

    # -- inside ------------------------------------------------------------------------------

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
        deliverer = Deliverer(
            self.jobs,
            reporter,
            self.videos,
            archiving=settings.video_archive_dir is not None,
            publishing=settings.video_public_base_url is not None,
            retry_floor=interval,
            metrics=self.metrics,
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
            deliverer,
            reporter,
            self.render_times,
            metrics=self.metrics,
            owner=self.owner,
            lease_seconds=settings.job_lease_seconds,
            local=self.serves,
            relay=self._relay_news if self.stores.news is not None else None,
            image_retention=timedelta(days=settings.source_image_retention_days),
            on_content_refusal=self._content_refused,
            scenes=StoryDirector(
                self.jobs, self.ledger, deliverer, self.frames, self.joiner, self.videos
            ),
        )

    async def _hear(self, apiframe_job_id: str, status: str, progress: int | None) -> bool | None:
        if self._runner is None:
            return None  # still starting: refused, so that Apiframe may deliver it again
        return await self._runner.hear(apiframe_job_id, status, progress)

    async def _database_state(self) -> str | None:
        await self.database.ping()
        return None

    async def _runner_state(self) -> str | None:
        if self._runner is None or not self._runner.resumed:
            return "starting"
        # Four missed beats: the supervisor is stuck (a minute at most with the default beat).
        limit = self._runner.heartbeat * 4.5
        age = self._runner.beat_age
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

    async def _relay_news(self, apiframe_job_id: str, status: str, progress: int | None) -> None:
        news = self.stores.news
        assert news is not None
        await news.notify(
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
