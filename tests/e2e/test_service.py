"""Running it like a service: health and readiness, metrics, JSON logs, `check`, the simulator."""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.operations.check import run_check
from bot.store import stores_for
from testkit.commands import hailuo
from testkit.fake_apiframe import API_KEY, FakeApiframe, JobScript
from testkit.fake_discord import FakeDiscord
from testkit.fake_discord.store import DURABLE
from testkit.harness import DISCORD_TOKEN, RunningBot, free_port, make_settings
from testkit.processes import BotProcess
from tests.conftest import ErrorLog

METRICS_TOKEN = "scrape-token-for-tests"


@pytest.fixture
async def served(
    tmp_path: Path, fake_discord: FakeDiscord, fake_apiframe: FakeApiframe, error_log: ErrorLog
) -> AsyncIterator[RunningBot]:
    settings = make_settings(
        tmp_path, fake_discord, fake_apiframe, http_port=free_port(), metrics_token=METRICS_TOKEN
    )
    harness = RunningBot(settings, fake_discord)
    await harness.start()
    yield harness
    await harness.stop()


async def get(running: RunningBot, path: str, **headers: str) -> tuple[int, str]:
    url = f"http://127.0.0.1:{running.settings.http_port}{path}"
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as answer:
        return answer.status, await answer.text()


async def readiness(running: RunningBot) -> tuple[int, dict[str, str]]:
    status, body = await get(running, "/readyz")
    return status, json.loads(body)["parts"]


async def wait_readiness(
    running: RunningBot, expected: int, within: float = 10.0
) -> dict[str, str]:
    async def poll() -> dict[str, str]:
        while True:
            status, parts = await readiness(running)
            if status == expected:
                return parts
            await asyncio.sleep(0.05)

    return await asyncio.wait_for(poll(), within)


async def test_healthz_and_readyz_once_ready(served: RunningBot) -> None:
    assert (await get(served, "/healthz"))[0] == 200
    parts = await wait_readiness(served, 200)
    assert parts == {"gateway": "ok", "database": "ok", "job_runner": "ok"}


async def test_losing_the_gateway_turns_readyz_503_until_it_is_back(served: RunningBot) -> None:
    await wait_readiness(served, 200)
    await served.discord.drop_gateway(refuse_reconnects=True)
    parts = await wait_readiness(served, 503)
    assert parts["gateway"] == "not connected to Discord's gateway"
    assert parts["database"] == "ok"
    served.discord.gateway_refused = False
    # discord.py reconnects with a backoff that grows with each refusal (and on a busy
    # machine the refusals last longer): a minute is ample.
    await wait_readiness(served, 200, within=60)


@pytest.mark.engines("sqlite")  # another program holding the SQLite file's write lock
async def test_a_locked_database_turns_readyz_503(served: RunningBot) -> None:
    await wait_readiness(served, 200)
    locker = sqlite3.connect(served.settings.database_path, isolation_level=None)
    try:
        locker.execute("BEGIN IMMEDIATE")  # another program holds the write lock
        parts = await wait_readiness(served, 503)
        assert parts["database"].startswith("no answer within")
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    await wait_readiness(served, 200, within=20)


async def test_a_stalled_job_runner_turns_readyz_503(served: RunningBot) -> None:
    assert served.bot is not None
    runner = served.services.runner
    await wait_readiness(served, 200)
    assert runner._supervisor is not None
    runner._supervisor.cancel()  # the runner's loop stops beating
    runner.heartbeat = 0.1
    parts = await wait_readiness(served, 503)
    assert parts["job_runner"].startswith("stuck: no heartbeat")


async def test_readiness_is_probed_once_every_few_seconds_however_often_it_is_asked(
    served: RunningBot,
) -> None:
    await wait_readiness(served, 200)

    async def probes() -> float:
        _, text = await get(served, "/metrics", Authorization=f"Bearer {METRICS_TOKEN}")
        return samples(text)[("hailuo_readiness_probes_total", ())]

    before = await probes()
    answers = await asyncio.gather(*(readiness(served) for _ in range(50)))
    assert {status for status, _ in answers} == {200}
    assert await probes() - before <= 1  # fifty asks, one probe (of the database's lock)


