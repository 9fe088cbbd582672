"""What the dashboard keeps in memory between pages: members' display names for a few minutes,
and the thumbnails of a few hundred videos. Bounded both; nothing here is a source of truth."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from typing import Final

NAMES_KEPT: Final = 2048
NAME_SECONDS: Final = 600.0
THUMBNAILS_KEPT: Final = 256
# A video whose thumbnail could not be made is not tried again for this long.
THUMBNAIL_FAILURE_SECONDS: Final = 600.0

NameLookup = Callable[[int, list[int]], Awaitable[dict[int, str]]]


class NameCache:
    """Display names, remembered a few minutes (a page lists the same members again)."""

    def __init__(self, look_up: NameLookup) -> None:
        self._look_up = look_up
        self._names: OrderedDict[tuple[int, int], tuple[float, str]] = OrderedDict()

    async def names(self, guild_id: int, member_ids: Iterable[int]) -> dict[int, str]:
        now = time.monotonic()
        names: dict[int, str] = {}
        missing = []
        for member in dict.fromkeys(member_ids):
            kept = self._names.get((guild_id, member))
            if kept is not None and now - kept[0] < NAME_SECONDS:
                names[member] = kept[1]
            else:
                missing.append(member)
        if missing:
            found = await self._look_up(guild_id, missing)
            for member in missing:
                name = found.get(member, str(member))
                names[member] = name
                self._names[(guild_id, member)] = (now, name)
            while len(self._names) > NAMES_KEPT:
                self._names.popitem(last=False)
        return names


class ThumbnailCache:
    """The last few hundred thumbnails made, by job, and the videos that could not give one
    (for a while: a missing picture is asked for on every page of the grid)."""

    def __init__(self) -> None:
        self._pictures: OrderedDict[str, bytes] = OrderedDict()
        self._failed: OrderedDict[str, float] = OrderedDict()

    def failed_recently(self, job_id: str) -> bool:
        until = self._failed.get(job_id)
        return until is not None and time.monotonic() < until

    def note_failure(self, job_id: str) -> None:
        self._failed[job_id] = time.monotonic() + THUMBNAIL_FAILURE_SECONDS
        while len(self._failed) > THUMBNAILS_KEPT:
            self._failed.popitem(last=False)

    def get(self, job_id: str) -> bytes | None:
        return self._pictures.get(job_id)

    def keep(self, job_id: str, picture: bytes) -> None:
        self._pictures[job_id] = picture
        while len(self._pictures) > THUMBNAILS_KEPT:
            self._pictures.popitem(last=False)

    def forget(self, job_id: str) -> None:
        self._pictures.pop(job_id, None)
