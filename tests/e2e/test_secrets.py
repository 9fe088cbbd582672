"""The Discord token and the Apiframe key never appear in logs, replies or exceptions."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from testkit.commands import hailuo
from testkit.fake_apiframe import API_KEY, FakeApiframe, JobScript
from testkit.fake_discord import FakeDiscord
from testkit.harness import DISCORD_TOKEN, RunningBot
from testkit.processes import BotProcess
from tests.conftest import ErrorLog


class Everything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def captured() -> Iterator[Everything]:
    handler = Everything()
    root = logging.getLogger()
    previous = root.level
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)
    root.setLevel(previous)


async def test_no_secret_in_a_full_run(
    captured: Everything, running: RunningBot, fake_apiframe: FakeApiframe, error_log: ErrorLog
) -> None:
    discord = running.discord
    member = discord.add_member("ana")
    await discord.wait_reply(
        await discord.invoke("hailuo", hailuo("ok"), member=member), "your video is ready"
    )
    fake_apiframe.scripts.append(JobScript(outcome="FAILED", error="boom"))
    await discord.wait_reply(
        await discord.invoke("hailuo", hailuo("fails"), member=member), "could not be made"
    )
    fake_apiframe.fail("POST", "/v2/videos/generate", 401, body={"error": "Invalid API key"})
    await discord.wait_reply(
        await discord.invoke("hailuo", hailuo("auth"), member=member), "could not be made"
    )
    fake_apiframe.fail("GET", "/v2/jobs/", 500, times=2)
    await discord.wait_reply(
        await discord.invoke("hailuo", hailuo("flaky"), member=member), "your video is ready"
    )
    await discord.wait_reply(await discord.invoke("credits", member=member), "credits")
    await running.restart()

    text = "\n".join(captured.lines)
    assert "submitted as Apiframe job" in text  # the capture did see the bot's own logs
    assert len(captured.lines) > 100
    for secret in (DISCORD_TOKEN, API_KEY):
        assert secret not in text
        for message in discord.messages.values():
            assert secret not in message.content
    error_log.records.clear()


def test_the_redaction_filter_covers_messages_arguments_and_tracebacks() -> None:
    from bot.logs import RedactSecrets

    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(self.format(record))

    handler = Keep()
    handler.addFilter(RedactSecrets([API_KEY]))
    logger = logging.getLogger("redaction-test")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("key is %s", API_KEY)
        try:
            raise RuntimeError(f"failed with {API_KEY}")
        except RuntimeError:
            logger.exception("oops")
    finally:
        logger.removeHandler(handler)
    joined = "\n".join(records)
    assert API_KEY not in joined and joined.count("[redacted]") == 2


async def test_interaction_tokens_are_redacted_at_every_level(
    tmp_path: Path, fake_discord: FakeDiscord, fake_apiframe: FakeApiframe
) -> None:
    """discord.py logs every webhook URL at DEBUG, reply token and all: not one reaches the
    log (a token answers as the bot for fifteen minutes)."""
    bot = BotProcess(tmp_path, fake_discord, fake_apiframe, LOG_LEVEL="DEBUG")
    await bot.start()
    try:
        member = fake_discord.add_member("ana")
        asked = await fake_discord.invoke("hailuo", hailuo("tokens"), member=member)
        await fake_discord.wait_reply(asked, "your video is ready", within=30)
        await fake_discord.wait_reply(
            await fake_discord.invoke("credits", member=member), "credits"
        )
    finally:
        await bot.terminate()
    log = bot.logs()
    assert "discord.webhook" in log and "/interactions/" in log  # DEBUG lines were written
    assert "[redacted]" in log
    for interaction in fake_discord.interactions.values():
        assert interaction.token not in log
