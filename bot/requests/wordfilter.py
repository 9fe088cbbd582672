"""Matching a prompt against words and phrases a server blocks, through the usual disguises.

Both the prompt and each entry are folded the same way before matching: look-alike letters
from other scripts become their Latin twins (Cyrillic a, Greek omicron…), accents and other
Unicode go to ASCII (`anyascii`), case goes, leetspeak inside words is read as letters
(`s3x`, `@ss`), and single letters split by separators are joined (`b.a.d`, `b a d`). An entry
then matches whole words only, so "Scunthorpe" is not caught by what it contains, and each of
its letters may be repeated (`baaad`), never dropped (`as` does not match `ass`).

All of a server's entries are one compiled pattern, built once per change of its list.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from anyascii import anyascii

MAX_ENTRIES: Final = 500
MAX_ENTRY_LENGTH: Final = 60
# Letters of other scripts drawn like Latin ones; anyascii would spell them phonetically.
LOOK_ALIKES: Final = str.maketrans(
    {
        "а": "a",
        "в": "b",
        "е": "e",
        "ё": "e",
        "к": "k",
        "м": "m",
        "н": "h",
        "о": "o",
        "р": "p",
        "с": "c",
        "т": "t",
        "у": "y",
        "х": "x",
        "ѕ": "s",
        "і": "i",
        "ї": "i",
        "ј": "j",
        "ԁ": "d",
        "ɡ": "g",
        "һ": "h",
        "ո": "n",
        "ս": "u",
        "α": "a",
        "β": "b",
        "ε": "e",
        "η": "n",
        "ι": "i",
        "κ": "k",
        "ν": "v",
        "ο": "o",
        "ρ": "p",
        "τ": "t",
        "υ": "u",
        "χ": "x",
    }
)
# Leetspeak, read as letters only inside words that also have letters ("1080p" stays).
LEET: Final = str.maketrans(
    {
        "0": "o",
        "1": "i",
        "3": "e",
        "4": "a",
        "5": "s",
        "7": "t",
        "@": "a",
        "$": "s",
        "!": "i",
        "|": "l",
    }
)
_WORDISH: Final = re.compile(r"[a-z0-9@$!|]+")
_DOTTED_LETTERS: Final = re.compile(r"(?<![a-z0-9])[a-z](?:[.\-_*~+]+[a-z]){2,}(?![a-z0-9])")
_SPACED_LETTERS: Final = re.compile(r"(?<!\S)[a-z](?:\s+[a-z](?!\S)){2,}")
_SEPARATORS: Final = re.compile(r"[\s.\-_*~+]+")


def _unleet(match: re.Match[str]) -> str:
    """Leetspeak in a word that is mostly letters (`s3x`, `@ss`, not `1080p`)."""
    word = match.group(0)
    letters = sum(c.isalpha() for c in word)
    return word.translate(LEET) if letters and letters >= len(word) - letters else word


def fold(text: str) -> str:
    """Text as the matcher sees it: ASCII, lower case, disguises undone."""
    plain = anyascii(text.translate(LOOK_ALIKES)).lower()
    plain = _WORDISH.sub(_unleet, plain)
    plain = _DOTTED_LETTERS.sub(lambda m: _SEPARATORS.sub("", m.group(0)), plain)
    return _SPACED_LETTERS.sub(lambda m: _SEPARATORS.sub("", m.group(0)), plain)


Token = tuple[str, int]  # a letter and how many times at least; ("", 0) between words
BETWEEN_WORDS: Final[Token] = ("", 0)


def _tokens(entry: str) -> tuple[Token, ...]:
    """The folded entry as runs of one letter; a doubled letter must stay at least doubled."""
    found: list[Token] = []
    for word in fold(entry).split():
        if found:
            found.append(BETWEEN_WORDS)
        found.extend(
            (run[0], len(run)) for run in (match.group(0) for match in re.finditer(r"(.)\1*", word))
        )
    return tuple(found)


def _token_pattern(token: Token) -> str:
    # Possessive quantifiers (`++`, `*+`): what a token took is never given back, so a prompt
    # can never make the pattern backtrack through every way of splitting a run of letters
    # between neighbouring tokens; matching stays linear in the prompt's length.
    letter, times = token
    if not letter:
        return r"[\W_]*+"  # words of a phrase: split by anything, or nothing
    return f"{re.escape(letter)}++" if times == 1 else f"{re.escape(letter)}{{{times},}}+"


class _Trie:
    def __init__(self) -> None:
        self.children: dict[Token, _Trie] = {}
        self.entry: int | None = None

    def add(self, tokens: tuple[Token, ...], entry: int) -> None:
        node = self
        for token in tokens:
            node = node.children.setdefault(token, _Trie())
        node.entry = entry

    def pattern(self) -> str:
        """One regular expression for every entry below: shared beginnings are tried once,
        and an empty named group marks where each entry ends (`match.lastgroup`)."""
        branches = [
            _token_pattern(token) + child.pattern()
            for token, child in sorted(self.children.items())
        ]
        if self.entry is not None:
            branches.append(f"(?P<e{self.entry}>)")  # after the longer ones: they win
        return branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"


def clean_entry(entry: str) -> str:
    return " ".join(entry.split())[:MAX_ENTRY_LENGTH]


class BlockedWords:
    """A server's blocked words and phrases, compiled into one pattern."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.entries = tuple(
            sorted({clean_entry(e) for e in entries if any(c.isalnum() for c in fold(e))})
        )
        trie = _Trie()
        for index, entry in enumerate(self.entries):
            trie.add(_tokens(entry), index)
        self._pattern = (
            re.compile(rf"(?<![a-z0-9])(?:{trie.pattern()})(?![a-z0-9])") if trie.children else None
        )

    def found_in(self, text: str) -> list[str]:
        """The entries the text contains, each once, in the order they appear."""
        if self._pattern is None:
            return []
        found: list[str] = []
        for match in self._pattern.finditer(fold(text)):
            group = match.lastgroup
            entry = self.entries[int(group[1:])] if group else None
            if entry is not None and entry not in found:
                found.append(entry)
        return found
