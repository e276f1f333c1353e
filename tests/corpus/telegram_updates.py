"""Telegram Bot API updates (Bot API 10.3, https://core.telegram.org/bots/api#update), one per
update type and message kind. Sources are named per fixture; "API" is the Bot API reference's
object of that name, "PTB" python-telegram-bot's tests (tests/_files, tests/test_*.py), "aiogram"
aiogram 3's tests (tests/test_api/test_types) or, for Bot API 10.1-10.3, aiogram 3.31's types
(generated from the Bot API 10.3 reference). One Fixture is one update: a whole album (several
updates sharing a media_group_id) cannot be expressed; `message/album_single_part` is one part.
"""

from __future__ import annotations

from typing import Any

from tests.corpus.model import JPEG, MP3, MP4, OGG, PDF, PNG, WEBP, Fixture, Outcome

FORWARDED, ANSWERED, RECORDED = Outcome.FORWARDED, Outcome.ANSWERED, Outcome.RECORDED

USER = {"id": 1111111, "is_bot": False, "first_name": "Ana", "language_code": "en"}
PRIVATE = {"id": 1111111, "type": "private", "first_name": "Ana"}
DATE = 1767225600
BOT = {"id": 777000, "is_bot": True, "first_name": "Gateway Demo", "username": "gateway_demo_bot"}
"""The fake's bot (gateway/dev/fake_telegram.py `bot_user`)."""
OTHER = {"id": 2222222, "is_bot": False, "first_name": "Bruno", "last_name": "Costa"}
GROUP = {"id": -1001234567890, "type": "supergroup", "title": "Demo group"}
SMALL_GROUP = {"id": -4012345678, "type": "group", "title": "Demo basic group"}
FORUM = {"id": -1009876543210, "type": "supergroup", "title": "Demo forum", "is_forum": True}
CHANNEL = {"id": -1005556667778, "type": "channel", "title": "Demo channel", "username": "demo_ch"}
ANONYMOUS_ADMIN = {
    "id": 1087968824,
    "is_bot": True,
    "first_name": "Group",
    "username": "GroupAnonymousBot",
}
TELEGRAM_SERVICE = {"id": 777000, "is_bot": False, "first_name": "Telegram"}
"""The `from` of automatic forwards (a channel post copied into its discussion group)."""

_update_ids = iter(range(700_000_001, 800_000_000))


def _message(**fields: Any) -> dict[str, Any]:
    return {"message_id": 10, "date": DATE, "from": USER, "chat": PRIVATE, **fields}


def _group(**fields: Any) -> dict[str, Any]:
    return _message(chat=GROUP, **fields)


def _private(**fields: Any) -> dict[str, Any]:
    return _update("message", _message(**fields))


def _mention(text: str, name: str = "@gateway_demo_bot") -> list[dict[str, Any]]:
    at = text.index(name)
    return [{"type": "mention", "offset": at, "length": len(name)}]


def _command(text: str) -> list[dict[str, Any]]:
    return [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]


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

# --- Message kinds in a private chat ------------------------------------------------------------

