"""`python -m tools.catalogue`: refresh the message template and merge it into every language.

Collects every message marked in `bot/` and `cogs/` (`msg(...)` and `.tr(...)`) with Babel's
extractor, and every string Discord is given for the slash commands (read from the real cogs,
under the contexts `cogs/front_end/_language.py` translates them in), writes
`bot/locales/hailuo.pot`, and merges it into each `bot/locales/<language>/LC_MESSAGES/hailuo.po`:
new messages arrive untranslated, changed ones fuzzy, removed ones obsolete. `--check` changes
nothing and fails when the template is out of date (the test suite checks that, and that every
catalogue is complete).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Final

import discord
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po
from discord import app_commands
from discord.ext import commands

from bot.i18n import DOMAIN, Key
from cogs.credits import Credits, Quota
from cogs.front_end._language import CONTEXTS
from cogs.servers import Owner
from cogs.videos import Animate, Generate, Stories, Videos
from cogs.wallet import Wallet

ROOT: Final = Path(__file__).resolve().parent.parent
LOCALES: Final = ROOT / "bot" / "locales"
TEMPLATE: Final = LOCALES / f"{DOMAIN}.pot"
KEYWORDS: Final = {"msg": None, "tr": None}
WIDTH: Final = 100
HEADER: Final = (
    "# Messages of hailuo-bot, in English: the template every language's catalogue follows.\n"
    "# Made by `python -m tools.catalogue`; do not edit by hand."
)


class _Recorder(app_commands.Translator):
    """A translator that translates nothing and remembers every string it was asked for."""

    def __init__(self) -> None:
        self.asked: set[Key] = set()

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        self.asked.add((CONTEXTS[context.location], string.message))
        return None


async def command_strings() -> set[Key]:
    """(context, English text) of every command name, description and choice."""
    bot = commands.Bot(command_prefix=commands.when_mentioned, intents=discord.Intents.none())
    cogs = (
        Generate(bot, None),  # type: ignore[arg-type]
        Stories(bot, None),  # type: ignore[arg-type]
        Animate(bot, None),  # type: ignore[arg-type]
        Credits(bot, None),  # type: ignore[arg-type]
        Quota(bot, None),  # type: ignore[arg-type]
        Videos(bot, None),  # type: ignore[arg-type]
        Owner(bot, None),  # type: ignore[arg-type]
        Wallet(bot, None),  # type: ignore[arg-type]
    )
    for cog in cogs:
        await bot.add_cog(cog)
    recorder = _Recorder()
    for command in bot.tree.get_commands():
        await command.get_translated_payload(bot.tree, recorder)
    return recorder.asked


def marked_messages() -> set[str]:
    """The English text of every message marked in the code, and in the dashboard's templates
    (`_("...")`)."""
    found: set[str] = set()
    for package in ("bot", "cogs"):
        for _, _, message, _, _ in extract_from_dir(
            ROOT / package,
            method_map=[("**.py", "python"), ("**/templates/**.html", "jinja2")],
            options_map={"**/templates/**.html": {"trimmed": "true"}},
            keywords={**KEYWORDS, "_": None},
        ):
            if isinstance(message, str):
                found.add(message)
    return found


async def template() -> Catalog:
    catalog = Catalog(
        project="hailuo-bot",
        version="1",
        header_comment=HEADER,
        msgid_bugs_address="",
        fuzzy=False,
    )
    for message in sorted(marked_messages()):
        catalog.add(message)
    for context, text in sorted(await command_strings(), key=lambda key: (key[0] or "", key[1])):
        catalog.add(text, context=context)
    return catalog


def keys(catalog: Catalog) -> set[Key]:
    return {
        (message.context, message.id)
        for message in catalog
        if isinstance(message.id, str) and message.id
    }


def languages() -> list[Path]:
    return sorted(LOCALES.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))


def _write(path: Path, catalog: Catalog) -> None:
    with path.open("wb") as out:
        write_po(out, catalog, width=WIDTH, sort_output=True, omit_header=False)


async def refresh(check: bool) -> int:
    fresh = await template()
    current = read_po(TEMPLATE.open(encoding="utf-8")) if TEMPLATE.exists() else Catalog()
    stale = keys(fresh) ^ keys(current)
    if check:
        for context, text in sorted(stale, key=lambda key: (key[0] or "", key[1])):
            print(f"template out of date: {context or ''} {text!r}", file=sys.stderr)
        return 1 if stale else 0
    _write(TEMPLATE, fresh)
    for path in languages():
        with path.open(encoding="utf-8") as source:
            translated = read_po(source, locale=path.parent.parent.name)
        translated.update(fresh, no_fuzzy_matching=False)
        _write(path, translated)
        untranslated = sum(1 for m in translated if m.id and (not m.string or m.fuzzy))
        print(f"{path.relative_to(ROOT)}: {untranslated} message(s) to translate")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.catalogue", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only check the template")
    sys.exit(asyncio.run(refresh(parser.parse_args().check)))


if __name__ == "__main__":
    main()
