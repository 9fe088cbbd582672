"""The words members read: job cards, outcomes and balances, in the member's language (from
the catalogues in `bot/locales`), always within Discord's limits. Every function takes the
`Language` to write in; English texts here are the catalogues' message ids."""

from __future__ import annotations

from typing import Final

import discord

from bot.errors import (
    CapReached,
    InsufficientCredits,
    RepeatedRequest,
    RequestRejected,
    UserFacingError,
)
from bot.i18n import Language, Text, Words, msg
from bot.jobs.delivery import Progress
from bot.jobs.records import SHORT_ID_LENGTH, Job, JobState, SourceAction
from bot.money.ledger import AllowanceStatus, EntryKind, LedgerEntry
from bot.requests.defaults import AppliedDefault, DefaultSource, OptionDefaults, conflicts
from bot.requests.rules import Model

MESSAGE_LIMIT: Final = 2000
PROMPT_PREVIEW: Final = 300


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
    return f"{job.model.label} · {job.resolution.value} · {job.duration} s"


def fit(text: str) -> str:
    return text if len(text) <= MESSAGE_LIMIT else text[: MESSAGE_LIMIT - 1] + "…"


SIMULATED_NOTE: Final = msg("-# 🧪 Simulated: Apiframe was not asked and nothing was billed.")


def simulated(lang: Language, text: str, on: bool) -> str:
    """Every card says so while the bot runs against its Apiframe simulator."""
    return fit(f"{lang.render(SIMULATED_NOTE)}\n{text}") if on else text


def progress_words(lang: Language, progress: Progress) -> str:
    percent = f" {progress.percent}%" if progress.percent is not None else ""
    when = elapsed(progress.elapsed_seconds)
    if progress.status == "QUEUED":
        return lang.tr("⏳ Queued{percent} · {elapsed} elapsed", percent=percent, elapsed=when)
    if progress.status == "PROCESSING":
        return lang.tr("🎞️ Rendering{percent} · {elapsed} elapsed", percent=percent, elapsed=when)
    return lang.tr(
        "⏳ {status}{percent} · {elapsed} elapsed",
        status=progress.status.title(),
        percent=percent,
        elapsed=when,
    )


def card_state(
    lang: Language, job: Job, progress: Progress | None = None, *, queued: int | None = None
) -> str:
    """Where a running job stands: queued, being sent, or rendering."""
    if queued is not None:
        return lang.tr(
            "🕒 Waiting in this server's queue: position {position}. "
            "{price} credits reserved; Cancel refunds them.",
            position=queued,
            price=job.price,
        )
    if progress is None:
        return lang.tr("⏳ Sending to Apiframe…")
    return progress_words(lang, progress)


def card_head(lang: Language, job: Job) -> str:
    """The first line of a running job's card: model, resolution, length, price, whose, id."""
    return lang.tr(
        "🎬 **{video}** · {price} credits · for <@{member}> · `{id}`{lineage}",
        video=describe(job),
        price=job.price,
        member=job.member_id,
        id=job.short_id,
        lineage=lineage(lang, job),
    )


def job_card(
    lang: Language, job: Job, progress: Progress | None = None, *, queued: int | None = None
) -> str:
    """The public message that follows a job while it runs (the classic card)."""
    state = card_state(lang, job, progress, queued=queued)
    return fit(f"{card_head(lang, job)}\n{quote_prompt(job.prompt)}\n{state}")


SOURCE_WORDS: Final = {
    SourceAction.AGAIN: msg(" · again from {source}"),
    SourceAction.HIGHER_RESOLUTION: msg(" · 1080p of {source}"),
    SourceAction.EXTEND: msg(" · extends {source}"),
}


def lineage(lang: Language, job: Job) -> str:
    """Where a job came from, when it came from an earlier video (`/video show` finds it)."""
    if job.source_job_id is None or job.source_action is None:
        return ""
    short = f"`{job.source_job_id[:SHORT_ID_LENGTH]}`"
    source = f"[{short}](<{job.source_message_url}>)" if job.source_message_url else short
    return lang.tr(SOURCE_WORDS[job.source_action].msgid, source=source)


