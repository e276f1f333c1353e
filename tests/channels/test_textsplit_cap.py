"""At most N parts: a longer text ends early, at a boundary, with a visible marker."""

from __future__ import annotations

import pytest

from channels.capabilities import SMS, TELEGRAM, WHATSAPP, utf16_units
from channels.render import html_to_plain
from channels.textsplit import TRUNCATED, split_text

WORDS = " ".join(f"word{n}" for n in range(2000))


def test_a_text_within_the_cap_is_split_as_before() -> None:
    parts = split_text(WORDS, 1000, max_parts=50)
    assert "".join(parts) == WORDS
    assert parts == split_text(WORDS, 1000)


@pytest.mark.parametrize("most", [1, 2, 3])
def test_a_longer_text_is_cut_with_the_marker(most: int) -> None:
    parts = split_text(WORDS, 1000, max_parts=most)
    assert len(parts) == most
    assert all(len(part) <= 1000 for part in parts)
    assert parts[-1].endswith(TRUNCATED)
    kept = "".join(parts)[: -len(TRUNCATED)]
    assert WORDS.startswith(kept) and kept.endswith(tuple("0123456789"))  # a word boundary


def test_the_cap_counts_in_the_channels_units() -> None:
    emoji = "😀 " * 5000
    parts = TELEGRAM.split(emoji, 2)
    assert len(parts) == 2 and all(utf16_units(part) <= 4096 for part in parts)
    assert parts[-1].endswith(TRUNCATED)
    sms = SMS.split("x" * 100_000, 3)
    assert len(sms) == 3 and all(len(part) <= 1600 for part in sms)


def test_a_limit_too_small_for_the_marker_still_says_it_was_cut() -> None:
    assert split_text("abcdefghij" * 10, 10, max_parts=1) == [TRUNCATED.strip()]


def test_a_formatted_reply_is_cut_with_its_spans_closed_and_the_marker_after_them() -> None:
    parts = TELEGRAM.render(f"**{WORDS}**", 2)
    assert len(parts) == 2 and all(part.text.startswith("<b>") for part in parts)
    assert parts[0].text.endswith("</b>") and parts[-1].text.endswith("</b>" + TRUNCATED)
    kept = "".join(html_to_plain(part.text) for part in parts)[: -len(TRUNCATED)]
    assert WORDS.startswith(kept) and kept.endswith(tuple("0123456789"))  # a word boundary
    sms = SMS.render(f"*{WORDS}*", 3)
    assert len(sms) == 3 and all(len(part.text) <= 1600 for part in sms)
    assert sms[-1].text.endswith(TRUNCATED) and "*" not in "".join(part.text for part in sms)


def test_formatted_text_counts_in_the_channels_units() -> None:
    emoji = "**" + "😀 " * 4999 + "😀**"  # 15,000 UTF-16 units visible
    parts = TELEGRAM.render(emoji, 2)
    assert len(parts) == 2 and parts[-1].text.endswith(TRUNCATED)
    assert all(utf16_units(html_to_plain(part.text)) <= 4096 for part in parts)
    whatsapp = WHATSAPP.render(f"_{WORDS}_")  # markers count: every part within 4096 as sent
    assert all(len(part.text) <= 4096 and part.text.startswith("_") for part in whatsapp)
    assert "".join(part.text.replace("_", "") for part in whatsapp) == WORDS
