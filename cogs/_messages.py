"""The words members read: job cards, outcomes and balances, always within Discord's limits."""

from __future__ import annotations

from typing import Final

import discord

from bot.defaults import AppliedDefault, OptionDefaults, conflicts
from bot.delivery import Progress
from bot.errors import CapReached, InsufficientCredits, RepeatedRequest, UserFacingError
from bot.jobs import SHORT_ID_LENGTH, Job, JobState, SourceAction
from bot.ledger import AllowanceStatus, EntryKind, LedgerEntry

MESSAGE_LIMIT: Final = 2000
PROMPT_PREVIEW: Final = 300

STATUS_WORDS: Final = {
    "QUEUED": "⏳ Queued",
    "PROCESSING": "🎞️ Rendering",
}


def elapsed(seconds: float) -> str:
    whole = int(seconds)
    minutes, secs = divmod(whole, 60)
    return f"{minutes}:{secs:02d}"


def quote_prompt(prompt: str, limit: int = PROMPT_PREVIEW) -> str:
    """The prompt as a block quote, shortened, with markdown and mentions shown as typed."""
    text = prompt if len(prompt) <= limit else prompt[: limit - 1].rstrip() + "…"
    text = discord.utils.escape_markdown(text)
    return "\n".join(f"> {line}" if line else ">" for line in text.splitlines() or [""])


def describe(job: Job) -> str:
    return f"Hailuo 02 · {job.resolution.value} · {job.duration} s"


def fit(text: str) -> str:
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


SIMULATED_NOTE: Final = "-# 🧪 Simulated: Apiframe was not asked and nothing was billed."


def simulated(text: str, on: bool) -> str:
    """Every card says so while the bot runs against its Apiframe simulator."""
    return fit(f"{SIMULATED_NOTE}\n{text}") if on else text


def job_card(job: Job, progress: Progress | None = None, *, queued: int | None = None) -> str:
    """The public message that follows a job while it runs."""
    if queued is not None:
        state = (
            f"🕒 Waiting in this server's queue: position {queued}. "
            f"{job.price} credits reserved; Cancel refunds them."
        )
    elif progress is None:
        state = "⏳ Sending to Apiframe…"
    else:
        word = STATUS_WORDS.get(progress.status, f"⏳ {progress.status.title()}")
        percent = f" {progress.percent}%" if progress.percent is not None else ""
        state = f"{word}{percent} · {elapsed(progress.elapsed_seconds)} elapsed"
    head = f"🎬 **{describe(job)}** for <@{job.member_id}> · `{job.short_id}`{lineage(job)}"
    return fit(f"{head}\n{quote_prompt(job.prompt)}\n{state}")


SOURCE_WORDS: Final = {
    SourceAction.AGAIN: "again from",
    SourceAction.HIGHER_RESOLUTION: "1080p of",
    SourceAction.EXTEND: "extends",
}


def lineage(job: Job) -> str:
    """Where a job came from, when it came from an earlier video (`/video show` finds it)."""
    if job.source_job_id is None or job.source_action is None:
        return ""
    short = f"`{job.source_job_id[:SHORT_ID_LENGTH]}`"
    source = f"[{short}](<{job.source_message_url}>)" if job.source_message_url else short
    return f" · {SOURCE_WORDS[job.source_action]} {source}"


def refusal(error: UserFacingError) -> str:
    """The private reply that explains a refusal, with its fix; nothing was charged."""
    if isinstance(error, InsufficientCredits):
        when = ""
        if error.refill is not None:
            amount, at = error.refill
            when = f"Your allowance tops you up to {amount} on {at:%-d %B %Y at %H:%M} UTC. "
        return (
            f"This video costs {error.price} credits and you have {error.balance}. {when}"
            "Ask someone with the Manage Server permission to grant you credits "
            "(`/quota add`). Nothing was charged."
        )
    if isinstance(error, CapReached):
        return (
            f"This server has used {error.spent} of its {error.cap}-credit monthly cap, "
            f"and this video costs {error.price}. The cap resets on "
            f"{error.resets_at:%-d %B %Y} (UTC). Nothing was charged."
        )
    if isinstance(error, RepeatedRequest):
        return (
            f"You just asked for this (video `{error.existing_job_id[:SHORT_ID_LENGTH]}`), "
            "so nothing more was charged: follow it on its card."
        )
    return fit(error.message)


def late_notice(job: Job) -> str:
    return fit(
        f"🐢 <@{job.member_id}>, your video ({describe(job)}) is taking much longer than usual "
        "at Apiframe. The bot keeps checking for up to a day and will post it here; if it never "
        f"comes, your {job.price} credits come back.\n{quote_prompt(job.prompt, 120)}"
    )


LINK_ONLY_NOTE: Final = (
    "-# Apiframe keeps this link for about a day: download the video to keep it."
)
TOO_LARGE_NOTE: Final = (
    "-# The file is larger than Discord lets the bot upload here, so "
    "this is Apiframe's link, which it keeps for about a day: download "
    "the video to keep it."
)


def outcome(job: Job, *, with_file: bool = False, too_large: bool = False) -> str:
    """The final word on a job: the video, or what went wrong and that nothing was charged.

    With the video attached as a file the message needs no link: Discord plays the file and
    keeps it as long as the message. Otherwise the link goes on its own last line, so that
    Discord embeds its player, with a note that the link does not last.
    """
    if job.state is JobState.COMPLETED and job.video_url:
        head = (
            f"✅ <@{job.member_id}>, your video is ready · {job.resolution.value} · "
            f"{job.duration} s · {job.price} credits · `{job.short_id}`{lineage(job)}"
        )
        if with_file:
            return fit(f"{head}\n{quote_prompt(job.prompt)}")
        note = TOO_LARGE_NOTE if too_large else LINK_ONLY_NOTE
        room = MESSAGE_LIMIT - len(head) - len(note) - len(job.video_url) - 6
        prompt = quote_prompt(job.prompt, max(20, min(PROMPT_PREVIEW, room)))
        return f"{head}\n{prompt}\n{note}\n{job.video_url}"
    reason = job.failure_reason or "The video could not be made."
    return fit(
        f"❌ <@{job.member_id}>, your video could not be made ({describe(job)}).\n"
        f"{quote_prompt(job.prompt)}\n"
        f"Reason: {discord.utils.escape_markdown(reason[:500])}\n"
        f"The {job.price} credits were refunded: nothing was charged."
    )


