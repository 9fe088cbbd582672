"""Members who pay their own way, end to end through the fake Discord's store: a credit pack
bought is credited once and consumed (whatever replays or crashes), one bought while the bot
was away is found, a refund takes back what is left, Buy buttons show where credits fall
short, and the wallet pays for videos in a server and on the member's own account."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from testkit.commands import hailuo, integer, sub, text, user
from testkit.fake_apiframe import FakeApiframe, JobScript
from testkit.fake_discord import FakeDiscord, FakeMember, FakeMessage
from testkit.fake_discord.store import DURABLE
from testkit.harness import RunningBot, make_settings

READY = "your video is ready"
HOLD = 1_000_000  # polls: a job that runs until the test lets it finish
PRICE = 5  # a 6-second 768p video on the default model

Start = Callable[..., Awaitable[RunningBot]]


@pytest.fixture
async def packs(fake_discord: FakeDiscord) -> tuple[int, int]:
    """Two credit packs in the application's store: 50 and 200 credits."""
    return fake_discord.add_sku("50 credits"), fake_discord.add_sku("200 credits")


@pytest.fixture
async def start(
    tmp_path: Path, fake_discord: FakeDiscord, fake_apiframe: FakeApiframe, packs: tuple[int, int]
) -> AsyncIterator[Start]:
    """Start the bot selling the two packs (no starting credits in servers, as by default)."""
    started: list[RunningBot] = []
    small, large = packs

    async def starting(**overrides: Any) -> RunningBot:
        values: dict[str, Any] = {
            "credit_packs": f"{small}=50, {large}=200",
            "default_credits": 0,
            **overrides,
        }
        harness = RunningBot(
            make_settings(tmp_path, fake_discord, fake_apiframe, **values), fake_discord
        )
        await harness.start()
        started.append(harness)
        return harness

    yield starting
    for harness in started:
        await harness.stop()


async def wallet_of(running: RunningBot, member: FakeMember) -> int:
    return await running.services.wallets.balance(member.id)


async def settled(running: RunningBot, member: FakeMember, amount: int) -> None:
    """Wait until the member's wallet holds `amount` (a purchase is credited in the
    background, as Discord's event arrives)."""
    for _ in range(500):
        if await wallet_of(running, member) == amount:
            return
        await asyncio.sleep(0.02)
    assert await wallet_of(running, member) == amount


def thanks(discord: FakeDiscord, member: FakeMember) -> list[FakeMessage]:
    return [m for m in discord.channel_messages(member.id + 1) if "Thank you" in m.content]


async def wallet_answer(discord: FakeDiscord, member: FakeMember, **where: Any) -> FakeMessage:
    asked = await discord.invoke("wallet", [], member=member, **where)
    return await discord.wait_reply(asked, "Your wallet holds")


async def recorded(
    running: RunningBot, sql: str, *args: object, until: Callable[[Any], object]
) -> Any:
    """The row `sql` reads, once `until` holds for it (the bot records what it did a moment
    after Discord answered it); fails after 10 s."""
    for _ in range(200):
        row = await running.row(sql, *args)
        if row is not None and until(row):
            return row
        await asyncio.sleep(0.05)
    raise AssertionError(f"never recorded: {sql}")


async def test_a_purchase_is_credited_once_then_consumed_whatever_replays_it(
    start: Start, packs: tuple[int, int]
) -> None:
    running = await start()
    discord = running.discord
    ana = discord.add_member("ana")
    small, _ = packs
    bought = await discord.buy(ana, small)
    await settled(running, ana, 50)
    await discord.wait_for(lambda: discord.entitlements[bought["id"]]["consumed"])
    await discord.wait_for(lambda: bool(thanks(discord, ana)))
    # The same event again (a replayed session), and a restart that reads Discord's list.
    await discord.announce_again(bought["id"])
    await running.restart()
    await discord.wait_for(lambda: discord.entitlement_lists >= 2)
    assert await wallet_of(running, ana) == 50
    assert discord.consumes == 1 and len(thanks(discord, ana)) == 1
    shown = await wallet_answer(discord, ana)
    assert "**50**" in shown.content and "bought a credit pack" in shown.content
    assert shown.premium_skus() == list(packs)  # the smaller pack first
    assert await running.services.stores.ledger.disagreements() == []