async def test_metrics_are_served_from_memory_even_without_the_database(
    served: RunningBot,
) -> None:
    assert served.bot is not None
    await served.services.database.close()  # any query would fail now
    try:
        status, text = await get(served, "/metrics", Authorization=f"Bearer {METRICS_TOKEN}")
        assert status == 200 and "hailuo_jobs" in text
    finally:
        await served.services.database.open()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_metrics_count_what_happened(served: RunningBot, fake_apiframe: FakeApiframe) -> None:
    discord = served.discord
    member = discord.add_member("ana")
    fake_apiframe.scripts += [JobScript(), JobScript(outcome="FAILED")]
    done = await discord.invoke("hailuo", hailuo("a fox in snow"), member=member)
    await discord.wait_reply(done, "your video is ready")
    failed = await discord.invoke("hailuo", hailuo("a policy violation"), member=member)
    await discord.wait_reply(failed, "could not be made")
    refused = await discord.invoke(
        "hailuo", hailuo("too big", duration=10, resolution="1080p"), member=member
    )
    await discord.wait_reply(refused, "Nothing was charged")
    assert served.bot is not None
    await discord.wait_for(lambda: not served.services.runner.running)

    assert (await get(served, "/metrics"))[0] == 401
    await served.services.refresh_gauges()  # the background count, every 15 s
    status, text = await get(served, "/metrics", Authorization=f"Bearer {METRICS_TOKEN}")
    assert status == 200
    found = samples(text)
    assert found[("hailuo_commands_total", (("command", "hailuo"), ("outcome", "ok")))] == 2
    assert found[("hailuo_commands_total", (("command", "hailuo"), ("outcome", "refused")))] == 1
    assert found[("hailuo_credits_total", (("movement", "reserved"),))] == 10
    assert found[("hailuo_credits_total", (("movement", "charged"),))] == 5
    assert found[("hailuo_credits_total", (("movement", "refunded"),))] == 5
    assert found[("hailuo_jobs", (("state", "completed"),))] == 1
    assert found[("hailuo_jobs", (("state", "failed"),))] == 1
    assert found[("hailuo_jobs_finished_total", (("outcome", "completed"),))] == 1
    assert found[("hailuo_jobs_finished_total", (("outcome", "failed"),))] == 1
    generate = found[("hailuo_apiframe_requests_total", (("route", "generate"), ("status", "202")))]
    assert generate == fake_apiframe.count("POST", "/v2/videos/generate") == 2
    checks = found[("hailuo_apiframe_requests_total", (("route", "jobs"), ("status", "200")))]
    assert checks == fake_apiframe.count("GET", "/v2/jobs/")
    assert found[("hailuo_acknowledgement_seconds_count", ())] >= 3
    assert (
        found[("hailuo_job_render_seconds_count", (("duration", "6"), ("resolution", "768p")))] == 1
    )
    assert found[("hailuo_delivery_lag_seconds_count", (("via", "interaction"),))] == 2
    assert found[("hailuo_database_write_seconds_count", ())] > 0
    # No member, server or job id is ever a label value.
    for _, labels in found:
        for _, value in labels:
            assert not value.isdigit() or len(value) < 4, value
    assert str(member.id) not in text and str(discord.guild_id) not in text


async def test_json_logs_parse_carry_the_job_and_keep_secrets(
    tmp_path: Path, fake_discord: FakeDiscord, fake_apiframe: FakeApiframe
) -> None:
    bot = BotProcess(tmp_path, fake_discord, fake_apiframe, LOG_FORMAT="json")
    await bot.start()
    try:
        member = fake_discord.add_member("ana")
        interaction = await fake_discord.invoke("hailuo", hailuo("waves"), member=member)
        await fake_discord.wait_reply(interaction, "your video is ready", within=30)
        await asyncio.sleep(0.3)
    finally:
        await bot.close()
    lines: list[dict[str, Any]] = [json.loads(line) for line in bot.logs().splitlines() if line]
    assert lines
    for line in lines:
        assert {"timestamp", "level", "logger", "message"} <= set(line), line
    submitted = [line for line in lines if "submitted as Apiframe job" in line["message"]]
    assert submitted and submitted[0]["guild_id"] == fake_discord.guild_id
    assert len(submitted[0]["job_id"]) == 36
    assert len(submitted[0]["apiframe_request_id"]) == 32  # the fake's x-request-id
    text = bot.logs()
    assert DISCORD_TOKEN not in text and API_KEY not in text


async def test_check_passes_against_good_services(
    tmp_path: Path, fake_discord: FakeDiscord, fake_apiframe: FakeApiframe
) -> None:
    out = io.StringIO()
    settings = make_settings(tmp_path, fake_discord, fake_apiframe)
    assert await run_check(offline=False, out=out, settings=settings) == 0
    report = out.getvalue()
    assert "✖" not in report
    assert "Discord accepts DISCORD_TOKEN" in report
    assert f"client_id={fake_discord.application_id}" in report
    assert "Apiframe accepts APIFRAME_API_KEY: 1000 credits left" in report
    assert DISCORD_TOKEN not in report and API_KEY not in report