FIXTURES += [
    # API: MessageEntity (bold, italic, url, text_link, hashtag, custom_emoji offsets in UTF-16);
    # aiogram tests/test_api/test_types/test_message_entity.py
    Fixture(
        "message/text_entities",
        _private(
            text="Read 📄 this https://example.com/doc and #urgent please",
            entities=[
                {"type": "bold", "offset": 0, "length": 4},
                {"type": "url", "offset": 13, "length": 23},
                {"type": "hashtag", "offset": 41, "length": 7},
                {"type": "text_link", "offset": 49, "length": 6, "url": "https://example.com/"},
            ],
            link_preview_options={"is_disabled": True},
        ),
        (FORWARDED,),
    ),
    # API: Message.reply_to_message + TextQuote (a reply quoting part of the bot's answer)
    Fixture(
        "message/reply_to_bot_with_quote",
        _private(
            text="why that one?",
            reply_to_message=_message(message_id=9, **{"from": BOT}, text="Pick the blue one."),
            quote={"text": "the blue one", "position": 5, "is_manual": True},
        ),
        (FORWARDED,),
    ),
    # API: Message.external_reply (ExternalReplyInfo: a reply to a message of another chat);
    # aiogram tests/test_api/test_types/test_external_reply_info.py
    Fixture(
        "message/external_reply",
        _private(
            text="is this true?",
            external_reply={
                "origin": {
                    "type": "channel",
                    "chat": CHANNEL,
                    "message_id": 77,
                    "date": DATE - 3600,
                },
                "chat": CHANNEL,
                "message_id": 77,
            },
        ),
        (FORWARDED,),
    ),
    # API: MessageOriginUser (forward_origin, Bot API 7.0+)
    Fixture(
        "message/forwarded_from_user",
        _private(
            text="look what Bruno wrote",
            forward_origin={"type": "user", "sender_user": OTHER, "date": DATE - 60},
        ),
        (FORWARDED,),
    ),
    # API: MessageOriginHiddenUser; aiogram tests/test_api/test_types/
    # test_message_origin_hidden_user.py
    Fixture(
        "message/forwarded_from_hidden_user",
        _private(
            text="forwarded text",
            forward_origin={"type": "hidden_user", "sender_user_name": "Carla", "date": DATE - 5},
        ),
        (FORWARDED,),
    ),
    # API: MessageOriginChannel, a forwarded channel photo with its caption
    Fixture(
        "message/forwarded_channel_photo",
        _private(
            photo=[
                {"file_id": "tg-fwd-s", "file_unique_id": "fw1", "width": 90, "height": 90},
                {
                    "file_id": "tg-fwd-l",
                    "file_unique_id": "fw2",
                    "width": 1280,
                    "height": 1280,
                    "file_size": len(JPEG),
                },
            ],
            caption="New product launch",
            caption_entities=[{"type": "bold", "offset": 0, "length": 3}],
            forward_origin={
                "type": "channel",
                "chat": CHANNEL,
                "message_id": 501,
                "date": DATE - 86400,
                "author_signature": "Editor",
            },
        ),
        (FORWARDED,),
        media={"tg-fwd-l": (JPEG, "image/jpeg")},
    ),
    # API: Message.via_bot (a result of another bot's inline mode, sent by the user)
    Fixture(
        "message/via_bot",
        _private(
            text="🎵 Some song - Some artist",
            via_bot={"id": 3333333, "is_bot": True, "first_name": "Music", "username": "music_bot"},
        ),
        (FORWARDED,),
    ),
    # API: Document; aiogram test_message.py TEST_MESSAGE_DOCUMENT
    Fixture(
        "message/document",
        _private(
            document={
                "file_name": "report.pdf",
                "mime_type": "application/pdf",
                "file_id": "tg-doc-1",
                "file_unique_id": "d1",
                "file_size": len(PDF),
            },
            caption="summarize this",
        ),
        (FORWARDED,),
        media={"tg-doc-1": (PDF, "application/pdf")},
    ),
    # API: Audio; aiogram test_message.py TEST_MESSAGE_AUDIO
    Fixture(
        "message/audio",
        _private(
            audio={
                "duration": 42,
                "performer": "Artist",
                "title": "Song",
                "file_name": "song.mp3",
                "mime_type": "audio/mpeg",
                "file_id": "tg-audio-1",
                "file_unique_id": "a1",
                "file_size": len(MP3),
            }
        ),
        (FORWARDED,),
        media={"tg-audio-1": (MP3, "audio/mpeg")},
    ),
    # API: Voice; aiogram test_message.py TEST_MESSAGE_VOICE
    Fixture(
        "message/voice",
        _private(
            voice={
                "duration": 3,
                "mime_type": "audio/ogg",
                "file_id": "tg-voice-1",
                "file_unique_id": "v1",
                "file_size": len(OGG),
            }
        ),
        (FORWARDED,),
        media={"tg-voice-1": (OGG, "audio/ogg")},
    ),
    # API: Video with its thumbnail; aiogram test_message.py TEST_MESSAGE_VIDEO
    Fixture(
        "message/video",
        _private(
            video={
                "duration": 5,
                "width": 640,
                "height": 360,
                "file_name": "clip.mp4",
                "mime_type": "video/mp4",
                "thumbnail": {
                    "file_id": "tg-video-thumb",
                    "file_unique_id": "vt1",
                    "width": 320,
                    "height": 180,
                },
                "file_id": "tg-video-1",
                "file_unique_id": "vd1",
                "file_size": len(MP4),
            },
            caption="what happens here?",
        ),
        (FORWARDED,),
        media={"tg-video-1": (MP4, "video/mp4")},
    ),
    # API: VideoNote (a round video message); aiogram test_message.py TEST_MESSAGE_VIDEO_NOTE
    Fixture(
        "message/video_note",
        _private(
            video_note={
                "duration": 4,
                "length": 384,
                "file_id": "tg-vnote-1",
                "file_unique_id": "vn1",
                "file_size": len(MP4),
            }
        ),
        (FORWARDED,),
        media={"tg-vnote-1": (MP4, "video/mp4")},
    ),
    # API: Animation ("For backward compatibility, when this field is set, the document field
    # will also be set"); aiogram test_message.py TEST_MESSAGE_ANIMATION
    Fixture(
        "message/animation",
        _private(
            animation={
                "file_name": "funny.gif.mp4",
                "mime_type": "video/mp4",
                "duration": 2,
                "width": 320,
                "height": 240,
                "file_id": "tg-anim-1",
                "file_unique_id": "an1",
                "file_size": len(MP4),
            },
            document={
                "file_name": "funny.gif.mp4",
                "mime_type": "video/mp4",
                "file_id": "tg-anim-1",
                "file_unique_id": "an1",
                "file_size": len(MP4),
            },
        ),
        (FORWARDED,),
        media={"tg-anim-1": (MP4, "video/mp4")},
    ),
    # API: Sticker (a static WEBP sticker); aiogram test_message.py TEST_MESSAGE_STICKER
    Fixture(
        "message/sticker",
        _private(
            sticker={
                "width": 512,
                "height": 512,
                "emoji": "👍",
                "set_name": "DemoStickers",
                "is_animated": False,
                "is_video": False,
                "type": "regular",
                "file_id": "tg-sticker-1",
                "file_unique_id": "st1",
                "file_size": len(WEBP),
            }
        ),
        (FORWARDED,),
        media={"tg-sticker-1": (WEBP, "image/webp")},
    ),
    # API: Sticker, an animated (TGS) one; PTB tests/_files/telegram_animated_sticker.tgs
    Fixture(
        "message/sticker_animated",
        _private(
            sticker={
                "width": 512,
                "height": 512,
                "emoji": "😎",
                "set_name": "DemoAnimated",
                "is_animated": True,
                "is_video": False,
                "type": "regular",
                "file_id": "tg-sticker-tgs",
                "file_unique_id": "st2",
                "file_size": 64,
            }
        ),
        (FORWARDED,),
        media={"tg-sticker-tgs": (b"\x1f\x8b\x08\x00" + b"l" * 60, "application/x-tgsticker")},
    ),
    # API: Sticker, a video (WEBM) one (is_video); aiogram test_message.py TEST_MESSAGE_STICKER
    Fixture(
        "message/sticker_video",
        _private(
            sticker={
                "width": 512,
                "height": 512,
                "emoji": "🎉",
                "set_name": "DemoVideo",
                "is_animated": False,
                "is_video": True,
                "type": "regular",
                "file_id": "tg-sticker-webm",
                "file_unique_id": "st3",
                "file_size": 68,
            }
        ),
        (FORWARDED,),
        media={"tg-sticker-webm": (b"\x1aE\xdf\xa3" + b"m" * 64, "video/webm")},
    ),
    # API: Document: a screenshot sent "as a file" (uncompressed PNG)
    Fixture(
        "message/document_png",
        _private(
            document={
                "file_name": "Screenshot 2026-01-01.png",
                "mime_type": "image/png",
                "thumbnail": {
                    "file_id": "tg-png-thumb",
                    "file_unique_id": "pt1",
                    "width": 320,
                    "height": 180,
                },
                "file_id": "tg-png-1",
                "file_unique_id": "png1",
                "file_size": len(PNG),
            }
        ),
        (FORWARDED,),
        media={"tg-png-1": (PNG, "image/png")},
    ),
    # API: LivePhoto (Bot API 10.0): "For backward compatibility, when this field is set, the
    # photo field will also be set" (Message.live_photo); PTB 22.8 telegram/_files/livephoto.py
    Fixture(
        "message/live_photo",
        _private(
            live_photo={
                "file_id": "tg-live-video",
                "file_unique_id": "lv1",
                "width": 1080,
                "height": 1440,
                "duration": 3,
                "mime_type": "video/mp4",
                "photo": [
                    {
                        "file_id": "tg-live-photo",
                        "file_unique_id": "lp1",
                        "width": 1080,
                        "height": 1440,
                        "file_size": len(JPEG),
                    }
                ],
            },
            photo=[
                {
                    "file_id": "tg-live-photo",
                    "file_unique_id": "lp1",
                    "width": 1080,
                    "height": 1440,
                    "file_size": len(JPEG),
                }
            ],
            caption="sunset",
        ),
        (FORWARDED,),
        media={"tg-live-photo": (JPEG, "image/jpeg")},
    ),
    # API: Location (a live location); aiogram test_message.py TEST_MESSAGE_LOCATION
    Fixture(
        "message/live_location",
        _private(
            location={
                "latitude": 52.520008,
                "longitude": 13.404954,
                "horizontal_accuracy": 12.5,
                "live_period": 900,
                "heading": 90,
            }
        ),
        (FORWARDED,),
    ),
    # API: Venue (sent with its location); aiogram test_message.py TEST_MESSAGE_VENUE
    Fixture(
        "message/venue",
        _private(
            location={"latitude": 52.516275, "longitude": 13.377704},
            venue={
                "location": {"latitude": 52.516275, "longitude": 13.377704},
                "title": "Brandenburg Gate",
                "address": "Pariser Platz, 10117 Berlin",
                "foursquare_id": "4adcdac6f964a520f54721e3",
            },
        ),
        (FORWARDED,),
    ),
    # API: Contact (with a vCard); aiogram test_message.py TEST_MESSAGE_CONTACT
    Fixture(
        "message/contact",
        _private(
            contact={
                "phone_number": "+5511987654321",
                "first_name": "Ana",
                "last_name": "Lima",
                "user_id": 4444444,
                "vcard": "BEGIN:VCARD\nVERSION:3.0\nFN:Ana Lima\nTEL:+5511987654321\nEND:VCARD",
            }
        ),
        (FORWARDED,),
    ),
    # A part of an album (Message.media_group_id): the worker waits GATEWAY_ALBUM_WAIT_SECONDS
    # for more parts, then sends it. (A whole album is several updates: one Fixture posts one.)
    # API: Message.media_group_id
    Fixture(
        "message/album_single_part",
        _private(
            media_group_id="13576298347562833",
            photo=[
                {
                    "file_id": "tg-album-1",
                    "file_unique_id": "al1",
                    "width": 1280,
                    "height": 960,
                    "file_size": len(JPEG),
                }
            ],
            caption="holiday pictures",
        ),
        (FORWARDED,),
        media={"tg-album-1": (JPEG, "image/jpeg")},
    ),
]