async def test_a_crash_between_credit_and_consume_is_finished_at_the_next_start(
    start: Start, packs: tuple[int, int]
) -> None:
    running = await start()
    discord = running.discord
    ana = discord.add_member("ana")
    await discord.wait_for(lambda: discord.entitlement_lists >= 1)  # the start's own look
    discord.fail("POST", r"/entitlements/\d+/consume$", 400, {"code": 0, "message": "no"})
    bought = await discord.buy(ana, packs[0])
    await settled(running, ana, 50)
    assert not discord.entitlements[bought["id"]]["consumed"]
    await running.crash()
    await running.start()
    await discord.wait_for(lambda: discord.entitlements[bought["id"]]["consumed"])
    assert await wallet_of(running, ana) == 50  # not credited a second time
    # Discord's answer to the consume comes first, the bot's record of it a moment after.
    row = await recorded(
        running,
        "SELECT consumed_at FROM entitlements WHERE id = $1",
        int(bought["id"]),
        until=lambda row: row["consumed_at"] is not None,
    )
    assert row["consumed_at"] is not None


async def test_a_purchase_made_while_the_bot_was_away_is_found_at_start(
    start: Start, packs: tuple[int, int]
) -> None:
    running = await start()
    discord = running.discord
    ana = discord.add_member("ana")
    await running.stop()
    bought = await discord.buy(ana, packs[1], test=True, announce=False)
    await running.start()
    await settled(running, ana, 200)
    await discord.wait_for(lambda: discord.entitlements[bought["id"]]["consumed"])
    [move] = await running.services.wallets.history(ana.id, 5)
    assert move.test  # test-mode purchases are marked as such


async def test_a_refund_takes_back_what_is_left_and_the_owner_sees_the_shortfall(
    start: Start, packs: tuple[int, int], fake_discord: FakeDiscord
) -> None:
    olga = fake_discord.add_member("olga")
    running = await start(owner_ids=str(olga.id))
    discord = running.discord
    ana = discord.add_member("ana")
    bought = await discord.buy(ana, packs[0])
    await settled(running, ana, 50)
    for n in range(3):
        asked = await discord.invoke("hailuo", hailuo(f"a kite {n}"), member=ana)
        await discord.wait_reply(asked, "from your wallet")
        await discord.wait_reply(asked, READY, within=20)
    assert await wallet_of(running, ana) == 50 - 3 * PRICE
    await discord.refund(bought["id"])
    await settled(running, ana, 0)
    [refund, *_] = await running.services.wallets.history(ana.id, 5)
    assert (refund.delta, refund.shortfall) == (-35, 15)
    sales = await running.services.wallets.month_sales()
    assert (sales.sold, sales.refunded, sales.shortfall) == (1, 1, 15)
    asked = await discord.invoke("owner", [sub("servers")], member=olga, in_dm=True)
    table = await discord.wait_reply(asked, "Credit packs this month")
    assert "1 sold (50 credits); 1 refunded (50 credits, 15 of them already spent)" in (
        table.content
    )
    assert await running.services.stores.ledger.disagreements() == []


async def test_buy_buttons_show_where_credits_fall_short(
    start: Start, packs: tuple[int, int], fake_apiframe: FakeApiframe
) -> None:
    running = await start()
    discord = running.discord
    ana = discord.add_member("ana")
    # A server that has handed out nothing: its words, and the packs to buy.
    asked = await discord.invoke("hailuo", hailuo("a lighthouse"), member=ana)
    refusal = await discord.wait_reply(asked, "has not set up credits yet")
    assert refusal.ephemeral and refusal.premium_skus() == list(packs)
    # In a direct message, the wallet alone pays.
    asked = await discord.invoke("hailuo", hailuo("a lighthouse"), member=ana, in_dm=True)
    refusal = await discord.wait_reply(asked, "your wallet holds 0")
    assert refusal.premium_skus() == list(packs)
    assert fake_apiframe.job_requests() == []


async def test_the_wallet_pays_in_a_server_when_its_credits_fall_short(
    start: Start, packs: tuple[int, int]
) -> None:
    running = await start()
    discord = running.discord
    admin, ana = discord.add_member("admin", admin=True), discord.add_member("ana")
    await discord.buy(ana, packs[0])
    await settled(running, ana, 50)
    given = await discord.invoke(
        "quota", [sub("add", user("member", ana.id), integer("amount", 7))], member=admin
    )
    await discord.wait_reply(given, "")
    first = await discord.invoke("hailuo", hailuo("paid by the server"), member=ana)
    said = await discord.wait_reply(first, "credits reserved")
    assert "wallet" not in said.content and "**2** left" in said.content
    second = await discord.invoke("hailuo", hailuo("paid by ana"), member=ana)
    said = await discord.wait_reply(second, "from your wallet")
    assert "**45** left" in said.content
    await discord.wait_reply(second, READY, within=20)
    assert await running.services.ledger.balance(discord.guild_id, ana.id) == 2
    assert await wallet_of(running, ana) == 45


