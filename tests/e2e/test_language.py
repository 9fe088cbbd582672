"""The bot speaks the member's language: German clients read German, end to end."""

from __future__ import annotations

from testkit.commands import hailuo, integer, sub, text
from testkit.fake_apiframe import FakeApiframe
from testkit.harness import RunningBot

GERMAN = "de"


async def test_a_german_member_reads_the_acknowledgement_card_and_result_in_german(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    discord = running.discord
    lena = discord.add_member("lena")
    lena.locale = GERMAN
    asked = await discord.invoke("hailuo", hailuo("ein roter Drachen über Hügeln"), member=lena)
    ack = await discord.wait_reply(
        asked, "Angenommen: Hailuo 02, **5** Credits reserviert, **15** übrig."
    )
    assert ack.ephemeral
    result = await discord.wait_reply(asked, "dein Video ist fertig", within=20)
    assert "5 Credits" in result.content
    assert set(result.buttons()) == {"Nochmal", "1080p", "Fortsetzen", "Löschen"}
    # The job remembers its language: the bot answers in it after a restart too.
    assert running.bot is not None
    [job] = await running.services.jobs.recent_for_member(discord.guild_id, lena.id, 1)
    assert job.language == GERMAN

    balance = await discord.invoke("credits", [], member=lena)
    said = await discord.wait_reply(balance, "Du hast **15** Credits auf diesem Server.")
    assert "**Letzte Videos**" in said.content and "Verlauf" in said.buttons()


async def test_a_german_member_is_refused_in_german_with_every_fix_and_nothing_charged(
    running: RunningBot, fake_apiframe: FakeApiframe
) -> None:
    discord = running.discord
    lena = discord.add_member("lena")
    lena.locale = GERMAN
    asked = await discord.invoke(
        "hailuo", hailuo("ein Fuchs [Pan lefft]", duration=10, resolution="1080p"), member=lena
    )
    refused = await discord.wait_reply(asked, "Diese Anfrage kann nicht ausgeführt werden")
    assert refused.ephemeral
    assert "1080p gibt es nur mit 6 s" in refused.content
    assert "Meintest du `[Pan left]`?" in refused.content
    assert "Es wurde nichts berechnet." in refused.content
    assert fake_apiframe.job_requests() == []
    assert running.bot is not None
    assert await running.services.ledger.balance(discord.guild_id, lena.id) == 20


async def test_the_servers_language_is_the_fallback_and_a_members_own_comes_first(
    running: RunningBot,
) -> None:
    discord = running.discord
    discord.guild_locale = GERMAN
    japanese, english = discord.add_member("aiko"), discord.add_member("ed")
    japanese.locale = "ja"  # no catalogue: the server's language
    english.locale = "en-GB"
    first = await discord.invoke("credits", [], member=japanese)
    await discord.wait_reply(first, "Du hast **20** Credits auf diesem Server.")
    second = await discord.invoke("credits", [], member=english)
    await discord.wait_reply(second, "You have **20** credits in this server.")


async def test_admin_replies_and_permission_refusals_are_in_german(running: RunningBot) -> None:
    discord = running.discord
    admin, member = discord.add_member("admin", admin=True), discord.add_member("mia")
    admin.locale = member.locale = GERMAN
    capped = await discord.invoke("quota", [sub("cap", integer("amount", 50))], member=admin)
    await discord.wait_reply(capped, "Dieser Server darf jetzt **50** Credits pro Monat ausgeben")
    blocked = await discord.invoke(
        "quota", [sub("block", sub("add", text("words", "foo")))], member=member
    )
    await discord.wait_reply(blocked, "Berechtigung **Server verwalten**")


async def test_commands_reach_discord_with_their_german_names_and_descriptions(
    running: RunningBot,
) -> None:
    synced = {command["name"]: command for command in running.discord.commands}
    hailuo_command = synced["hailuo"]
    assert hailuo_command["description_localizations"][GERMAN].startswith("Ein kurzes Video")
    options = {option["name"]: option for option in hailuo_command["options"]}
    assert options["duration"]["name_localizations"][GERMAN] == "dauer"
    choices = {c["value"]: c for c in options["duration"]["choices"]}
    assert choices[10]["name_localizations"][GERMAN] == "10 Sekunden"
    assert synced["credits"]["name_localizations"][GERMAN] == "guthaben"
    assert synced["quota"]["name_localizations"][GERMAN] == "kontingent"
