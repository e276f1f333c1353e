"""The fake Bot API's reading of Telegram HTML: what it refuses, what the user sees."""

from __future__ import annotations

import html

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.dev.telegram_html import HtmlError, visible_text


@pytest.mark.parametrize(
    ("markup", "shown"),
    [
        (
            "<b>bold</b> <strong>s</strong> <i>it</i> <em>e</em> <u>u</u> <s>x</s>",
            "bold s it e u x",
        ),
        ('<a href="https://example.com/?a=1&amp;b=2">a &lt;link&gt;</a>', "a <link>"),
        ('<pre><code class="language-python">x = 1 &amp; 2</code></pre>', "x = 1 & 2"),
        ("<blockquote expandable>q</blockquote><span class=tg-spoiler>s</span>", "qs"),
        ("<tg-spoiler>s</tg-spoiler> &#65;&#x42; &quot;", 's AB "'),
        ("a & b &foo; > c", "a & b &foo; > c"),  # Telegram keeps a bare & and >
        ('<a href="x>y">z</>', "z"),  # a quoted `>`; `</>` closes the innermost tag
        ("<B>upper</B>", "upper"),
    ],
)
def test_valid_markup_shows_its_text(markup: str, shown: str) -> None:
    assert visible_text(markup) == shown


@pytest.mark.parametrize(
    ("markup", "error"),
    [
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("é</b>", "Unexpected end tag at byte offset 2"),  # UTF-8 bytes, not characters
        ("<h1>x</h1>", 'Unsupported start tag "h1" at byte offset 0'),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler"'),
        ("<b", "Unclosed start tag at byte offset 0"),
        ('<a href="x', "Unclosed start tag at byte offset 0"),
        ("<b>x</b", "Unclosed end tag at byte offset 4"),
    ],
)
def test_invalid_markup_is_refused(markup: str, error: str) -> None:
    with pytest.raises(HtmlError) as info:
        visible_text(markup)
    assert str(info.value) == error


@given(st.text())
def test_escaped_text_shows_as_itself(text: str) -> None:
    assert visible_text(html.escape(text, quote=False)) == text
    assert visible_text(f"<b>{html.escape(text)}</b>") == text
