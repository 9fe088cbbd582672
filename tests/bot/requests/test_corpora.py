"""The blocked-word matcher against corpora: ordinary prompts are never refused, and prompts
that hide a blocked word always are. A server's words and the shipped adult list alike."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from bot.requests.server_rules import sexual_terms
from bot.requests.wordfilter import BlockedWords

CORPUS: Final = Path(__file__).parent / "corpus"
SERVER_WORDS: Final = ("kraken", "zorblax", "red fog", "pony", "bad word", "kill", "ass")
SEPARATORS: Final = ("/", ",", "'", ":", "^", "|", "!", ".", "-", "_", "*", "~", "+", "🙂", "•")


def lines(name: str) -> list[str]:
    text = (CORPUS / name).read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def shipped_single_words() -> list[str]:
    return [entry for entry in sexual_terms().entries if " " not in entry]


def evasions_by_rule() -> list[tuple[str, str]]:
    """Every shipped single word and server word, disguised each way a member might try."""
    found: list[tuple[str, str]] = []
    for word in (*shipped_single_words(), "kraken", "zorblax", "pony"):
        found += [(word, f"a {sep.join(word)} here") for sep in SEPARATORS]
        found += [
            (word, f"some {word}s here" if not word.endswith("y") else f"{word[:-1]}ies here"),
            (word, f"the {word}'s shadow"),
            (word, f"a {word[:2]}\u200b{word[2:]} hidden by a zero-width space"),
            (word, f"a {word[:1]}\u00ad{word[1:]} hidden by a soft hyphen"),
            (word, f"a {' '.join(word.upper())} shouted"),
            (word, f"a {word.replace('e', '3').replace('a', '4')} in leet"),
        ]
    return found


BLOCKED: Final = BlockedWords(SERVER_WORDS)


def test_five_hundred_ordinary_prompts_are_never_refused() -> None:
    prompts = lines("ordinary_prompts.txt")
    assert len(prompts) >= 500
    refused = [
        (prompt, found)
        for prompt in prompts
        if (found := [*sexual_terms().found_in(prompt), *BLOCKED.found_in(prompt)])
    ]
    assert refused == []


def test_every_evasion_is_refused() -> None:
    written = [tuple(line.split("\t", 1)) for line in lines("evasions.txt")]
    every = [*written, *evasions_by_rule()]
    assert len(every) > 1000
    missed = []
    for entry, prompt in every:
        if entry in SERVER_WORDS:
            refused = BLOCKED.found_in(prompt) == [entry]
        else:  # the shipped list may name a longer form of the same word ("nudes")
            refused = any(found.startswith(entry[:4]) for found in sexual_terms().found_in(prompt))
        if not refused:
            missed.append((entry, prompt))
    assert missed == [], f"{len(missed)} of {len(every)} evasions got through"
