"""Which release of hailuo-bot this is: the version in pyproject.toml, as installed. It changes
with every release, and `CHANGELOG.md` says what each one changed for an owner."""

from __future__ import annotations

from functools import cache


@cache
def version() -> str:
    from importlib import metadata  # noqa: PLC0415 - read once, when first asked

    try:
        return metadata.version("hailuo-bot")
    except metadata.PackageNotFoundError:
        return "unknown (not installed: run pip install . in the clone)"
