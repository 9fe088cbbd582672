"""A server's month in numbers, read one way for every screen that shows it (`/quota show`, the
dashboard's overview): its spend against its cap, its videos this month and what runs now, and
its top spenders."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.clock import utc_now
from bot.jobs.records import JobStore, MonthOfJobs
from bot.money.allowances import Period, month_after, period_start
from bot.money.ledger import Ledger
from bot.money.servers import ServerSettings


@dataclass(frozen=True, slots=True)
class ServerMonth:
    month: datetime  # its first moment (UTC)
    resets_at: datetime
    cap: int | None
    spent: int  # asked for this month, reserved credits included: what the cap counts
    jobs: MonthOfJobs
    top: tuple[tuple[int, int], ...]  # (member, credits spent this month), largest first

    @property
    def cap_share(self) -> float | None:
        """How much of the cap is used, 0..1 (None: no cap)."""
        if not self.cap:
            return None
        return min(1.0, self.spent / self.cap)


async def server_month(
    ledger: Ledger, jobs: JobStore, servers: ServerSettings, guild_id: int, *, top: int = 5
) -> ServerMonth:
    now = utc_now()
    month = period_start(Period.MONTHLY, now)
    settings = await servers.get(guild_id)
    return ServerMonth(
        month=month,
        resets_at=month_after(now),
        cap=settings.monthly_cap,
        spent=await ledger.month_spend(guild_id),
        jobs=await jobs.month_of_jobs(guild_id, month),
        top=tuple(await ledger.top_spenders(guild_id, top)),
    )
