"""Reading ids, counts and byte lengths from request text with ASCII digits only.

``str.isdigit()`` is true for "²" and ``int()`` reads "٣" (Arabic-Indic three)
or "1_000", so a check with one and a parse with the other either turns
another script's digits into an id or raises where nothing expects it (a 500).
Every number a client sends goes through this module instead.
"""

import re

from werkzeug.routing import IntegerConverter

ASCII_DIGITS = re.compile(r"[0-9]+")
ASCII_INTEGER = re.compile(r"[+-]?[0-9]+")


def ascii_whole_number(text, max_digits):
    """The text as an int when it is 1 to ``max_digits`` ASCII digits and nothing else, else None."""
    if not isinstance(text, str) or len(text) > max_digits or not ASCII_DIGITS.fullmatch(text):
        return None
    return int(text)


def ascii_integer(text, max_digits=19):
    """The text as an int when it is an optional sign and ASCII digits (surrounding blanks allowed), else None."""
    if not isinstance(text, str):
        return None
    text = text.strip()
    if len(text.lstrip("+-")) > max_digits or not ASCII_INTEGER.fullmatch(text):
        return None
    return int(text)


class AsciiIntegerConverter(IntegerConverter):
    """Werkzeug's ``int`` URL converter matching ``[0-9]+`` (its ``\\d+`` also matches other scripts' digits)."""

    regex = r"[0-9]+"
