"""First come, first served means the order in which Discord received the requests (the time in
each interaction's snowflake), whichever process or engine recorded them first; and a request
still being checked keeps its place. On both engines."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from bot.jobs.records import NewJob, PendingRequest
from bot.runner import admissible
from tests.bot.factories import GUILD, new_job
from tests.conftest import Backend


def received(member: int, at: datetime) -> NewJob:
    job = new_job(member)
    origin = dataclasses.replace(
        job.origin, interaction_created_at=at, interaction_token=f"token-{job.id}"
    )
    return dataclasses.replace(job, origin=origin)


async def test_the_queue_follows_discords_order_not_the_order_of_writing(
    backend: Backend,
) -> None:
    ledger, jobs = backend.ledger(), backend.jobs
    await backend.guilds.set_limits(GUILD, 1, 10, actor_id=9)
    now = datetime.now(UTC)
    first, second, third = (received(42, now + timedelta(milliseconds=4 * n)) for n in range(3))
    for job in (second, third, first):  # recorded out of order, as a busy pool can
        await ledger.reserve(job)
    admission = await jobs.admit_waiting(GUILD, admissible)
    assert [job.id for job in admission.admitted] == [first.id]
    assert [job.id for job in admission.waiting] == [second.id, third.id]
    assert [job.id for job in await jobs.waiting(GUILD)] == [second.id, third.id]


async def test_a_request_still_being_checked_keeps_its_place(backend: Backend) -> None:
    ledger, jobs = backend.ledger(), backend.jobs
    await backend.guilds.set_limits(GUILD, 1, 1, actor_id=9)
    now = datetime.now(UTC)
    checking = received(43, now)  # received first, its picture still downloading
    later = received(44, now + timedelta(milliseconds=3))
    await jobs.note_pending(PendingRequest.of(checking.origin))
    await ledger.reserve(later)
    held = await jobs.admit_waiting(GUILD, admissible)
    assert held.admitted == () and [job.id for job in held.waiting] == [later.id]

    # Refused after all: its place is free.
    assert await jobs.clear_pending(checking.origin.interaction_token)
    assert not await jobs.clear_pending(checking.origin.interaction_token)
    freed = await jobs.admit_waiting(GUILD, admissible)
    assert [job.id for job in freed.admitted] == [later.id]


async def test_a_request_cut_short_long_ago_holds_nothing(backend: Backend) -> None:
    ledger, jobs = backend.ledger(), backend.jobs
    await backend.guilds.set_limits(GUILD, 1, 1, actor_id=9)
    now = datetime.now(UTC)
    lost = received(43, now - timedelta(hours=1))  # its process stopped before recording it
    await jobs.note_pending(PendingRequest.of(lost.origin))
    waiting = received(44, now)
    await ledger.reserve(waiting)
    admission = await jobs.admit_waiting(GUILD, admissible)
    assert [job.id for job in admission.admitted] == [waiting.id]