def spoiler(text: str, hidden: bool) -> str:
    return f"||{text}||" if hidden and text else text


def job_line(job: Job) -> str:
    """One line of a member's recent jobs."""
    when = discord.utils.format_dt(job.created_at, "R")
    label = f"`{job.short_id}` · {job.resolution.value} {job.duration} s"
    if job.state is JobState.COMPLETED:
        # The message with the file outlives Apiframe's link, which expires. A video made in
        # an age-restricted channel is a spoiler anywhere else.
        where = spoiler(job.video_message_url or job.video_url or "", job.age_restricted)
        return f"✅ {when} · {label} · {job.price} credits · {where}"
    if job.state is JobState.FAILED:
        reason = (job.failure_reason or "failed")[:80]
        return f"❌ {when} · {label} · refunded · {discord.utils.escape_markdown(reason)}"
    percent = f" {job.progress}%" if job.progress is not None else ""
    return f"⏳ {when} · {label} · {job.price} credits reserved · running{percent}"


KIND_WORDS: Final = {
    EntryKind.OPENING: "starting balance",
    EntryKind.GRANT: "grant",
    EntryKind.SET: "balance set",
    EntryKind.ALLOWANCE: "allowance top-up",
    EntryKind.RESERVE: "reserved for a video",
    EntryKind.CHARGE: "video delivered",
    EntryKind.REFUND: "refund",
}


def signed(value: int) -> str:
    return f"+{value}" if value > 0 else str(value)


def history_line(entry: LedgerEntry) -> str:
    when = discord.utils.format_dt(entry.created_at, "d")
    by = (
        f" · by <@{entry.actor_id}>"
        if entry.actor_id and entry.kind in (EntryKind.GRANT, EntryKind.SET, EntryKind.REFUND)
        else ""
    )
    return (
        f"{when} **{signed(entry.delta)}** → {entry.balance_after} · {KIND_WORDS[entry.kind]}{by}"
    )


def history_page(
    member_id: int,
    entries: list[LedgerEntry],
    page: int,
    pages: int,
    allowance: AllowanceStatus | None,
) -> str:
    lines = [f"**Credit history of <@{member_id}>** · page {page + 1} of {pages}"]
    if allowance is not None:
        refill = discord.utils.format_dt(allowance.next_refill, "R")
        lines.append(
            f"Allowance: topped up to {allowance.amount} {allowance.period.value}; "
            f"next refill {refill}."
        )
    lines.extend(history_line(entry) for entry in entries)
    if not entries:
        lines.append("Nothing yet.")
    return fit("\n".join(lines))


OPTION_WORDS: Final = {
    "duration": "duration",
    "resolution": "resolution",
    "prompt_optimizer": "prompt optimizer",
    "camera": "camera",
}


def _shown(default: AppliedDefault) -> str:
    value = default.value
    if default.option == "duration":
        value = f"{value} s"
    elif isinstance(value, bool):
        value = "on" if value else "off"
    return f"{OPTION_WORDS[default.option]} {value} ({default.source.value})"


def defaults_used(applied: tuple[AppliedDefault, ...]) -> str:
    """For the acknowledgement: which saved defaults filled the options not typed."""
    if not applied:
        return ""
    return "\nSaved defaults used: " + ", ".join(_shown(d) for d in applied) + "."


def defaults_fix(applied: tuple[AppliedDefault, ...]) -> str:
    """For a refusal: saved defaults were part of the request, and how to change them."""
    return (
        "Saved defaults were used for: "
        + ", ".join(_shown(d) for d in applied)
        + ". Change yours with `/hailuo-defaults` (the server's with `/quota defaults`), "
        "or type the option to override them."
    )


def defaults_saved(whose: str, saved: OptionDefaults) -> str:
    lines = [
        f"{whose} saved /hailuo defaults in this server: {saved.describe()}.",
        "Options typed in /hailuo always win; then yours; then the server's.",
    ]
    lines.extend(f"⚠️ {problem}" for problem in conflicts(saved))
    return "\n".join(lines)


def refused_prompt_line(member_id: int, reasons: tuple[str, ...]) -> str:
    """An audit-channel line outside the ledger: the server's rules refused a prompt."""
    shown = ", ".join(f"“{discord.utils.escape_markdown(reason)}”" for reason in reasons[:5])
    return fit(
        f"🚫 <@{member_id}>'s prompt was refused by this server's rules ({shown}); "
        "no credits moved."
    )


def audit_line(entry: LedgerEntry) -> str:
    """One ledger row for the audit channel: who, what, amount, balance after, by whom."""
    when = discord.utils.format_dt(entry.created_at, "T")
    job = f" · job `{entry.job_id[:8]}`" if entry.job_id else ""
    by = f" · by <@{entry.actor_id}>" if entry.actor_id else ""
    reason = discord.utils.escape_markdown(entry.reason[:80])
    return (
        f"`#{entry.id}` {when} <@{entry.member_id}> {entry.kind.value} "
        f"**{signed(entry.delta)}** → {entry.balance_after}{job}{by} · {reason}"
    )
