"""Job leases, on both stores: which process drives a job, and when another may take it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from tests.bot.factories import new_job
from tests.conftest import Backend

TTL = timedelta(seconds=30)


async def admitted_job(backend: Backend, admitted_ago: timedelta = timedelta(0)) -> str:
    job = new_job(42)
    await backend.ledger().reserve(job)
    await backend.jobs.admit(job.id)
    when = datetime.now(UTC) - admitted_ago
    stamp: object = when if backend.name == "postgres" else when.isoformat(timespec="microseconds")
    await backend.execute("UPDATE jobs SET admitted_at = {0} WHERE id = {1}", (stamp, job.id))
    return job.id


async def test_a_live_lease_keeps_other_processes_off_until_it_expires(backend: Backend) -> None:
    jobs = backend.jobs
    job_id = await admitted_job(backend)
    now = datetime.now(UTC)
    assert await jobs.claim(job_id, "a", now + TTL, now, now)
    assert not await jobs.claim(job_id, "b", now + TTL, now, now)
    assert await jobs.claim(job_id, "a", now + TTL, now, now)  # a restarted `a` takes it back
    assert await jobs.renew("a", [job_id], now + 2 * TTL) == {job_id}
    assert await jobs.renew("b", [job_id], now + 2 * TTL) == set()
    later = now + 3 * TTL  # `a` stopped renewing: dead
    assert await jobs.claim(job_id, "b", later + TTL, later, later)
    assert await jobs.renew("a", [job_id], later + TTL) == set()  # `a` learns it lost it
    [driven] = await jobs.admitted_undelivered()
    assert driven.lease_owner == "b" and driven.lease_expires_at is not None


async def test_an_unleased_job_of_another_shard_waits_for_its_own_process_first(
    backend: Backend,
) -> None:
    jobs = backend.jobs
    fresh = await admitted_job(backend)
    overdue = await admitted_job(backend, admitted_ago=2 * TTL)
    now = datetime.now(UTC)
    # Another shard's process takes an unleased job only once it is a lease overdue.
    assert not await jobs.claim(fresh, "other", now + TTL, now, now - TTL)
    assert await jobs.claim(overdue, "other", now + TTL, now, now - TTL)
    assert await jobs.claim(fresh, "own", now + TTL, now, now)


async def test_one_claim_wins_when_processes_race(backend: Backend) -> None:
    job_id = await admitted_job(backend)
    now = datetime.now(UTC)
    wins = await asyncio.gather(
        *(backend.jobs.claim(job_id, f"p{n}", now + TTL, now, now) for n in range(10))
    )
    assert wins.count(True) == 1


async def test_released_and_delivered_jobs(backend: Backend) -> None:
    jobs = backend.jobs
    job_id = await admitted_job(backend)
    now = datetime.now(UTC)
    assert await jobs.claim(job_id, "a", now + TTL, now, now)
    await jobs.release(job_id, "a")
    assert await jobs.claim(job_id, "b", now + TTL, now, now)
    await jobs.mark_delivered(job_id, "channel")
    assert not await jobs.claim(job_id, "b", now + TTL, now, now)
    assert await jobs.admitted_undelivered() == []


async def test_admission_passes_of_one_server_take_turns(backend: Backend) -> None:
    inside = 0
    most = 0

    async def pass_() -> None:
        nonlocal inside, most
        async with backend.jobs.admission(1):
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.01)
            inside -= 1

    if backend.name == "postgres":
        await asyncio.gather(*(pass_() for _ in range(5)))
        assert most == 1
    else:  # one process per SQLite file: the runner's own guard suffices, the lock is free
        async with backend.jobs.admission(1), backend.jobs.admission(1):
            pass
