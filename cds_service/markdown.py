r"""Free text made safe for a card: `escape_markdown_text` (docs/decisions/0026).

Card text mixes the service's own wording with text the EHR or the FHIR server controls: a
draft order's name, a medication's display, an order reference. CDS Hooks 2.0 renders `detail`
as GitHub Flavored Markdown, and EHRs (the CDS Hooks Sandbox among them) turn that Markdown into
HTML with raw HTML passed through; the Sandbox rendered an `<img>` injected through a drug name.
Every value a card template or a suggestion receives goes through this one function, so the only
markup in a card is the template's own.

The escaping is aimed: text that cannot form markup is left as written ("platelets < 50",
"ANC <= 1500/µL", "days 0-30 (final)"), so ordinary drug names and the engine's sentences read
the same in a plain-text field. What could form markup is escaped:

- raw HTML, autolinks, comments and character references: `<` before anything but a space, a
  digit, `=` or the end; `>` unless a space is before it and a space, a digit or `=` after it,
  or `=` or a digit after it ("ANC > 1500", "(>= 20"; and at the start: a block quote); `&`
  before anything but a space or the end (as `&lt;`, `&gt;`, `&amp;`). With no tag able to
  open, `"` and `'` delimit nothing and stay as written ("Children's"), so a plain-text field
  shows a drug name unchanged;
- links, images, emphasis, strikethrough, code spans, table cells: the backslash, the
  backtick and `* _ [ ] ! ~ |` get a backslash (without `[` and `]` no link or image can
  form, so `(` and `)` stay as written);
- block starts at the beginning of the value: `>`, and `#`, `+`, `-`, `=` or an ordered-list
  number followed by a space, the end or the same mark ("+12" and "-3" stay as written);
- line breaks and other control characters become one space: a value stays on its line.
"""

from __future__ import annotations

import re

# C0/C1 controls, the Unicode line and paragraph separators: a value stays on one line
_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_HTML = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
# `<` / `&` that can start a tag, comment, autolink or character reference, `>` that can end a
# tag (see the docstring)
_HTML_START = re.compile(r"<(?![\s\d=]|$)|>(?![\s\d=])|(?<=\S)>(?![\d=])|&(?!\s|$)")
_INLINE = re.compile(r"([\\`*_\[\]!~|])")
# the start of a block: heading, block quote, list item, thematic break, setext underline
_BLOCK_START = re.compile(r"^(\s*)(?:(>)|([#+=-])(?=\s|$|\3)|(\d{1,9})([.)])(?=\s|$))")


# a character that one of the patterns above needs (every pattern but the block start needs one)
_ANY_SPECIAL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\\`*_\[\]!~|<>&]")


def escape_markdown_text(text: object) -> str:
    """`text` as inert card text: safe in CommonMark/GFM with inline HTML and as plain text."""
    value = str(text)
    if _ANY_SPECIAL.search(value) is None and _BLOCK_START.match(value) is None:
        # most values (numbers, the engine's sentences) need no escape: two searches instead
        # of four substitutions (0.3 us instead of 2 us per value; a status card has 14)
        return value
    value = _BREAKS.sub(" ", value)
    value = _INLINE.sub(r"\\\1", value)
    value = _HTML_START.sub(lambda m: _HTML[m.group(0)], value)
    return _BLOCK_START.sub(_escape_block_start, value, count=1)


def _escape_block_start(match: re.Match[str]) -> str:
    indent, quote, marker, number, delimiter = match.groups()
    if quote is not None:
        return f"{indent}&gt;"
    if marker is not None:
        return f"{indent}\\{marker}"
    return f"{indent}{number}\\{delimiter}"
