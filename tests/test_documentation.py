"""What an owner reads agrees with what the bot does: every setting is in the README's table, in
`.env.example` and in `--help` with the same default, `.env.example` says which of its lines
are examples, and every owner's command the README shows parses as written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Final

import pytest

from bot.operations.cli import parser
from bot.settings import setting_fields, settings_help

REPO: Final = Path(__file__).resolve().parents[1]
README: Final = (REPO / "README.md").read_text(encoding="utf-8")
ENV_EXAMPLE: Final = (REPO / ".env.example").read_text(encoding="utf-8")
# Written in the README for values an owner fills in.
PLACEHOLDERS: Final = {"G": "123456789012345678", "M": "234567890123456789"}


FIELDS: Final = {field.name.upper(): field for field in setting_fields()}


def setting_names() -> set[str]:
    return set(FIELDS)


def default_of(name: str) -> str | None:
    """A setting's default as text, or None when it has none (unset, or required)."""
    field = FIELDS[name]
    if field.required:
        return None
    value = field.default
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def readme_table() -> dict[str, str]:
    """The README's configuration table: setting -> its Default cell."""
    rows = re.findall(r"^\| `([A-Z0-9_]+)` \| ([^|]+) \|", README, re.M)
    return {name: cell.strip() for name, cell in rows}


def env_example_lines() -> list[tuple[str, str, bool]]:
    """Each assignment of `.env.example`: its name, its value, and whether the comment above
    it says it is an example rather than the default."""
    found = []
    comment: list[str] = []
    after_assignment = False
    for line in ENV_EXAMPLE.splitlines():
        assignment = re.fullmatch(r"#?([A-Z0-9_]+)=(.*)", line)
        if assignment:
            # Assignments one after another share the remark above the first.
            remark = " ".join(comment)
            example = "Example" in remark or "to turn it on" in remark
            found.append((assignment.group(1), assignment.group(2), example))
            after_assignment = True
        elif line.startswith("#"):
            comment = [line] if after_assignment else [*comment, line]
            after_assignment = False
        else:
            comment, after_assignment = [], False
    return found


def test_every_setting_is_documented_in_all_three_places() -> None:
    names = setting_names()
    assert set(readme_table()) == names
    assert {name for name, _, _ in env_example_lines()} == names
    shown = set(re.findall(r"^  ([A-Z0-9_]+) ", settings_help(), re.M))
    assert shown == names


@pytest.mark.parametrize("name", sorted(setting_names()))
def test_the_readme_gives_each_settings_real_default(name: str) -> None:
    cell = readme_table()[name]
    default = default_of(name)
    if FIELDS[name].required:
        assert cell == "*required*"
    elif default is None:
        assert cell == "*unset*"
    elif default in ("0", "1") and FIELDS[name].type is bool:
        assert cell == ("on" if default == "1" else "off")
    else:
        assert cell == f"`{default}`"


def test_env_example_shows_defaults_except_where_it_says_example() -> None:
    for name, value, example in env_example_lines():
        if FIELDS[name].required:
            assert value == "", name  # to be filled in
        elif example:
            assert default_of(name) in (None, "0"), f"{name} has a default: show that instead"
        elif value:
            assert value == default_of(name), f"{name}={value} is not its default"
        else:
            assert default_of(name) is None, name


def readme_commands(prefix: str) -> list[str]:
    """Every command line of the README's code blocks that starts with `prefix`."""
    blocks = re.findall(r"^```sh\n(.*?)^```", README, re.M | re.S)
    lines = [line for block in blocks for line in block.splitlines()]
    return [line for line in lines if line.startswith(prefix)]


def test_every_owners_command_in_the_readme_parses_as_written() -> None:
    written = [
        *readme_commands(".venv/bin/python -m bot "),
        *readme_commands("docker compose exec bot python -m bot "),
        *readme_commands("docker exec hailuo-bot python -m bot "),
    ]
    assert len(written) >= 10
    for line in written:
        words = shlex.split(line, comments=True)
        arguments = words[words.index("bot", words.index("-m")) + 1 :]
        arguments = [PLACEHOLDERS.get(word, word) for word in arguments]
        if arguments in (["--help"], ["--version"]):
            continue
        parser().parse_args(arguments)  # exits (failing the test) when it does not parse


def test_every_code_block_is_closed_and_no_heading_hides_in_one() -> None:
    """A fence left open swallows the rest of the page (the PostgreSQL steps once ended that
    way, with "## Development" rendered inside a code block)."""
    inside, opened_at = False, 0
    for number, line in enumerate(README.splitlines(), start=1):
        if line.lstrip().startswith("```"):
            inside, opened_at = not inside, number
        elif inside:
            assert not line.startswith("## "), (
                f"a heading inside the code block of line {opened_at}"
            )
    assert not inside, f"the code block opened at line {opened_at} is never closed"


def test_every_module_is_named_in_the_readmes_layout() -> None:
    layout = README[README.index("## Layout") :]
    missing = [
        str(path.relative_to(REPO))
        for folder in ("bot", "cogs")
        for path in sorted((REPO / folder).rglob("*.py"))
        if path.name != "__init__.py"
        and "migrations" not in path.parts
        and "locales" not in path.parts
        and f"`{path.name}`" not in layout
        and f"`{path.stem}`" not in layout
    ]
    assert missing == []


def test_the_changelog_names_this_release_first() -> None:
    changelog = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    project = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    version = re.search(r'^version = "([^"]+)"', project, re.M)
    first = re.search(r"^## (\S+) — \d{4}-\d{2}-\d{2}$", changelog, re.M)
    assert version is not None and first is not None
    assert first[1] == version[1]


def test_the_quick_start_is_the_two_commands_in_order() -> None:
    quick = README[README.index("## Quick start") : README.index("## Docker")]
    blocks = re.findall(r"^```sh\n(.*?)^```", quick, re.M | re.S)
    assert [block.strip() for block in blocks[:2]] == [
        "python3 -m venv .venv && .venv/bin/pip install --require-hashes -r requirements.lock "
        "&& .venv/bin/pip install --no-deps . "
        "&& { [ -e .env ] || (umask 077 && cp .env.example .env); }",
        ".venv/bin/python -m bot",
    ]
    steps = re.findall(r"^### (\d)\. (.+)$", quick, re.M)
    assert [title for _, title in steps] == [
        "Create the Discord application",
        "Get an Apiframe key",
        "Install and start",
        "Invite it",
        "First steps in Discord",
    ]
