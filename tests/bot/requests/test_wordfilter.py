"""The blocked-word matcher: disguises folded, whole words only, fast on long lists."""

from __future__ import annotations

import pytest

from bot.requests.server_rules import sexual_terms
from bot.requests.wordfilter import BlockedWords, fold

BLOCKED = BlockedWords(["ass", "bad word", "café", "Kill"])


@pytest.mark.parametrize(
    ("prompt", "found"),
    [
        ("a fine ASS", ["ass"]),  # case
        ("aaassss in the field", ["ass"]),  # repeated letters
        ("what an @ss", ["ass"]),  # leetspeak
        ("а\u0455\u0455 in cyrillic", ["ass"]),  # look-alike letters from another script
        ("a.s.s", ["ass"]),  # letters split by separators
        ("k i l l them", ["Kill"]),
        ("ｂａｄ ｗｏｒｄ", ["bad word"]),  # full-width letters
        ("b.a.d w-o-r-d", ["bad word"]),
        ("badword", ["bad word"]),
        ("un café, merci", ["café"]),  # accents either way
        ("un cafe, merci", ["café"]),
        ("ass and bad word and ass", ["ass", "bad word"]),  # each once, in order
    ],
)
def test_disguises_are_seen_through(prompt: str, found: list[str]) -> None:
    assert BLOCKED.found_in(prompt) == found


@pytest.mark.parametrize(
    "prompt",
    [
        "Scunthorpe and Essex at sunset",  # words inside other words
        "a classic assassin in a passage",
        "as you like it",  # one s is not two
        "a skill at killing time",
        "render at 1080p with 3 cats",  # digits alone stay digits
        "",
    ],
)
def test_innocent_prompts_pass(prompt: str) -> None:
    assert BLOCKED.found_in(prompt) == []


def test_folding_keeps_numbers_and_reads_leetspeak_in_words() -> None:
    assert fold("1080p S3XY") == "1080p sexy"
    assert fold("Ünïcödé") == "unicode"


def test_an_empty_list_matches_nothing() -> None:
    assert BlockedWords([]).found_in("anything at all") == []
    assert BlockedWords(["  ", "..."]).entries == ()


def test_a_thousand_entries_compile_into_one_pattern_that_finds_them() -> None:
    entries = [f"word{chr(97 + i % 26)}{chr(97 + i // 26 % 26)}{i}" for i in range(1000)]
    big = BlockedWords(entries)
    prompt = ("lorem ipsum dolor " * 120)[:1990] + " " + entries[777]
    assert big.found_in(prompt) == [entries[777]]


def test_the_shipped_list_marks_sexual_prompts_and_spares_ordinary_ones() -> None:
    assert sexual_terms().found_in("a n.u.d.e figure on the beach") == ["nude"]
    assert sexual_terms().found_in("S3XY dancer") == ["sexy"]
    assert sexual_terms().found_in("Essex countryside, Middlesex, a nudging cat") == []


def test_an_entry_cannot_make_matching_blow_up_on_a_long_prompt() -> None:
    """Neighbouring runs of one letter could be split in polynomially many ways; the pattern
    gives none of them back. Without that this would not finish in any reasonable time."""
    hostile = BlockedWords(["xa aa aa aa aa aa aa"])
    assert hostile.found_in("x" + "a" * 1990 + "b") == []
    assert hostile.found_in("xa aa aa aa aa aa aa") == ["xa aa aa aa aa aa aa"]
