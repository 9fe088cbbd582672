"""What is not meant for members, wherever it happens (a command, a button, a form), ends the
same way: a short private reply with an id, and the same id beside the traceback in the log.
Never a member left on "thinking…"."""

from __future__ import annotations

import re

import pytest

from testkit.commands import hailuo
from testkit.fake_apiframe import FakeApiframe
from testkit.fake_discord import FakeDiscord, FakeMember, FakeMessage
from testkit.harness import RunningBot
from tests.conftest import ErrorLog

READY = "your video is ready"
ERROR_ID = re.compile(r"give the bot's owner this id: `([0-9a-f]{8})`")


async def finished(discord: FakeDiscord, member: FakeMember) -> FakeMessage:
    asked = await discord.invoke("hailuo", hailuo("a lighthouse"), member=member)
    return await discord.wait_reply(asked, READY, within=20)


def logged_with(error_log: ErrorLog, error_id: str) -> bool:
    return any(
        error_id in record.getMessage() and record.exc_info is not None
        for record in error_log.records
    )


async def test_a_button_that_fails_answers_with_an_error_id(
    running: RunningBot, fake_apiframe: FakeApiframe, error_log: ErrorLog
) -> None:
    discord = running.discord
    ana = discord.add_member("ana")
    card = await finished(discord, ana)
    # Discord refuses the bot's own delete: not the member's doing, and not expected.
    discord.fail("DELETE", r"^/channels/\d+/messages/", 403)
    click = await discord.click(card, "Delete", member=ana)
    reply = await discord.wait_reply(click, "Something went wrong on the bot's side")
    assert reply.ephemeral
    match = ERROR_ID.search(reply.content)
    assert match is not None and logged_with(error_log, match.group(1))
    error_log.records.clear()


async def test_a_form_that_fails_answers_with_an_error_id(
    running: RunningBot,
    fake_apiframe: FakeApiframe,
    error_log: ErrorLog,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    discord = running.discord
    ana = discord.add_member("ana")
    card = await finished(discord, ana)
    click = await discord.click(card, "Extend", member=ana)
    await discord.wait_for(lambda: click.modal is not None)
    assert running.bot is not None
    frames = running.services.frames

    async def broken(*_: object) -> object:
        raise RuntimeError("the frame reader broke")  # a fault nobody planned for

    monkeypatch.setattr(frames, "last_frame", broken)
    submitted = await discord.submit_modal(click, {}, member=ana)
    reply = await discord.wait_reply(submitted, "Something went wrong on the bot's side")
    assert reply.ephemeral
    match = ERROR_ID.search(reply.content)
    assert match is not None and logged_with(error_log, match.group(1))
    error_log.records.clear()
