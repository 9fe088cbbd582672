"""The stores other than the ledger's, on both backends (ids `sqlite` and `postgres`): what the
runner, the studio and the cogs read back is what they wrote."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from bot.clock import utc_now
from bot.errors import SettingRefused
from bot.jobs.records import ImagePayload, JobSource, JobState, SourceAction
from bot.money.allowances import Period
from bot.money.rules import EntryKind
from bot.requests.defaults import OptionDefaults
from bot.requests.rules import ImageRole, Resolution
from bot.requests.wordfilter import MAX_ENTRIES
from bot.runner import admissible
from bot.store.ledger import SqlLedgerStore
from tests.bot.factories import GUILD, new_job
from tests.conftest import Backend


async def test_a_job_reads_back_as_it_was_written_through_its_life(backend: Backend) -> None:
    ledger, jobs = backend.ledger(), backend.jobs
    picture = ImagePayload(ImageRole.START, "a.png", "image/png", b"\x89PNG bytes")
    job = dataclasses.replace(new_job(42), images=(picture,))
    await ledger.reserve(job)
    saved = await jobs.require(job.id)
    assert (saved.state, saved.price, saved.prompt) == (JobState.RESERVED, 5, job.spec.prompt)
    assert saved.interaction_created_at == job.origin.interaction_created_at
    assert saved.is_waiting and await jobs.images(job.id) == [picture]
    assert [j.id for j in await jobs.waiting(GUILD)] == [job.id]
    first = await jobs.admit_waiting(GUILD, admissible)
    assert [j.id for j in first.admitted] == [job.id] and first.waiting == ()
    assert (await jobs.admit_waiting(GUILD, admissible)).admitted == ()
    assert await jobs.running_counts(GUILD) == {42: 1}
    await jobs.record_uploads(job.id, {ImageRole.START: "https://apiframe/a.png"})
    assert await jobs.record_submitted(job.id, "remote-1", "QUEUED")
    assert not await jobs.record_submitted(job.id, "remote-2", "QUEUED")
    await jobs.record_progress(job.id, "PROCESSING", 40)
    await jobs.record_card_message(job.id, 555)
    assert (await ledger.commit_charge(job.id, "https://v/1.mp4")).applied
    await jobs.mark_late_notified(job.id)
    await jobs.mark_delivered(job.id, "interaction", video_message=(7, 8))
    await jobs.mark_deleted(job.id, actor_id=42)
    done = await jobs.require(job.id)
    assert (done.state, done.apiframe_job_id, done.progress) == (
        JobState.COMPLETED,
        "remote-1",
        40,
    )
    assert done.start_image_url == "https://apiframe/a.png" and done.card_message_id == 555
    assert done.video_message_url is not None and done.deleted_at is not None
    assert done.render_seconds is not None and done.late_notified_at is not None
    assert await jobs.by_apiframe_id("remote-1") == await jobs.get(job.id)
    assert await jobs.by_short_id(GUILD, done.short_id) is not None
    assert await jobs.by_short_id(GUILD, "zz'; --") is None
    assert await jobs.undelivered() == []
    assert await jobs.render_times(10) == [(6, Resolution.P768, done.render_seconds)]
    assert await jobs.counts_by_state() == {"completed": 1}


async def test_a_job_made_from_another_links_to_its_video(backend: Backend) -> None:
    ledger, jobs = backend.ledger(), backend.jobs
    source = new_job(42)
    await ledger.reserve(source)
    await jobs.mark_delivered(source.id, "channel", video_message=(7, 8))
    again = dataclasses.replace(new_job(43), source=JobSource(source.id, SourceAction.EXTEND))
    await ledger.reserve(again)
    made = await jobs.require(again.id)
    assert made.source_action is SourceAction.EXTEND
    assert made.source_message_url == f"https://discord.com/channels/{GUILD}/7/8"
    recent = await jobs.recent_for_member(GUILD, 43, 5)
    assert [j.id for j in recent] == [again.id]


async def test_server_settings_change_and_read_back(backend: Backend) -> None:
    guilds = backend.guilds
    fresh = await guilds.get(GUILD)
    assert fresh.default_credits == 20 and fresh.monthly_cap is None
    await guilds.set_default_credits(GUILD, 50, actor_id=9)
    await guilds.set_monthly_cap(GUILD, 300, actor_id=9)
    await guilds.set_limits(GUILD, 3, 12, actor_id=9)
    await guilds.set_log_channel(GUILD, 777, actor_id=9)
    await guilds.set_allowance(GUILD, None, 30, Period.WEEKLY, actor_id=9)
    await guilds.set_allowance(GUILD, 5, 60, Period.DAILY, actor_id=9)
    changed = await guilds.get(GUILD)
    assert (changed.default_credits, changed.monthly_cap) == (50, 300)
    assert (changed.per_member_limit, changed.per_server_limit) == (3, 12)
    assert [(a.role_id, a.amount) for a in changed.allowances] == [(5, 60), (0, 30)]
    assert await guilds.log_channels() == {GUILD: 777}
    await guilds.set_monthly_cap(GUILD, None, actor_id=9)
    await guilds.set_allowance(GUILD, 5, 0, Period.DAILY, actor_id=9)
    again = await guilds.get(GUILD)
    assert again.monthly_cap is None and len(again.allowances) == 1
    # The bounds `/quota limits` and the dashboard offer are the settings' own.
    for per_member, per_server in ((0, 5), (101, 5), (2, 0), (2, 1001)):
        with pytest.raises(SettingRefused):
            await guilds.set_limits(GUILD, per_member, per_server, actor_id=9)
    await guilds.set_limits(GUILD, 100, 1000, actor_id=9)
    assert (await guilds.get(GUILD)).per_server_limit == 1000


async def test_blocked_words_and_the_adult_setting(backend: Backend) -> None:
    rules = backend.rules
    first = await rules.block(GUILD, ["zorblax", "red fog"], 9, utc_now())
    assert first.changed == ("zorblax", "red fog")
    again = await rules.block(GUILD, ["zorblax"], 9, utc_now())
    assert again.unchanged == ("zorblax",)
    assert await rules.entries(GUILD) == ["red fog", "zorblax"]
    removed = await rules.unblock(GUILD, ["zorblax", "never"])
    assert (removed.changed, removed.unchanged) == (("zorblax",), ("never",))
    full = await rules.block(GUILD, [f"w{n}" for n in range(MAX_ENTRIES + 3)], 9, utc_now())
    assert len(full.over_limit) == 4 and len(await rules.entries(GUILD)) == MAX_ENTRIES
    assert not await rules.nsfw_allowed(GUILD)
    await rules.set_nsfw_allowed(GUILD, True, 9, utc_now())
    assert await rules.nsfw_allowed(GUILD)


async def test_saved_defaults_replace_and_clear(backend: Backend) -> None:
    defaults = backend.defaults
    assert await defaults.get(GUILD, 1) == OptionDefaults()
    await defaults.save(GUILD, 1, OptionDefaults(10, "768p", False, "Push in"))
    assert await defaults.get(GUILD, 1) == OptionDefaults(10, "768p", False, "Push in")
    await defaults.save(GUILD, 1, OptionDefaults(resolution="1080p"))
    assert await defaults.get(GUILD, 1) == OptionDefaults(resolution="1080p")
    await defaults.save(GUILD, 1, OptionDefaults())
    assert await defaults.get(GUILD, 1) == OptionDefaults()


async def test_a_hundred_failed_requests_with_one_picture_keep_one_copy_then_none(
    backend: Backend,
) -> None:
    ledger, jobs = backend.ledger(), backend.jobs
    await ledger.add_credits(GUILD, 42, 1000, actor_id=1)
    picture = ImagePayload(ImageRole.START, "a.png", "image/png", b"\x89PNG" + b"p" * 100_000)
    failed = [dataclasses.replace(new_job(42), images=(picture,)) for _ in range(100)]
    for job in failed:
        await ledger.reserve(job)
    assert await jobs.image_count() == 1  # one copy, named a hundred times
    assert await jobs.images(failed[-1].id) == [picture]
    for job in failed:
        await ledger.refund(job.id, "the model refused it")
        await jobs.mark_delivered(job.id, "interaction")
    later = utc_now() + timedelta(hours=2)  # past the grace for pictures named a moment ago
    assert await jobs.forget_source_images(utc_now(), later) == 1
    assert await jobs.image_count() == 0 and await jobs.images(failed[0].id) == []


async def test_a_finished_videos_pictures_are_kept_for_the_retention_then_let_go(
    backend: Backend,
) -> None:
    ledger, jobs = backend.ledger(), backend.jobs
    picture = ImagePayload(ImageRole.START, "a.png", "image/png", b"\x89PNG kept")
    done = dataclasses.replace(new_job(42), images=(picture,))
    again = dataclasses.replace(new_job(43), images=(picture,))
    await ledger.reserve(done)
    await jobs.record_submitted(done.id, "remote-1", "QUEUED")
    await ledger.commit_charge(done.id, "https://v/1.mp4")
    await ledger.reserve(again)  # still running: its picture is needed whatever the age
    later = utc_now() + timedelta(hours=2)
    assert await jobs.forget_source_images(utc_now() - timedelta(days=30), later) == 0
    assert await jobs.images(done.id) == [picture]  # within the retention: Again may use it
    await jobs.forget_source_images(utc_now() + timedelta(minutes=1), later)
    assert await jobs.images(done.id) == []  # past it
    assert await jobs.images(again.id) == [picture] and await jobs.image_count() == 1


async def test_the_dashboards_pages_filter_and_page_on_both_engines(backend: Backend) -> None:
    ledger, jobs = backend.ledger(), backend.jobs
    store = backend.stores.ledger
    assert isinstance(store, SqlLedgerStore)
    made, failed, other = new_job(42), new_job(42), new_job(43)
    for job in (made, failed, other):
        await ledger.reserve(job)
        await jobs.record_submitted(job.id, f"remote-{job.id}", "QUEUED")
    await ledger.commit_charge(made.id, "https://v/1.mp4")
    await ledger.refund(failed.id, "Apiframe failed the job")
    await ledger.add_credits(GUILD, 42, 10, actor_id=9, note="contest")

    newest = await store.entries_page(GUILD)
    assert [e.id for e in newest] == sorted((e.id for e in newest), reverse=True)
    assert newest[0].kind is EntryKind.GRANT and len(newest) == 2 + 3 + 2 + 1
    assert {e.member_id for e in await store.entries_page(GUILD, member_id=43)} == {43}
    [grant] = await store.entries_page(GUILD, kind=EntryKind.GRANT)
    assert "contest" in grant.reason
    older = await store.entries_page(GUILD, before_id=newest[2].id, limit=2)
    assert [e.id for e in older] == [newest[3].id, newest[4].id]
    assert await store.entries_page(GUILD + 1) == []

    since = utc_now() - timedelta(days=1)
    assert await store.handed_out_since(GUILD, since) == 20 + 20 + 10  # openings and the grant
    assert await store.balances(GUILD) == [(42, 25), (43, 15)]
    assert await store.balances(GUILD, [43, 99]) == [(43, 15)]
    assert await store.balances(GUILD, []) == []

    videos = await jobs.gallery(GUILD)
    assert [job.id for _, job in videos] == [other.id, failed.id, made.id]
    assert [job.id for _, job in await jobs.gallery(GUILD, member_id=43)] == [other.id]
    assert [job.id for _, job in await jobs.gallery(GUILD, state="failed")] == [failed.id]
    assert await jobs.gallery(GUILD, model="hailuo-2.3") == []
    before = videos[0][0]
    assert [job.id for _, job in await jobs.gallery(GUILD, before_seq=before, limit=1)] == [
        failed.id
    ]
    month = await jobs.month_of_jobs(GUILD, since)
    assert (month.made, month.failed, month.running, month.waiting) == (1, 1, 0, 0)
    assert month.charged == made.price
    [(_, charged)] = await jobs.charges_since(GUILD, since)
    assert charged == made.price
