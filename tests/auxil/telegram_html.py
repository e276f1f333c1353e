"""What Telegram's HTML parse mode accepts, checked with html.parser: the tags and attributes
the renderer writes, balanced and properly nested, attributes escaped, no stray `<`, `>` or `&`,
only the named entities Telegram knows, and Telegram's nesting rules (nothing inside `pre` /
`code` but `pre > code.language-x`, no code inside a link, no link in a link, no nested quote)."""

from __future__ import annotations

from html import escape
from html.parser import HTMLParser

ALLOWED = {
    "b": set(),
    "i": set(),
    "s": set(),
    "code": {"class"},
    "pre": set(),
    "a": {"href"},
    "blockquote": set(),
}
ENTITIES = {"lt", "gt", "amp", "quot"}


class _Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        stack = self.stack
        if tag not in ALLOWED:
            self.errors.append(f"tag <{tag}>")
        if {name for name, _ in attrs} - ALLOWED.get(tag, set()):
            self.errors.append(f"attributes of <{tag}>: {attrs}")
        written = "".join(f' {name}="{escape(value or "")}"' for name, value in attrs)
        if self.get_starttag_text() != f"<{tag}{written}>":
            self.errors.append(f"attribute escaping: {self.get_starttag_text()}")
        in_pre_code = tag == "code" and stack[-1:] == ["pre"]
        if stack and stack[-1] in ("pre", "code") and not in_pre_code:
            self.errors.append(f"<{tag}> inside <{stack[-1]}>")
        if tag == "code" and attrs and not in_pre_code:
            self.errors.append("a language outside pre")
        if any(
            name == "class" and not (value or "").startswith("language-") for name, value in attrs
        ):
            self.errors.append(f"class {attrs}")
        if tag in ("a", "blockquote") and tag in stack:
            self.errors.append(f"nested <{tag}>")
        if tag in ("code", "pre") and "a" in stack:
            self.errors.append(f"<{tag}> inside a link")
        stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.errors.append(f"self-closing <{tag}/>")

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        stray = set(data) & set("<>&")
        if stray:
            self.errors.append(f"unescaped {sorted(stray)} in {data!r}")

    def handle_entityref(self, name: str) -> None:
        if name not in ENTITIES:
            self.errors.append(f"entity &{name};")

    def handle_comment(self, data: str) -> None:
        self.errors.append(f"comment {data!r}")

    def handle_decl(self, decl: str) -> None:
        self.errors.append(f"declaration {decl!r}")

    def handle_pi(self, data: str) -> None:
        self.errors.append(f"processing instruction {data!r}")

    def unknown_decl(self, data: str) -> None:
        self.errors.append(f"declaration {data!r}")


def telegram_html_errors(text: str) -> list[str]:
    """Why Telegram would refuse (or silently drop) the formatting of `text`; empty: valid."""
    checker = _Checker()
    checker.feed(text)
    checker.close()
    if checker.stack:
        checker.errors.append(f"unclosed {checker.stack}")
    return checker.errors
