"""Job states only move forward, and the store keeps what a restart needs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.jobs.records import JobState, sources_of
from bot.money.ledger import Ledger
from bot.store.jobs import SqlJobStore
from bot.store.ledger import SqlLedgerStore
from bot.store.sqlite import SqliteDatabase
from tests.bot.factories import new_job


@pytest.mark.parametrize(
    ("current", "target", "allowed"),
    [
        (JobState.RESERVED, JobState.SUBMITTED, True),
        (JobState.RESERVED, JobState.FAILED, True),
        (JobState.RESERVED, JobState.COMPLETED, False),
        (JobState.SUBMITTED, JobState.COMPLETED, True),
        (JobState.SUBMITTED, JobState.FAILED, True),
        (JobState.SUBMITTED, JobState.RESERVED, False),
        (JobState.COMPLETED, JobState.FAILED, False),
        (JobState.FAILED, JobState.COMPLETED, False),
        (JobState.FAILED, JobState.SUBMITTED, False),
    ],
)
def test_a_job_is_settled_only_from_the_states_that_lead_there(
    current: JobState, target: JobState, allowed: bool
) -> None:
    assert (current in sources_of(target)) is allowed


def test_final_states_have_no_way_out() -> None:
    for state in JobState:
        assert state.is_final == (not any(state in sources_of(t) for t in JobState))
    assert set(sources_of(JobState.FAILED)) == {JobState.RESERVED, JobState.SUBMITTED}


async def test_submitted_is_recorded_once(database: SqliteDatabase) -> None:
    ledger, jobs = Ledger(SqlLedgerStore(database, 20)), SqlJobStore(database, 20)
    job = new_job()
    await ledger.reserve(job)
    assert await jobs.record_submitted(job.id, "remote-1", "QUEUED")
    assert not await jobs.record_submitted(job.id, "remote-2", "QUEUED")
    saved = await jobs.require(job.id)
    assert (saved.state, saved.apiframe_job_id) == (JobState.SUBMITTED, "remote-1")


async def test_undelivered_lists_every_job_not_yet_told(database: SqliteDatabase) -> None:
    ledger, jobs = Ledger(SqlLedgerStore(database, 100)), SqlJobStore(database, 20)
    waiting, done = new_job(), new_job()
    await ledger.reserve(waiting)
    await ledger.reserve(done)
    await ledger.refund(done.id, "failed")
    assert {j.id for j in await jobs.undelivered()} == {waiting.id, done.id}
    await jobs.mark_delivered(done.id, "interaction")
    assert [j.id for j in await jobs.undelivered()] == [waiting.id]


async def test_a_job_keeps_its_reply_tokens_creation_time(database: SqliteDatabase) -> None:
    ledger, jobs = Ledger(SqlLedgerStore(database, 20)), SqlJobStore(database, 20)
    job = new_job()
    await ledger.reserve(job)
    saved = await jobs.require(job.id)
    assert saved.interaction_created_at == job.origin.interaction_created_at
    assert saved.interaction_created_at.tzinfo is not None
    assert saved.created_at <= datetime.now(UTC)
