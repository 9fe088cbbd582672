"""Watching a job: lateness and giving up by the clock, and webhook news that only wakes it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest

from bot.apiframe.client import ApiframeClient
from bot.clock import utc_now
from bot.jobs.delivery import Outcome, Progress, Receipt
from bot.jobs.polling import PollShape, RenderTimes
from bot.jobs.records import Job, PendingRequest
from bot.jobs.watching import Watcher, WatchPolicy
from bot.money.ledger import Ledger
from bot.settings import Secret
from bot.store.jobs import SqlJobStore
from bot.store.ledger import SqlLedgerStore
from bot.store.sqlite import SqliteDatabase
from testkit.fake_apiframe import API_KEY, FakeApiframe, JobScript
from tests.bot.factories import new_job


class Member:
    """The front end as the watcher sees it: records what it was asked to show."""

    def __init__(self) -> None:
        self.progress: list[Progress] = []
        self.told_late: list[str] = []

    async def show_progress(self, job: Job, progress: Progress) -> None:
        self.progress.append(progress)

    async def tell_late(self, job: Job) -> bool:
        self.told_late.append(job.id)
        return True

    async def show_queued(self, job: Job, position: int) -> bool:
        return True

    def upload_limit(self, job: Job) -> int:
        return 10_000_000

    async def tell_interrupted(self, request: PendingRequest) -> bool:
        return True

    async def deliver(self, outcome: Outcome) -> Receipt:
        raise AssertionError("the watcher never delivers")


@pytest.fixture
async def client(fake_apiframe: FakeApiframe) -> AsyncIterator[ApiframeClient]:
    async with ApiframeClient(fake_apiframe.base_url, Secret(API_KEY)) as made:
        yield made


async def submitted_job(database: SqliteDatabase, client: ApiframeClient) -> Job:
    job = new_job()
    await Ledger(SqlLedgerStore(database, 20)).reserve(job)
    accepted = await client.submit(
        {
            "prompt": "x",
            "model": "hailuo-02",
            "hailuoParams": {"duration": 6, "resolution": "768p"},
        },
        job.idempotency_key,
    )
    jobs = SqlJobStore(database, 20)
    await jobs.record_submitted(job.id, accepted.job_id, accepted.status)
    return await jobs.require(job.id)


async def test_a_late_job_is_told_once_then_given_up_a_day_later(
    database: SqliteDatabase, client: ApiframeClient, fake_apiframe: FakeApiframe
) -> None:
    fake_apiframe.default_script = JobScript(polls_before_done=10**9)
    job = await submitted_job(database, client)
    assert job.submitted_at is not None
    now = [job.submitted_at + timedelta(minutes=61)]

    def clock() -> datetime:
        return now[0]

    member = Member()
    policy = WatchPolicy(
        shape=PollShape(interval=0.01, early_interval=0.01),
        max_wait=timedelta(minutes=60),
        give_up_after=timedelta(hours=24),
        late_interval=0.01,
    )
    watcher = Watcher(client, SqlJobStore(database, 20), member, RenderTimes(), policy, clock=clock)
    watching = asyncio.create_task(watcher.watch(job))
    remote = next(iter(fake_apiframe.jobs.values()))
    checked = asyncio.Event()

    async def count_checks(request: object) -> None:
        if remote.polls >= 3:
            checked.set()

    fake_apiframe.after.append(count_checks)
    await asyncio.wait_for(checked.wait(), 5)
    assert member.told_late == [job.id]  # told once, however many checks since
    assert (await SqlJobStore(database, 20).require(job.id)).late_notified_at is not None
    now[0] = job.submitted_at + timedelta(hours=25, minutes=1)
    assert await asyncio.wait_for(watching, 5) is None  # given up: the runner refunds


async def test_webhook_news_wakes_the_watcher_for_one_check(
    database: SqliteDatabase, client: ApiframeClient, fake_apiframe: FakeApiframe
) -> None:
    fake_apiframe.default_script = JobScript(polls_before_done=0)  # done at its first check
    job = await submitted_job(database, client)
    policy = WatchPolicy(shape=PollShape(interval=0.01, webhook_interval=30.0), webhooks=True)
    watcher = Watcher(
        client, SqlJobStore(database, 20), Member(), RenderTimes(), policy, clock=utc_now
    )
    watching = asyncio.create_task(watcher.watch(job))
    await asyncio.sleep(0.2)
    remote = next(iter(fake_apiframe.jobs.values()))
    assert remote.polls == 0  # with webhooks on, no early polling
    assert watcher.hear(job.id, "PROCESSING", 50)  # progress is only shown: still no check
    await asyncio.sleep(0.1)
    assert remote.polls == 0
    assert watcher.hear(job.id, "COMPLETED", 100)
    final = await asyncio.wait_for(watching, 5)
    assert final is not None and final.status == "COMPLETED"
    assert remote.polls == 1
    assert not watcher.hear(job.id, "COMPLETED", 100)  # a late duplicate finds no watcher
