"""Discord's message components as the fake reads them: walking a tree of them, what a reader of
a Components V2 message reads, and why Discord would refuse such a message."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

COMPONENTS_V2 = 1 << 15
# Components V2: what a message flagged with it may carry, and Discord's limits on it.
V2_TYPES = {1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 17}
V2_MAX_COMPONENTS = 40
V2_MAX_TEXT = 4000


def walk(components: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every component, children after their parent (rows, containers, sections, accessories)."""
    for component in components:
        yield component
        yield from walk(component.get("components", []))
        accessory = component.get("accessory")
        if isinstance(accessory, dict):
            yield from walk([accessory])


def rendered(components: list[dict[str, Any]]) -> str:
    """What a reader of a Components V2 message reads: its text displays, in order."""
    return "\n".join(
        str(component.get("content", ""))
        for component in walk(components)
        if component.get("type") == 10
    )


def v2_problem(data: dict[str, Any], files: set[str]) -> str | None:
    """Why Discord would refuse this Components V2 payload (None: it would take it)."""
    if data.get("content") or data.get("embeds"):
        return "a Components V2 message cannot have content or embeds"
    components = list(walk(data.get("components") or []))
    if len(components) > V2_MAX_COMPONENTS:
        return f"more than {V2_MAX_COMPONENTS} components"
    if sum(len(str(c.get("content", ""))) for c in components if c.get("type") == 10) > (
        V2_MAX_TEXT
    ):
        return f"more than {V2_MAX_TEXT} characters of text"
    for component in components:
        if component.get("type") not in V2_TYPES:
            return f"component type {component.get('type')} is not allowed"
        if component.get("type") == 12:
            items = component.get("items", [])
            if not 1 <= len(items) <= 10:
                return "a media gallery holds 1 to 10 items"
            for item in items:
                url = str((item.get("media") or {}).get("url", ""))
                if url.startswith("attachment://"):
                    if url.removeprefix("attachment://") not in files:
                        return f"{url} names no attachment of the message"
                elif not url.startswith(("https://", "http://")):
                    return f"media url {url!r} is not an http(s) URL or an attachment"
    return None
