"""Hailuo 02's camera moves: the `camera` option, and moves written by hand in brackets.

The model reads directions in square brackets in the prompt, up to three combined in one
bracket, e.g. `[Pan left,Pedestal up]`. Pure functions: text in, moves or problems out.
"""

from __future__ import annotations

import difflib
import re
from typing import Final

from bot.i18n import Text, msg

MOVES: Final = (
    "Truck left",
    "Truck right",
    "Pan left",
    "Pan right",
    "Push in",
    "Pull out",
    "Pedestal up",
    "Pedestal down",
    "Tilt up",
    "Tilt down",
    "Zoom in",
    "Zoom out",
    "Shake",
    "Tracking shot",
    "Static shot",
)
MAX_COMBINED: Final = 3
_BY_KEY: Final = {move.lower(): move for move in MOVES}
_BRACKETS: Final = re.compile(r"\[([^\[\]]{1,80})\]")


def _key(text: str) -> str:
    return " ".join(text.split()).lower()


def closest(text: str) -> str | None:
    found = difflib.get_close_matches(_key(text), list(_BY_KEY), n=1, cutoff=0.6)
    return _BY_KEY[found[0]] if found else None


def parse_moves(option: str) -> tuple[tuple[str, ...], list[Text]]:
    """The moves named in the `camera` option (comma-separated), and a problem for each name
    that is not a move (with the closest one) or for more than three."""
    moves: list[str] = []
    problems: list[Text] = []
    for part in (piece for piece in option.split(",") if piece.strip()):
        move = _BY_KEY.get(_key(part))
        if move is None:
            hint = closest(part)
            name = part.strip()[:40]
            problems.append(
                msg("`{name}` is not a camera move: did you mean `{hint}`?", name=name, hint=hint)
                if hint
                else msg(
                    "`{name}` is not a camera move: pick one from the list as you type.",
                    name=name,
                )
            )
        elif move not in moves:
            moves.append(move)
    if len(moves) > MAX_COMBINED:
        problems.append(
            msg(
                "At most {most} camera moves can be combined; you gave {given}.",
                most=MAX_COMBINED,
                given=len(moves),
            )
        )
    return tuple(moves), problems


def bracket_problems(prompt: str) -> list[Text]:
    """Hand-written moves that are almost, but not quite, a move the model knows (a typo the
    model would silently ignore). Brackets far from any move are left alone."""
    problems: list[Text] = []
    for group in _BRACKETS.findall(prompt):
        for part in group.split(","):
            if _key(part) in _BY_KEY or not part.strip():
                continue
            hint = closest(part)
            if hint is not None:
                problems.append(
                    msg(
                        "`[{name}]` in the prompt is not a camera move the model knows: "
                        "did you mean `[{hint}]`?",
                        name=part.strip(),
                        hint=hint,
                    )
                )
    return problems


def with_moves(prompt: str, moves: tuple[str, ...]) -> str:
    """The prompt with the moves added in the model's syntax."""
    return f"{prompt} [{','.join(moves)}]" if moves else prompt


def suggestions(typed: str, limit: int = 25) -> list[str]:
    """Autocomplete for the `camera` option: the moves that complete what was typed so far,
    after the moves already chosen (`Pan left, Ped` → `Pan left, Pedestal up`, …)."""
    *chosen_parts, current = typed.split(",") if typed else [""]
    chosen = [_BY_KEY[_key(part)] for part in chosen_parts if _key(part) in _BY_KEY]
    if len(chosen) >= MAX_COMBINED:
        return [", ".join(chosen)]
    needle = _key(current)
    matches = [move for move in MOVES if move not in chosen and needle in move.lower()]
    prefix = ", ".join(chosen)
    return [f"{prefix}, {move}" if prefix else move for move in matches][:limit]
