"""Contact cards read from vCard files (`gateway/turn/vcard.py`): the versions phones write, and
what the core is told when one arrives as a file (Twilio MMS and WhatsApp over Twilio)."""

from __future__ import annotations

from gateway.dev import fake_twilio
from gateway.turn.vcard import FIELD_LIMIT, Card, read_cards
from tests.auxil.harness import TWILIO_NUMBER, Harness
from tests.turn.test_media_turns import PHONE, _content, _file, _text

IPHONE_30 = (
    b"BEGIN:VCARD\r\nVERSION:3.0\r\nPRODID:-//Apple Inc.//iPhone OS 17.0//EN\r\n"
    b"N:Lima;Ana;;;\r\nFN:Ana Lima\r\n"
    b"item1.TEL;type=CELL;type=VOICE;type=pref:+55 11 98765-4321\r\n"
    b"TEL;type=HOME:+55 11 3333-4444\r\n"
    b"PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRgABAQAAAQABAAD\r\n"
    b" /2wBDAAMCAgICAgMCAgIDAwMDBAYEBAQEBAgGBgUGCQgKCgkICQkKDA8MCgsOCwkJDRENDg8QEBEQ\r\n"
    b"END:VCARD\r\n"
)
ANDROID_21_QP = (
    b"BEGIN:VCARD\r\nVERSION:2.1\r\n"
    b"N;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:M=C3=BCller;J=C3=BCrgen;;;\r\n"
    b"FN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:J=C3=BCrgen M=C3=BC=\r\nller\r\n"
    b"TEL;CELL:+49 151 1234 5678\r\nEND:VCARD\r\n"
)
VERSION_40 = (
    b'BEGIN:VCARD\nVERSION:4.0\nFN:Dr. Bo\\, Jr.\nTEL;VALUE=uri;TYPE="voice,cell":'
    b"tel:+1-555-555-0100;ext=12\nEND:VCARD\n"
)


def test_an_iphone_card_gives_its_name_and_first_number() -> None:
    assert read_cards(IPHONE_30) == [Card(name="Ana Lima", phone="+55 11 98765-4321")]


def test_quoted_printable_with_a_soft_break_and_a_charset() -> None:
    assert read_cards(ANDROID_21_QP) == [Card(name="Jürgen Müller", phone="+49 151 1234 5678")]


def test_a_bare_quoted_printable_parameter() -> None:
    card = b"BEGIN:VCARD\r\nVERSION:2.1\r\nFN;QUOTED-PRINTABLE:Ren=C3=A9\r\nEND:VCARD\r\n"
    assert read_cards(card) == [Card(name="René", phone=None)]


def test_version_4_numbers_are_uris_and_values_escaped() -> None:
    assert read_cards(VERSION_40) == [Card(name="Dr. Bo, Jr.", phone="+1-555-555-0100")]


def test_the_structured_name_when_there_is_no_formatted_one() -> None:
    card = b"BEGIN:VCARD\r\nVERSION:3.0\r\nN:Doe;Jane;Q.;Ms.;\r\nEND:VCARD\r\n"
    assert read_cards(card) == [Card(name="Ms. Jane Q. Doe", phone=None)]


def test_several_cards_in_order_and_folded_lines() -> None:
    data = (
        b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:One\r\n  Person\r\nEND:VCARD\r\n"
        b"BEGIN:VCARD\r\nVERSION:3.0\r\nTEL:+1 555 0101\r\nEND:VCARD\r\n"
        b"BEGIN:VCARD\r\nVERSION:3.0\r\nNOTE:nothing to tell\r\nEND:VCARD\r\n"
    )
    assert read_cards(data) == [Card("One Person", None), Card(None, "+1 555 0101")]


def test_anything_else_reads_as_no_cards() -> None:
    for data in (b"", b"\xff\xfe\x00garbage", b"%PDF-1.7\n", b"FN:outside a card\r\n"):
        assert read_cards(data) == []


def test_a_name_is_one_line_of_bounded_length() -> None:
    long = b"x" * 5000
    data = b"BEGIN:VCARD\r\nFN:evil\\nname\x07" + long + b"\r\nEND:VCARD\r\n"
    [card] = read_cards(data)
    assert card.name is not None and "\n" not in card.name and "\x07" not in card.name
    assert card.name.startswith("evil name") and len(card.name) == FIELD_LIMIT


async def test_a_contact_shared_by_mms_reaches_the_agent_as_a_contact(gw: Harness) -> None:
    assert gw.twilio is not None
    card = gw.twilio.add_media(IPHONE_30, "text/x-vcard")
    form = fake_twilio.inbound_form(
        from_=PHONE, to=TWILIO_NUMBER, body="", media=[(gw.twilio.media_url(card), "text/x-vcard")]
    )
    assert (await gw.post_twilio(form))[0] == 200
    await gw.twilio.wait_for_messages(1)
    assert _content(gw.core) == [_text("Contact: Ana Lima, +55 11 98765-4321")]
    assert gw.twilio.sent_bodies() == ["Echo: Contact: Ana Lima, +55 11 98765-4321"]


async def test_a_vcard_file_with_no_card_still_goes_as_a_file(gw: Harness) -> None:
    assert gw.twilio is not None
    data = b"not a card at all"
    item = gw.twilio.add_media(data, "text/vcard")
    form = fake_twilio.inbound_form(
        from_=PHONE, to=TWILIO_NUMBER, body="see", media=[(gw.twilio.media_url(item), "text/vcard")]
    )
    assert (await gw.post_twilio(form))[0] == 200
    await gw.twilio.wait_for_messages(1)
    [text, file] = _content(gw.core)
    assert text == _text("see") and file == _file(file["filename"], "text/vcard", data)
