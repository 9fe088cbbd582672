"""Every text a member reads, in their language.

Texts are written in English where they are decided, with named placeholders (`{price}`):
`msg(...)` keeps one as a `Text` to be rendered later by the front end (a refusal decided in
`bot/`), and `Language.tr(...)` renders one at once. Translations live in gettext catalogues,
`bot/locales/<language>/LC_MESSAGES/hailuo.po`, read with Babel. A message missing from a
catalogue (or marked fuzzy) is shown in English rather than not at all.

Which language: the member's own (Discord's interaction locale) when a catalogue exists for it,
else the server's preferred locale, else English. A job remembers the language it was asked in,
so its card and its outcome speak it too, after a restart as well.
"""

from __future__ import annotations

import functools
import hashlib
import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

ENGLISH: Final = "en"
DOMAIN: Final = "hailuo"

Key = tuple[str | None, str]  # (context, msgid)


@dataclass(frozen=True, slots=True)
class Text:
    """A message not yet rendered: its English text (the msgid) and its values."""

    msgid: str
    params: tuple[tuple[str, object], ...] = ()

    def __str__(self) -> str:
        return ENGLISH_ONLY.render(self)


@dataclass(frozen=True, slots=True)
class Words:
    """A value that the rendering language writes out itself (a list of phrases, say)."""

    write: Callable[[Language], str]


def msg(msgid: str, /, **params: object) -> Text:
    """Mark a text for translation, to be rendered in the reader's language later."""
    return Text(msgid, tuple(params.items()))


def placeholders(template: str) -> set[str]:
    """The named fields of a message (`{price}`, `{size:.1f}` -> price, size)."""
    return {
        field.split(".", 1)[0].split("[", 1)[0]
        for _, field, _, _ in string.Formatter().parse(template)
        if field
    }


class Language:
    """One catalogue: renders texts and looks up command strings in one language."""

    def __init__(self, code: str, messages: Mapping[Key, str] | None = None) -> None:
        self.code = code
        self._messages: dict[Key, str] = dict(messages or {})

    def __repr__(self) -> str:
        return f"Language({self.code!r}, {len(self._messages)} messages)"

    def has(self, msgid: str, context: str | None = None) -> bool:
        return (context, msgid) in self._messages

    @property
    def keys(self) -> frozenset[Key]:
        return frozenset(self._messages)

    def template(self, msgid: str, context: str | None = None) -> str:
        return self._messages.get((context, msgid), msgid)

    def tr(self, msgid: str, /, **params: object) -> str:
        """Render a message now: the translation, with its values filled in."""
        values = {name: self._written(value) for name, value in params.items()}
        for template in (self.template(msgid), msgid):
            try:
                return template.format(**values)
            except (KeyError, IndexError, ValueError, AttributeError):
                continue  # a broken translation must not cost the member their answer
        return msgid

    def _written(self, value: object) -> object:
        if isinstance(value, Text):
            return self.render(value)
        if isinstance(value, Words):
            return value.write(self)
        return value

    def render(self, text: Text) -> str:
        return self.tr(text.msgid, **dict(text.params))

    def known(self, text: str) -> str:
        """A stored sentence (a job's failure reason) in this language when it is a message
        of the catalogue, else as stored (Apiframe's own words stay as Apiframe wrote them)."""
        return self._messages.get((None, text), text)

    def command(self, text: str, context: str) -> str | None:
        """A slash command's name, description or choice, or None where none is translated."""
        return self._messages.get((context, text))


ENGLISH_ONLY: Final = Language(ENGLISH)


class Catalogues:
    """The languages the bot speaks, English always among them. Each catalogue is read the
    first time a member needs it, so a start (and an English answer) reads none."""

    def __init__(
        self, languages: Iterable[Language] = (), sources: Mapping[str, Path] | None = None
    ) -> None:
        self._languages = {language.code: language for language in languages}
        self._languages.setdefault(ENGLISH, ENGLISH_ONLY)
        self._sources = {
            code: source for code, source in (sources or {}).items() if code not in self._languages
        }

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(sorted({*self._languages, *self._sources}))

    def __getitem__(self, code: str) -> Language:
        found = self._languages.get(code)
        if found is None:
            source = self._sources[code]  # KeyError: not a language of the bot's
            found = read_catalogue(code, source.read_text(encoding="utf-8"))
            self._languages[code] = found
        return found

    def find(self, locale: str | None) -> Language | None:
        """The catalogue for a Discord locale (`de`, `es-ES`, `en-US`), by exact code or by
        its language alone."""
        if not locale:
            return None
        code = locale.replace("_", "-")
        for candidate in (code, code.split("-", 1)[0]):
            if candidate in self._languages or candidate in self._sources:
                return self[candidate]
        return None

    def choose(self, *locales: str | None) -> Language:
        """The first of the given locales the bot speaks (the member's, then the server's),
        else English."""
        for locale in locales:
            found = self.find(locale)
            if found is not None:
                return found
        return self._languages[ENGLISH]


def read_catalogue(code: str, source: str) -> Language:
    """One PO file's translated, non-fuzzy messages."""
    from babel.messages.pofile import read_po  # noqa: PLC0415 - the first time one is needed

    catalog = read_po(iter(source.splitlines(keepends=True)), locale=code.replace("-", "_"))
    messages: dict[Key, str] = {}
    for message in catalog:
        if not message.id or message.fuzzy or not isinstance(message.id, str):
            continue
        if isinstance(message.string, str) and message.string:
            messages[(message.context, message.id)] = message.string
    return Language(code, messages)


LOCALES: Final = Path(__file__).resolve().parent / "locales"


def _shipped() -> dict[str, Path]:
    root = LOCALES
    found = {}
    for folder in root.iterdir():
        po = folder.joinpath("LC_MESSAGES", f"{DOMAIN}.po")
        if folder.is_dir() and po.is_file():
            found[folder.name] = po
    return found


@functools.cache
def catalogues() -> Catalogues:
    """The catalogues shipped in the package, each read once, when first needed."""
    return Catalogues(sources=_shipped())


@functools.cache
def catalogues_fingerprint() -> str:
    """A digest of every shipped catalogue's text: a new or changed translation changes it,
    without reading any of them."""
    digest = hashlib.sha256()
    for code, po in sorted(_shipped().items()):
        digest.update(code.encode() + b"\0" + po.read_bytes() + b"\0")
    return digest.hexdigest()
