"""Runs written in one dialect, and how long the result is for the provider.

Runs are grouped by their styles, outermost first, so every span opens and closes once per part
and spans nest properly; a part starting or ending inside a span reopens or closes it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from html import escape
from itertools import groupby

from channels.render.model import QUOTE, Run, Style

_HTML_TAGS = {"b": "b", "i": "i", "s": "s", "code": "code", "quote": "blockquote"}
_WHATSAPP_MARKS = {"b": "*", "i": "_", "s": "~", "code": "`"}


def write(runs: Sequence[Run], markup: str) -> str:
    """`runs` as the text of one message in `markup` ("html", "whatsapp" or "plain")."""
    if markup == "html":
        return _html(runs)
    if markup == "whatsapp":
        return _nest(runs, 0, _whatsapp)
    return "".join(run.text for run in runs)


def measure(runs: Sequence[Run], markup: str, units: Callable[[str], int]) -> int:
    """The length the provider counts: Telegram counts the text "after entities parsing" (the
    visible text, tags and escapes not included); WhatsApp and SMS count every character sent,
    markers included."""
    if markup == "html" or markup == "plain":
        return units("".join(run.text for run in runs))
    return units(write(runs, markup))


def _nest(runs: Sequence[Run], depth: int, wrap: Callable[[Style | None, str], str]) -> str:
    out: list[str] = []
    for style, group in groupby(runs, lambda run: _style_at(run, depth)):
        if style is None:
            out.extend(wrap(None, run.text) for run in group)
        else:
            out.append(wrap(style, _nest(list(group), depth + 1, wrap)))
    return "".join(out)


def _style_at(run: Run, depth: int) -> Style | None:
    return run.styles[depth] if depth < len(run.styles) else None


# --- Telegram HTML ------------------------------------------------------------------------------


@cache
def _telegram_styles(styles: tuple[Style, ...]) -> tuple[Style, ...]:
    """Telegram's nesting rules: pre and code contain nothing, a link contains no code,
    blockquotes do not nest (the outer one is kept)."""
    kept: list[Style] = []
    linked = any(style.kind == "a" for style in styles)
    for style in styles:
        if style in kept or (style.kind == "quote" and QUOTE in kept):
            continue
        if style.kind == "code" and linked:
            continue
        kept.append(style)
        if style.kind in ("pre", "code"):
            break
    return tuple(kept)


def _html(runs: Sequence[Run]) -> str:
    out: list[str] = []
    opened: tuple[Style, ...] = ()
    given: tuple[Style, ...] = ()
    for text, styles in runs:
        if styles != given:
            given, styles = styles, _telegram_styles(styles)
        else:
            styles = opened
        if styles != opened:
            common = 0
            for old, new in zip(opened, styles, strict=False):
                if old != new:
                    break
                common += 1
            for style in reversed(opened[common:]):
                out.append(_html_close(style))
            for style in styles[common:]:
                out.append(_html_open(style))
            opened = styles
        special = "&" in text or "<" in text or ">" in text
        out.append(escape(text, quote=False) if special else text)
    for style in reversed(opened):
        out.append(_html_close(style))
    return "".join(out)


@cache
def _html_open(style: Style) -> str:
    if style.kind == "a":
        return f'<a href="{escape(style.value)}">'
    if style.kind == "pre":
        return f'<pre><code class="language-{escape(style.value)}">' if style.value else "<pre>"
    return f"<{_HTML_TAGS[style.kind]}>"


@cache
def _html_close(style: Style) -> str:
    if style.kind == "pre":
        return "</code></pre>" if style.value else "</pre>"
    return "</a>" if style.kind == "a" else f"</{_HTML_TAGS[style.kind]}>"


# --- WhatsApp -------------------------------------------------------------------------------------


def _whatsapp(style: Style | None, inner: str) -> str:
    if style is None:
        return inner
    mark = _WHATSAPP_MARKS.get(style.kind)
    if mark is not None:  # markers hug the text, line by line: WhatsApp ignores them otherwise
        return "\n".join(_hug(line, mark) for line in inner.split("\n"))
    if style.kind == "pre":
        return f"```{inner}```" if inner.strip() else inner
    if style.kind == "quote":
        lines = inner.split("\n")
        quoted = [f"> {line}" if line else ">" for line in lines[:-1]]
        return "\n".join([*quoted, f"> {lines[-1]}" if lines[-1] else ""])
    return inner


def _hug(text: str, mark: str) -> str:
    core = text.strip()
    if not core:
        return text
    start = len(text) - len(text.lstrip())
    return f"{text[:start]}{mark}{core}{mark}{text[start + len(core) :]}"