# --- What the gateway cannot read: answered "I can't read this kind of message yet." -------

FIXTURES += [
    # API: Dice; aiogram test_message.py TEST_MESSAGE_DICE
    Fixture("message/dice", _private(dice={"emoji": "🎲", "value": 6}), (ANSWERED,)),
    # API: Poll (a user's quiz); aiogram test_message.py TEST_MESSAGE_POLL
    Fixture(
        "message/poll",
        _private(
            poll={
                "id": "5437",
                "question": "Best pizza?",
                "options": [
                    {"text": "Margherita", "voter_count": 0},
                    {"text": "Marinara", "voter_count": 0},
                ],
                "total_voter_count": 0,
                "is_closed": False,
                "is_anonymous": False,
                "type": "quiz",
                "allows_multiple_answers": False,
                "correct_option_id": 1,
            }
        ),
        (ANSWERED,),
    ),
    # API: Game; aiogram test_message.py TEST_MESSAGE_GAME
    Fixture(
        "message/game",
        _private(
            game={
                "title": "Lumberjack",
                "description": "Chop wood",
                "photo": [
                    {"file_id": "tg-game-p", "file_unique_id": "g1", "width": 640, "height": 360}
                ],
            },
            via_bot={"id": 5555555, "is_bot": True, "first_name": "Gamee", "username": "gamee"},
        ),
        (ANSWERED,),
    ),
    # API: Story (a forwarded story); aiogram test_message.py TEST_MESSAGE_STORY
    Fixture(
        "message/story",
        _private(
            story={"chat": CHANNEL, "id": 42},
            forward_origin={"type": "channel", "chat": CHANNEL, "message_id": 1, "date": DATE},
        ),
        (ANSWERED,),
    ),
    # API: Invoice (a forwarded invoice); aiogram test_message.py TEST_MESSAGE_INVOICE
    Fixture(
        "message/invoice",
        _private(
            invoice={
                "title": "Premium plan",
                "description": "One month",
                "start_parameter": "premium",
                "currency": "EUR",
                "total_amount": 499,
            },
            forward_origin={"type": "user", "sender_user": OTHER, "date": DATE - 60},
        ),
        (ANSWERED,),
    ),
    # API: PaidMediaInfo (a forwarded paid post, its preview only); aiogram test_message.py
    # TEST_MESSAGE_PAID_MEDIA
    Fixture(
        "message/paid_media",
        _private(
            paid_media={
                "star_count": 50,
                "paid_media": [{"type": "preview", "width": 1280, "height": 720}],
            },
            forward_origin={"type": "channel", "chat": CHANNEL, "message_id": 9, "date": DATE},
        ),
        (ANSWERED,),
    ),
    # The same with a caption (API: Message.caption): text the agent can read
    Fixture(
        "message/paid_media_caption",
        _private(
            paid_media={
                "star_count": 50,
                "paid_media": [{"type": "preview", "width": 1280, "height": 720}],
            },
            caption="Exclusive: what do you think?",
            forward_origin={"type": "channel", "chat": CHANNEL, "message_id": 10, "date": DATE},
        ),
        (FORWARDED,),
    ),
    # API: Checklist (Bot API 9.1); aiogram test_message.py TEST_MESSAGE_CHECKLIST
    Fixture(
        "message/checklist",
        _private(
            checklist={
                "title": "Groceries",
                "tasks": [{"id": 1, "text": "Milk"}, {"id": 2, "text": "Bread"}],
                "others_can_add_tasks": True,
            }
        ),
        (ANSWERED,),
    ),
    # API: RichMessage (Bot API 10.2, a bot's rich formatted message, forwarded by the user);
    # aiogram 3.31 aiogram/types/rich_message.py, rich_block_paragraph.py
    Fixture(
        "message/rich_message",
        _private(
            rich_message={
                "blocks": [
                    {"type": "paragraph", "text": ["Order ", {"type": "bold", "text": "#42"}]}
                ]
            },
            forward_origin={"type": "user", "sender_user": OTHER, "date": DATE - 60},
        ),
        (ANSWERED,),
    ),
    # API: Giveaway (a forwarded giveaway post); aiogram test_message.py TEST_MESSAGE_GIVEAWAY
    Fixture(
        "message/giveaway",
        _private(
            giveaway={
                "chats": [CHANNEL],
                "winners_selection_date": DATE + 7 * 86400,
                "winner_count": 10,
                "premium_subscription_month_count": 3,
            },
            forward_origin={"type": "channel", "chat": CHANNEL, "message_id": 11, "date": DATE},
        ),
        (ANSWERED,),
    ),
    # API: GiveawayWinners; aiogram test_message.py TEST_MESSAGE_GIVEAWAY_WINNERS
    Fixture(
        "message/giveaway_winners",
        _private(
            giveaway_winners={
                "chat": CHANNEL,
                "giveaway_message_id": 11,
                "winners_selection_date": DATE,
                "winner_count": 1,
                "winners": [OTHER],
            },
            forward_origin={"type": "channel", "chat": CHANNEL, "message_id": 12, "date": DATE},
        ),
        (ANSWERED,),
    ),
]

