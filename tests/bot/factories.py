"""Builders for jobs in unit tests."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.jobs.records import NewJob, RequestOrigin
from bot.money.pricing import price_of
from bot.requests.rules import GenerationRequest, validate_request

GUILD = 1001
CHANNEL = 2002
APP = 3003


def new_job(
    member_id: int = 42,
    *,
    guild_id: int = GUILD,
    resolution: str = "768p",
    duration: int = 6,
    prompt: str = "a cat surfing",
) -> NewJob:
    spec = validate_request(GenerationRequest(prompt, duration, resolution))
    return NewJob(
        id=NewJob.new_id(),
        origin=RequestOrigin(
            guild_id=guild_id,
            channel_id=CHANNEL,
            member_id=member_id,
            application_id=APP,
            interaction_token="token",
            interaction_created_at=datetime.now(UTC),
        ),
        spec=spec,
        price=price_of(spec),
    )
