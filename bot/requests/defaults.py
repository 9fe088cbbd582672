"""Saved defaults for `/hailuo`'s options: a member's own in a server, and the server's.

Precedence, for each option on its own: what the member typed, then the member's saved default,
then the server's, then the model's own default. Applying defaults decides nothing else: a saved
default that a rule forbids (1080p with 10 s) is refused like a typed one, with a note saying
it came from a saved default and how to change it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from enum import StrEnum
from typing import Final, Protocol

from bot.errors import RequestRejected
from bot.i18n import Text, msg
from bot.requests.camera import parse_moves
from bot.requests.rules import DURATIONS, Model, Resolution

SERVER: Final = 0  # the member id under which a server's own defaults are kept


class DefaultSource(StrEnum):
    MEMBER = "yours"
    SERVER = "the server's"


@dataclass(frozen=True, slots=True)
class OptionDefaults:
    """Options of `/hailuo` that can be saved; None: not set."""

    duration: int | None = None
    resolution: str | None = None
    prompt_optimizer: bool | None = None
    camera: str | None = None
    model: str | None = None  # a `Model` value

    @property
    def empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))

    def describe(self) -> str:
        parts = []
        if self.duration is not None:
            parts.append(f"{self.duration} s")
        if self.resolution is not None:
            parts.append(self.resolution)
        if self.prompt_optimizer is not None:
            parts.append(f"prompt optimizer {'on' if self.prompt_optimizer else 'off'}")
        if self.camera:
            parts.append(f"camera {self.camera}")
        if self.model is not None:
            parts.append(Model(self.model).label)
        return ", ".join(parts) or "none"


@dataclass(frozen=True, slots=True)
class AppliedDefault:
    option: str
    value: object
    source: DefaultSource


def apply_defaults(
    typed: OptionDefaults, member: OptionDefaults, server: OptionDefaults
) -> tuple[OptionDefaults, tuple[AppliedDefault, ...]]:
    """The options to use, and which of them came from a saved default."""
    chosen = typed
    applied: list[AppliedDefault] = []
    for field_ in fields(OptionDefaults):
        name = field_.name
        if getattr(typed, name) is not None:
            continue
        for source, saved in ((DefaultSource.MEMBER, member), (DefaultSource.SERVER, server)):
            value = getattr(saved, name)
            if value is not None:
                chosen = replace(chosen, **{name: value})
                applied.append(AppliedDefault(name, value, source))
                break
    return chosen, tuple(applied)


class SavedDefaults(Protocol):
    """Where saved defaults are kept (`bot/store/settings.py`)."""

    async def get(self, guild_id: int, member_id: int) -> OptionDefaults: ...
    async def save(self, guild_id: int, member_id: int, defaults: OptionDefaults) -> None: ...


class DefaultsStore:
    """Members' and servers' saved defaults for /hailuo's options."""

    def __init__(self, saved: SavedDefaults) -> None:
        self._saved = saved

    async def get(self, guild_id: int, member_id: int) -> OptionDefaults:
        return await self._saved.get(guild_id, member_id)

    async def save(self, guild_id: int, member_id: int, defaults: OptionDefaults) -> None:
        await self._saved.save(guild_id, member_id, defaults)

    async def update(
        self, guild_id: int, member_id: int, given: OptionDefaults, *, clear: bool = False
    ) -> OptionDefaults:
        """Save the options given, keep the others (or, with `clear`, start from none).
        Every option is checked as the commands offer it (a forged form or interaction may
        carry anything); raises `RequestRejected` with every problem, having saved nothing."""
        problems = offered_problems(given)
        if given.camera:
            moves, camera_problems = parse_moves(given.camera)
            problems.extend(camera_problems)
            given = replace(given, camera=", ".join(moves))
        if problems:
            raise RequestRejected(problems)
        current = OptionDefaults() if clear else await self.get(guild_id, member_id)
        merged, _ = apply_defaults(given, current, OptionDefaults())
        await self.save(guild_id, member_id, merged)
        return merged


def offered_problems(given: OptionDefaults) -> list[Text]:
    """What in these options no command offers (a length, resolution or model not among the
    choices)."""
    problems = []
    if given.duration is not None and given.duration not in DURATIONS:
        problems.append(msg("The length must be 6 or 10 seconds."))
    if given.resolution is not None and given.resolution not in {r.value for r in Resolution}:
        problems.append(msg("The resolution must be 768p or 1080p."))
    if given.model is not None and given.model not in {m.value for m in Model}:
        problems.append(
            msg(
                "The model must be one of {models}.",
                models=", ".join(model.label for model in Model),
            )
        )
    return problems


def conflicts(defaults: OptionDefaults) -> list[Text]:
    """What the model's rules will refuse in these defaults, with the fix."""
    found = []
    if defaults.resolution == "1080p" and defaults.duration == 10:
        found.append(
            msg(
                "1080p is 6 s only, so these defaults will be refused together: save 6 s or "
                "768p instead."
            )
        )
    if defaults.model is not None and Model(defaults.model).needs_start_image:
        found.append(
            msg(
                "{model} starts from a picture, so a /hailuo without `image` will be refused "
                "while it is the default: attach one each time, or save another model.",
                model=Model(defaults.model).label,
            )
        )
    return found
