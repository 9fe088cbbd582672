"""The words members read: job cards, outcomes and balances, always within Discord's limits."""

from __future__ import annotations

from typing import Final

import discord

from bot.jobs import Job, JobState
from bot.runner import Progress

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


def job_card(job: Job, progress: Progress | None = None) -> str:
    """The public message that follows a job while it runs."""
    if progress is None:
        state = "⏳ Sending to Apiframe…"
    else:
        word = STATUS_WORDS.get(progress.status, f"⏳ {progress.status.title()}")
        percent = f" {progress.percent}%" if progress.percent is not None else ""
        state = f"{word}{percent} · {elapsed(progress.elapsed_seconds)} elapsed"
    head = f"🎬 **{describe(job)}** for <@{job.member_id}>"
    return fit(f"{head}\n{quote_prompt(job.prompt)}\n{state}")


def outcome(job: Job) -> str:
    """The final word on a job: the video, or what went wrong and that nothing was charged."""
    if job.state is JobState.COMPLETED and job.video_url:
        head = (f"✅ <@{job.member_id}>, your video is ready · {job.resolution.value} · "
                f"{job.duration} s · {job.price} credits")
        # The link goes on its own last line so Discord embeds the video player.
        room = MESSAGE_LIMIT - len(head) - len(job.video_url) - 4
        prompt = quote_prompt(job.prompt, max(20, min(PROMPT_PREVIEW, room)))
        return f"{head}\n{prompt}\n{job.video_url}"
    reason = job.failure_reason or "The video could not be made."
    return fit(
        f"❌ <@{job.member_id}>, your video could not be made ({describe(job)}).\n"
        f"{quote_prompt(job.prompt)}\n"
        f"Reason: {discord.utils.escape_markdown(reason[:500])}\n"
        f"The {job.price} credits were refunded: nothing was charged."
    )


def job_line(job: Job) -> str:
    """One line of a member's recent jobs."""
    when = discord.utils.format_dt(job.created_at, "R")
    label = f"{job.resolution.value} {job.duration} s"
    if job.state is JobState.COMPLETED:
        return f"✅ {when} · {label} · {job.price} credits · {job.video_url}"
    if job.state is JobState.FAILED:
        reason = (job.failure_reason or "failed")[:80]
        return f"❌ {when} · {label} · refunded · {discord.utils.escape_markdown(reason)}"
    percent = f" {job.progress}%" if job.progress is not None else ""
    return f"⏳ {when} · {label} · {job.price} credits reserved · running{percent}"
