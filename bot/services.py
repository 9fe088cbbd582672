"""What the front ends may use of the bot: the stores, the workflows and the settings.

`bot/assembly.py` builds them; cogs and the dashboard depend on this protocol, not on the
assembly or the Discord client, so the wiring can change without them, and nothing in `bot/`
depends on `cogs/`.
"""

from __future__ import annotations

from typing import Protocol

from bot.jobs.delivery import JobReporter
from bot.jobs.records import Job, JobStore
from bot.media.attachments import AttachmentFetcher
from bot.media.frames import FrameTaker
from bot.media.videos import VideoFetcher
from bot.metrics import Metrics
from bot.money.economy import OwnerNotices, OwnerPolicy, ServerBook
from bot.money.ledger import Ledger
from bot.money.pricing import PriceTable
from bot.money.servers import ServerSettings
from bot.money.wallet import Wallets
from bot.operations.audit import AuditSink, AuditTrail
from bot.operations.reports import LedgerExports
from bot.requests.defaults import DefaultsStore
from bot.requests.server_rules import ServerRules
from bot.settings import Settings
from bot.store import BotState, Database, Stores
from bot.studio import Studio


class Services(Protocol):
    @property
    def settings(self) -> Settings: ...
    @property
    def stores(self) -> Stores: ...
    @property
    def database(self) -> Database: ...
    @property
    def state(self) -> BotState: ...
    @property
    def ledger(self) -> Ledger: ...
    @property
    def jobs(self) -> JobStore: ...
    @property
    def guild_settings(self) -> ServerSettings: ...
    @property
    def rules(self) -> ServerRules: ...
    @property
    def option_defaults(self) -> DefaultsStore: ...
    @property
    def fetcher(self) -> AttachmentFetcher: ...
    @property
    def videos(self) -> VideoFetcher: ...
    @property
    def frames(self) -> FrameTaker: ...
    @property
    def metrics(self) -> Metrics: ...
    @property
    def prices(self) -> PriceTable: ...
    @property
    def exports(self) -> LedgerExports: ...
    @property
    def policy(self) -> OwnerPolicy: ...
    @property
    def servers(self) -> ServerBook: ...
    @property
    def wallets(self) -> Wallets: ...
    @property
    def studio(self) -> Studio: ...
    @property
    def audit(self) -> AuditTrail: ...

    def public_video_url(self, job: Job) -> str | None:
        """Where the bot's own HTTP server serves the job's archived video, if it does."""
        ...

    def use_front_end(self, reporter: JobReporter, audit_sink: AuditSink) -> None:
        """Hand the bot the front end's ways to reach members (called once, at load)."""
        ...

    def use_owner_notices(self, notices: OwnerNotices) -> None:
        """Hand the bot the way the owner hears of what needs them (called once, at load)."""
        ...

    async def claim(self, interaction_id: int) -> bool:
        """Whether this process is the first to take up the interaction."""
        ...
