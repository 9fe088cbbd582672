"""Saved defaults: typed beats the member's, which beats the server's, which beats the model's."""

from __future__ import annotations

import pytest

from bot.errors import RequestRejected
from bot.requests.defaults import (
    SERVER,
    AppliedDefault,
    DefaultSource,
    DefaultsStore,
    OptionDefaults,
    apply_defaults,
    conflicts,
)
from bot.store.settings import SqlSavedDefaults
from bot.store.sqlite import SqliteDatabase
from tests.bot.factories import GUILD


def test_each_option_takes_the_first_that_has_it() -> None:
    typed = OptionDefaults(duration=10)
    member = OptionDefaults(duration=6, resolution="768p", camera="Push in")
    server = OptionDefaults(resolution="1080p", prompt_optimizer=True)
    chosen, applied = apply_defaults(typed, member, server)
    assert chosen == OptionDefaults(10, "768p", True, "Push in")
    assert applied == (
        AppliedDefault("resolution", "768p", DefaultSource.MEMBER),
        AppliedDefault("prompt_optimizer", True, DefaultSource.SERVER),
        AppliedDefault("camera", "Push in", DefaultSource.MEMBER),
    )


def test_nothing_saved_leaves_the_models_defaults() -> None:
    chosen, applied = apply_defaults(OptionDefaults(), OptionDefaults(), OptionDefaults())
    assert chosen.empty and applied == ()


def test_a_forbidden_combination_is_named_with_its_fix() -> None:
    assert conflicts(OptionDefaults(duration=10, resolution="1080p"))
    assert conflicts(OptionDefaults(duration=10)) == []


async def test_updates_merge_clear_and_check_camera_moves(database: SqliteDatabase) -> None:
    store = DefaultsStore(SqlSavedDefaults(database))
    await store.update(GUILD, 5, OptionDefaults(duration=10))
    merged = await store.update(GUILD, 5, OptionDefaults(camera="pan left, tilt up"))
    assert merged == OptionDefaults(duration=10, camera="Pan left, Tilt up")
    assert await store.get(GUILD, 5) == merged
    assert await store.get(GUILD, SERVER) == OptionDefaults()  # the server's are apart
    with pytest.raises(RequestRejected, match="not a camera move"):
        await store.update(GUILD, 5, OptionDefaults(camera="barrel roll"))
    assert await store.get(GUILD, 5) == merged  # nothing saved
    assert await store.update(GUILD, 5, OptionDefaults(), clear=True) == OptionDefaults()
    assert await store.get(GUILD, 5) == OptionDefaults()
