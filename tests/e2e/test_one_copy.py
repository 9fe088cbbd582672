"""One copy of the bot per database, with real `python -m bot` processes on one SQLite file and
on one PostgreSQL database: a second copy refuses to start, in one line that says where the
first runs; a copy killed with SIGKILL needs no clean-up (the next starts within the hold's
lease); and an interaction Discord delivers to two processes moves credits once."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from testkit.commands import integer, sub, user
from testkit.fake_apiframe import FakeApiframe
from testkit.fake_discord import FakeDiscord
from testkit.harness import free_port
from testkit.processes import BotProcess

LEASE = 6.0  # JOB_LEASE_SECONDS: the hold of a copy that stopped answering lapses after this


def copy_of_the_bot(
    tmp_path: Path, name: str, discord: FakeDiscord, apiframe: FakeApiframe, **settings: str
) -> BotProcess:
    folder = tmp_path / name
    folder.mkdir()
    return BotProcess(
        folder,
        discord,
        apiframe,
        DATABASE_PATH=str(tmp_path / "one.sqlite3"),  # the same file for every copy
        JOB_LEASE_SECONDS=str(LEASE),
        HTTP_PORT=str(free_port()),
        **settings,
    )


async def test_a_second_copy_refuses_and_a_killed_one_needs_no_cleanup(
    tmp_path: Path, fake_discord: FakeDiscord, fake_apiframe: FakeApiframe
) -> None:
    first = copy_of_the_bot(tmp_path, "first", fake_discord, fake_apiframe)
    await first.start()
    try:
        # Following the old advice for a busy port (another HTTP_PORT) is refused too.
        second = copy_of_the_bot(tmp_path, "second", fake_discord, fake_apiframe)
        assert await second.start_expecting_exit() == 1
        said = second.logs()
        assert "another copy of the bot is running on this database" in said
        assert f"on this machine, process {first.pid}" in said
        assert "Traceback" not in said

        # The first dies without a word: the next copy starts without anyone cleaning up.
        await first.kill()
        began = time.monotonic()
        third = copy_of_the_bot(tmp_path, "third", fake_discord, fake_apiframe)
        await third.start()
        assert time.monotonic() - began < LEASE + 30  # the start itself, and the hold at most
        await third.terminate()
    finally:
        await first.close()


@pytest.mark.engines("postgres")
async def test_an_interaction_delivered_to_two_processes_moves_credits_once(
    tmp_path: Path, fake_discord: FakeDiscord, fake_apiframe: FakeApiframe
) -> None:
    """Two shard processes on one database (the test's PostgreSQL database), and a Discord
    that delivers every interaction to both of them: `/quota add` gives 20 credits once."""
    fake_discord.every_connection = True
    processes = []
    for shard in range(2):
        folder = tmp_path / f"shard{shard}"
        folder.mkdir()
        process = BotProcess(
            folder,
            fake_discord,
            fake_apiframe,
            SHARD_COUNT="2",
            SHARD_IDS=str(shard),
        )
        await process.start()
        processes.append(process)
    try:
        await asyncio.sleep(1.5)  # both have the server now
        admin = fake_discord.add_member("admin", admin=True)
        member = fake_discord.add_member("ana")
        given = await fake_discord.invoke(
            "quota",
            [sub("add", user("member", member.id), integer("amount", 20))],
            member=admin,
        )
        await fake_discord.wait_reply(given, "now has")
        await asyncio.sleep(1)  # the other process had its chance to move credits too
        stores = processes[0].stores()
        await stores.database.open()
        try:
            grants = await stores.database.fetch(
                "SELECT * FROM ledger WHERE kind = 'grant' AND member_id = $1", member.id
            )
            balance = await stores.ledger.stored_balance(fake_discord.guild_id, member.id)
        finally:
            await stores.database.close()
        assert len(grants) == 1 and balance == 20 + 20
        assert len(fake_discord.replies_to(given)) == 1
        for process in processes:
            assert "already been acknowledged" not in process.logs()
    finally:
        for process in processes:
            await process.close()
