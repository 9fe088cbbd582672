"""The job's card as Discord's Components V2 lay it out: one container with what was asked
(model, resolution, length, price, short id), the prompt, and then the progress, the video in
a media gallery, or what went wrong; the buttons in a row beneath.

The words are the classic card's (`cogs/front_end/_words.py`), in the member's language. The
video is the uploaded file when it fits, else a link a media gallery still plays inline while
it lives: the bot's own archive when it serves one, else Apiframe's. A video made in an
age-restricted channel is a spoiler in the gallery.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import discord

from bot.i18n import Language
from bot.jobs.delivery import Progress
from bot.jobs.records import Job, JobState
from cogs.front_end._words import (
    SIMULATED_NOTE,
    card_head,
    card_state,
    failed_head,
    failed_words,
    quote_prompt,
    ready_head,
)

RUNNING: Final = discord.Colour.blurple()
READY: Final = discord.Colour.green()
FAILED: Final = discord.Colour.red()
# Room for the head, the notes and the rest within Discord's 4,000 characters of text.
PROMPT_ROOM: Final = 1500
GALLERY_MAX: Final = 10  # the items one media gallery may hold


def progress_layout(
    lang: Language,
    job: Job,
    progress: Progress | None = None,
    *,
    queued: int | None = None,
    simulated: bool = False,
    buttons: Sequence[discord.ui.Item[Any]] = (),
) -> discord.ui.LayoutView:
    """The card while the job runs: queued (with Cancel), sent, or rendering."""
    body: list[discord.ui.Item[Any]] = [
        discord.ui.TextDisplay(card_head(lang, job)),
        discord.ui.TextDisplay(quote_prompt(job.prompt, PROMPT_ROOM)),
        discord.ui.Separator(),
        discord.ui.TextDisplay(card_state(lang, job, progress, queued=queued)),
    ]
    return _card(lang, body, RUNNING, simulated, buttons)


def result_layout(
    lang: Language,
    job: Job,
    *,
    media: str | Sequence[str],
    note: str | None = None,
    simulated: bool = False,
    buttons: Sequence[discord.ui.Item[Any]] = (),
) -> discord.ui.LayoutView:
    """The finished video: `media` is `attachment://<file>` for the uploaded file, or an https
    link (a story whose scenes could not be joined: each scene's); `note` says what such a
    link lasts, or what a story's scenes were."""
    shown = [media] if isinstance(media, str) else list(media)[:GALLERY_MAX]
    body: list[discord.ui.Item[Any]] = [
        discord.ui.TextDisplay(ready_head(lang, job)),
        discord.ui.TextDisplay(quote_prompt(job.prompt, PROMPT_ROOM)),
        discord.ui.MediaGallery(
            *(discord.MediaGalleryItem(item, spoiler=job.age_restricted) for item in shown)
        ),
    ]
    if note:
        body.append(discord.ui.TextDisplay(note))
    return _card(lang, body, READY, simulated, buttons)


def failure_layout(lang: Language, job: Job, *, simulated: bool = False) -> discord.ui.LayoutView:
    """What went wrong, and that the credits came back."""
    body: list[discord.ui.Item[Any]] = [
        discord.ui.TextDisplay(failed_head(lang, job)),
        discord.ui.TextDisplay(quote_prompt(job.prompt, PROMPT_ROOM)),
        discord.ui.Separator(),
        discord.ui.TextDisplay(failed_words(lang, job)),
    ]
    return _card(lang, body, FAILED, simulated)


def notice_layout(lang: Language, text: str, *, simulated: bool = False) -> discord.ui.LayoutView:
    """A word about a running job that is not its outcome (it is late, say)."""
    return _card(lang, [discord.ui.TextDisplay(text)], RUNNING, simulated)


def outcome_layout(
    lang: Language,
    job: Job,
    *,
    media: str | Sequence[str] | None,
    note: str | None = None,
    simulated: bool = False,
    buttons: Sequence[discord.ui.Item[Any]] = (),
) -> discord.ui.LayoutView:
    """The last card of a job: its video (when it has one to show), or its failure."""
    if job.state is JobState.COMPLETED and media:
        return result_layout(
            lang, job, media=media, note=note, simulated=simulated, buttons=buttons
        )
    return failure_layout(lang, job, simulated=simulated)


def _card(
    lang: Language,
    body: list[discord.ui.Item[Any]],
    accent: discord.Colour,
    simulated: bool,
    buttons: Sequence[discord.ui.Item[Any]] = (),
) -> discord.ui.LayoutView:
    view = discord.ui.LayoutView(timeout=None)
    if simulated:
        body = [discord.ui.TextDisplay(lang.render(SIMULATED_NOTE)), *body]
    view.add_item(discord.ui.Container(*body, accent_colour=accent))
    if buttons:
        view.add_item(discord.ui.ActionRow(*buttons))
    return view
