"""Posts every ledger row to its server's audit channel, in order, across restarts.

The trail reads the ledger after a cursor kept in the database, so a row written while the bot
was down or Discord was failing is still posted later. Posting and then moving the cursor is
at-least-once; the sink makes a repeat harmless (Discord folds messages with the same nonce).
"""

from __future__ import annotations

import asyncio
import logging
from itertools import groupby
from typing import Final, Protocol

from bot.backoff import Backoff
from bot.errors import HailuoBotError
from bot.jobs.records import Job
from bot.money.ledger import LedgerEntry, LedgerStore
from bot.money.servers import ServerSettings
from bot.store import BotState

log = logging.getLogger(__name__)

CURSOR_KEY: Final = "audit_cursor"
BATCH: Final = 200
RETRY: Final = Backoff(floor=5.0, ceiling=300.0)


class AuditChannelGone(HailuoBotError):
    """The audit channel no longer exists or the bot may not post there: skip, don't retry."""


class AuditSink(Protocol):
    async def post(self, guild_id: int, channel_id: int, entries: list[LedgerEntry]) -> None:
        """Post the entries; raise `AuditChannelGone` to drop them, anything else to retry."""
        ...

    async def refused_prompt(
        self, guild_id: int, channel_id: int, member_id: int, reasons: tuple[str, ...]
    ) -> None:
        """Say that a member's prompt was refused by the server's rules (no credits moved)."""
        ...

    async def content_refused(self, channel_id: int, job: Job, error: str) -> None:
        """Say that the model's content policy refused a job (its credits came back)."""
        ...


class AuditTrail:
    def __init__(
        self, state: BotState, ledger: LedgerStore, guilds: ServerSettings, sink: AuditSink
    ) -> None:
        self._state = state
        self._ledger = ledger
        self._guilds = guilds
        self._sink = sink
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._wake.set()
            self._task = asyncio.create_task(self._run(), name="audit-trail")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        failures = 0
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                posted = BATCH
                while posted == BATCH:  # a full batch means more rows may be waiting
                    posted = await self.flush()
                failures = 0
            except Exception:
                failures += 1
                delay = RETRY.delay(failures)
                log.warning("audit channel posting failed; retrying in %.0fs", delay, exc_info=True)
                await asyncio.sleep(delay)
                self._wake.set()

    async def refused_prompt(self, guild_id: int, member_id: int, reasons: tuple[str, ...]) -> None:
        """A line for the audit channel, outside the ledger: a prompt the server's rules
        refused. Best effort: a failure is logged, never raised."""
        channel_id = (await self._guilds.log_channels()).get(guild_id)
        if channel_id is None:
            return
        try:
            await self._sink.refused_prompt(guild_id, channel_id, member_id, reasons)
        except Exception:
            log.warning(
                "guild %s: could not post a refused prompt to the audit channel",
                guild_id,
                exc_info=True,
            )

    async def content_refused(self, job: Job, error: str) -> None:
        """A line for the audit channel, outside the ledger: the model's content policy
        refused a job (its refund is a ledger row of its own). Best effort, like the above."""
        channel_id = (await self._guilds.log_channels()).get(job.guild_id)
        if channel_id is None:
            return
        try:
            await self._sink.content_refused(channel_id, job, error)
        except Exception:
            log.warning(
                "guild %s: could not post a content refusal to the audit channel",
                job.guild_id,
                exc_info=True,
            )

    async def flush(self) -> int:
        """Post the rows after the cursor; returns how many rows it went through."""
        cursor = int(await self._state.get_state(CURSOR_KEY) or 0)
        entries = await self._ledger.entries_after(cursor, BATCH)
        if not entries:
            return 0
        channels = await self._guilds.log_channels()
        for guild_id, group in groupby(entries, key=lambda entry: entry.guild_id):
            batch = list(group)
            channel_id = channels.get(guild_id)
            if channel_id is not None:
                try:
                    await self._sink.post(guild_id, channel_id, batch)
                except AuditChannelGone as exc:
                    log.warning(
                        "guild %s: audit channel %s unusable (%s); lines skipped",
                        guild_id,
                        channel_id,
                        exc,
                    )
            await self._state.set_state(CURSOR_KEY, str(batch[-1].id))
        return len(entries)
