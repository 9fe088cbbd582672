"""Reading what a request carries (path parts, query strings, form fields) into values the
database can hold: anything else is "not there", never an error page."""

from __future__ import annotations

from typing import Final

from aiohttp import web

from bot.i18n import Language
from bot.money.rules import EntryKind

BIGGEST: Final = 2**63 - 1  # what both engines store; Discord's ids fit


def whole_number(text: str | None) -> int | None:
    """A whole number a database column can hold, or None."""
    try:
        number = int(text) if text else None
    except ValueError:
        return None
    return number if number is None or abs(number) <= BIGGEST else None


def id_in_path(request: web.Request, name: str) -> int:
    number = whole_number(request.match_info[name])
    if number is None:
        raise web.HTTPNotFound()
    return number


class FormRefused(Exception):
    """A form field out of its bounds: the sentence to show, already in the reader's language."""


def bounded(value: object, bounds: range, lang: Language) -> int:
    """A form's number within `bounds`, or `FormRefused` saying which numbers it takes."""
    number = whole_number(str(value or ""))
    if number is None or number not in bounds:
        raise FormRefused(
            lang.tr(
                "Give a whole number from {low} to {high}.", low=bounds.start, high=bounds.stop - 1
            )
        )
    return number


def entry_kind(text: str | None) -> EntryKind | None:
    try:
        return EntryKind(text) if text else None
    except ValueError:
        return None


def local_path(text: str | None, prefix: str) -> str | None:
    """A place to go back to after logging in, when it is one of the dashboard's own."""
    if text and text.startswith(f"{prefix}/") and "//" not in text and "\\" not in text:
        return text
    return None
