"""The Discord edge's own rules: how long a reply token is used, and what an outcome says."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from bot.i18n import ENGLISH_ONLY
from bot.jobs.records import Job, JobState
from bot.money.ledger import Ledger
from bot.store.jobs import SqlJobStore
from bot.store.ledger import SqlLedgerStore
from bot.store.sqlite import SqliteDatabase
from cogs.front_end._replies import MESSAGE_LIMIT
from cogs.front_end._reporter import token_usable
from cogs.front_end._words import LINK_ONLY_NOTE, TOO_LARGE_NOTE, outcome, simulated
from tests.bot.factories import new_job


async def saved_job(database: SqliteDatabase) -> Job:
    job = new_job()
    await Ledger(SqlLedgerStore(database, 20)).reserve(job)
    return await SqlJobStore(database, 20).require(job.id)


async def test_the_reply_token_is_used_until_near_fifteen_minutes(database: SqliteDatabase) -> None:
    job = await saved_job(database)
    start = job.interaction_created_at
    assert token_usable(job, start + timedelta(minutes=13))
    assert not token_usable(job, start + timedelta(minutes=14, seconds=45))


async def test_a_video_with_its_file_needs_no_link(database: SqliteDatabase) -> None:
    job = dataclasses.replace(
        await saved_job(database), state=JobState.COMPLETED, video_url="https://cdn.example/v.mp4"
    )
    with_file = outcome(ENGLISH_ONLY, job, with_file=True)
    assert "your video is ready" in with_file and "https://cdn.example" not in with_file
    as_link = outcome(ENGLISH_ONLY, job)
    assert as_link.splitlines()[-1] == "https://cdn.example/v.mp4"  # embeds the player
    assert str(LINK_ONLY_NOTE) in as_link
    assert str(TOO_LARGE_NOTE) in outcome(ENGLISH_ONLY, job, too_large=True)


async def test_outcomes_fit_discord_even_with_a_huge_prompt(database: SqliteDatabase) -> None:
    job = dataclasses.replace(
        await saved_job(database),
        state=JobState.COMPLETED,
        prompt="🎥" * 2000,
        video_url="https://cdn.example/" + "v" * 500,
    )
    for text in (
        outcome(ENGLISH_ONLY, job),
        outcome(ENGLISH_ONLY, job, with_file=True),
        outcome(ENGLISH_ONLY, job, too_large=True),
        simulated(ENGLISH_ONLY, outcome(ENGLISH_ONLY, job, with_file=True), on=True),
    ):
        assert len(text) <= MESSAGE_LIMIT
    assert outcome(ENGLISH_ONLY, job).splitlines()[-1].startswith("https://cdn.example/")
