"""Pure mechanisms: text splitting, pacing, log redaction, secrets at rest."""

from __future__ import annotations

import json
import logging

import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

from channels.capabilities import utf16_units
from channels.textsplit import split_text
from gateway.delivery.pacing import TokenBucket
from gateway.logs import configure_logging, mask_phone, scrub
from gateway.storage.secrets import SecretBox, SecretKeyError, generate_key

units = utf16_units


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(
        alphabet=st.sampled_from([*"ab ...\n\n!?", "é", "😀", "中"]), min_size=0, max_size=600
    ),
    limit=st.integers(min_value=2, max_value=80),
)
def test_split_is_lossless_and_within_limit(text: str, limit: int) -> None:
    parts = split_text(text, limit, units)
    assert "".join(parts) == text
    assert all(units(p) <= limit for p in parts)
    assert all(p for p in parts) or parts == [""]


def test_split_prefers_paragraphs_then_lines_then_words() -> None:
    text = "First paragraph here.\n\nSecond one is longer than the rest of them."
    assert split_text(text, 30) == [
        "First paragraph here.\n\n",
        "Second one is longer than the ",
        "rest of them.",
    ]
    assert split_text("one two three four five", 10) == ["one two ", "three ", "four five"]
    assert split_text("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]


def test_split_counts_utf16_for_telegram() -> None:
    emoji = "😀" * 3000  # 6000 UTF-16 units: two messages, not one
    parts = split_text(emoji, 4096, units)
    assert len(parts) == 2 and "".join(parts) == emoji


def test_token_bucket_reserves_in_order() -> None:
    bucket = TokenBucket(rate=10.0, capacity=2)
    delays = [round(bucket.reserve(), 2) for _ in range(5)]
    assert delays[:2] == [0.0, 0.0]
    assert delays[2:] == pytest.approx([0.1, 0.2, 0.3], abs=0.02)
    bucket.pause(1.0)
    assert bucket.reserve() >= 1.0


def test_scrub_masks_phones_and_tokens() -> None:
    assert mask_phone("+15551234567") == "+*******4567"
    line = "to +15551234567 via https://api.telegram.org/bot123456:ABCdefGhIJKlmnOPQRstuVWxyz123/x"
    cleaned = scrub(line)
    assert "+15551234567" not in cleaned and "+*******4567" in cleaned
    assert "ABCdefGhIJKlmnOPQRstuVWxyz123" not in cleaned
    assert scrub("Authorization: Bearer sk-live-123") == "Authorization: Bearer <redacted>"
    assert scrub("update 815000001 in chat 123456789") == "update 815000001 in chat 123456789"


def test_structured_logs_redact_secret_fields(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    try:
        structlog.get_logger("t").info(
            "x.y", token="123:abc", api_key="k", sender="+15551234567", note="ok"
        )
        logging.getLogger("httpx").warning(
            "POST https://api.telegram.org/bot123456:ABCdefGhIJKlmnOPQRstuVWxyz123/sendMessage"
        )
        err = capsys.readouterr().err
    finally:
        configure_logging("INFO", "console")
    first = json.loads(err.splitlines()[0])
    assert first["token"] == "<redacted>" and first["api_key"] == "<redacted>"
    assert first["sender"] == "+*******4567" and first["note"] == "ok"
    assert "ABCdefGhIJKlmnOPQRstuVWxyz123" not in err


def test_secret_box_rotation() -> None:
    old_key, new_key = generate_key(), generate_key()
    old = SecretBox([old_key])
    token = old.encrypt({"token": "t0k3n"})
    assert "t0k3n" not in token
    both = SecretBox([new_key, old_key])
    assert both.decrypt(token) == {"token": "t0k3n"}
    rotated = both.rotate(token)
    assert SecretBox([new_key]).decrypt(rotated) == {"token": "t0k3n"}
    with pytest.raises(SecretKeyError):
        SecretBox([new_key]).decrypt(token)
    assert old.derive("p", "m") == SecretBox([old_key]).derive("p", "m")
    assert old.derive("p", "m") != both.derive("p", "m")


def test_a_send_result_reads_the_answer_and_tolerates_odd_ones() -> None:
    from channels.telegram import _send_result

    answer = {"message_id": 42, "chat": {"id": -100123, "type": "supergroup"}, "text": "hi"}
    assert _send_result(answer, "-100123").provider_message_id == "42"
    assert _send_result(answer, "-1").chat == "-100123"  # Telegram's word for where it went
    assert _send_result(True, "7").provider_message_id is None
    assert _send_result(True, "7").chat == "7"
    assert _send_result({"message_id": 5, "chat": None}, "7").chat == "7"