@pytest.mark.parametrize("where", ["a direct message", "a server without the bot"])
async def test_on_the_members_own_account_the_wallet_pays_and_the_reply_carries_the_video(
    start: Start, packs: tuple[int, int], fake_apiframe: FakeApiframe, where: str
) -> None:
    running = await start()
    discord = running.discord
    ana = discord.add_member("ana")
    await discord.buy(ana, packs[0])
    await settled(running, ana, 50)
    if where == "a direct message":
        place: dict[str, Any] = {"in_dm": True, "user_install": True}
    else:
        guild, channel = discord.foreign_guild()
        place = {"guild_id": guild, "user_install": True}
    asked = await discord.invoke("hailuo", hailuo("a paper boat"), member=ana, **place)
    said = await discord.wait_reply(asked, "from your wallet")
    assert "**45** left" in said.content
    card = await discord.wait_reply(asked, READY, within=20)
    assert card.files  # the video, on the command's own reply
    if where != "a direct message":
        assert discord.channel_messages(channel) == []  # nothing posted in their channel
    # The server's own credits and settings are not touched by a personal video.
    assert await running.services.ledger.balance(discord.guild_id, ana.id) == 0
    jobs = await running.rows("SELECT guild_id, paid_from FROM jobs")
    assert [(int(r["guild_id"]), r["paid_from"]) for r in jobs] == [(-ana.id, "wallet")]
    [job] = await running.rows("SELECT id FROM jobs")
    shown = await discord.invoke(
        "video", [sub("show", text("id", str(job["id"])[:8]))], member=ana, **place
    )
    await discord.wait_reply(shown, "a paper boat")


async def test_entitlements_that_are_no_pack_are_left_alone(
    start: Start, packs: tuple[int, int]
) -> None:
    running = await start()
    discord = running.discord
    ana = discord.add_member("ana")
    other = discord.add_sku("a badge", DURABLE)
    bought = await discord.buy(ana, other)
    await discord.buy(ana, packs[0])
    await settled(running, ana, 50)
    assert not discord.entitlements[bought["id"]]["consumed"]
    assert await running.row("SELECT 1 FROM entitlements WHERE id = $1", int(bought["id"])) is None


async def test_past_the_replys_fifteen_minutes_a_personal_video_comes_by_direct_message(
    start: Start, packs: tuple[int, int], fake_apiframe: FakeApiframe
) -> None:
    running = await start()
    discord = running.discord
    ana = discord.add_member("ana")
    await discord.buy(ana, packs[0])
    await settled(running, ana, 50)
    guild, channel = discord.foreign_guild()
    fake_apiframe.default_script = JobScript(polls_before_done=HOLD)
    asked = await discord.invoke(
        "hailuo", hailuo("a slow sunrise"), member=ana, guild_id=guild, user_install=True
    )
    await discord.wait_reply(asked, "from your wallet")
    await discord.wait_for(lambda: len(fake_apiframe.jobs) == 1)
    # The render outlasts the reply's token: the finished video cannot go on the card.
    await running.services.database.execute(
        "UPDATE jobs SET interaction_created_at = $1", datetime.now(UTC) - timedelta(minutes=15)
    )
    [job] = fake_apiframe.jobs.values()
    job.script = JobScript(polls_before_done=0)

    def delivered() -> list[FakeMessage]:
        return [m for m in discord.channel_messages(ana.id + 1) if m.files]

    await discord.wait_for(lambda: bool(delivered()), within=20)
    assert discord.channel_messages(channel) == []
    # The message is sent first, and where it went recorded a moment after.
    row = await recorded(
        running, "SELECT delivered_via FROM jobs", until=lambda row: row["delivered_via"]
    )
    assert row["delivered_via"] == "direct_message"


async def test_on_the_members_own_account_the_bots_own_rules_apply(
    start: Start, packs: tuple[int, int], fake_apiframe: FakeApiframe
) -> None:
    running = await start()
    discord = running.discord
    ana = discord.add_member("ana")
    await discord.buy(ana, packs[0])
    await settled(running, ana, 50)
    asked = await discord.invoke(
        "hailuo", hailuo("a nude statue in a museum"), member=ana, in_dm=True, user_install=True
    )
    await discord.wait_reply(asked, "reads as sexual")
    assert await wallet_of(running, ana) == 50 and fake_apiframe.job_requests() == []


async def test_members_may_add_the_video_commands_and_wallet_to_their_own_account(
    start: Start,
) -> None:
    running = await start()
    synced = {command["name"]: command for command in running.discord.commands}
    for name in ("hailuo", "hailuo-story", "Animate with Hailuo", "wallet", "video"):
        assert sorted(synced[name]["integration_types"]) == [0, 1], name
        assert sorted(synced[name]["contexts"]) == [0, 1, 2], name
    for name in ("quota", "credits", "hailuo-defaults"):
        assert synced[name].get("integration_types") in (None, [0]), name
