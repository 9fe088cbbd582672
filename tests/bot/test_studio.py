"""The member's workflows in the domain: accept (check, reserve, record, admit) and cancel."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.apiframe.client import ApiframeClient
from bot.clock import utc_now
from bot.errors import InsufficientCredits, RequestRejected, SourceUnavailable
from bot.jobs.delivery import Deliverer, Outcome, Progress, Receipt
from bot.jobs.polling import PollShape, RenderTimes
from bot.jobs.records import (
    ImagePayload,
    Job,
    JobState,
    JobStore,
    PendingRequest,
    RequestOrigin,
    SourceAction,
)
from bot.jobs.submission import Submitter
from bot.jobs.watching import Watcher, WatchPolicy
from bot.media.videos import VideoFetcher
from bot.money.ledger import Ledger, LedgerEntry
from bot.money.servers import ServerSettings
from bot.operations.audit import AuditTrail
from bot.requests.rules import GenerationRequest, ImageFacts, ImageRole
from bot.requests.server_rules import ServerRules
from bot.runner import JobRunner
from bot.settings import Secret
from bot.store.jobs import SqlJobStore
from bot.store.ledger import SqlLedgerStore
from bot.store.settings import SqlBotState, SqlGuildSettingsStore, SqlRulesStore
from bot.store.sqlite import SqliteDatabase
from bot.studio import CancelOutcome, Studio
from testkit.fake_apiframe import API_KEY, FakeApiframe, JobScript
from tests.bot.factories import APP, CHANNEL, GUILD
from tests.conftest import image_bytes


class Members:
    """The front end as the runner sees it: records queue positions it was asked to show."""

    def __init__(self) -> None:
        self.positions: dict[str, int] = {}

    async def show_progress(self, job: Job, progress: Progress) -> None:
        return None

    async def tell_late(self, job: Job) -> bool:
        return True

    async def show_queued(self, job: Job, position: int) -> bool:
        self.positions[job.prompt] = position
        return True

    def upload_limit(self, job: Job) -> int:
        return 10_000_000

    async def tell_interrupted(self, request: PendingRequest) -> bool:
        return True

    async def deliver(self, outcome: Outcome) -> Receipt:
        raise AssertionError("no job finishes in these tests")


class NoAuditChannel:
    async def post(self, guild_id: int, channel_id: int, entries: list[LedgerEntry]) -> None:
        raise AssertionError("no audit channel is set in these tests")

    async def refused_prompt(
        self, guild_id: int, channel_id: int, member_id: int, reasons: tuple[str, ...]
    ) -> None:
        raise AssertionError("no audit channel is set in these tests")

    async def content_refused(self, channel_id: int, job: Job, error: str) -> None:
        raise AssertionError("no audit channel is set in these tests")


@dataclasses.dataclass
class Bench:
    studio: Studio
    ledger: Ledger
    jobs: JobStore
    guilds: ServerSettings
    members: Members
    runner: JobRunner


@pytest.fixture
async def bench(database: SqliteDatabase, fake_apiframe: FakeApiframe) -> AsyncIterator[Bench]:
    fake_apiframe.default_script = JobScript(polls_before_done=10**9)
    ledger, jobs, guilds = (
        Ledger(SqlLedgerStore(database, 20)),
        SqlJobStore(database, 20),
        ServerSettings(SqlGuildSettingsStore(database, 20)),
    )
    members, times = Members(), RenderTimes()
    async with ApiframeClient(fake_apiframe.base_url, Secret(API_KEY)) as client:
        videos = VideoFetcher(timeout=5)
        runner = JobRunner(
            jobs,
            ledger,
            Submitter(client, jobs, retry_floor=0.05),
            Watcher(
                client,
                jobs,
                members,
                times,
                WatchPolicy(shape=PollShape(interval=0.05, early_interval=0.05)),
            ),
            Deliverer(jobs, members, videos),
            members,
            times,
        )
        audit = AuditTrail(SqlBotState(database), ledger.store, guilds, NoAuditChannel())
        studio = Studio(ledger, jobs, runner, ServerRules(SqlRulesStore(database)), audit)
        yield Bench(studio, ledger, jobs, guilds, members, runner)
        await runner.close()
        await videos.close()


def origin(member_id: int) -> RequestOrigin:
    return RequestOrigin(
        guild_id=GUILD,
        channel_id=CHANNEL,
        member_id=member_id,
        application_id=APP,
        interaction_token="token",
        interaction_created_at=datetime.now(UTC),
    )


async def test_a_request_against_the_rules_or_the_balance_costs_nothing(bench: Bench) -> None:
    with pytest.raises(RequestRejected):
        await bench.studio.accept(GenerationRequest("a cat", 10, "1080p"), origin(1))
    await bench.ledger.set_balance(GUILD, 1, 4, actor_id=9)
    with pytest.raises(InsufficientCredits):
        await bench.studio.accept(GenerationRequest("a cat"), origin(1))
    assert await bench.jobs.waiting(GUILD) == []
    assert await bench.ledger.balance(GUILD, 1) == 4


async def test_accepted_jobs_wait_until_admitted_then_fill_the_limits_in_order(
    bench: Bench,
) -> None:
    await bench.guilds.set_limits(GUILD, 1, 2, actor_id=9)
    accepted = [
        await bench.studio.accept(GenerationRequest(prompt), origin(member))
        for prompt, member in (("a1", 1), ("a2", 1), ("b1", 2), ("c1", 3))
    ]
    assert [a.balance_left for a in accepted] == [15, 10, 15, 15]
    assert len(await bench.jobs.waiting(GUILD)) == 4  # reserved, recorded, not yet started
    for job in accepted:
        await bench.studio.admit(job.job_id, GUILD, card_message_id=None)
    assert await bench.jobs.running_counts(GUILD) == {1: 1, 2: 1}
    # a2's member is at their limit: c1 is not held up behind it, and both see their place.
    assert [job.prompt for job in await bench.jobs.waiting(GUILD)] == ["a2", "c1"]
    assert bench.members.positions == {"a2": 1, "c1": 2}


async def test_cancel_refunds_a_waiting_job_once_and_only_for_its_member_or_a_manager(
    bench: Bench,
) -> None:
    await bench.guilds.set_limits(GUILD, 1, 1, actor_id=9)
    first = await bench.studio.accept(GenerationRequest("first"), origin(1))
    second = await bench.studio.accept(GenerationRequest("second"), origin(1))
    await bench.studio.admit(first.job_id, GUILD, card_message_id=None)
    await bench.studio.admit(second.job_id, GUILD, card_message_id=None)

    assert (
        await bench.studio.cancel(second.job_id, GUILD, 2, manages_server=False)
    ).outcome is CancelOutcome.NOT_ALLOWED
    assert (
        await bench.studio.cancel("no-such-job", GUILD, 1, manages_server=True)
    ).outcome is CancelOutcome.UNKNOWN
    assert (
        await bench.studio.cancel(second.job_id, GUILD + 1, 1, manages_server=True)
    ).outcome is CancelOutcome.UNKNOWN  # another server's button
    done = await bench.studio.cancel(second.job_id, GUILD, 1, manages_server=False)
    assert done.outcome is CancelOutcome.CANCELLED and done.job is not None
    assert done.job.delivered_at is not None
    assert await bench.ledger.balance(GUILD, 1) == 15
    again = await bench.studio.cancel(second.job_id, GUILD, 1, manages_server=False)
    assert again.outcome is CancelOutcome.ALREADY_STARTED
    assert (
        await bench.studio.cancel(first.job_id, GUILD, 1, manages_server=False)
    ).outcome is CancelOutcome.ALREADY_STARTED  # running: only Apiframe ends it
    assert await bench.ledger.balance(GUILD, 1) == 15


async def test_the_supervisor_drives_again_a_job_whose_task_died(
    bench: Bench, fake_apiframe: FakeApiframe
) -> None:
    accepted = await bench.studio.accept(GenerationRequest("steady"), origin(1))
    await bench.studio.admit(accepted.job_id, GUILD, card_message_id=None)
    runner = bench.runner
    assert runner.running == 1
    task = runner._tasks[accepted.job_id]
    task.cancel()  # as if the task had died without finishing its job
    await asyncio.gather(task, return_exceptions=True)
    assert runner.running == 0
    runner.heartbeat = 0.05
    runner.supervise()
    for _ in range(100):
        if runner.running == 1:
            break
        await asyncio.sleep(0.02)
    assert runner.running == 1
    assert runner.beat_age < 1.0


async def test_a_runner_that_lost_its_lease_lets_the_job_go(
    bench: Bench, fake_apiframe: FakeApiframe, database: SqliteDatabase
) -> None:
    accepted = await bench.studio.accept(GenerationRequest("contested"), origin(1))
    await bench.studio.admit(accepted.job_id, GUILD, card_message_id=None)
    runner = bench.runner
    for _ in range(200):  # the job is submitted and being watched
        if fake_apiframe.jobs and all(j.polls >= 1 for j in fake_apiframe.jobs.values()):
            break
        await asyncio.sleep(0.02)
    [remote] = fake_apiframe.jobs.values()
    # This process stalled past its lease, and another took the job over meanwhile.
    later = utc_now() + timedelta(minutes=5)
    await database.execute(
        "UPDATE jobs SET lease_owner = 'another process', lease_expires_at = $1 WHERE id = $2",
        later,
        accepted.job_id,
    )
    runner.heartbeat = 0.05
    runner.supervise()
    for _ in range(100):
        if runner.running == 0:
            break
        await asyncio.sleep(0.02)
    assert runner.running == 0
    polls = remote.polls
    await asyncio.sleep(0.3)
    assert remote.polls == polls  # no longer watched from here
    assert (await bench.jobs.require(accepted.job_id)).state is JobState.SUBMITTED


async def test_again_without_the_kept_images_is_a_clear_refusal(
    bench: Bench, database: SqliteDatabase
) -> None:
    picture = ImagePayload(ImageRole.START, "first.png", "image/png", image_bytes(800, 600))
    facts = ImageFacts("first.png", "image/png", len(picture.data), 800, 600)
    accepted = await bench.studio.accept(
        GenerationRequest("from a picture", start_image=facts), origin(1), (picture,)
    )
    await bench.jobs.record_submitted(accepted.job_id, "remote-1", "QUEUED")
    await bench.ledger.commit_charge(accepted.job_id, "https://cdn.example/v.mp4")
    again = await bench.studio.again(accepted.job_id, origin(2), SourceAction.AGAIN)
    assert again.price == 5  # with the kept image, Again works

    # Past SOURCE_IMAGE_RETENTION_DAYS, the pictures are let go of.
    await bench.jobs.forget_source_images(
        utc_now() + timedelta(minutes=1), utc_now() + timedelta(hours=2)
    )
    with pytest.raises(SourceUnavailable, match="no longer has this video's images"):
        await bench.studio.again(accepted.job_id, origin(3), SourceAction.AGAIN)
    assert await bench.ledger.balance(GUILD, 3) == 20  # nothing charged
