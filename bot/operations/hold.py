"""One copy of the bot per database (per shard, for sharded bots on PostgreSQL).

Two copies on one database would both answer every interaction and move credits twice. So a
process holds its scope in the database while it runs ("all", or its shards), renewing the hold
every third of `JOB_LEASE_SECONDS`, and a second process for the same scope refuses to start,
in one line that says where the first runs and since when.

A process that dies lets go without help: its hold expires after the lease (at once, when the
hold names a process of this machine that is gone). A start finds one of three things:
- no live hold, or one of a process that is gone: it takes the hold and starts;
- a hold whose process is alive (on this machine, renewed lately; elsewhere, renewed while this
  one watched): it refuses at once;
- a hold that is neither renewed nor known to be gone: it waits for it to expire, as after a
  crash on another machine, saying so, and then starts.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final, Protocol

from bot.clock import utc_now
from bot.errors import StartupFailed
from bot.store.holds import Hold

log = logging.getLogger(__name__)

RENEWALS_PER_LEASE: Final = 3


class HoldStore(Protocol):
    async def take(
        self, mine: Hold, scopes: list[str], now: datetime, dead: list[str]
    ) -> Hold | None: ...
    async def renew(self, holder: str, now: datetime, until: datetime) -> bool: ...
    async def release(self, holder: str) -> None: ...


class AnotherCopyRuns(StartupFailed):
    """The database (or one of this process's shards) is held by a copy that is running."""


def scopes_of(local_shards: tuple[int, ...] | None) -> list[str]:
    if local_shards is None:
        return ["all"]
    return [f"shard {shard}" for shard in local_shards]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's: alive
    return True


def described(held: Hold) -> str:
    where = "this machine" if held.host == socket.gethostname() else held.host
    return (
        f"on {where}, process {held.pid}, hailuo-bot {held.version}, since "
        f"{held.started_at:%Y-%m-%d %H:%M} UTC"
    )


def refusal(held: Hold) -> AnotherCopyRuns:
    scope = "this database" if held.scope == "all" else f"{held.scope} of this database"
    return AnotherCopyRuns(
        f"another copy of the bot is running on {scope} ({described(held)}): stop it first "
        "(both would answer every command, and move credits twice); to run several processes, "
        "give each its own SHARD_IDS on PostgreSQL"
    )


class DatabaseHold:
    def __init__(
        self,
        store: HoldStore,
        scopes: list[str],
        *,
        lease_seconds: float,
        version: str,
        on_lost: Callable[[], None] = lambda: None,
    ) -> None:
        self._store = store
        self._scopes = scopes
        self._lease = timedelta(seconds=lease_seconds)
        self._on_lost = on_lost
        now = utc_now()
        self.mine = Hold(
            scope="",
            holder=uuid.uuid4().hex,
            host=socket.gethostname(),
            pid=os.getpid(),
            version=version,
            started_at=now,
            renewed_at=now,
            expires_at=now + self._lease,
        )
        self._renewing: asyncio.Task[None] | None = None
        self.held = False

    @property
    def renew_every(self) -> float:
        return self._lease.total_seconds() / RENEWALS_PER_LEASE

    async def take(self, *, poll: float = 1.0) -> None:
        """Hold the scopes, waiting at most a lease for a hold that lapses; `AnotherCopyRuns`
        when a live copy holds them."""
        if self.held:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._lease.total_seconds() + 2 * poll
        first: Hold | None = None
        dead: list[str] = []
        while True:
            now = utc_now()
            held = await self._store.take(self._until(now), self._scopes, now, dead)
            if held is None:
                self.held = True
                return
            if held.host == self.mine.host and not alive(held.pid):
                dead = [held.holder]  # its process is gone: its hold goes now
                continue
            recently = now - held.renewed_at < timedelta(seconds=2 * self.renew_every)
            if held.host == self.mine.host and recently:
                raise refusal(held)
            if first is not None and (
                held.holder != first.holder or held.renewed_at > first.renewed_at
            ):
                raise refusal(held)  # renewed while this one watched: it runs
            if loop.time() > deadline:
                raise refusal(held)
            if first is None:
                first = held
                log.warning(
                    "the database is held by a copy of the bot (%s) that may have stopped; "
                    "waiting up to %.0f s for its hold to lapse",
                    described(held),
                    deadline - loop.time(),
                )
            await asyncio.sleep(poll)

    def _until(self, now: datetime) -> Hold:
        mine = self.mine
        return Hold(
            mine.scope,
            mine.holder,
            mine.host,
            mine.pid,
            mine.version,
            mine.started_at,
            now,
            now + self._lease,
        )

    def keep(self) -> None:
        """Renew the hold in the background while the process runs."""
        if self._renewing is None and self.held:
            self._renewing = asyncio.create_task(self._renew(), name="database-hold")

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.renew_every)
            now = utc_now()
            try:
                kept = await self._store.renew(self.mine.holder, now, now + self._lease)
            except Exception:  # the database is away a moment: the next renewal may do
                log.warning("could not renew the hold on the database", exc_info=True)
                continue
            if not kept:
                self.held = False
                log.error(
                    "another copy of the bot took over this database (this one was silent "
                    "longer than JOB_LEASE_SECONDS): stopping, so that no command is carried "
                    "out twice"
                )
                self._on_lost()
                return

    async def release(self) -> None:
        if self._renewing is not None:
            self._renewing.cancel()
            await asyncio.gather(self._renewing, return_exceptions=True)
            self._renewing = None
        if self.held:
            self.held = False
            try:
                await self._store.release(self.mine.holder)
            except Exception:  # it expires by itself
                log.warning("could not let go of the hold on the database", exc_info=True)