# --- Commands ----------------------------------------------------------------------------------

FIXTURES += [
    # https://core.telegram.org/bots/features#deep-linking: t.me/gateway_demo_bot?start=ref_abc123
    Fixture(
        "command/start_deep_link",
        _private(text="/start ref_abc123", entities=_command("/start")),
        (ANSWERED,),
    ),
    # https://core.telegram.org/bots/features#global-commands (/help)
    Fixture("command/help", _private(text="/help", entities=_command("/help")), (ANSWERED,)),
    # The gateway's /new (a fresh conversation); API: MessageEntity "bot_command"
    Fixture("command/new", _private(text="/new", entities=_command("/new")), (ANSWERED,)),
    # https://core.telegram.org/bots/features#commands: in groups, /command@bot_username
    Fixture(
        "command/help_in_group_addressed",
        _update(
            "message",
            _group(
                text="/help@gateway_demo_bot",
                entities=_command("/help@gateway_demo_bot"),
            ),
        ),
        (ANSWERED,),
    ),
    # A bare /help in a group goes to every bot there (privacy mode delivers commands,
    # https://core.telegram.org/bots/features#privacy-mode): answered
    Fixture(
        "command/help_in_group_bare",
        _update("message", _group(text="/help", entities=_command("/help"))),
        (ANSWERED,),
    ),
    # The same, for another bot in the group: not ours
    # (https://core.telegram.org/bots/features#commands)
    Fixture(
        "command/start_in_group_for_other_bot",
        _update(
            "message",
            _group(text="/start@music_bot", entities=_command("/start@music_bot")),
        ),
        (RECORDED,),
    ),
]

# --- Groups, topics, automatic forwards -------------------------------------------------------

