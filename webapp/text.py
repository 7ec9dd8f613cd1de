"""Text as it is stored: names and descriptions without control characters.

Whatever arrives (a form, the API, tus metadata, a file name) passes through here
before it is stored, so a CR/LF can never reach an email header (Flask-Mail refuses
the whole message), a log line or a Content-Disposition, and no bidi override
can turn a name around on a page (issue 21).
"""

import unicodedata

#: Unicode's line and paragraph separators end a line for ``str.splitlines`` and for mail headers.
LINE_BREAKS = {"\u2028", "\u2029", "\x85"}


def is_control(ch):
    """Control, format (bidi overrides, zero-width), surrogate, private-use or unassigned characters."""
    return unicodedata.category(ch)[0] == "C" or ch in LINE_BREAKS


def one_line(value):
    """A name or other one-line field: every control character removed, surrounding spaces trimmed."""
    return "".join(ch for ch in (value or "") if not is_control(ch)).strip()


def multi_line(value):
    """A description: line breaks kept as ``\\n`` (and tabs kept), every other control character removed."""
    text = (value or "").replace("\r\n", "\n").replace("\r", "\n")
    text = "".join("\n" if ch in LINE_BREAKS else ch for ch in text)
    return "".join(ch for ch in text if ch in "\n\t" or not is_control(ch)).strip()
