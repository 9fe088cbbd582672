"""/hailuo end to end: the real bot and cogs over loopback, against fake Discord and Apiframe."""

from __future__ import annotations

from tests.conftest import ErrorLog, RunningBot
from tests.e2e.helpers import hailuo
from tests.fakes.apiframe_server import FakeApiframe


async def test_text_to_video_delivers_link_and_charges_once(
        running: RunningBot, fake_apiframe: FakeApiframe, error_log: ErrorLog) -> None:
    discord = running.discord
    member = discord.add_member("ana")
    interaction = await discord.invoke("hailuo", hailuo("a fox running through snow [Push in]"),
                                       member=member)

    card = await discord.wait_reply(interaction, "your video is ready")
    assert interaction.callback_type == 5  # deferred within the deadline
    ack = discord.original(interaction)
    assert ack is not None and ack.ephemeral
    assert "5** credits reserved, **15** left" in ack.content
    assert not card.ephemeral
    assert card.content.splitlines()[-1].startswith("https://cdn.apiframe.test/videos/")
    assert "768p · 6 s · 5 credits" in card.content

    [submitted] = fake_apiframe.jobs.values()
    assert submitted.body == {"prompt": "a fox running through snow [Push in]",
                              "model": "hailuo-02",
                              "hailuoParams": {"duration": 6, "resolution": "768p"}}
    assert submitted.idempotency_key and submitted.idempotency_key.startswith("hailuo-bot-")
    assert fake_apiframe.rejected_bodies == []

    balance = await discord.invoke("credits", member=member)
    reply = await discord.wait_reply(balance, "credits in this server")
    assert "You have **15** credits" in reply.content
    assert submitted.id in reply.content or "https://cdn.apiframe.test" in reply.content
    assert error_log.records == []
