"""The server economy end to end: queue and Cancel, audit channel, history, export, show."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from typing import Any

import pytest

from testkit.commands import hailuo, integer, opt, sub, text, user
from testkit.fake_apiframe import FakeApiframe, JobScript
from testkit.fake_discord import FakeDiscord, FakeInteraction, FakeMember, FakeMessage
from testkit.harness import RunningBot

HOLD = 1_000_000  # polls: a job that runs until a test lets it finish


async def quota(discord: FakeDiscord, admin: FakeMember, *options: dict[str, Any]) -> str:
    interaction = await discord.invoke("quota", list(options), member=admin)
    await discord.wait_for(lambda: bool(discord.replies_to(interaction)))
    await discord.wait_for(lambda: not any(m.loading for m in discord.replies_to(interaction)))
    return discord.replies_to(interaction)[-1].content


def card_of(discord: FakeDiscord, interaction: FakeInteraction) -> FakeMessage | None:
    cards = [m for m in discord.replies_to(interaction) if not m.ephemeral]
    return cards[0] if cards else None


async def test_queue_is_first_come_first_served_and_cancel_refunds_once(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    discord = running.discord
    admin = discord.add_member("admin", admin=True)
    await quota(discord, admin, sub("limits", integer("per_member", 1), integer("per_server", 2)))
    ana, bo, cy = (discord.add_member(n) for n in ("ana", "bo", "cy"))
    fake_apiframe.default_script = JobScript(polls_before_done=HOLD)
    order = [(ana, "a1"), (ana, "a2"), (ana, "a3"), (bo, "b1"), (cy, "c1")]
    sent: dict[str, FakeInteraction] = {}
    for member, name in order:
        sent[name] = await discord.invoke("hailuo", hailuo(name), member=member)
        await discord.wait_reply(sent[name], "credits reserved")

    await discord.wait_for(lambda: len(fake_apiframe.jobs) == 2)
    assert sorted(j.body["prompt"] for j in fake_apiframe.jobs.values()) == ["a1", "b1"]

    def position(name: str) -> str:
        card = card_of(discord, sent[name])
        match = re.search(r"position (\d+)", card.content) if card else None
        return match.group(1) if match else "-"

    await discord.wait_for(lambda: [position(n) for n in ("a2", "a3", "c1")] == ["1", "2", "3"])

    # a3 is cancelled by its member; a second press changes nothing.
    card = card_of(discord, sent["a3"])
    assert card is not None and "Cancel" in card.buttons()
    press = await discord.click(card, "Cancel", member=ana)
    await discord.wait_for(lambda: press.callback_type is not None)
    assert "refunded" in card.content and card.buttons() == {}
    assert running.bot is not None
    ledger = running.services.ledger
    assert await ledger.balance(discord.guild_id, ana.id) == 20 - 5 - 5
    # Pressing the same (stale) button again refunds nothing.
    card.components = [
        {
            "type": 1,
            "components": [
                {
                    "type": 2,
                    "style": 2,
                    "label": "Cancel",
                    "custom_id": press.payload["data"]["custom_id"],
                }
            ],
        }
    ]
    again = await discord.click(card, "Cancel", member=ana)
    assert "no longer be cancelled" in (await discord.wait_reply(again, "cancelled")).content
    assert await ledger.balance(discord.guild_id, ana.id) == 20 - 5 - 5

    # b1 finishes: the next in line that its member's limit allows is c1, not a2.
    [b1] = [j for j in fake_apiframe.jobs.values() if j.body["prompt"] == "b1"]
    b1.script = JobScript(polls_before_done=0)
    await discord.wait_reply(sent["b1"], "your video is ready")
    await discord.wait_for(lambda: len(fake_apiframe.jobs) == 3)
    assert {j.body["prompt"] for j in fake_apiframe.jobs.values()} == {"a1", "b1", "c1"}
    await discord.wait_for(lambda: position("a2") == "1")
    refunds = await running.services.database.fetch("SELECT * FROM ledger WHERE kind = 'refund'")
    assert len(refunds) == 1 and refunds[0]["actor_id"] == ana.id


async def test_requests_sent_moments_apart_start_in_the_order_discord_received_them(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    """Three `/hailuo` 4 ms apart, one video at a time per member: the one sent first is made
    first and the others wait in the order they were sent, whichever was recorded first."""
    discord = running.discord
    admin = discord.add_member("admin", admin=True)
    await quota(discord, admin, sub("limits", integer("per_member", 1), integer("per_server", 5)))
    fake_apiframe.default_script = JobScript(polls_before_done=HOLD)
    ana = discord.add_member("ana")
    sent: dict[str, FakeInteraction] = {}
    for name in ("first", "second", "third"):
        sent[name] = await discord.invoke("hailuo", hailuo(name), member=ana)
        await asyncio.sleep(0.004)
    for interaction in sent.values():
        await discord.wait_reply(interaction, "credits reserved")

    def position(name: str) -> str:
        card = card_of(discord, sent[name])
        match = re.search(r"position (\d+)", card.content) if card else None
        return match.group(1) if match else "-"

    await discord.wait_for(lambda: [position(n) for n in ("second", "third")] == ["1", "2"])
    assert [job.body["prompt"] for job in fake_apiframe.jobs.values()] == ["first"]


async def test_only_the_member_or_an_admin_can_cancel(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    discord = running.discord
    admin = discord.add_member("admin", admin=True)
    await quota(discord, admin, sub("limits", integer("per_member", 1), integer("per_server", 1)))
    fake_apiframe.default_script = JobScript(polls_before_done=HOLD)
    ana, bo = discord.add_member("ana"), discord.add_member("bo")
    # One after the other: sent at once, either could be first in the queue.
    first = await discord.invoke("hailuo", hailuo("first"), member=ana)
    await discord.wait_reply(first, "credits reserved")
    waiting = await discord.invoke("hailuo", hailuo("second"), member=ana)
    await discord.wait_for(
        lambda: "position 1" in (getattr(card_of(discord, waiting), "content", ""))
    )
    card = card_of(discord, waiting)
    assert card is not None
    press = await discord.click(card, "Cancel", member=bo)
    reply = await discord.wait_reply(press, "can cancel it")
    assert reply.ephemeral and "position 1" in card.content
    press = await discord.click(card, "Cancel", member=admin)
    await discord.wait_for(lambda: "refunded" in card.content)


async def test_audit_channel_gets_a_line_for_every_ledger_row(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    discord = running.discord
    admin = discord.add_member("admin", admin=True)
    audit = await discord.add_channel("credit-log")
    await quota(discord, admin, opt("log", None, 1) | {"options": [opt("channel", str(audit), 7)]})
    member = discord.add_member("ana")
    await quota(discord, admin, sub("add", user("member", member.id), integer("amount", 10)))
    fake_apiframe.scripts.append(JobScript(outcome="FAILED"))
    await discord.wait_reply(
        await discord.invoke("hailuo", hailuo("x"), member=member), "could not be made"
    )
    await discord.wait_reply(
        await discord.invoke("hailuo", hailuo("y"), member=member), "your video is ready"
    )
    assert running.bot is not None
    rows = await running.services.database.fetch("SELECT id, kind FROM ledger ORDER BY id")
    assert [r["kind"] for r in rows] == [
        "opening",
        "grant",
        "reserve",
        "refund",
        "reserve",
        "charge",
    ]

    def posted() -> list[str]:
        return re.findall(
            r"`#(\d+)`", "\n".join(m.content for m in discord.channel_messages(audit))
        )

    await discord.wait_for(lambda: len(posted()) == len(rows))
    assert [int(i) for i in posted()] == [r["id"] for r in rows]
    lines = "\n".join(m.content for m in discord.channel_messages(audit)).splitlines()
    assert f"<@{member.id}> grant **+10** → 30" in lines[1] and f"by <@{admin.id}>" in lines[1]
    assert all(
        m.allowed_mentions == {"parse": []} or (m.allowed_mentions or {}).get("parse") == []
        for m in discord.channel_messages(audit)
    )

    # Stopping the log: later rows are not posted.
    await quota(discord, admin, sub("log"))
    await quota(discord, admin, sub("add", user("member", member.id), integer("amount", 1)))
    await running.services.audit.flush()
    assert len(posted()) == len(rows)


async def test_history_pages_through_the_ledger(running: RunningBot) -> None:
    discord = running.discord
    admin = discord.add_member("admin", admin=True)
    member = discord.add_member("ana")
    for amount in range(1, 13):
        await quota(
            discord, admin, sub("add", user("member", member.id), integer("amount", amount))
        )
    shown = await discord.invoke("credits", member=member)
    reply = await discord.wait_reply(shown, "credits in this server")
    assert "You have **98** credits" in reply.content
    press = await discord.click(reply, "History", member=member)
    await discord.wait_for(lambda: "page 1 of 2" in reply.content)
    assert reply.content.count("\n") == 10  # a title and ten entries
    assert "**+12** → 98" in reply.content and set(reply.buttons()) == {"Older ▶"}
    press = await discord.click(reply, "Older ▶", member=member)
    await discord.wait_for(lambda: "page 2 of 2" in reply.content)
    assert "starting balance" in reply.content and set(reply.buttons()) == {"◀ Newer"}
    assert press.callback_type == 7


async def test_export_is_a_csv_of_the_servers_ledger(running: RunningBot) -> None:
    discord = running.discord
    admin = discord.add_member("admin", admin=True)
    member = discord.add_member("ana")
    await quota(discord, admin, sub("set", user("member", member.id), integer("amount", 42)))
    interaction = await discord.invoke("quota", [sub("export")], member=admin)
    reply = await discord.wait_reply(interaction, "The ledger: 2 rows")
    [(name, data)] = reply.files.items()
    assert name.endswith(".csv") and reply.ephemeral
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    assert [r["kind"] for r in rows] == ["opening", "set"]
    assert rows[1]["change"] == "22" and rows[1]["balance_after"] == "42"
    assert rows[1]["actor"] == str(admin.id) and rows[1]["member"] == str(member.id)


async def test_show_summarises_the_server(running: RunningBot) -> None:
    discord = running.discord
    admin = discord.add_member("admin", admin=True)
    artists = await discord.add_role("artists")
    await quota(discord, admin, sub("cap", integer("amount", 500)))
    await quota(
        discord,
        admin,
        sub(
            "allowance",
            integer("amount", 30),
            text("period", "weekly"),
            opt("role", str(artists), 8),
        ),
    )
    member = discord.add_member("ana")
    await discord.wait_reply(
        await discord.invoke("hailuo", hailuo("z"), member=member), "your video is ready"
    )
    content = await quota(discord, admin, sub("show"))
    assert "Monthly cap: 500 a month, 5 used" in content
    assert f"30 weekly for <@&{artists}>" in content
    assert "2 per member, 10 for the server" in content
    assert f"<@{member.id}>: 5" in content


async def test_allowance_by_role_reaches_the_member(running: RunningBot) -> None:
    discord = running.discord
    admin = discord.add_member("admin", admin=True)
    patrons = await discord.add_role("patrons")
    reply = await quota(
        discord,
        admin,
        sub(
            "allowance",
            integer("amount", 60),
            text("period", "monthly"),
            opt("role", str(patrons), 8),
        ),
    )
    assert "topped up to **60**" in reply
    member = discord.add_member("ana")
    member.roles.append(patrons)
    shown = await discord.wait_reply(
        await discord.invoke("credits", member=member), "credits in this server"
    )
    assert "You have **60** credits" in shown.content and "60 monthly" in shown.content
    plain = discord.add_member("bo")
    shown = await discord.wait_reply(
        await discord.invoke("credits", member=plain), "credits in this server"
    )
    assert "You have **20** credits" in shown.content


async def test_a_request_over_the_cap_says_when_it_resets(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    discord = running.discord
    admin = discord.add_member("admin", admin=True)
    await quota(discord, admin, sub("cap", integer("amount", 7)))
    member = discord.add_member("ana")
    await discord.wait_reply(
        await discord.invoke("hailuo", hailuo("a"), member=member), "your video is ready"
    )
    refused = await discord.wait_reply(
        await discord.invoke("hailuo", hailuo("b"), member=member), "monthly cap"
    )
    assert refused.ephemeral and "resets <t:" in refused.content  # a Discord timestamp
    assert len(fake_apiframe.jobs) == 1


ADMIN_ONLY = [
    [sub("allowance", integer("amount", 5), text("period", "daily"))],
    [sub("cap", integer("amount", 5))],
    [sub("limits", integer("per_member", 5), integer("per_server", 5))],
    [sub("log")],
    [sub("show")],
    [sub("export")],
]


@pytest.mark.parametrize("options", ADMIN_ONLY, ids=lambda o: o[0]["name"])
async def test_every_admin_command_refuses_members(
    running: RunningBot, options: list[dict[str, Any]]
) -> None:
    discord = running.discord
    member = discord.add_member("sneaky")
    interaction = await discord.invoke("quota", options, member=member)
    reply = await discord.wait_reply(interaction, "Manage Server")
    assert reply.ephemeral and not reply.files
    assert running.bot is not None
    settings = await running.services.guild_settings.get(discord.guild_id)
    assert settings.monthly_cap is None and settings.allowances == ()
    assert settings.per_member_limit == 2