FIXTURES += [
    # API: Message in a supergroup (privacy mode off): not addressed to the bot
    Fixture(
        "group/not_addressed",
        _update("message", _group(text="anyone up for lunch?")),
        (RECORDED,),
    ),
    # API: MessageEntity "mention" of the bot
    Fixture(
        "group/mention",
        _update(
            "message",
            _group(
                text="@gateway_demo_bot what's the capital of Peru?",
                entities=_mention("@gateway_demo_bot what's the capital of Peru?"),
            ),
        ),
        (FORWARDED,),
    ),
    # A basic group (API: Chat type "group"), a mention after an emoji (MessageEntity offsets
    # count UTF-16 code units)
    Fixture(
        "group/basic_group_mention_after_emoji",
        _update(
            "message",
            _message(
                chat=SMALL_GROUP,
                text="🙂 hey @gateway_demo_bot",
                entities=[{"type": "mention", "offset": 7, "length": 17}],
            ),
        ),
        (FORWARDED,),
    ),
    # API: Message.reply_to_message: a reply to the bot's message in a group
    Fixture(
        "group/reply_to_bot",
        _update(
            "message",
            _group(
                text="and the population?",
                reply_to_message=_message(
                    message_id=9, chat=GROUP, **{"from": BOT}, text="Lima is the capital."
                ),
            ),
        ),
        (FORWARDED,),
    ),
    # API: Message.reply_to_message: a reply to another member in a group, not to the bot
    Fixture(
        "group/reply_to_someone_else",
        _update(
            "message",
            _group(
                text="agreed",
                reply_to_message=_message(message_id=8, chat=GROUP, **{"from": OTHER}, text="hi"),
            ),
        ),
        (RECORDED,),
    ),
    # API: Message.caption_entities: a photo whose caption mentions the bot
    Fixture(
        "group/photo_caption_mention",
        _update(
            "message",
            _group(
                photo=[
                    {
                        "file_id": "tg-gphoto-1",
                        "file_unique_id": "gp1",
                        "width": 1024,
                        "height": 768,
                        "file_size": len(JPEG),
                    }
                ],
                caption="@gateway_demo_bot what breed is this?",
                caption_entities=_mention("@gateway_demo_bot what breed is this?"),
            ),
        ),
        (FORWARDED,),
        media={"tg-gphoto-1": (JPEG, "image/jpeg")},
    ),
    # API: Message.sender_chat: an anonymous group admin (from = @GroupAnonymousBot)
    Fixture(
        "group/anonymous_admin_mention",
        _update(
            "message",
            _message(
                chat=GROUP,
                **{"from": ANONYMOUS_ADMIN},
                sender_chat=GROUP,
                author_signature="Admin",
                text="@gateway_demo_bot post the rules",
                entities=_mention("@gateway_demo_bot post the rules"),
            ),
        ),
        (FORWARDED,),
    ),
    # API: Message.is_automatic_forward: a channel post copied into its discussion group
    Fixture(
        "group/automatic_forward",
        _update(
            "message",
            _message(
                chat=GROUP,
                **{"from": TELEGRAM_SERVICE},
                sender_chat=CHANNEL,
                is_automatic_forward=True,
                forward_origin={
                    "type": "channel",
                    "chat": CHANNEL,
                    "message_id": 90,
                    "date": DATE,
                },
                text="New post, ask @gateway_demo_bot",
                entities=_mention("New post, ask @gateway_demo_bot"),
            ),
        ),
        (RECORDED,),
    ),
    # A comment on a channel post in its discussion group: a reply to the automatic forward
    # (whose `from` is Telegram's service account 777000), in the post's thread
    # (message_thread_id, no is_topic_message). Not addressed to the bot. (Found here: the fake
    # bot's id is 777000 too, and the reply read as a reply to the bot; channels/telegram.py
    # `_addressing_hints` now ignores the sender of an automatic forward.)
    Fixture(
        "group/comment_on_channel_post",
        _update(
            "message",
            _group(
                message_id=95,
                message_thread_id=91,
                text="great post!",
                reply_to_message=_message(
                    message_id=91,
                    chat=GROUP,
                    **{"from": TELEGRAM_SERVICE},
                    sender_chat=CHANNEL,
                    is_automatic_forward=True,
                    forward_origin={
                        "type": "channel",
                        "chat": CHANNEL,
                        "message_id": 90,
                        "date": DATE,
                    },
                    text="New post",
                ),
            ),
        ),
        (RECORDED,),
    ),
    # API: Message.is_topic_message / message_thread_id (a forum topic); the reply_to_message
    # is the topic's opening service message (forum_topic_created)
    Fixture(
        "forum/topic_mention",
        _update(
            "message",
            _message(
                chat=FORUM,
                message_id=120,
                message_thread_id=100,
                is_topic_message=True,
                reply_to_message=_message(
                    message_id=100,
                    chat=FORUM,
                    **{"from": OTHER},
                    message_thread_id=100,
                    is_topic_message=True,
                    forum_topic_created={"name": "Support", "icon_color": 7322096},
                ),
                text="@gateway_demo_bot how do I reset my password?",
                entities=_mention("@gateway_demo_bot how do I reset my password?"),
            ),
        ),
        (FORWARDED,),
    ),
    # API: Chat.is_forum: the General topic (no is_topic_message), the group's own
    # conversation
    Fixture(
        "forum/general_topic_mention",
        _update(
            "message",
            _message(
                chat=FORUM,
                message_id=130,
                text="@gateway_demo_bot hello from General",
                entities=_mention("@gateway_demo_bot hello from General"),
            ),
        ),
        (FORWARDED,),
    ),
    # API: Message.sender_chat: a user posting as their channel (from = @Channel_Bot, the
    # placeholder Telegram uses; a case-different mention)
    Fixture(
        "group/posting_as_channel_mention",
        _update(
            "message",
            _message(
                chat=GROUP,
                **{
                    "from": {
                        "id": 136817688,
                        "is_bot": True,
                        "first_name": "Channel",
                        "username": "Channel_Bot",
                    }
                },
                sender_chat=CHANNEL,
                text="@Gateway_Demo_Bot summarize the thread",
                entities=_mention("@Gateway_Demo_Bot summarize the thread", "@Gateway_Demo_Bot"),
            ),
        ),
        (FORWARDED,),
    ),
    # API: Voice + Message.reply_to_message: a voice note in a group, replying to the bot
    Fixture(
        "group/voice_reply_to_bot",
        _update(
            "message",
            _group(
                voice={
                    "duration": 2,
                    "mime_type": "audio/ogg",
                    "file_id": "tg-gvoice-1",
                    "file_unique_id": "gv1",
                    "file_size": len(OGG),
                },
                reply_to_message=_message(message_id=9, chat=GROUP, **{"from": BOT}, text="Hi!"),
            ),
        ),
        (FORWARDED,),
        media={"tg-gvoice-1": (OGG, "audio/ogg")},
    ),
    # API: Message.is_topic_message: a topic message that does not address the bot
    Fixture(
        "forum/topic_not_addressed",
        _update(
            "message",
            _message(
                chat=FORUM,
                message_id=121,
                message_thread_id=100,
                is_topic_message=True,
                reply_to_message=_message(
                    message_id=100,
                    chat=FORUM,
                    **{"from": USER},
                    message_thread_id=100,
                    is_topic_message=True,
                    forum_topic_created={"name": "Support", "icon_color": 7322096},
                ),
                text="thanks all",
            ),
        ),
        (RECORDED,),
    ),
]

# --- Service messages: recorded, never answered -----------------------------------------------
# aiogram tests/test_api/test_types/test_message.py (TEST_MESSAGE_<KIND>), one per field of
# https://core.telegram.org/bots/api#message that marks a service message.


def _service(name: str, value: Any, chat: dict[str, Any] = GROUP, **extra: Any) -> Fixture:
    return Fixture(
        f"service/{name}",
        _update("message", _message(chat=chat, **{name: value}, **extra)),
        (RECORDED,),
    )


