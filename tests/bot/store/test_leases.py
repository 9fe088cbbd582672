"""Job leases, on both stores: which process drives a job, and when another may take it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from bot.jobs.records import Hold, Job, QueueLimits
from bot.runner import admissible
from bot.store.driver import Tx
from tests.bot.factories import GUILD, new_job
from tests.conftest import Backend

TTL = timedelta(seconds=30)


def everyone(limits: QueueLimits, running: dict[int, int], waiting: list[Job | Hold]) -> list[Job]:
    return [job for job in waiting if isinstance(job, Job)]


async def admitted_job(
    backend: Backend, admitted_ago: timedelta = timedelta(0), member: int = 42
) -> str:
    job = new_job(member)
    await backend.ledger().reserve(job)
    await backend.jobs.admit_waiting(GUILD, everyone)
    when = datetime.now(UTC) - admitted_ago
    await backend.execute("UPDATE jobs SET admitted_at = {0} WHERE id = {1}", (when, job.id))
    return job.id


async def test_a_live_lease_keeps_other_processes_off_until_it_expires(backend: Backend) -> None:
    jobs = backend.jobs
    job_id = await admitted_job(backend)
    now = datetime.now(UTC)
    assert await jobs.claim([job_id], "a", now + TTL, now, now) == {job_id}
    assert await jobs.claim([job_id], "b", now + TTL, now, now) == set()
    # A restarted `a` takes it back.
    assert await jobs.claim([job_id], "a", now + TTL, now, now) == {job_id}
    assert await jobs.renew("a", [job_id], now + 2 * TTL) == {job_id}
    assert await jobs.renew("b", [job_id], now + 2 * TTL) == set()
    later = now + 3 * TTL  # `a` stopped renewing: dead
    assert await jobs.claim([job_id], "b", later + TTL, later, later) == {job_id}
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
    assert await jobs.claim([fresh], "other", now + TTL, now, now - TTL) == set()
    assert await jobs.claim([overdue], "other", now + TTL, now, now - TTL) == {overdue}
    assert await jobs.claim([fresh], "own", now + TTL, now, now) == {fresh}


async def test_one_claim_wins_when_processes_race(backend: Backend) -> None:
    job_id = await admitted_job(backend)
    now = datetime.now(UTC)
    wins = await asyncio.gather(
        *(backend.jobs.claim([job_id], f"p{n}", now + TTL, now, now) for n in range(10))
    )
    assert wins.count({job_id}) == 1 and wins.count(set()) == 9


async def test_many_jobs_are_claimed_in_one_go_and_only_the_free_ones(backend: Backend) -> None:
    """A restart takes every job it was driving at once; the ones another live process holds
    or that are finished stay out."""
    jobs = backend.jobs
    # More than one statement's list of ids.
    ids = [await admitted_job(backend, member=member) for member in range(1005)]
    held, delivered = ids[0], ids[1]
    now = datetime.now(UTC)
    assert await jobs.claim([held], "other", now + TTL, now, now) == {held}
    await jobs.mark_delivered(delivered, "channel")
    assert await jobs.claim(ids, "own", now + TTL, now, now) == set(ids[2:])
    assert await jobs.renew("own", ids, now + 2 * TTL) == set(ids[2:])


async def test_released_and_delivered_jobs(backend: Backend) -> None:
    jobs = backend.jobs
    job_id = await admitted_job(backend)
    now = datetime.now(UTC)
    assert await jobs.claim([job_id], "a", now + TTL, now, now) == {job_id}
    await jobs.release(job_id, "a")
    assert await jobs.claim([job_id], "b", now + TTL, now, now) == {job_id}
    await jobs.mark_delivered(job_id, "channel")
    assert await jobs.claim([job_id], "b", now + TTL, now, now) == set()
    assert await jobs.admitted_undelivered() == []


async def test_admission_passes_of_one_server_take_turns(backend: Backend) -> None:
    ledger = backend.ledger()
    await backend.guilds.set_limits(GUILD, 1, 3, actor_id=1)
    for member in range(20):
        await ledger.reserve(new_job(member))
    passes = await asyncio.gather(
        *(backend.jobs.admit_waiting(GUILD, admissible) for _ in range(10))
    )
    admitted = [job.id for admission in passes for job in admission.admitted]
    assert len(admitted) == len(set(admitted)) == 3  # the server's limit, whoever ran first
    assert sum((await backend.jobs.running_counts(GUILD)).values()) == 3
    assert len(await backend.jobs.waiting(GUILD)) == 17


async def test_writes_that_name_one_lock_run_one_at_a_time(backend: Backend) -> None:
    """A read-modify-write under one lock key loses no update, on either engine."""
    await backend.stores.state.set_state("counter", "0")

    async def bump(tx: Tx) -> None:
        value = int(await tx.value("SELECT value FROM bot_state WHERE key = 'counter'"))
        if backend.name == "postgres":  # give a concurrent transaction the chance to interleave
            await tx.execute("SELECT pg_sleep(0.005)")
        await tx.execute("UPDATE bot_state SET value = $1 WHERE key = 'counter'", str(value + 1))

    await asyncio.gather(*(backend.stores.database.write(bump, lock="counter") for _ in range(20)))
    assert await backend.stores.state.get_state("counter") == "20"


async def test_the_queue_keeps_the_order_requests_were_written_in(backend: Backend) -> None:
    ledger = backend.ledger()
    jobs = [new_job(member) for member in range(30)]
    for job in jobs:
        await ledger.reserve(job)
    # Same instant for all: the order must not come from the clock or the random ids.
    await backend.execute("UPDATE jobs SET created_at = {0}", (datetime.now(UTC),))
    assert [job.id for job in await backend.jobs.waiting(GUILD)] == [job.id for job in jobs]
