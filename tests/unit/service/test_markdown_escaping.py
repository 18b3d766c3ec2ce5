"""Free text from the EHR cannot form markup in a card (issue 18, docs/decisions/0026).

`escape_markdown_text` is checked by rendering what it returns with a real CommonMark renderer
(markdown-it-py) with raw HTML switched on, as EHRs that pass HTML through render `detail`: the
rendered HTML must hold the text and no element the text asked for.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from cds_service import markdown
from cds_service.markdown import escape_markdown_text
from cds_service.suggestions import cds_suggestion
from icaht.rules import Suggestion

RENDER = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
UNESCAPED_LINK = re.compile(r"(?<!\\)\]\(")  # "](" whose "]" has no backslash
TAG = re.compile(r"<(?!/?p>)[a-z/!?]", re.IGNORECASE)  # any element but the paragraph itself


def rendered(text: str, prefix: str = "") -> str:
    return RENDER.render(prefix + escape_markdown_text(text))


@pytest.mark.parametrize(
    "hostile",
    [
        "<img src=x onerror=alert(1)>",
        "Warfarin <script>alert(1)</script> 5 mg",
        "[click](javascript:alert(1))",
        "![x](http://evil)",
        "<https://evil.example>",
        "<!-- hidden -->",
        "**bold** _em_ ~~gone~~ `code`",
        "&lt;img src=x onerror=alert(1)&gt;",  # entities that would decode into a tag's text
        "a | b",
    ],
)
def test_hostile_text_renders_as_text_without_elements(hostile: str) -> None:
    for prefix in ("", "**Why:** ", "- "):  # mid-line, after the template's markup, in a list
        html = rendered(hostile, prefix)
        body = html.removeprefix("<ul>\n<li>").removeprefix("<p>").replace("<strong>", "")
        body = body.replace("</strong>", "")
        assert not TAG.search(body.replace("</li>\n</ul>", "")), html
        assert "<a " not in html and "<img" not in html and "<em>" not in html, html


def test_the_img_payload_keeps_no_raw_tag_and_no_link_syntax() -> None:
    text = escape_markdown_text("<img src=x onerror=alert(1)> [click](javascript:alert(1))")
    assert "<img" not in text and not UNESCAPED_LINK.search(text)
    assert text == r"&lt;img src=x onerror=alert(1)&gt; \[click\](javascript:alert(1))"


def test_a_name_with_newlines_and_a_heading_mark_stays_on_its_line() -> None:
    text = escape_markdown_text("Warfarin\n# 5 mg\r\n> quoted\u2028- item")
    assert "\n" not in text and "\r" not in text and "\u2028" not in text
    assert text == "Warfarin # 5 mg > quoted - item"  # mid-line: no block can start there
    html = RENDER.render(escape_markdown_text("# 5 mg\n- item"))
    assert "<h1>" not in html and "<li>" not in html and "# 5 mg - item" in html


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("# heading", r"\# heading"),
        ("> quote", "&gt; quote"),
        ("- item", r"\- item"),
        ("+ item", r"\+ item"),
        ("---", r"\---"),
        ("1. first", r"1\. first"),
    ],
)
def test_a_block_start_at_the_beginning_is_escaped(text: str, escaped: str) -> None:
    assert escape_markdown_text(text) == escaped
    assert RENDER.render(escaped).startswith("<p>")


@pytest.mark.parametrize(
    "plain",
    [
        "Warfarin 5 mg tablet (Coumadin)",
        "Children's paracetamol",
        "platelets < 50 x10^9/L, ANC <= 1500/µL",
        "ANC > 1500/µL (transient)",
        "platelet recovery (>= 20 x10^9/L)",
        "days 0-30",
        "+12",
        "-3",
        "Grade 3, unconfirmed: it rests on one value",
    ],
)
def test_text_that_cannot_form_markup_is_left_as_written(plain: str) -> None:
    """Ordinary names and the engine's sentences read the same in plain-text fields."""
    assert escape_markdown_text(plain) == plain


def test_suggestion_labels_and_descriptions_are_escaped() -> None:
    hostile = "<img src=x onerror=alert(1)>"
    suggestion = Suggestion(
        f"Order irradiated platelets instead of {hostile}",
        "replace",
        "blood_product",
        product="platelets",
        irradiated=True,
        replaces="ServiceRequest/[x](javascript:alert(1))",
    )
    made = cds_suggestion(suggestion, "p1", "card-key")
    assert made is not None
    texts = [made["label"], *(action["description"] for action in made["actions"])]
    assert len(texts) == 3
    for text in texts:
        assert "<img" not in text and not UNESCAPED_LINK.search(text), text


def _escaped_by_the_four_patterns(text: str) -> str:
    """escape_markdown_text without its shortcut for values that need no escape."""
    value = markdown._BREAKS.sub(" ", text)
    value = markdown._INLINE.sub(r"\\\1", value)
    value = markdown._HTML_START.sub(lambda m: markdown._HTML[m.group(0)], value)
    return markdown._BLOCK_START.sub(markdown._escape_block_start, value, count=1)


_MARKDOWN_ALPHABET = st.sampled_from(
    list("aZ 0912.)#+=->< &\\`*_[]!~|\"'\t\n\r\x00\x1f\x7f\x85\x9f\u2028\u2029\u00a0\u3000µ")
)


@settings(max_examples=2000, deadline=None)
@given(st.lists(_MARKDOWN_ALPHABET, max_size=12).map("".join))
def test_the_shortcut_for_plain_values_changes_no_escape(text: str) -> None:
    assert escape_markdown_text(text) == _escaped_by_the_four_patterns(text)


@pytest.mark.parametrize(
    "text", ["days 0-30", "12", "1. x", " - x", "ANC > 1500", "=", "#", "Grade 3 (final)", ""]
)
def test_the_shortcut_on_common_values(text: str) -> None:
    assert escape_markdown_text(text) == _escaped_by_the_four_patterns(text)
