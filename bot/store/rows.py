"""Rows into the domain's records, the same way for both engines (SQLite keeps times as text and
flags as 0/1; PostgreSQL as timestamps and booleans)."""

from __future__ import annotations

from datetime import datetime

from bot.jobs.records import Driven, Job, JobState, PaidFrom, PendingRequest, SourceAction
from bot.money.allowances import Allowance, Period
from bot.money.rules import EntryKind, LedgerEntry
from bot.money.servers import DEFAULT_PER_MEMBER_LIMIT, DEFAULT_PER_SERVER_LIMIT, GuildSettings
from bot.requests.rules import Model, Resolution
from bot.store.driver import Row, moment


def required(value: object) -> datetime:
    found = moment(value)
    assert found is not None
    return found


def _source_message_url(row: Row) -> str | None:
    # Rows of sqlite3 and asyncpg: `in` looks at the values, `keys()` at the column names.
    if "source_message_id" not in row.keys() or row["source_message_id"] is None:  # noqa: SIM118
        return None
    return (
        f"https://discord.com/channels/{row['guild_id']}/{row['source_channel_id']}/"
        f"{row['source_message_id']}"
    )


def job_from_row(row: Row) -> Job:
    optimizer = row["prompt_optimizer"]
    action = row["source_action"]
    return Job(
        id=row["id"],
        guild_id=int(row["guild_id"]),
        channel_id=int(row["channel_id"]),
        member_id=int(row["member_id"]),
        application_id=int(row["application_id"]),
        interaction_token=row["interaction_token"],
        interaction_created_at=required(row["interaction_created_at"]),
        card_message_id=row["card_message_id"],
        prompt=row["prompt"],
        duration=int(row["duration"]),
        resolution=Resolution(row["resolution"]),
        prompt_optimizer=None if optimizer is None else bool(optimizer),
        has_start_image=bool(row["has_start_image"]),
        has_end_image=bool(row["has_end_image"]),
        price=int(row["price"]),
        idempotency_key=row["idempotency_key"],
        state=JobState(row["state"]),
        apiframe_job_id=row["apiframe_job_id"],
        start_image_url=row["start_image_url"],
        end_image_url=row["end_image_url"],
        remote_status=row["remote_status"],
        progress=row["progress"],
        video_url=row["video_url"],
        failure_reason=row["failure_reason"],
        delivered_via=row["delivered_via"],
        created_at=required(row["created_at"]),
        submitted_at=moment(row["submitted_at"]),
        finished_at=moment(row["finished_at"]),
        delivered_at=moment(row["delivered_at"]),
        admitted_at=moment(row["admitted_at"]),
        late_notified_at=moment(row["late_notified_at"]),
        upload_limit=row["upload_limit"],
        video_channel_id=row["video_channel_id"],
        video_message_id=row["video_message_id"],
        source_job_id=row["source_job_id"],
        source_action=None if action is None else SourceAction(action),
        deleted_at=moment(row["deleted_at"]),
        age_restricted=bool(row["age_restricted"]),
        language=row["language"],
        source_message_url=_source_message_url(row),
        model=Model(row["model"]),
        apiframe_cost=row["apiframe_cost"],
        public_name=row["public_name"],
        paid_from=PaidFrom(row["paid_from"]),
        story_id=row["story_id"],
        scene=int(row["scene"]),
        scenes=int(row["scenes"]),
        waits_for=row["waits_for"],
        picture_author_id=row["picture_author_id"],
        picture_message_url=row["picture_message_url"],
    )


def driven_from_row(row: Row) -> Driven:
    return Driven(
        str(row["id"]),
        int(row["guild_id"]),
        row["lease_owner"],
        moment(row["lease_expires_at"]),
        moment(row["admitted_at"]),
    )


def pending_from_row(row: Row) -> PendingRequest:
    return PendingRequest(
        interaction_token=row["interaction_token"],
        application_id=int(row["application_id"]),
        guild_id=int(row["guild_id"]),
        channel_id=int(row["channel_id"]),
        member_id=int(row["member_id"]),
        language=row["language"],
        interaction_created_at=required(row["interaction_created_at"]),
    )


def entry_from_row(row: Row) -> LedgerEntry:
    return LedgerEntry(
        id=int(row["id"]),
        guild_id=int(row["guild_id"]),
        member_id=int(row["member_id"]),
        kind=EntryKind(row["kind"]),
        delta=int(row["delta"]),
        balance_after=int(row["balance_after"]),
        job_id=row["job_id"],
        actor_id=None if row["actor_id"] is None else int(row["actor_id"]),
        reason=row["reason"],
        created_at=required(row["created_at"]),
    )


def settings_from_rows(
    guild_id: int, row: Row | None, allowances: list[Row], fallback_default: int
) -> GuildSettings:
    """A server's settings from its row (None: never changed) and its allowances' rows."""
    kept = tuple(
        Allowance(int(r["role_id"]), int(r["amount"]), Period(r["period"])) for r in allowances
    )
    if row is None:
        return GuildSettings(guild_id, fallback_default, allowances=kept)

    def count(column: str, default: int) -> int:
        value = row[column]
        return default if value is None else int(value)

    def optional(column: str) -> int | None:
        value = row[column]
        return None if value is None else int(value)

    return GuildSettings(
        guild_id=guild_id,
        default_credits=count("default_credits", fallback_default),
        monthly_cap=optional("monthly_cap"),
        per_member_limit=count("per_member_limit", DEFAULT_PER_MEMBER_LIMIT),
        per_server_limit=count("per_server_limit", DEFAULT_PER_SERVER_LIMIT),
        log_channel_id=optional("log_channel_id"),
        allowances=kept,
    )