_CHARGE = {"telegram_payment_charge_id": "tg-charge-1", "provider_payment_charge_id": "pp-1"}
FIXTURES += [
    _service("new_chat_members", [BOT, OTHER]),
    _service("left_chat_member", OTHER),
    _service("new_chat_title", "Renamed group"),
    _service(
        "new_chat_photo",
        [{"file_id": "tg-chatphoto", "file_unique_id": "cp1", "width": 640, "height": 640}],
    ),
    _service("delete_chat_photo", True),
    _service("group_chat_created", True, chat=SMALL_GROUP),
    _service("supergroup_chat_created", True),
    _service("message_auto_delete_timer_changed", {"message_auto_delete_time": 86400}),
    _service("migrate_to_chat_id", GROUP["id"], chat=SMALL_GROUP),
    _service("migrate_from_chat_id", SMALL_GROUP["id"]),
    _service(
        "successful_payment",
        {"currency": "EUR", "total_amount": 499, "invoice_payload": "plan-1", **_CHARGE},
        chat=PRIVATE,
    ),
    _service(
        "refunded_payment",
        {"currency": "XTR", "total_amount": 50, "invoice_payload": "plan-1", **_CHARGE},
        chat=PRIVATE,
    ),
    _service(
        "users_shared",
        {"request_id": 1, "users": [{"user_id": 2222222, "first_name": "Bruno"}]},
        chat=PRIVATE,
    ),
    _service(
        "chat_shared",
        {"request_id": 2, "chat_id": CHANNEL["id"], "title": "Demo channel"},
        chat=PRIVATE,
    ),
    _service("write_access_allowed", {"from_request": True}, chat=PRIVATE),
    _service("web_app_data", {"data": '{"size": "M"}', "button_text": "Order"}, chat=PRIVATE),
    _service("connected_website", "example.com", chat=PRIVATE),
    _service(
        "passport_data",
        {"data": [], "credentials": {"data": "ZGF0YQ==", "hash": "aGFzaA==", "secret": "c2U="}},
        chat=PRIVATE,
    ),
    _service(
        "proximity_alert_triggered",
        {"traveler": USER, "watcher": OTHER, "distance": 42},
    ),
    _service(
        "forum_topic_created",
        {"name": "Support", "icon_color": 7322096},
        chat=FORUM,
        message_thread_id=100,
        is_topic_message=True,
    ),
    _service(
        "forum_topic_edited",
        {"name": "Help desk"},
        chat=FORUM,
        message_thread_id=100,
        is_topic_message=True,
    ),
    _service("forum_topic_closed", {}, chat=FORUM, message_thread_id=100, is_topic_message=True),
    _service("forum_topic_reopened", {}, chat=FORUM, message_thread_id=100, is_topic_message=True),
    _service("general_forum_topic_hidden", {}, chat=FORUM),
    _service("general_forum_topic_unhidden", {}, chat=FORUM),
    _service("video_chat_scheduled", {"start_date": DATE + 3600}),
    _service("video_chat_started", {}),
    _service("video_chat_ended", {"duration": 1800}),
    _service("video_chat_participants_invited", {"users": [OTHER]}),
    _service("boost_added", {"boost_count": 2}),
    _service(
        "chat_background_set",
        {"type": {"type": "fill", "fill": {"type": "solid", "color": 0}, "dark_theme_dimming": 0}},
    ),
    _service("giveaway_created", {"prize_star_count": 500}),
    _service("giveaway_completed", {"winner_count": 10, "unclaimed_prize_count": 1}),
    _service("checklist_tasks_done", {"marked_as_done_task_ids": [1, 2]}, chat=PRIVATE),
    _service("checklist_tasks_added", {"tasks": [{"id": 3, "text": "Eggs"}]}, chat=PRIVATE),
    _service("chat_owner_changed", {"new_owner": OTHER}),
    _service("chat_owner_left", {"new_owner": OTHER}),
    _service("paid_message_price_changed", {"paid_message_star_count": 10}, chat=PRIVATE),
]

FIXTURES += [
    # aiogram test_message.py TEST_MESSAGE_GIFT (GiftInfo, Bot API 8.x)
    _service(
        "gift",
        {
            "gift": {
                "id": "gift-1",
                "sticker": {
                    "file_id": "tg-gift-sticker",
                    "file_unique_id": "gs1",
                    "type": "regular",
                    "width": 512,
                    "height": 512,
                    "is_animated": False,
                    "is_video": False,
                },
                "star_count": 100,
            },
            "owned_gift_id": "owned-1",
            "convert_star_count": 50,
            "text": "Happy birthday!",
        },
        chat=PRIVATE,
    ),
    _service("direct_message_price_changed", {"are_direct_messages_enabled": True}),
    _service("suggested_post_approved", {"send_date": DATE + 3600}, chat=PRIVATE),
    _service("suggested_post_declined", {}, chat=PRIVATE),
    # aiogram tests/test_api/test_types/test_poll_option_added.py
    _service("poll_option_added", {"option_persistent_id": "opt1", "option_text": "Option A"}),
    # Bot API 10.2-10.3 communities (https://core.telegram.org/bots/api#communitychatadded;
    # aiogram 3.31 aiogram/types/community_chat_added.py): "a chat or a bot being added to a
    # community" arrives in the bot's chat with the owner who added it
    _service("community_chat_added", {"community": {"id": 5001, "name": "Demo hub"}}, chat=PRIVATE),
    _service("community_chat_removed", {}, chat=PRIVATE),
    _service("community_chat_joined", {"community": {"id": 5001, "name": "Demo hub"}}),
]

# --- Update types the gateway does not use: recorded --------------------------------------------
# API: Update (https://core.telegram.org/bots/api#update); python-telegram-bot
# tests/test_update.py (`params`, one per update type).

