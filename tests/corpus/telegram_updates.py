"""Telegram Bot API updates (Bot API 10.0, https://core.telegram.org/bots/api#update), one per
update type and message kind. Sources are named per fixture; "API" is the Bot API reference's
object of that name, "PTB" python-telegram-bot's tests (tests/_files, tests/test_*.py), "aiogram"
aiogram 3's tests (tests/test_api/test_types)."""

from __future__ import annotations

from typing import Any

from tests.corpus.model import JPEG, Fixture, Outcome

FORWARDED, ANSWERED, RECORDED = Outcome.FORWARDED, Outcome.ANSWERED, Outcome.RECORDED

USER = {"id": 1111111, "is_bot": False, "first_name": "Ana", "language_code": "en"}
PRIVATE = {"id": 1111111, "type": "private", "first_name": "Ana"}
DATE = 1767225600

_update_ids = iter(range(700_000_001, 800_000_000))


def _message(**fields: Any) -> dict[str, Any]:
    return {"message_id": 10, "date": DATE, "from": USER, "chat": PRIVATE, **fields}


def _update(kind: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"update_id": next(_update_ids), kind: value}


FIXTURES: list[Fixture] = [
    # API: Message.text
    Fixture("message/text", _update("message", _message(text="hello")), (FORWARDED,)),
    # API: Message.photo (PhotoSize array, smallest first), caption
    Fixture(
        "message/photo",
        _update(
            "message",
            _message(
                photo=[
                    {"file_id": "tg-photo-s", "file_unique_id": "u1", "width": 90, "height": 60},
                    {"file_id": "tg-photo-m", "file_unique_id": "u2", "width": 800, "height": 600},
                ],
                caption="what is this?",
            ),
        ),
        (FORWARDED,),
        media={"tg-photo-m": (JPEG, "image/jpeg")},
    ),
    # API: "/start" with no payload (https://core.telegram.org/bots/features#deep-linking)
    Fixture(
        "message/start",
        _update(
            "message",
            _message(text="/start", entities=[{"type": "bot_command", "offset": 0, "length": 6}]),
        ),
        (ANSWERED,),
    ),
    # API: Message.pinned_message (a service message)
    Fixture(
        "message/pinned_message",
        _update("message", _message(pinned_message=_message(message_id=9, text="pin me"))),
        (RECORDED,),
    ),
    # API: Update.poll (Poll object); the gateway does not use polls
    Fixture(
        "update/poll",
        _update(
            "poll",
            {
                "id": "5436",
                "question": "Lunch?",
                "options": [{"text": "yes", "voter_count": 1}, {"text": "no", "voter_count": 0}],
                "total_voter_count": 1,
                "is_closed": False,
                "is_anonymous": True,
                "type": "regular",
                "allows_multiple_answers": False,
            },
        ),
        (RECORDED,),
    ),
]
