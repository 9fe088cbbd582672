"""The words of a job's card and its outcome, in the member's language (from the catalogues in
`bot/locales`), always within Discord's limits. Every function takes the `Language` to write
in; English texts here are the catalogues' message ids."""

from __future__ import annotations

from typing import Final

import discord

from bot.i18n import Language, msg
from bot.jobs.delivery import Progress, StoryNews
from bot.jobs.records import SHORT_ID_LENGTH, Job, JobState, SourceAction
from cogs.front_end._replies import MESSAGE_LIMIT, fit

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
    """Where a job came from: an earlier video (`/video show` finds it), a story it is a scene
    of, or the picture someone posted that it animates."""
    words = ""
    if job.scenes and job.scene:
        words += lang.tr(" · scene {scene} of {scenes}", scene=job.scene, scenes=job.scenes)
    elif job.scenes:
        words += lang.tr(" · a story of {scenes} scenes", scenes=job.scenes)
    if job.picture_author_id is not None:
        picture = (
            f"[{lang.tr('picture')}](<{job.picture_message_url}>)"
            if job.picture_message_url
            else lang.tr("picture")
        )
        words += lang.tr(
            " · animates <@{author}>’s {picture}", author=job.picture_author_id, picture=picture
        )
    if job.source_job_id is None or job.source_action is None:
        return words
    short = f"`{job.source_job_id[:SHORT_ID_LENGTH]}`"
    source = f"[{short}](<{job.source_message_url}>)" if job.source_message_url else short
    return words + lang.tr(SOURCE_WORDS[job.source_action].msgid, source=source)


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
    "-# Apiframe's link does not last forever: download the video to keep it."
)
ARCHIVED_NOTE: Final = msg(
    "-# The file is larger than Discord lets the bot upload here, so it plays from the bot's "
    "own copy."
)
TOO_LARGE_NOTE: Final = msg(
    "-# The file is larger than Discord lets the bot upload here, so this is Apiframe's link, "
    "which does not last forever: download the video to keep it."
)
STORY_TOO_LARGE_NOTE: Final = msg(
    "-# The joined video is larger than Discord lets the bot upload here: each scene is "
    "linked above."
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


def story_summary(lang: Language, story: StoryNews) -> str:
    """Beside a story's video: each scene's own link, and why it ended early, when it did."""
    lines = []
    links = " · ".join(
        f"[{scene.scene}](<{scene.video_url}>)" for scene in story.made if scene.video_url
    )
    if links:
        lines.append(lang.tr("🎞️ Each scene on its own: {links}", links=links))
    failed = story.failed
    if failed is not None:
        reason = failure_reason(lang, failed, 300) or lang.tr("The video could not be made.")
        lines.append(lang.tr("⚠️ Scene {scene} failed: {reason}", scene=failed.scene, reason=reason))
        lines.append(
            lang.tr(
                "The {price} credits of the scenes not made were refunded.", price=story.refunded
            )
        )
    if story.join_problem:
        lines.append(
            lang.tr(
                "The scenes could not be joined into one video, so here they are one by one "
                "(no credits were charged for that): {problem}",
                problem=discord.utils.escape_markdown(story.join_problem[:200]),
            )
        )
    return "\n".join(lines)


def story_outcome(lang: Language, job: Job, story: StoryNews, *, with_file: bool) -> str:
    """The final word on a story (`job`, the story as one job): its video, its scenes, and
    what failed; or, when no scene was made, what went wrong and the refund."""
    if job.state is not JobState.COMPLETED:
        return outcome(lang, job)
    summary = story_summary(lang, story)
    note = "" if with_file or story.join_problem else f"\n{lang.render(STORY_TOO_LARGE_NOTE)}"
    head = ready_head(lang, job)
    room = MESSAGE_LIMIT - len(head) - len(summary) - len(note) - 4
    return fit(
        f"{head}\n{quote_prompt(job.prompt, max(20, min(PROMPT_PREVIEW, room)))}\n{summary}{note}"
    )


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


def signed(value: int) -> str:
    return f"+{value}" if value > 0 else str(value)
