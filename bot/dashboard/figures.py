"""A server's overview in numbers: its month as `/quota show` reads it (spend against its cap,
videos by outcome, what runs now, top members), with what the dashboard adds: credits handed out
this month, and the spend per day over 30 days (and its chart).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final

from bot.dashboard.reading import JobReads, LedgerReads
from bot.money.summary import ServerMonth

CHART_DAYS: Final = 30


@dataclass(frozen=True, slots=True)
class Overview:
    month: ServerMonth
    handed_out: int  # this month: starting balances, top-ups, grants
    days: tuple[tuple[date, int], ...]  # credits charged per day, oldest first


async def overview(
    month: ServerMonth, ledger: LedgerReads, jobs: JobReads, guild_id: int, now: datetime
) -> Overview:
    first_day = (now - timedelta(days=CHART_DAYS - 1)).date()
    since = datetime.combine(first_day, datetime.min.time(), tzinfo=now.tzinfo)
    per_day = {first_day + timedelta(days=n): 0 for n in range(CHART_DAYS)}
    for when, price in await jobs.charges_since(guild_id, since):
        if when.date() in per_day:
            per_day[when.date()] += price
    return Overview(
        month=month,
        handed_out=await ledger.handed_out_since(guild_id, month.month),
        days=tuple(sorted(per_day.items())),
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
