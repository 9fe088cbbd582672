"""A server's own rules for what gets made, decided before any credit is reserved: words and
phrases it blocks, and whether sexual prompts are allowed in its age-restricted channels.

Each server's blocked words are compiled once and kept until the list changes. The list of
terms that mark a prompt as sexual ships inside the package (`bot/requests/wordlists/`),
matched through the same disguise folding; it is a first line, and Apiframe and MiniMax apply
their own policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Final, Protocol

from bot.clock import utc_now
from bot.requests.wordfilter import BlockedWords, clean_entry

SEXUAL_TERMS: Final = "sexual_terms.txt"


@cache
def sexual_terms() -> BlockedWords:
    text = (
        resources.files("bot.requests.wordlists").joinpath(SEXUAL_TERMS).read_text(encoding="utf-8")
    )
    return BlockedWords(
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )


@dataclass(frozen=True, slots=True)
class ListChange:
    changed: tuple[str, ...]
    unchanged: tuple[str, ...]
    over_limit: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PromptVerdict:
    blocked: tuple[str, ...]  # the server's own entries the prompt contains
    sexual: tuple[str, ...]  # terms of the shipped list, where adult content is not allowed

    @property
    def allowed(self) -> bool:
        return not self.blocked and not self.sexual


class RulesStore(Protocol):
    """Where a server's rules are kept (`bot/store/settings.py`)."""

    async def entries(self, guild_id: int) -> list[str]: ...
    async def block(
        self, guild_id: int, entries: list[str], actor_id: int, now: datetime
    ) -> ListChange: ...
    async def unblock(self, guild_id: int, entries: list[str]) -> ListChange: ...
    async def nsfw_allowed(self, guild_id: int) -> bool: ...
    async def set_nsfw_allowed(
        self, guild_id: int, allowed: bool, actor_id: int, now: datetime
    ) -> None: ...


class ServerRules:
    """A server's rules for prompts, with each server's blocked words compiled once."""

    def __init__(self, store: RulesStore) -> None:
        self._store = store
        self._compiled: dict[int, BlockedWords] = {}

    async def blocked_words(self, guild_id: int) -> BlockedWords:
        compiled = self._compiled.get(guild_id)
        if compiled is None:
            compiled = BlockedWords(await self._store.entries(guild_id))
            self._compiled[guild_id] = compiled
        return compiled

    async def block(self, guild_id: int, entries: list[str], actor_id: int) -> ListChange:
        change = await self._store.block(guild_id, _cleaned(entries), actor_id, utc_now())
        self._compiled.pop(guild_id, None)
        return change

    async def unblock(self, guild_id: int, entries: list[str]) -> ListChange:
        change = await self._store.unblock(guild_id, _cleaned(entries))
        self._compiled.pop(guild_id, None)
        return change

    async def nsfw_allowed(self, guild_id: int) -> bool:
        return await self._store.nsfw_allowed(guild_id)

    async def set_nsfw_allowed(self, guild_id: int, allowed: bool, actor_id: int) -> None:
        await self._store.set_nsfw_allowed(guild_id, allowed, actor_id, utc_now())

    async def judge(self, guild_id: int, prompt: str, *, age_restricted: bool) -> PromptVerdict:
        """What in the prompt this server does not allow here."""
        blocked = (await self.blocked_words(guild_id)).found_in(prompt)
        adult_ok = age_restricted and await self.nsfw_allowed(guild_id)
        sexual = [] if adult_ok else sexual_terms().found_in(prompt)
        return PromptVerdict(tuple(blocked), tuple(sexual))


def _cleaned(entries: list[str]) -> list[str]:
    seen: list[str] = []
    for entry in entries:
        cleaned = clean_entry(entry).lower()
        if cleaned and cleaned not in seen:
            seen.append(cleaned)
    return seen
