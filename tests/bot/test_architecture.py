"""The tree shows the architecture, and the imports keep to it: each area of `bot/` imports only
areas below it, nothing in `bot/` imports `cogs/`, only the Discord client's package imports
discord, and the front end's features are packages that reach each other only through what the
front end shares."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Final

REPO = Path(__file__).resolve().parents[2]
# From the bottom up; an area may import its own modules and those of any area below it.
LAYERS: Final = (
    (
        "shared helpers",
        (
            "bot",
            "bot.settings",
            "bot.errors",
            "bot.i18n",
            "bot.clock",
            "bot.logs",
            "bot.metrics",
            "bot.backoff",
            "bot.sessions",
            "bot.locales",
            "bot.release",
        ),
    ),
    ("media and requests", ("bot.media", "bot.requests")),
    ("apiframe", ("bot.apiframe",)),
    ("jobs", ("bot.jobs",)),
    ("money", ("bot.money",)),
    ("store", ("bot.store",)),
    ("operations", ("bot.operations",)),
    ("workflows", ("bot.studio", "bot.runner", "bot.services", "bot.stories")),
    ("dashboard", ("bot.dashboard",)),
    ("assembly", ("bot.assembly",)),
    ("discord client", ("bot.client", "bot.__main__")),
    ("front end", ("cogs",)),
)


def layer_of(module: str) -> int:
    for rank, (_, prefixes) in enumerate(LAYERS):
        if any(
            module == prefix or (prefix != "bot" and module.startswith(f"{prefix}."))
            for prefix in prefixes
        ):
            return rank
    raise AssertionError(f"{module} belongs to no layer: add it to one (and to the README)")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> list[str]:
    """Every module a file imports, at its top or inside a function."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
    return found


def sources() -> list[Path]:
    return sorted([*(REPO / "bot").rglob("*.py"), *(REPO / "cogs").rglob("*.py")])


def test_every_area_imports_only_the_areas_below_it() -> None:
    upward = []
    for path in sources():
        importer = module_name(path)
        rank = layer_of(importer)
        for imported in imports(path):
            if imported.split(".")[0] not in ("bot", "cogs") or imported == "bot":
                continue
            if layer_of(imported) > rank:
                upward.append(
                    f"{importer} ({LAYERS[rank][0]}) imports {imported} "
                    f"({LAYERS[layer_of(imported)][0]})"
                )
    assert upward == []


def test_only_the_client_speaks_discord_and_nothing_in_bot_imports_cogs() -> None:
    client = REPO / "bot" / "client"
    crossing = [
        f"{module_name(path)} imports {imported}"
        for path in sources()
        if path.is_relative_to(REPO / "bot") and not path.is_relative_to(client)
        for imported in imports(path)
        if imported.split(".")[0] in ("discord", "cogs")
    ]
    assert crossing == []


def test_the_assembly_builds_everything_without_discord() -> None:
    """What decides is built and wired without Discord: the assembly imports no discord, and
    the client package is small (the bot class, its start-up, what the dashboard asks)."""
    assert not [
        imported
        for imported in imports(REPO / "bot" / "assembly.py")
        if imported.split(".")[0] == "discord"
    ]
    modules = sorted(path.name for path in (REPO / "bot" / "client").glob("*.py"))
    assert modules == ["__init__.py", "bot.py", "directory.py", "startup.py"]


# A feature may use the front end, and the front end the buttons that go on its cards; other
# than that, features do not reach into each other's private modules.
SHARED_ACROSS_FEATURES: Final = {
    "cogs.front_end",
    "cogs.videos._buttons",
    "cogs.videos._options",
    "cogs.videos._words",
}


def test_each_feature_is_a_package_that_keeps_to_itself() -> None:
    features = sorted(
        path.name for path in (REPO / "cogs").iterdir() if (path / "__init__.py").is_file()
    )
    assert {"front_end", "videos", "credits"} <= set(features)
    reaching = []
    for path in sorted((REPO / "cogs").rglob("*.py")):
        importer = module_name(path)
        own = ".".join(importer.split(".")[:2])
        for imported in imports(path):
            if not imported.startswith("cogs.") or imported.startswith(own):
                continue
            if not any(
                imported == shared or imported.startswith(f"{shared}.")
                for shared in SHARED_ACROSS_FEATURES
            ):
                reaching.append(f"{importer} imports {imported}")
    assert reaching == []


def test_every_area_says_what_it_holds_and_promises() -> None:
    for package in sorted((REPO / "bot").glob("*/__init__.py")):
        if package.parent.name in ("locales",) or package.parent.name.endswith("migrations"):
            continue
        doc = ast.get_docstring(ast.parse(package.read_text(encoding="utf-8")))
        assert doc and len(doc.splitlines()) > 3, package
