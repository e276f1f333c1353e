"""The agent's Markdown rendered per channel (channels/render/): every construct in each dialect,
images in their place, splitting on the rendered form, and property tests over generated
Markdown."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels.capabilities import SMS, TELEGRAM, WHATSAPP, WHATSAPP_VIA_TWILIO, Capabilities
from channels.render import html_to_plain, render_reply
from channels.textsplit import TRUNCATED
from gateway.dev.telegram_html import visible_text
from gateway.messages import ReplyPart
from tests.auxil.telegram_html import telegram_html_errors

DIALECTS = {"html": TELEGRAM, "whatsapp": WHATSAPP, "plain": SMS}
UNLIMITED = 10**9


def one(markdown: str, caps: Capabilities) -> str:
    """The single text part `markdown` renders to."""
    parts = render_reply(markdown, replace(caps, max_text_units=UNLIMITED))
    assert len(parts) == 1 and parts[0].image_url is None, parts
    return parts[0].text


# (markdown, Telegram HTML, WhatsApp, SMS)
CONSTRUCTS = [
    ("**bold**", "<b>bold</b>", "*bold*", "bold"),
    ("__bold__", "<b>bold</b>", "*bold*", "bold"),
    ("*italic*", "<i>italic</i>", "_italic_", "italic"),
    ("~~gone~~", "<s>gone</s>", "~gone~", "gone"),
    ("`x = 1`", "<code>x = 1</code>", "`x = 1`", "x = 1"),
    ("**bold *both***", "<b>bold <i>both</i></b>", "*bold _both_*", "bold both"),
    (
        "a [link](https://example.com/a?b=1&c=2) here",
        'a <a href="https://example.com/a?b=1&amp;c=2">link</a> here',
        "a link (https://example.com/a?b=1&c=2) here",
        "a link (https://example.com/a?b=1&c=2) here",
    ),
    (
        "<https://example.com>",
        '<a href="https://example.com">https://example.com</a>',
        "https://example.com",
        "https://example.com",
    ),
    ("[mail](mailto:a@b.c)", "mail (mailto:a@b.c)", "mail (mailto:a@b.c)", "mail (mailto:a@b.c)"),
    ("# Title", "<b>Title</b>", "*Title*", "Title"),
    (
        "### Title *it*\ntext",
        "<b>Title <i>it</i></b>\ntext",
        "*Title _it_*\ntext",
        "Title it\ntext",
    ),
    ("# Title\n\ntext", "<b>Title</b>\n\ntext", "*Title*\n\ntext", "Title\n\ntext"),
    (
        "Steps:\n1. one\n2. two",
        "Steps:\n1. one\n2. two",
        "Steps:\n1. one\n2. two",
        "Steps:\n1. one\n2. two",
    ),
    ("- one\n- two", "• one\n• two", "- one\n- two", "- one\n- two"),
    ("3. three\n4. four", "3. three\n4. four", "3. three\n4. four", "3. three\n4. four"),
    (
        "- one\n  - nested\n    more\n- two",
        "• one\n  • nested\n    more\n• two",
        "- one\n  - nested\n    more\n- two",
        "- one\n  - nested\n    more\n- two",
    ),
    (
        "intro\n\n1. first\n\n   second paragraph\n2. next",
        "intro\n\n1. first\n   second paragraph\n2. next",
        "intro\n\n1. first\n   second paragraph\n2. next",
        "intro\n\n1. first\n   second paragraph\n2. next",
    ),
    (
        "> quoted **b**\n> line\n>\n> again",
        "<blockquote>quoted <b>b</b>\nline\n\nagain</blockquote>",
        "> quoted *b*\n> line\n>\n> again",
        "quoted b\nline\n\nagain",
    ),
    (
        "```python\nif a < b:\n    print('&')\n```",
        "<pre><code class=\"language-python\">if a &lt; b:\n    print('&amp;')</code></pre>",
        "```if a < b:\n    print('&')```",
        "if a < b:\n    print('&')",
    ),
    ("    indented code", "<pre>indented code</pre>", "```indented code```", "indented code"),
    ("a\n\n---\n\nb", "a\n\n———\n\nb", "a\n\n———\n\nb", "a\n\n---\n\nb"),
    (
        "| a | b |\n|---|---|\n| 1 | 2 |",
        "<b>a</b> | <b>b</b>\n1 | 2",
        "*a* | *b*\n1 | 2",
        "a | b\n1 | 2",
    ),
    ("x < y && z > w", "x &lt; y &amp;&amp; z &gt; w", "x < y && z > w", "x < y && z > w"),
    ("\\*not bold\\*", "*not bold*", "*not bold*", "*not bold*"),
    ("a <br> b", "a &lt;br&gt; b", "a <br> b", "a <br> b"),
    ("**a\nb**", "<b>a\nb</b>", "*a*\n*b*", "a\nb"),
]


@pytest.mark.parametrize("dialect", list(DIALECTS))
@pytest.mark.parametrize(("markdown", "html", "whatsapp", "plain"), CONSTRUCTS)
def test_every_construct_in_every_dialect(
    dialect: str, markdown: str, html: str, whatsapp: str, plain: str
) -> None:
    expected = {"html": html, "whatsapp": whatsapp, "plain": plain}[dialect]
    assert render_reply(markdown, DIALECTS[dialect]) == [ReplyPart(expected, dialect)]
    if dialect == "html":
        assert telegram_html_errors(expected) == []


def test_whatsapp_over_twilio_renders_whatsapp_markup() -> None:
    assert one("**hi** _there_", WHATSAPP_VIA_TWILIO) == "*hi* _there_"


def test_telegram_nesting_rules() -> None:
    # A link contains no code; quotes do not nest; code contains nothing.
    assert one("[`run`](https://x.y)", TELEGRAM) == '<a href="https://x.y">run</a>'
    assert one("> a\n>\n> > b", TELEGRAM) == "<blockquote>a\n\nb</blockquote>"
    assert one("**`x`**", TELEGRAM) == "<b><code>x</code></b>"
    assert one("[relative](docs/a.md)", TELEGRAM) == "relative (docs/a.md)"


def test_a_language_is_kept_only_as_a_safe_class() -> None:
    assert one('```py"><x\nx\n```', TELEGRAM) == '<pre><code class="language-pyx">x</code></pre>'


def hugged(text: str, mark: str = "*") -> bool:
    """Every `mark` span of every line starts and ends with a non-space character."""
    return all(
        inside and inside == inside.strip()
        for line in text.split("\n")
        for inside in line.split(mark)[1::2]
    )


def test_whatsapp_markers_hug_the_text() -> None:
    # A span's whitespace goes outside its markers (WhatsApp shows `* x*` literally).
    assert one("a `b ` c", WHATSAPP) == "a `b`  c"
    parts = render_reply("**" + "word " * 20 + "end**", replace(WHATSAPP, max_text_units=40))
    assert len(parts) > 2
    assert all(hugged(part.text) and part.text.count("*") == 2 for part in parts)


# --- images ---------------------------------------------------------------------------------------


def test_an_image_is_its_own_part_in_its_place() -> None:
    markdown = "Before **x**.\n\n![A *chart*](https://example.com/c.png)\n\nAfter."
    assert render_reply(markdown, TELEGRAM) == [
        ReplyPart("Before <b>x</b>.", "html"),
        ReplyPart("A <i>chart</i>", "html", "https://example.com/c.png"),
        ReplyPart("After.", "html"),
    ]
    assert render_reply(markdown, SMS)[1] == ReplyPart(
        "A chart", "plain", "https://example.com/c.png"
    )


def test_an_image_caption_is_escaped() -> None:
    parts = render_reply("![a < b & c](https://example.com/c.png)", TELEGRAM)
    assert parts == [ReplyPart("a &lt; b &amp; c", "html", "https://example.com/c.png")]


def test_a_long_caption_follows_the_image_as_text() -> None:
    alt = "word " * 300
    parts = render_reply(f"![{alt}](https://example.com/c.png)", TELEGRAM)
    assert parts[0] == ReplyPart("", "html", "https://example.com/c.png")
    assert parts[1].image_url is None and parts[1].text == alt.strip()


def test_an_image_that_cannot_be_sent_is_its_link() -> None:
    no_images = replace(SMS, sends_images=False)
    assert one("See ![chart](https://example.com/c.png).", no_images) == (
        "See chart (https://example.com/c.png)."
    )
    assert one("![chart](http://example.com/c.png)", TELEGRAM) == "chart (http://example.com/c.png)"
    assert one("![](http://example.com/c.png)", WHATSAPP) == "http://example.com/c.png"


def test_a_reply_that_is_only_an_image() -> None:
    assert render_reply("![](https://example.com/c.png)", WHATSAPP) == [
        ReplyPart("", "whatsapp", "https://example.com/c.png")
    ]


def test_images_do_not_count_as_text_parts() -> None:
    markdown = "one\n\n![a](https://e.com/1.png)\n\ntwo\n\n![b](https://e.com/2.png)\n\nthree"
    parts = render_reply(markdown, WHATSAPP, max_parts=2)
    assert [part.image_url for part in parts] == [None, "https://e.com/1.png", None]
    assert parts[-1].text == "two" + TRUNCATED  # text was left: the reader sees the cut


# --- plain text and the fast path -----------------------------------------------------------------

PLAIN_TEXTS = [
    "",
    "Sure, I can help with that.",
    "Hello!\n\nHow are you? It's 3 o'clock, 20 % off.",
    "word " * 2000,
    "😀 " * 5000,
    "Line one\nline two\n\n\nthree   spaces",
]


@pytest.mark.parametrize("text", PLAIN_TEXTS)
@pytest.mark.parametrize("caps", [*DIALECTS.values(), WHATSAPP_VIA_TWILIO])
def test_text_without_markdown_is_split_exactly_as_before(text: str, caps: Capabilities) -> None:
    for most in (None, 1, 3):
        assert render_reply(text, caps, most) == [ReplyPart(p) for p in caps.split(text, most)]


@pytest.mark.parametrize(
    "text", ["- item", "1. item", "# title", "> q", "    code", "a_b", "a * b", "x\n===", "a&b"]
)
def test_anything_that_may_be_markdown_is_parsed(text: str) -> None:
    assert render_reply(text, TELEGRAM)[0].markup == "html"


# --- splitting on the rendered form ---------------------------------------------------------------


def test_a_span_crossing_a_cut_is_closed_and_reopened() -> None:
    markdown = "**" + " ".join(f"w{n}" for n in range(40)) + "**"
    parts = render_reply(markdown, replace(TELEGRAM, max_text_units=50))
    assert len(parts) > 2
    for part in parts:
        assert part.text.startswith("<b>") and part.text.endswith("</b>")
        assert telegram_html_errors(part.text) == []
    assert "".join(html_to_plain(part.text) for part in parts) == html_to_plain(
        one(markdown, TELEGRAM)
    )


def test_telegram_counts_the_visible_text() -> None:
    # 40 visible characters in 47 written ones: one message of 40.
    markdown = "**" + "x" * 40 + "**"
    assert render_reply(markdown, replace(TELEGRAM, max_text_units=40)) == [
        ReplyPart("<b>" + "x" * 40 + "</b>", "html")
    ]
    # WhatsApp counts what is sent: the markers too.
    assert len(render_reply(markdown, replace(WHATSAPP, max_text_units=40))) == 2


def test_an_escape_is_never_cut() -> None:
    markdown = "*a* " + "& " * 100
    for part in render_reply(markdown, replace(TELEGRAM, max_text_units=15)):
        assert telegram_html_errors(part.text) == []
        assert not part.text.endswith(("&", "&a", "&am", "&amp"))


def test_a_code_block_split_across_parts_is_closed_and_reopened() -> None:
    code = "\n".join(f"line_{n} = {n}" for n in range(30))
    markdown = f"```python\n{code}\n```"
    html = render_reply(markdown, replace(TELEGRAM, max_text_units=100))
    assert len(html) > 2
    for part in html:
        assert part.text.startswith('<pre><code class="language-python">')
        assert part.text.endswith("</code></pre>")
    whatsapp = render_reply(markdown, replace(WHATSAPP, max_text_units=100))
    assert len(whatsapp) > 2
    assert all(p.text.startswith("```") and p.text.endswith("```") for p in whatsapp)
    assert "".join(p.text.removeprefix("```").removesuffix("```") for p in whatsapp) == code


def test_a_cut_prefers_paragraphs_then_lines_then_words() -> None:
    markdown = "First **paragraph** here.\n\nSecond one is longer than the rest of them."
    parts = render_reply(markdown, replace(SMS, max_text_units=30))
    assert [p.text for p in parts] == [
        "First paragraph here.\n\n",
        "Second one is longer than the ",
        "rest of them.",
    ]


def test_a_quote_split_across_parts_is_quoted_in_each() -> None:
    markdown = "> " + " ".join(f"w{n}" for n in range(40))
    parts = render_reply(markdown, replace(WHATSAPP, max_text_units=40))
    assert len(parts) > 2 and all(part.text.startswith("> ") for part in parts)


def test_the_last_part_allowed_ends_with_the_marker_outside_the_formatting() -> None:
    markdown = "**" + ("word " * 2000).strip() + "**"
    parts = render_reply(markdown, TELEGRAM, max_parts=2)
    assert len(parts) == 2
    assert parts[-1].text.endswith("</b>" + TRUNCATED)
    assert telegram_html_errors(parts[-1].text) == []
    assert TELEGRAM.text_units(html_to_plain(parts[-1].text)) <= TELEGRAM.max_text_units
    sms = render_reply(markdown, SMS, max_parts=1)
    assert len(sms) == 1 and sms[0].text.endswith("word" + TRUNCATED)


def test_html_to_plain() -> None:
    assert html_to_plain('<b>a &lt; b</b> &amp; <a href="x?a=1&amp;b">c</a> &#128512;') == (
        "a < b & c 😀"
    )
    assert html_to_plain("1 < 2 & 3") == "1 < 2 & 3"  # not HTML at all: its text


# --- properties over generated Markdown -----------------------------------------------------------

WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyzXYZ0123456789é😀&<", min_size=1, max_size=10)
WORDS = st.lists(WORD, min_size=1, max_size=6).map(" ".join)
URL = st.sampled_from(["https://example.com/a", "https://example.com/q?a=1&b=2", "http://x.y/"])
SPAN = st.one_of(
    WORDS,
    WORDS.map(lambda w: f"**{w}**"),
    WORDS.map(lambda w: f"*{w}*"),
    WORDS.map(lambda w: f"~~{w}~~"),
    WORDS.map(lambda w: f"`{w}`"),
    WORDS.map(lambda w: f"**bold *{w}* more**"),
    st.tuples(WORDS, URL).map(lambda t: f"[{t[0]}]({t[1]})"),
    URL.map(lambda u: f"<{u}>"),
)
LINE = st.lists(SPAN, min_size=1, max_size=6).map(" ".join)
PARAGRAPH = st.lists(LINE, min_size=1, max_size=4).map("\n".join)
LONG_PARAGRAPH = st.lists(WORD, min_size=40, max_size=250).map(" ".join)
HEADING = st.tuples(st.integers(1, 6), LINE).map(lambda t: "#" * t[0] + " " + t[1])
BULLETS = st.lists(LINE, min_size=1, max_size=5).map(lambda xs: "\n".join(f"- {x}" for x in xs))
ORDERED = st.lists(LINE, min_size=1, max_size=5).map(
    lambda xs: "\n".join(f"{n}. {x}" for n, x in enumerate(xs, 1))
)
NESTED = st.tuples(LINE, st.lists(LINE, min_size=1, max_size=3)).map(
    lambda t: f"- {t[0]}\n" + "\n".join(f"  - {x}" for x in t[1])
)
QUOTE = PARAGRAPH.map(lambda p: "\n".join(f"> {line}" for line in p.split("\n")))
CODE_LINE = st.tuples(st.sampled_from(["", "    "]), WORDS).map("".join)
FENCE = st.tuples(
    st.sampled_from(["", "python"]), st.lists(CODE_LINE, min_size=1, max_size=12)
).map(lambda t: f"```{t[0]}\n" + "\n".join(t[1]) + "\n```")
BLOCK = st.one_of(PARAGRAPH, LONG_PARAGRAPH, HEADING, BULLETS, ORDERED, NESTED, QUOTE, FENCE)
DOCUMENT = st.lists(BLOCK, min_size=1, max_size=8).map("\n\n".join)
IMAGE = st.tuples(WORDS, st.sampled_from(["https://example.com/i.png", "http://x.y/i.png"])).map(
    lambda t: f"![{t[0]}]({t[1]})"
)
WITH_IMAGES = st.lists(st.one_of(BLOCK, IMAGE), min_size=1, max_size=8).map("\n\n".join)
CAPS = st.sampled_from([TELEGRAM, WHATSAPP, SMS, WHATSAPP_VIA_TWILIO])
LIMIT = st.integers(min_value=40, max_value=400)
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def visible(text: str, markup: str) -> str:
    """What the reader sees of one part, when the Markdown's words hold no markup characters:
    Telegram's text after parsing; WhatsApp's without its markers and quote prefixes; SMS as is.
    Reopened spans add nothing visible, so the parts' visible texts join to the whole's."""
    if markup == "html":
        return html_to_plain(text)
    if markup == "whatsapp":
        lines = [
            line[2:] if line.startswith("> ") else line.removeprefix(">")
            for line in text.split("\n")
        ]
        return "\n".join(lines).translate(str.maketrans("", "", "*_~`"))
    return text


def fits(part: ReplyPart, caps: Capabilities) -> bool:
    shown = html_to_plain(part.text) if part.markup == "html" else part.text
    limit = caps.max_caption_units if part.image_url else caps.max_text_units
    return caps.text_units(shown) <= limit


def text_parts(parts: list[ReplyPart]) -> list[ReplyPart]:
    return [part for part in parts if part.image_url is None]


@PROPERTY
@given(DOCUMENT, CAPS, LIMIT)
def test_parts_are_valid_fit_and_join_back(markdown: str, caps: Capabilities, limit: int) -> None:
    caps = replace(caps, max_text_units=limit)
    parts = render_reply(markdown, caps)
    whole = one(markdown, caps)
    assert all(part.image_url is None for part in parts)
    for part in parts:
        assert fits(part, caps), (part, limit)  # (b)
        if caps.markup == "html":
            assert telegram_html_errors(part.text) == [], part.text  # (a)
            # ... and the fake Bot API, which reads HTML as Telegram does, shows what the
            # fallback would send.
            assert visible_text(part.text) == html_to_plain(part.text)
        if caps.markup == "whatsapp":  # every span closed within its part
            for line in part.text.split("```"):
                assert all(line.count(mark) % 2 == 0 for mark in "*_~`"), part.text
            assert part.text.count("```") % 2 == 0
    joined = "".join(visible(part.text, caps.markup) for part in parts)
    assert joined == visible(whole, caps.markup)  # (c)
    if caps.markup != "html":
        assert "**" not in whole and "__" not in whole  # (d)


@PROPERTY
@given(WITH_IMAGES, CAPS, LIMIT, st.one_of(st.none(), st.integers(1, 4)))
def test_with_images_and_a_cap_on_parts(
    markdown: str, caps: Capabilities, limit: int, most: int | None
) -> None:
    caps = replace(caps, max_text_units=limit)
    parts = render_reply(markdown, caps, most)
    uncapped = text_parts(render_reply(markdown, caps))
    for part in parts:
        assert fits(part, caps)  # (b)
        if caps.markup == "html":
            assert telegram_html_errors(part.text) == [], part.text  # (a)
            # ... and the fake Bot API, which reads HTML as Telegram does, shows what the
            # fallback would send.
            assert visible_text(part.text) == html_to_plain(part.text)
        if part.image_url:
            assert part.image_url.startswith("https://")
    if caps.markup != "html":
        assert all("**" not in part.text and "__" not in part.text for part in parts)  # (d)
    texts = text_parts(parts)
    if most is not None and len(uncapped) > most:  # (e)
        assert len(texts) == most
        assert visible(texts[-1].text, caps.markup).endswith(TRUNCATED.strip())
        assert parts[-1] == texts[-1]  # nothing after the cut
    else:
        assert texts == uncapped


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400), CAPS, LIMIT, st.one_of(st.none(), st.integers(1, 3)))
def test_any_text_renders(text: str, caps: Capabilities, limit: int, most: int | None) -> None:
    caps = replace(caps, max_text_units=limit)
    parts = render_reply(text, caps, most)
    assert parts
    assert most is None or len(text_parts(parts)) <= most
    for part in parts:
        assert fits(part, caps)
        if part.markup == "html":
            assert telegram_html_errors(part.text) == [], part.text
