"""The words of a member's credits: their recent videos, their ledger page by page, their
allowance, in the member's language."""

from __future__ import annotations

from typing import Final

import discord

from bot.i18n import Language, msg
from bot.jobs.records import Job, JobState
from bot.money.ledger import AllowanceStatus, EntryKind, LedgerEntry
from cogs.front_end._replies import fit
from cogs.front_end._words import failure_reason, signed


def spoiler(text: str, hidden: bool) -> str:
    return f"||{text}||" if hidden and text else text


def job_line(lang: Language, job: Job) -> str:
    """One line of a member's recent jobs."""
    when = discord.utils.format_dt(job.created_at, "R")
    label = f"`{job.short_id}` · {job.resolution.value} {job.duration} s"
    if job.state is JobState.COMPLETED:
        # The message with the file outlives Apiframe's link, which expires. A video made in
        # an age-restricted channel is a spoiler anywhere else.
        where = spoiler(job.video_message_url or job.video_url or "", job.age_restricted)
        return lang.tr(
            "✅ {when} · {video} · {price} credits · {where}",
            when=when,
            video=label,
            price=job.price,
            where=where,
        )
    if job.state is JobState.FAILED:
        return lang.tr(
            "❌ {when} · {video} · refunded · {reason}",
            when=when,
            video=label,
            reason=failure_reason(lang, job, 80) or lang.tr("failed"),
        )
    percent = f" {job.progress}%" if job.progress is not None else ""
    return lang.tr(
        "⏳ {when} · {video} · {price} credits reserved · running{percent}",
        when=when,
        video=label,
        price=job.price,
        percent=percent,
    )


KIND_WORDS: Final = {
    EntryKind.OPENING: msg("starting balance"),
    EntryKind.GRANT: msg("grant"),
    EntryKind.SET: msg("balance set"),
    EntryKind.ALLOWANCE: msg("allowance top-up"),
    EntryKind.RESERVE: msg("reserved for a video"),
    EntryKind.CHARGE: msg("video delivered"),
    EntryKind.REFUND: msg("refund"),
}


def history_line(lang: Language, entry: LedgerEntry) -> str:
    when = discord.utils.format_dt(entry.created_at, "d")
    by = (
        lang.tr(" · by <@{actor}>", actor=entry.actor_id)
        if entry.actor_id and entry.kind in (EntryKind.GRANT, EntryKind.SET, EntryKind.REFUND)
        else ""
    )
    kind = lang.render(KIND_WORDS[entry.kind])
    return f"{when} **{signed(entry.delta)}** → {entry.balance_after} · {kind}{by}"


def allowance_line(lang: Language, allowance: AllowanceStatus) -> str:
    refill = discord.utils.format_dt(allowance.next_refill, "R")
    return lang.tr(
        "Allowance: topped up to {amount} {period}; next refill {when}.",
        amount=allowance.amount,
        period=lang.render(PERIOD_WORDS[allowance.period.value]),
        when=refill,
    )


PERIOD_WORDS: Final = {
    "daily": msg("daily"),
    "weekly": msg("weekly"),
    "monthly": msg("monthly"),
}


def history_page(
    lang: Language,
    member_id: int,
    entries: list[LedgerEntry],
    page: int,
    pages: int,
    allowance: AllowanceStatus | None,
) -> str:
    lines = [
        lang.tr(
            "**Credit history of <@{member}>** · page {page} of {pages}",
            member=member_id,
            page=page + 1,
            pages=pages,
        )
    ]
    if allowance is not None:
        lines.append(allowance_line(lang, allowance))
    lines.extend(history_line(lang, entry) for entry in entries)
    if not entries:
        lines.append(lang.tr("Nothing yet."))
    return fit("\n".join(lines))