_REACTION = {"type": "emoji", "emoji": "👍"}
_BUSINESS = "biz-conn-1"
_BOOST_SOURCE = {"source": "premium", "user": USER}
FIXTURES += [
    # API: Update.edited_message (Message.edit_date)
    Fixture(
        "update/edited_message",
        _update("edited_message", _message(text="hello, edited", edit_date=DATE + 30)),
        (RECORDED,),
    ),
    # API: Update.channel_post (chat type "channel", sender_chat, no from)
    Fixture(
        "update/channel_post",
        _update(
            "channel_post",
            {
                "message_id": 90,
                "date": DATE,
                "chat": CHANNEL,
                "sender_chat": CHANNEL,
                "text": "New post, ask @gateway_demo_bot",
                "entities": _mention("New post, ask @gateway_demo_bot"),
            },
        ),
        (RECORDED,),
    ),
    # API: Update.edited_channel_post
    Fixture(
        "update/edited_channel_post",
        _update(
            "edited_channel_post",
            {
                "message_id": 90,
                "date": DATE,
                "edit_date": DATE + 60,
                "chat": CHANNEL,
                "sender_chat": CHANNEL,
                "text": "New post (edited)",
            },
        ),
        (RECORDED,),
    ),
    # API: BusinessConnection (Bot API 7.2; rights as of 9.0)
    Fixture(
        "update/business_connection",
        _update(
            "business_connection",
            {
                "id": _BUSINESS,
                "user": USER,
                "user_chat_id": USER["id"],
                "date": DATE,
                "rights": {"can_reply": True, "can_read_messages": True},
                "is_enabled": True,
            },
        ),
        (RECORDED,),
    ),
    # API: Update.business_message (Message.business_connection_id)
    Fixture(
        "update/business_message",
        _update(
            "business_message",
            _message(
                chat={"id": 2222222, "type": "private", "first_name": "Bruno"},
                **{"from": OTHER},
                business_connection_id=_BUSINESS,
                text="are you open today?",
            ),
        ),
        (RECORDED,),
    ),
    # API: Update.edited_business_message
    Fixture(
        "update/edited_business_message",
        _update(
            "edited_business_message",
            _message(
                chat={"id": 2222222, "type": "private", "first_name": "Bruno"},
                **{"from": OTHER},
                business_connection_id=_BUSINESS,
                text="are you open tomorrow?",
                edit_date=DATE + 10,
            ),
        ),
        (RECORDED,),
    ),
    # API: BusinessMessagesDeleted
    Fixture(
        "update/deleted_business_messages",
        _update(
            "deleted_business_messages",
            {
                "business_connection_id": _BUSINESS,
                "chat": {"id": 2222222, "type": "private", "first_name": "Bruno"},
                "message_ids": [10, 11],
            },
        ),
        (RECORDED,),
    ),
    # API: MessageReactionUpdated
    Fixture(
        "update/message_reaction",
        _update(
            "message_reaction",
            {
                "chat": PRIVATE,
                "message_id": 11,
                "user": USER,
                "date": DATE,
                "old_reaction": [],
                "new_reaction": [_REACTION],
            },
        ),
        (RECORDED,),
    ),
    # API: MessageReactionCountUpdated
    Fixture(
        "update/message_reaction_count",
        _update(
            "message_reaction_count",
            {
                "chat": CHANNEL,
                "message_id": 90,
                "date": DATE,
                "reactions": [{"type": _REACTION, "total_count": 5}],
            },
        ),
        (RECORDED,),
    ),
    # API: InlineQuery; aiogram tests/test_api/test_types/test_inline_query.py
    Fixture(
        "update/inline_query",
        _update(
            "inline_query",
            {"id": "4417", "from": USER, "query": "weather", "offset": "", "chat_type": "sender"},
        ),
        (RECORDED,),
    ),
    # API: ChosenInlineResult
    Fixture(
        "update/chosen_inline_result",
        _update(
            "chosen_inline_result",
            {"result_id": "r1", "from": USER, "query": "weather", "inline_message_id": "AAA1"},
        ),
        (RECORDED,),
    ),
    # API: ShippingQuery; aiogram tests/test_api/test_types/test_shipping_query.py
    Fixture(
        "update/shipping_query",
        _update(
            "shipping_query",
            {
                "id": "sq-1",
                "from": USER,
                "invoice_payload": "plan-1",
                "shipping_address": {
                    "country_code": "DE",
                    "state": "",
                    "city": "Berlin",
                    "street_line1": "Pariser Platz 1",
                    "street_line2": "",
                    "post_code": "10117",
                },
            },
        ),
        (RECORDED,),
    ),
    # API: PreCheckoutQuery; aiogram tests/test_api/test_types/test_pre_checkout_query.py
    Fixture(
        "update/pre_checkout_query",
        _update(
            "pre_checkout_query",
            {
                "id": "pcq-1",
                "from": USER,
                "currency": "EUR",
                "total_amount": 499,
                "invoice_payload": "plan-1",
                "order_info": {"name": "Ana Lima", "email": "ana@example.com"},
            },
        ),
        (RECORDED,),
    ),
    # API: PaidMediaPurchased (Bot API 7.10)
    Fixture(
        "update/purchased_paid_media",
        _update("purchased_paid_media", {"from": USER, "paid_media_payload": "post-9"}),
        (RECORDED,),
    ),
    # API: PollAnswer
    Fixture(
        "update/poll_answer",
        _update("poll_answer", {"poll_id": "5436", "user": USER, "option_ids": [0]}),
        (RECORDED,),
    ),
    # API: ChatMemberUpdated: the bot added to a group; aiogram tests/test_api/test_types/
    # test_chat_member_updated.py
    Fixture(
        "update/my_chat_member",
        _update(
            "my_chat_member",
            {
                "chat": GROUP,
                "from": USER,
                "date": DATE,
                "old_chat_member": {"status": "left", "user": BOT},
                "new_chat_member": {
                    "status": "member",
                    "user": BOT,
                },
            },
        ),
        (RECORDED,),
    ),
    # API: ChatMemberBanned: the user blocked the bot in private
    Fixture(
        "update/my_chat_member_blocked",
        _update(
            "my_chat_member",
            {
                "chat": PRIVATE,
                "from": USER,
                "date": DATE,
                "old_chat_member": {"status": "member", "user": BOT},
                "new_chat_member": {"status": "kicked", "user": BOT, "until_date": 0},
            },
        ),
        (RECORDED,),
    ),
    # API: ChatMemberUpdated (via_join_request); PTB tests/test_update.py
    Fixture(
        "update/chat_member",
        _update(
            "chat_member",
            {
                "chat": GROUP,
                "from": OTHER,
                "date": DATE,
                "old_chat_member": {"status": "left", "user": USER},
                "new_chat_member": {"status": "member", "user": USER},
                "via_join_request": True,
            },
        ),
        (RECORDED,),
    ),
    # API: ChatJoinRequest; aiogram tests/test_api/test_types/test_chat_join_request.py
    Fixture(
        "update/chat_join_request",
        _update(
            "chat_join_request",
            {
                "chat": GROUP,
                "from": USER,
                "user_chat_id": USER["id"],
                "date": DATE,
                "bio": "hello",
                "invite_link": {
                    "invite_link": "https://t.me/+AbCdEf...",
                    "creator": OTHER,
                    "creates_join_request": True,
                    "is_primary": False,
                    "is_revoked": False,
                },
            },
        ),
        (RECORDED,),
    ),
    # API: ChatBoostUpdated
    Fixture(
        "update/chat_boost",
        _update(
            "chat_boost",
            {
                "chat": CHANNEL,
                "boost": {
                    "boost_id": "b1",
                    "add_date": DATE,
                    "expiration_date": DATE + 30 * 86400,
                    "source": _BOOST_SOURCE,
                },
            },
        ),
        (RECORDED,),
    ),
    # API: ChatBoostRemoved
    Fixture(
        "update/removed_chat_boost",
        _update(
            "removed_chat_boost",
            {"chat": CHANNEL, "boost_id": "b1", "remove_date": DATE, "source": _BOOST_SOURCE},
        ),
        (RECORDED,),
    ),
    # API: ManagedBotUpdated (the newest update type); aiogram tests/test_api/test_types/
    # test_managed_bot_updated.py
    Fixture(
        "update/managed_bot",
        _update(
            "managed_bot",
            {
                "user": USER,
                "bot": {
                    "id": 6666666,
                    "is_bot": True,
                    "first_name": "Mine",
                    "username": "mine_bot",
                },
            },
        ),
        (RECORDED,),
    ),
]