def refusal(lang: Language, error: UserFacingError) -> str:
    """The private reply that explains a refusal, with its fix; nothing was charged."""
    if isinstance(error, InsufficientCredits) and not error.server_set_up:
        return lang.tr(
            "This server has not set up credits yet, so videos cannot be made here. Someone "
            "with the Manage Server permission can give every member a starting balance "
            "(`/quota default`), an allowance (`/quota allowance`) or credits (`/quota add`). "
            "Nothing was charged."
        )
    if isinstance(error, InsufficientCredits):
        when = ""
        if error.refill is not None:
            amount, at = error.refill
            when = lang.tr(
                "Your allowance tops you up to {amount} {when}. ",
                amount=amount,
                when=discord.utils.format_dt(at, "R"),
            )
        return lang.tr(
            "This video costs {price} credits and you have {balance}. {refill}"
            "Ask someone with the Manage Server permission to grant you credits "
            "(`/quota add`). Nothing was charged.",
            price=error.price,
            balance=error.balance,
            refill=when,
        )
    if isinstance(error, CapReached):
        return lang.tr(
            "This server has used {spent} of its {cap}-credit monthly cap, and this video "
            "costs {price}. The cap resets {when}. Nothing was charged.",
            spent=error.spent,
            cap=error.cap,
            price=error.price,
            when=discord.utils.format_dt(error.resets_at, "D"),
        )
    if isinstance(error, RepeatedRequest):
        return lang.tr(
            "You just asked for this (video `{id}`), so nothing more was charged: "
            "follow it on its card.",
            id=error.existing_job_id[:SHORT_ID_LENGTH],
        )
    if isinstance(error, RequestRejected):
        lines = "\n".join(f"• {lang.render(problem)}" for problem in error.problems)
        return fit(lang.render(Text(error.text.msgid, (("problems", lines),))))
    return fit(lang.render(error.text))


def late_notice(lang: Language, job: Job) -> str:
    return fit(
        lang.tr(
            "🐢 <@{member}>, your video ({video}) is taking much longer than usual at Apiframe. "
            "The bot keeps checking for up to a day and will post it here; if it never comes, "
            "your {price} credits come back.",
            member=job.member_id,
            video=describe(job),
            price=job.price,
        )
        + f"\n{quote_prompt(job.prompt, 120)}"
    )


LINK_ONLY_NOTE: Final = msg(
    "-# Apiframe keeps this link for about a day: download the video to keep it."
)
ARCHIVED_NOTE: Final = msg(
    "-# The file is larger than Discord lets the bot upload here, so it plays from the bot's "
    "own copy."
)
TOO_LARGE_NOTE: Final = msg(
    "-# The file is larger than Discord lets the bot upload here, so this is Apiframe's link, "
    "which it keeps for about a day: download the video to keep it."
)


def failure_reason(lang: Language, job: Job, limit: int) -> str:
    reason = lang.known(job.failure_reason) if job.failure_reason else ""
    return discord.utils.escape_markdown(reason[:limit])


def outcome(lang: Language, job: Job, *, with_file: bool = False, too_large: bool = False) -> str:
    """The final word on a job: the video, or what went wrong and that nothing was charged.

    With the video attached as a file the message needs no link: Discord plays the file and
    keeps it as long as the message. Otherwise the link goes on its own last line, so that
    Discord embeds its player, with a note that the link does not last.
    """
    if job.state is JobState.COMPLETED and job.video_url:
        head = ready_head(lang, job)
        if with_file:
            return fit(f"{head}\n{quote_prompt(job.prompt)}")
        note = lang.render(TOO_LARGE_NOTE if too_large else LINK_ONLY_NOTE)
        room = MESSAGE_LIMIT - len(head) - len(note) - len(job.video_url) - 6
        prompt = quote_prompt(job.prompt, max(20, min(PROMPT_PREVIEW, room)))
        return f"{head}\n{prompt}\n{note}\n{job.video_url}"
    return fit(f"{failed_head(lang, job)}\n{quote_prompt(job.prompt)}\n{failed_words(lang, job)}")


def ready_head(lang: Language, job: Job) -> str:
    return lang.tr(
        "✅ <@{member}>, your video is ready · {video} · {price} credits · `{id}`{lineage}",
        member=job.member_id,
        video=describe(job),
        price=job.price,
        id=job.short_id,
        lineage=lineage(lang, job),
    )


def failed_head(lang: Language, job: Job) -> str:
    return lang.tr(
        "❌ <@{member}>, your video could not be made ({video}).",
        member=job.member_id,
        video=describe(job),
    )


def failed_words(lang: Language, job: Job) -> str:
    """Why, in the member's language where it is one of the bot's sentences, and the refund."""
    reason = failure_reason(lang, job, 500) or lang.tr("The video could not be made.")
    return lang.tr(
        "Reason: {reason}\nThe {price} credits were refunded: nothing was charged.",
        reason=reason,
        price=job.price,
    )


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


def signed(value: int) -> str:
    return f"+{value}" if value > 0 else str(value)


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


