"""Matching a prompt against words and phrases a server blocks, through the usual disguises.

Both the prompt and each entry are folded the same way before matching: look-alike letters
from other scripts become their Latin twins (Cyrillic a, Greek omicron…), accents and other
Unicode go to ASCII (`anyascii`), case goes, invisible characters (zero-width spaces, soft
hyphens, variation selectors) go, every other run of characters that are neither letters nor
digits (punctuation, symbols, emoji) becomes one separator, leetspeak inside words is read as
letters (`s3x`, `@ss`), and single letters split by spaces are read as split by separators
(`b a d`).

An entry then matches whole words only, so "Scunthorpe" is not caught by what it contains; a
separator may stand between any two of its letters (`k/r/a/k/e/n`, `kra*ken`, `k🙂r🙂aken`);
each of its letters may be repeated (`baaad`), never dropped (`as` does not match `ass`); and
its last word may take the English plural or possessive: `-s`, `-es`, `-'s`, and `-ies` for a
final `y` (`krakens`, `asses`, `kraken's`, `pussies`). Verb endings (`-ed`, `-ing`) and `-er`
are left out on purpose: on the short words such lists hold they make other, ordinary words
(`butt` → `butted`, `butter`; `cock` → `cocker`); a server that wants a form adds it as an
entry.

All of a server's entries are one compiled pattern, built once per change of its list, and
matching takes time linear in the prompt's length whatever the entries (possessive
quantifiers: no token ever gives back what it took).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
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
SEPARATOR: Final = "\x01"  # what any run of punctuation, symbols or emoji folds to
_LEET_SYMBOLS: Final = frozenset("@$!|")
# Shown by nothing and read by no one: gone before matching (zero-width space and joiner, soft
# hyphen, word joiner, byte-order mark, and the variation selectors that style emoji).
_INVISIBLE: Final = frozenset({"Cf"})
_VARIATION_SELECTORS: Final = frozenset(
    [*map(chr, range(0xFE00, 0xFE10)), *map(chr, range(0xE0100, 0xE01F0))]
)
_WORDISH: Final = re.compile(r"[a-z0-9@$!|\x01]+")
_SPACED_LETTERS: Final = re.compile(r"(?<!\S)[a-z](?:\s+[a-z](?!\S)){2,}")
_LOOSE: Final = re.compile(r"[^a-z0-9@$!|\s]+")
_SEPARATORS: Final = re.compile(r"\x01+")
_LEET_LEFT: Final = re.compile(r"[@$!|]")  # symbols not read as letters


@lru_cache(maxsize=4096)
def _kind(char: str) -> str:
    """How folding treats one character: kept, a space, a separator, or dropped."""
    if char in _VARIATION_SELECTORS:
        return "drop"
    category = unicodedata.category(char)
    if category[0] in "LNM" or char in _LEET_SYMBOLS:
        return "keep"  # marks (accents) are kept for anyascii to fold with their letter
    if char.isspace():
        return "space"
    if category in _INVISIBLE:
        return "drop"
    return "separator"


def _unleet(match: re.Match[str]) -> str:
    """Leetspeak in a word that is mostly letters (`s3x`, `@ss`, `s-3-x`, not `1080p`)."""
    word = match.group(0)
    letters = sum(c.isalpha() for c in word)
    others = sum(not c.isalpha() and c != SEPARATOR for c in word)
    return word.translate(LEET) if letters and letters >= others else word


def _prepared(text: str) -> str:
    """The text with look-alikes, accents and case folded, invisible characters gone, spaces
    single, and punctuation, symbols and emoji as separators; leet symbols still there."""
    kept = []
    for char in text.translate(LOOK_ALIKES):
        kind = _kind(char)
        if kind == "keep":
            kept.append(char)
        elif kind == "space":
            kept.append(" ")
        elif kind == "separator":
            kept.append(SEPARATOR)
    plain = anyascii("".join(kept)).lower()
    return _LOOSE.sub(SEPARATOR, plain)  # what anyascii spells with symbols ("½" → "1/2")


def _finished(plain: str) -> str:
    plain = _LEET_LEFT.sub(SEPARATOR, plain)
    plain = _SEPARATORS.sub(SEPARATOR, " ".join(plain.split()))
    # Single letters split by spaces (`k r a k e n`) are split by separators, as if dotted: a
    # word of them starts wherever one does ("a k r a k e n" is "a" and "kraken").
    return _SPACED_LETTERS.sub(lambda m: SEPARATOR.join(m.group(0).split()), plain)


def fold(text: str) -> str:
    """Text as the matcher sees it: ASCII letters and digits, single spaces between words, and
    one separator where punctuation, symbols or emoji stood; disguises undone, leetspeak read
    as letters inside words that are mostly letters."""
    return _finished(_WORDISH.sub(_unleet, _prepared(text)))


def readings(text: str) -> tuple[str, ...]:
    """The ways to read the text: with leet symbols as letters (`@ss`), and as separators
    (`k|r|a|k|e|n`), when that differs."""
    prepared = _prepared(text)
    as_letters = _finished(_WORDISH.sub(_unleet, prepared))
    as_separators = _finished(prepared)
    return (as_letters,) if as_separators == as_letters else (as_letters, as_separators)


# A run of one letter in an entry: the letter, how many times at least, and whether it follows
# another letter of the same word (a separator may stand before it). ("", 0, False) stands
# between words; ("y", 1, True) with `last` for a final y, which may be spelled -ie (-ies).
Token = tuple[str, int, bool, bool]
BETWEEN_WORDS: Final[Token] = ("", 0, False, False)
# The plural or possessive an entry's last word may take: -s, -es, -'s (a separator before it).
PLURAL: Final = r"(?:\x01?e?s(?:\x01?s)*+)?"


def _tokens(entry: str) -> tuple[Token, ...]:
    """The folded entry as runs of one letter; a doubled letter must stay at least doubled."""
    found: list[Token] = []
    for word in fold(entry).replace(SEPARATOR, "").split():
        if found:
            found.append(BETWEEN_WORDS)
        runs = [match.group(0) for match in re.finditer(r"(.)\1*", word)]
        found.extend((run[0], len(run), index > 0, False) for index, run in enumerate(runs))
    if found and found[-1][:2] == ("y", 1):
        letter, times, joined, _ = found[-1]
        found[-1] = (letter, times, joined, True)
    return tuple(found)


def _token_pattern(token: Token) -> str:
    # Possessive quantifiers (`*+`, `{n,}+`): what a token took is never given back, so a
    # prompt can never make the pattern backtrack through every way of splitting a run of
    # letters between neighbouring tokens; matching stays linear in the prompt's length.
    letter, times, joined, last_y = token
    if not letter:
        return r"[\W_]*+"  # words of a phrase: split by anything, or nothing
    one = re.escape(letter)
    run = f"{one}(?:\x01?{one})*+" if times == 1 else f"{one}(?:\x01?{one}){{{times - 1},}}+"
    if last_y:
        run = f"(?:{run}|i\\x01?e)"
    return f"\x01?+{run}" if joined else run


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
            # After the longer ones, so that they win; the plural may follow.
            branches.append(f"{PLURAL}(?P<e{self.entry}>)")
        return branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"


def clean_entry(entry: str) -> str:
    """An entry as kept: control characters out, runs of spaces one space, bounded."""
    printable = "".join(c for c in entry if unicodedata.category(c) != "Cc" or c.isspace())
    return " ".join(printable.split())[:MAX_ENTRY_LENGTH]


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
        found: list[tuple[int, str]] = []
        for reading in readings(text):
            for match in self._pattern.finditer(reading):
                group = match.lastgroup
                entry = self.entries[int(group[1:])] if group else None
                if entry is not None and entry not in (e for _, e in found):
                    found.append((match.start(), entry))
        return [entry for _, entry in sorted(found, key=lambda item: item[0])]
