"""A server's overview in numbers: this month's spend against its cap, credits handed out and
spent, videos by outcome, spend per day over 30 days (and its chart), and the top members.

Every figure is read from the same stores the slash commands use (`/quota show` shows the
month's spend and top spenders the same way); nothing here keeps numbers of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final

from bot.money.allowances import Period, period_start
from bot.store.jobs import SqlJobStore
from bot.store.ledger import SqlLedgerStore

CHART_DAYS: Final = 30
TOP_MEMBERS: Final = 5
RUNNING_STATES: Final = ("reserved", "submitted")


@dataclass(frozen=True, slots=True)
class Overview:
    spent: int  # this month, reserved credits included (what the cap counts)
    cap: int | None
    handed_out: int  # this month: starting balances, top-ups, grants
    charged: int  # this month: videos delivered
    made: int
    failed: int
    running: int
    days: tuple[tuple[date, int], ...]  # credits charged per day, oldest first
    top: tuple[tuple[int, int], ...]  # (member, credits spent this month)

    @property
    def cap_share(self) -> float | None:
        """How much of the cap is used, 0..1 (None: no cap)."""
        if not self.cap:
            return None
        return min(1.0, self.spent / self.cap)


async def overview(
    ledger: SqlLedgerStore, jobs: SqlJobStore, guild_id: int, cap: int | None, now: datetime
) -> Overview:
    month = period_start(Period.MONTHLY, now)
    first_day = (now - timedelta(days=CHART_DAYS - 1)).date()
    since = datetime.combine(first_day, datetime.min.time(), tzinfo=now.tzinfo)
    outcomes = await jobs.outcomes_since(guild_id, month)
    per_day = {first_day + timedelta(days=n): 0 for n in range(CHART_DAYS)}
    charged_month = 0
    for when, price in await jobs.charges_since(guild_id, min(since, month)):
        if when >= month:
            charged_month += price
        if when.date() in per_day:
            per_day[when.date()] += price
    return Overview(
        spent=await ledger.month_spend(guild_id, now),
        cap=cap,
        handed_out=await ledger.handed_out_since(guild_id, month),
        charged=charged_month,
        made=outcomes.get("completed", 0),
        failed=outcomes.get("failed", 0),
        running=sum(outcomes.get(state, 0) for state in RUNNING_STATES),
        days=tuple(sorted(per_day.items())),
        top=tuple(await ledger.top_spenders(guild_id, now, TOP_MEMBERS)),
    )


def spend_chart(days: tuple[tuple[date, int], ...], label: str) -> bytes:
    """The spend per day as an SVG bar chart (pygal: drawn here, nothing loaded at view time;
    no script in it, so the page's content-security policy holds)."""
    import pygal  # noqa: PLC0415 - only when a chart is drawn
    from pygal.style import Style  # noqa: PLC0415

    style = Style(
        background="transparent",
        plot_background="transparent",
        foreground="#4b5563",
        foreground_strong="#111827",
        foreground_subtle="#9ca3af",
        colors=("#5865f2",),
        font_family="system-ui, sans-serif",
    )
    chart = pygal.Bar(
        style=style,
        js=[],  # pygal's tooltips come from a CDN by default: never load them
        show_legend=False,
        width=800,
        height=300,
        x_label_rotation=0,
        show_minor_x_labels=False,
        truncate_label=-1,
        margin=8,
    )
    chart.x_labels = [day.strftime("%d %b") for day, _ in days]
    chart.x_labels_major = [day.strftime("%d %b") for day, _ in days[::7]]
    chart.add(label, [spent for _, spent in days])
    rendered: bytes = chart.render()
    return rendered