def on_off(lang: Language, value: bool) -> str:
    return lang.tr("on") if value else lang.tr("off")


def described(lang: Language, defaults: OptionDefaults) -> str:
    """Saved defaults in a few words: `6 s, 768p, prompt optimizer on, camera Push in`."""
    parts = []
    if defaults.duration is not None:
        parts.append(f"{defaults.duration} s")
    if defaults.resolution is not None:
        parts.append(defaults.resolution)
    if defaults.prompt_optimizer is not None:
        parts.append(
            lang.tr("prompt optimizer {state}", state=on_off(lang, defaults.prompt_optimizer))
        )
    if defaults.camera:
        parts.append(lang.tr("camera {moves}", moves=defaults.camera))
    if defaults.model is not None:
        parts.append(Model(defaults.model).label)
    return ", ".join(parts) or lang.tr("none")


def _shown(lang: Language, default: AppliedDefault) -> str:
    value = default.value
    if default.option == "duration":
        shown = lang.tr("duration {value} s", value=value)
    elif default.option == "resolution":
        shown = lang.tr("resolution {value}", value=value)
    elif default.option == "prompt_optimizer":
        shown = lang.tr("prompt optimizer {state}", state=on_off(lang, bool(value)))
    elif default.option == "model":
        shown = lang.tr("model {name}", name=Model(str(value)).label)
    else:
        shown = lang.tr("camera {moves}", moves=value)
    whose = lang.tr("yours") if default.source is DefaultSource.MEMBER else lang.tr("the server's")
    return f"{shown} ({whose})"


def defaults_used(lang: Language, applied: tuple[AppliedDefault, ...]) -> str:
    """For the acknowledgement: which saved defaults filled the options not typed."""
    if not applied:
        return ""
    return "\n" + lang.tr(
        "Saved defaults used: {defaults}.",
        defaults=", ".join(_shown(lang, d) for d in applied),
    )


def defaults_fix(applied: tuple[AppliedDefault, ...]) -> Text:
    """For a refusal: saved defaults were part of the request, and how to change them."""
    return msg(
        "Saved defaults were used for: {defaults}. Change yours with `/hailuo-defaults` "
        "(the server's with `/quota defaults`), or type the option to override them.",
        defaults=Words(lambda lang: ", ".join(_shown(lang, d) for d in applied)),
    )


def defaults_saved(lang: Language, server: bool, saved: OptionDefaults) -> str:
    head = (
        lang.tr(
            "This server's saved /hailuo defaults: {defaults}.", defaults=described(lang, saved)
        )
        if server
        else lang.tr(
            "Your saved /hailuo defaults in this server: {defaults}.",
            defaults=described(lang, saved),
        )
    )
    lines = [head, lang.tr("Options typed in /hailuo always win; then yours; then the server's.")]
    lines.extend(f"⚠️ {lang.render(problem)}" for problem in conflicts(saved))
    return "\n".join(lines)


def refused_prompt_line(lang: Language, member_id: int, reasons: tuple[str, ...]) -> str:
    """An audit-channel line outside the ledger: the server's rules refused a prompt."""
    shown = ", ".join(f"“{discord.utils.escape_markdown(reason)}”" for reason in reasons[:5])
    return fit(
        lang.tr(
            "🚫 <@{member}>'s prompt was refused by this server's rules ({reasons}); "
            "no credits moved.",
            member=member_id,
            reasons=shown,
        )
    )


def content_refused_line(lang: Language, job: Job, error: str) -> str:
    """An audit-channel line outside the ledger: the model's content policy refused a job."""
    return fit(
        lang.tr(
            "🛑 {model} refused <@{member}>'s video `{id}` under its content policy "
            "(“{error}”); the {price} credits were refunded.",
            model=job.model.label,
            member=job.member_id,
            id=job.short_id,
            error=discord.utils.escape_markdown(error[:200]),
            price=job.price,
        )
    )


def audit_line(lang: Language, entry: LedgerEntry) -> str:
    """One ledger row for the audit channel: who, what, amount, balance after, by whom."""
    when = discord.utils.format_dt(entry.created_at, "T")
    job = lang.tr(" · job `{id}`", id=entry.job_id[:8]) if entry.job_id else ""
    by = lang.tr(" · by <@{actor}>", actor=entry.actor_id) if entry.actor_id else ""
    reason = discord.utils.escape_markdown(lang.known(entry.reason)[:80])
    return (
        f"`#{entry.id}` {when} <@{entry.member_id}> {entry.kind.value} "
        f"**{signed(entry.delta)}** → {entry.balance_after}{job}{by} · {reason}"
    )