FIXTURES += [
    # Bot API 10.0 guest mode (Update.guest_message; aiogram 3.31 aiogram/types/update.py,
    # Message.guest_query_id; https://core.telegram.org/api/bots/guest-mode): the bot, summoned
    # by @username in a chat it is not a member of, can answer only with answerGuestQuery,
    # which the gateway does not implement: recorded like any update type it does not use
    Fixture(
        "update/guest_message",
        _update(
            "guest_message",
            _message(
                chat={"id": 3333333, "type": "private", "first_name": "Carla"},
                text="@gateway_demo_bot translate this to French",
                entities=_mention("@gateway_demo_bot translate this to French"),
                guest_query_id="8123456789012345678",
            ),
        ),
        (RECORDED,),
    ),
    # Bot API 10.2 (Update.subscription, BotSubscriptionUpdated; aiogram 3.31
    # aiogram/types/bot_subscription_updated.py)
    Fixture(
        "update/subscription",
        _update("subscription", {"user": USER, "invoice_payload": "plan-1", "state": "canceled"}),
        (RECORDED,),
    ),
    # Bot API 10.3 (Update.stopped_message_generation, MessageGenerationStopped; aiogram 3.31
    # aiogram/types/message_generation_stopped.py)
    Fixture(
        "update/stopped_message_generation",
        _update("stopped_message_generation", {"chat": PRIVATE, "draft_id": 17}),
        (RECORDED,),
    ),
]

# --- Button taps (callback_query) that are not approvals: acknowledged, recorded ---------------
# API: CallbackQuery; aiogram tests/test_api/test_types/test_callback_query.py

FIXTURES += [
    # aiogram tests/test_api/test_types/test_callback_query.py: data the bot never sent
    Fixture(
        "callback/foreign_data",
        _update(
            "callback_query",
            {
                "id": "4382bfdwdsb323b2d9",
                "from": USER,
                "message": _message(message_id=12, **{"from": BOT}, text="Pick one"),
                "chat_instance": "-7426542087345762511",
                "data": "menu:2",
            },
        ),
        (RECORDED,),
    ),
    # API: InaccessibleMessage (date 0): the message is too old to be sent along; PTB
    # tests/test_update.py test_effective_message_inaccessible
    Fixture(
        "callback/inaccessible_message",
        _update(
            "callback_query",
            {
                "id": "4382bfdwdsb323b2da",
                "from": USER,
                "message": {"chat": PRIVATE, "message_id": 3, "date": 0},
                "chat_instance": "-7426542087345762511",
                "data": "old-button",
            },
        ),
        (RECORDED,),
    ),
    # API: CallbackQuery.inline_message_id: a button of a message sent via inline mode; PTB
    # tests/test_update.py "callback_query_without_message"
    Fixture(
        "callback/inline_message",
        _update(
            "callback_query",
            {
                "id": "4382bfdwdsb323b2db",
                "from": USER,
                "inline_message_id": "AAA1",
                "chat_instance": "-1234",
                "data": "vote:1",
            },
        ),
        (RECORDED,),
    ),
    # API: CallbackQuery.game_short_name: a game's "Play" button, no data
    Fixture(
        "callback/game",
        _update(
            "callback_query",
            {
                "id": "4382bfdwdsb323b2dc",
                "from": USER,
                "message": _message(
                    message_id=13,
                    **{"from": BOT},
                    game={"title": "x", "description": "y", "photo": []},
                ),
                "chat_instance": "-7426542087345762511",
                "game_short_name": "lumberjack",
            },
        ),
        (RECORDED,),
    ),
    # API: CallbackQuery: a button of a message in a group
    Fixture(
        "callback/group_foreign_data",
        _update(
            "callback_query",
            {
                "id": "4382bfdwdsb323b2dd",
                "from": USER,
                "message": _message(message_id=14, chat=GROUP, **{"from": BOT}, text="Pick"),
                "chat_instance": "-98765",
                "data": "page:3",
            },
        ),
        (RECORDED,),
    ),
]

FIXTURES += [
    # An update type newer than the adapter (Update: "At most one of the optional parameters
    # can be present"; new ones are added with every Bot API release)
    Fixture(
        "update/unknown_future_type",
        _update("future_update", {"id": "x1", "from": USER, "anything": [1, {"nested": True}]}),
        (RECORDED,),
    ),
    # API: Update.edited_message: an edit that mentions the bot, in a group, is still an edit
    Fixture(
        "update/edited_message_in_group_mention",
        _update(
            "edited_message",
            _group(
                text="@gateway_demo_bot fixed typo",
                entities=_mention("@gateway_demo_bot fixed typo"),
                edit_date=DATE + 5,
            ),
        ),
        (RECORDED,),
    ),
]