async def test_check_lists_the_stores_skus_and_the_packs_that_match_none(
    tmp_path: Path, fake_discord: FakeDiscord, fake_apiframe: FakeApiframe
) -> None:
    small = fake_discord.add_sku("50 credits")
    badge = fake_discord.add_sku("a badge", DURABLE)
    out = io.StringIO()
    packs = f"{small}=50, {badge}=10, 123456789=5"
    settings = make_settings(tmp_path, fake_discord, fake_apiframe, credit_packs=packs)
    assert await run_check(offline=False, out=out, settings=settings) == 1
    report = out.getvalue()
    assert f"✔ credit pack: 50 credits ({small}) gives 50 credits" in report
    assert f"✖ CREDIT_PACKS names SKU {badge}, which is not consumable" in report
    assert "✖ CREDIT_PACKS names SKU 123456789, which is none of the application's SKUs" in report
    # Unset, the owner is told what the application could sell.
    out = io.StringIO()
    settings = make_settings(tmp_path, fake_discord, fake_apiframe)
    assert await run_check(offline=False, out=out, settings=settings) == 0
    assert "CREDIT_PACKS is unset, so no credits are sold" in out.getvalue()


async def test_check_names_each_refused_secret(
    tmp_path: Path, fake_discord: FakeDiscord, fake_apiframe: FakeApiframe
) -> None:
    fake_discord.accepted_token = "another-token"
    out = io.StringIO()
    settings = make_settings(
        tmp_path, fake_discord, fake_apiframe, apiframe_api_key="afk_revoked_key"
    )
    assert await run_check(offline=False, out=out, settings=settings) == 1
    report = out.getvalue()
    assert "✖ Discord refused DISCORD_TOKEN" in report
    assert "✖ Apiframe refused APIFRAME_API_KEY" in report
    assert "afk_revoked_key" not in report


async def test_check_offline_needs_no_network(tmp_path: Path) -> None:
    out = io.StringIO()
    settings = make_settings(tmp_path, FakeDiscord(), FakeApiframe())  # never started
    assert await run_check(offline=True, out=out, settings=settings) == 0
    # Nothing was made before: said so (a SQLite file is not even made by a check).
    assert "none yet, the first start makes it" in out.getvalue() or (
        "a new database, no data yet" in out.getvalue()
    )
    stores = stores_for(settings)
    await stores.database.open()  # as the bot's first start makes it
    await stores.database.close()
    out = io.StringIO()
    assert await run_check(offline=True, out=out, settings=settings) == 0
    assert "balances and ledger agree" in out.getvalue()


async def test_check_calls_the_webhook_url(
    tmp_path: Path, fake_discord: FakeDiscord, fake_apiframe: FakeApiframe
) -> None:
    port = free_port()
    settings = make_settings(
        tmp_path,
        fake_discord,
        fake_apiframe,
        http_port=port,
        apiframe_webhook_url=f"http://127.0.0.1:{port}/apiframe/webhook",
    )
    out = io.StringIO()
    assert await run_check(offline=False, out=out, settings=settings) == 1  # bot not running
    assert "is not reachable from here" in out.getvalue()
    harness = RunningBot(settings, fake_discord)
    await harness.start()
    try:
        out = io.StringIO()
        assert await run_check(offline=False, out=out, settings=settings) == 0
        assert "reaches the bot and refuses a bad signature" in out.getvalue()
    finally:
        await harness.stop()


async def test_the_simulator_delivers_a_real_mp4_without_apiframe(
    tmp_path: Path, fake_discord: FakeDiscord, error_log: ErrorLog
) -> None:
    settings = make_settings(
        tmp_path,
        fake_discord,
        FakeApiframe(),  # a fake never started
        apiframe_simulate=True,
        apiframe_simulate_seconds=0.5,
        apiframe_api_key="",
        apiframe_base_url="http://127.0.0.1:9",
    )
    harness = RunningBot(settings, fake_discord)
    await harness.start()
    try:
        member = fake_discord.add_member("tester")
        made = await fake_discord.invoke("hailuo", hailuo("a lighthouse at night"), member=member)
        card = await fake_discord.wait_reply(made, "your video is ready", within=20)
        [(name, data)] = card.files.items()
        assert name.endswith(".mp4") and data[4:8] == b"ftyp" and len(data) > 1000
        assert "Simulated" in card.content
        broken = await fake_discord.invoke(
            "hailuo", hailuo("[simulate failure] a storm"), member=member
        )
        await fake_discord.wait_reply(broken, "credits were refunded", within=20)
        assert harness.bot is not None
        await fake_discord.wait_for(lambda: not harness.services.runner.running)
        assert await harness.services.ledger.balance(fake_discord.guild_id, member.id) == 15
        reasons = [
            row[0]
            for row in await harness.services.database.fetch(
                "SELECT reason FROM ledger WHERE job_id IS NOT NULL"
            )
        ]
        assert reasons and all(reason.endswith("(simulated)") for reason in reasons)
    finally:
        await harness.stop()
    assert error_log.records == []
