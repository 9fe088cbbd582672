"""A server's month, read one way for `/quota show` and the dashboard's overview, on both
engines: a video asked for last month and finished this month counts in this month's charges
and outcomes (when it was charged), and what still runs counts as running whatever its month."""

from __future__ import annotations

from datetime import timedelta

from bot.clock import utc_now
from bot.money.allowances import Period, period_start
from bot.money.summary import server_month
from tests.bot.factories import GUILD, new_job
from tests.conftest import Backend


async def test_a_video_asked_for_last_month_counts_in_the_month_it_was_charged(
    backend: Backend,
) -> None:
    ledger, jobs = backend.ledger(), backend.jobs
    crossing, running, waiting, old = new_job(42), new_job(42), new_job(43), new_job(43)
    for job in (crossing, running, waiting, old):
        await ledger.reserve(job)
    last_month = period_start(Period.MONTHLY, utc_now()) - timedelta(hours=3)
    for job in (crossing, running, old):
        await backend.execute(
            "UPDATE jobs SET created_at = {0}, admitted_at = {0} WHERE id = {1}",
            (last_month, job.id),
        )
        await backend.submitted(job.id)
    await ledger.commit_charge(crossing.id, "https://v/1.mp4")  # finished this month
    await ledger.commit_charge(old.id, "https://v/2.mp4")
    await backend.execute(
        "UPDATE jobs SET finished_at = {0} WHERE id = {1}", (last_month, old.id)
    )  # asked and finished last month: not this month's

    month = await server_month(ledger, jobs, backend.guilds, GUILD)
    assert month.jobs.charged == crossing.price and month.jobs.made == 1
    assert (month.jobs.running, month.jobs.waiting, month.jobs.failed) == (1, 1, 0)
    # The cap counts what was asked this month (reserved included): only the waiting one.
    assert month.spent == waiting.price
    assert month.top == ((43, waiting.price),)
    assert month.resets_at > utc_now() >= month.month
