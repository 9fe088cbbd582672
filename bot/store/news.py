"""News between processes that share one database: a process that hears of a job driven by
another (a webhook reaching the wrong process) passes it on, and the other hears it.

PostgreSQL carries it (NOTIFY and LISTEN); SQLite has no such thing and needs none, as only one
process ever opens its file. The engine says which by its `news` (None: nothing to carry)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class NewsListener(Protocol):
    """One channel listened to, kept alive until closed."""

    @property
    def server_pid(self) -> int | None:
        """The database process that carries it, while connected (for tests and logs)."""
        ...

    async def close(self) -> None: ...


class News(Protocol):
    async def notify(self, channel: str, payload: str) -> None:
        """Tell every process listening on `channel`."""
        ...

    async def listen(
        self,
        channel: str,
        heard: Callable[[str], None],
        *,
        on_restored: Callable[[], None] | None = None,
    ) -> NewsListener:
        """Call `heard` with every payload sent on `channel`, from any process, until the
        database closes; `on_restored` after a lost connection came back (news may have been
        missed meanwhile)."""
        ...
