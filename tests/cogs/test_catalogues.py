"""The message catalogues: complete, consistent with the code, and safe to render."""

from __future__ import annotations

import re

import pytest

from bot.i18n import ENGLISH, Catalogues, Language, Text, Words, catalogues, msg, placeholders
from tools import catalogue

# Discord's rule for command and option names (lower case where the script has case).
COMMAND_NAME = re.compile(r"^[-_\w]{1,32}$")
SHIPPED = [code for code in catalogues().codes if code != ENGLISH]


@pytest.fixture
async def template_keys() -> set[tuple[str | None, str]]:
    return catalogue.keys(await catalogue.template())


def test_german_ships() -> None:
    assert "de" in SHIPPED


async def test_the_template_on_disk_is_up_to_date(
    template_keys: set[tuple[str | None, str]],
) -> None:
    assert await catalogue.refresh(check=True) == 0
    assert len(template_keys) > 250  # messages and command strings both found


@pytest.mark.parametrize("code", SHIPPED)
async def test_every_message_is_translated_in_every_catalogue(
    code: str, template_keys: set[tuple[str | None, str]]
) -> None:
    language = catalogues()[code]
    missing = sorted(
        (context or "", msgid)
        for context, msgid in template_keys
        if not language.has(msgid, context)
    )
    assert missing == []
    stale = sorted((c or "", m) for c, m in language.keys - template_keys)
    assert stale == []


@pytest.mark.parametrize("code", SHIPPED)
def test_placeholders_match_and_every_translation_renders(code: str) -> None:
    language = catalogues()[code]
    for context, msgid in language.keys:
        translated = language.template(msgid, context)
        assert placeholders(translated) == placeholders(msgid), msgid
        values = dict.fromkeys(placeholders(msgid), 1234)
        assert translated.format(**values)  # format specs such as {size:.1f} hold


@pytest.mark.parametrize("code", SHIPPED)
async def test_command_strings_obey_discords_limits(code: str) -> None:
    language = catalogues()[code]
    for context, english in await catalogue.command_strings():
        assert context is not None
        translated = language.command(english, context)
        assert translated is not None, english
        if context == "command name" and not COMMAND_NAME.match(english):
            # A message command's name ("Animate with Hailuo"): any case, spaces, 1 to 32.
            assert 1 <= len(translated) <= 32, translated
        elif context == "command name":
            assert COMMAND_NAME.match(translated) and translated == translated.lower(), translated
        else:
            assert 1 <= len(translated) <= 100, translated


def test_the_members_language_comes_first_then_the_servers_then_english() -> None:
    books = catalogues()
    assert books.choose("de", "en-US").code == "de"
    assert books.choose("ja", "de").code == "de"
    assert books.choose("en-GB", "de").code == ENGLISH
    assert books.choose("ja", "ko").code == ENGLISH
    assert books.choose(None, None).code == ENGLISH
    assert books.find("de-AT") is books["de"]  # a regional variant finds its language


def test_rendering_fills_nested_texts_in_the_same_language() -> None:
    german = Language("de", {(None, "The start image `{filename}`"): "Das Startbild `{filename}`"})
    german_problem = Language(
        "de",
        {
            (None, "The start image `{filename}`"): "Das Startbild `{filename}`",
            (None, "{image} is empty: attach the picture again."): "{image} ist leer.",
        },
    )
    label = msg("The start image `{filename}`", filename="a{b}.png")
    problem = msg("{image} is empty: attach the picture again.", image=label)
    assert german.render(label) == "Das Startbild `a{b}.png`"  # braces in values stay values
    assert german_problem.render(problem) == "Das Startbild `a{b}.png` ist leer."
    assert str(problem) == "The start image `a{b}.png` is empty: attach the picture again."
    listed = msg("Used: {items}.", items=Words(lambda lang: lang.code))
    assert german.render(listed) == "Used: de."


def test_a_broken_translation_falls_back_to_english_instead_of_failing() -> None:
    broken = Language("xx", {(None, "You have {balance} credits."): "{saldo} Credits"})
    assert broken.tr("You have {balance} credits.", balance=3) == "You have 3 credits."


def test_stored_sentences_are_translated_only_when_they_are_messages() -> None:
    german = catalogues()["de"]
    assert german.known("The video could not be made.") == "Das Video konnte nicht erstellt werden."
    assert german.known("Apiframe: content policy") == "Apiframe: content policy"


def test_a_catalogue_without_english_still_speaks_english() -> None:
    books = Catalogues([Language("de")])
    assert books.codes == ("de", ENGLISH)
    assert books.choose("fr").render(Text("Hi {name}", (("name", "Ana"),))) == "Hi Ana"
