"""What the front end may use of the bot: the stores, the workflows and the settings.

Cogs depend on this protocol, not on the class that builds the discord.py bot, so the wiring
can change without them, and nothing in `bot/` depends on `cogs/`.
"""

from __future__ import annotations

from typing import Protocol, cast

from bot.jobs.delivery import JobReporter
from bot.jobs.records import Job, JobStore
from bot.media.attachments import AttachmentFetcher
from bot.media.frames import FrameTaker
from bot.media.videos import VideoFetcher
from bot.metrics import Metrics
from bot.money.ledger import Ledger
from bot.money.pricing import PriceTable
from bot.money.servers import ServerSettings
from bot.requests.defaults import DefaultsStore
from bot.requests.server_rules import ServerRules
from bot.service.audit import AuditSink, AuditTrail
from bot.settings import Settings
from bot.store import BotState, Database
from bot.studio import Studio


class Services(Protocol):
    settings: Settings
    database: Database
    state: BotState
    ledger: Ledger
    jobs: JobStore
    guild_settings: ServerSettings
    rules: ServerRules
    option_defaults: DefaultsStore
    fetcher: AttachmentFetcher
    videos: VideoFetcher
    frames: FrameTaker
    metrics: Metrics
    prices: PriceTable

    def public_video_url(self, job: Job) -> str | None:
        """Where the bot's own HTTP server serves the job's archived video, if it does."""
        ...

    @property
    def studio(self) -> Studio: ...

    @property
    def audit(self) -> AuditTrail: ...

    def use_front_end(self, reporter: JobReporter, audit_sink: AuditSink) -> None:
        """Hand the bot the front end's ways to reach members (called once, at load)."""
        ...


def services_of(client: object) -> Services:
    """The services behind a discord.py client; a clear error if it is not this bot.

    (Not `isinstance` against the protocol: that would read every member, and some are only
    there once the bot is set up.)"""
    if not callable(getattr(client, "use_front_end", None)):
        raise TypeError(f"{type(client).__name__} does not carry the bot's services")
    return cast(Services, client)
