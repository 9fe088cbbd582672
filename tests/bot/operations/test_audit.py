"""The audit trail posts every ledger row once, in order, to the server's channel."""

from __future__ import annotations

from bot.jobs.records import Job
from bot.money.ledger import EntryKind, Ledger, LedgerEntry
from bot.money.servers import ServerSettings
from bot.operations.audit import AuditChannelGone, AuditTrail
from bot.store.ledger import SqlLedgerStore
from bot.store.settings import SqlBotState, SqlGuildSettingsStore
from bot.store.sqlite import SqliteDatabase
from tests.bot.factories import GUILD, new_job

CHANNEL = 777


class RecordingSink:
    """The front end's side of the audit trail: records what it was asked to post."""

    def __init__(self) -> None:
        self.posts: list[tuple[int, int, list[LedgerEntry]]] = []
        self.gone = False

    async def refused_prompt(
        self, guild_id: int, channel_id: int, member_id: int, reasons: tuple[str, ...]
    ) -> None:
        self.posts.append((guild_id, channel_id, []))

    async def content_refused(self, channel_id: int, job: Job, error: str) -> None:
        self.posts.append((job.guild_id, channel_id, []))

    async def post(self, guild_id: int, channel_id: int, entries: list[LedgerEntry]) -> None:
        if self.gone:
            raise AuditChannelGone("the channel was deleted")
        self.posts.append((guild_id, channel_id, entries))


async def test_each_row_is_posted_once_in_order(database: SqliteDatabase) -> None:
    guilds = ServerSettings(SqlGuildSettingsStore(database, 20))
    await guilds.set_log_channel(GUILD, CHANNEL, actor_id=1)
    ledger, sink = Ledger(SqlLedgerStore(database, 20)), RecordingSink()
    trail = AuditTrail(SqlBotState(database), SqlLedgerStore(database, 0), guilds, sink)
    await ledger.reserve(new_job(member_id=5))
    await ledger.add_credits(GUILD, 5, 3, actor_id=1)
    await ledger.add_credits(GUILD + 1, 6, 3, actor_id=1)  # another server, with no channel
    assert await trail.flush() == 5
    assert await trail.flush() == 0  # nothing posted twice
    posted = [entry for _, _, entries in sink.posts for entry in entries]
    assert [entry.kind for entry in posted] == [
        EntryKind.OPENING,
        EntryKind.RESERVE,
        EntryKind.GRANT,
    ]
    assert {channel for _, channel, _ in sink.posts} == {CHANNEL}
    assert [entry.id for entry in posted] == sorted(entry.id for entry in posted)


async def test_a_gone_channel_skips_its_lines_instead_of_retrying_forever(
    database: SqliteDatabase,
) -> None:
    guilds = ServerSettings(SqlGuildSettingsStore(database, 20))
    await guilds.set_log_channel(GUILD, CHANNEL, actor_id=1)
    sink = RecordingSink()
    sink.gone = True
    trail = AuditTrail(SqlBotState(database), SqlLedgerStore(database, 0), guilds, sink)
    await Ledger(SqlLedgerStore(database, 20)).add_credits(GUILD, 5, 3, actor_id=1)
    assert await trail.flush() == 2
    sink.gone = False
    assert await trail.flush() == 0
    assert sink.posts == []
