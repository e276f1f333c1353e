"""Twilio webhook forms: incoming SMS, MMS and WhatsApp messages, and status callbacks. Sources
are named per fixture: "Twilio" is the Messaging webhook reference
(https://www.twilio.com/docs/messaging/guides/webhook-request: the SMS/MMS parameters, and its
WhatsApp section: ProfileName, WaId, Forwarded, FrequentlyForwarded, ButtonText, ButtonPayload,
Latitude/Longitude/Address/Label, the Referral* and OriginalReplied* parameters), "status" the
status callback reference (https://www.twilio.com/docs/messaging/guides/track-outbound-message-status
and the "Outbound Message" event schema, https://www.twilio.com/docs/events/event-types/messaging/outbound-message),
"AOO" Advanced Opt-Out (https://www.twilio.com/docs/messaging/tutorials/advanced-opt-out),
"chatwoot" chatwoot/chatwoot spec/services/twilio/incoming_message_service_spec.rb.

Media URLs are Twilio's (`.../Accounts/AC.../Messages/MM.../Media/ME...`); the replay serves the
file registered under the `ME...` id. What the gateway owes each: docs/decisions.md "SMS and
WhatsApp" (keywords are SMS only; STOP is not answered, START is) and "Real payloads"."""

from __future__ import annotations

from gateway.dev.fake_twilio import DEFAULT_ACCOUNT_SID
from tests.auxil.harness import TWILIO_NUMBER
from tests.corpus.model import JPEG, MP3, MP4, OGG, PDF, PNG, WEBP, Fixture, Outcome

FORWARDED, ANSWERED, RECORDED, STATUS = (
    Outcome.FORWARDED,
    Outcome.ANSWERED,
    Outcome.RECORDED,
    Outcome.STATUS,
)

PHONE = "+14155550111"
STOP_PHONE = "+14155550112"
"""Sends STOP, then a message (ignored: opted out), then START."""
AOO_PHONE = "+14155550113"
"""STOP and UNSTOP with Advanced Opt-Out on (OptOutType)."""
HELP_PHONE = "+14155550114"
WA_PHONE = "+5511987654321"
WA = f"whatsapp:{WA_PHONE}"
WA_ID = WA_PHONE.removeprefix("+")
GATEWAY_WA = f"whatsapp:{TWILIO_NUMBER}"
SERVICE_SID = "MG" + "5" * 32

VCARD = (
    b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ana Lima\r\nTEL;TYPE=CELL:+5511987654321\r\nEND:VCARD\r\n"
)
AMR = b"#!AMR\n" + b"\x3c" * 300

_sids = iter(range(1, 1_000_000))


def sid(prefix: str = "SM") -> str:
    return f"{prefix}{next(_sids):032x}"


def media_url(message_sid: str, media_id: str) -> str:
    """Where Twilio serves a message's media (the replay moves it to the fake)."""
    return (
        f"https://api.twilio.com/2010-04-01/Accounts/{DEFAULT_ACCOUNT_SID}"
        f"/Messages/{message_sid}/Media/{media_id}"
    )


def sms(body: str, *media: tuple[str, str], **extra: str) -> dict[str, str]:
    """Twilio: the parameters of every incoming message (SMS geography included), and one
    `MediaUrl{N}` / `MediaContentType{N}` pair per (media id, MIME type): an MMS."""
    message_sid = sid("MM" if media else "SM")
    form = {
        "ToCountry": "US",
        "ToState": "CA",
        "SmsMessageSid": message_sid,
        "NumMedia": str(len(media)),
        "ToCity": "",
        "FromZip": "94105",
        "SmsSid": message_sid,
        "FromState": "CA",
        "SmsStatus": "received",
        "FromCity": "SAN FRANCISCO",
        "Body": body,
        "FromCountry": "US",
        "To": TWILIO_NUMBER,
        "ToZip": "",
        "NumSegments": "1",
        "MessageSid": message_sid,
        "AccountSid": DEFAULT_ACCOUNT_SID,
        "From": PHONE,
        "ApiVersion": "2010-04-01",
    }
    for index, (media_id, mime) in enumerate(media):
        form[f"MediaContentType{index}"] = mime
        form[f"MediaUrl{index}"] = media_url(message_sid, media_id)
    return form | extra


def whatsapp(body: str, *media: tuple[str, str], **extra: str) -> dict[str, str]:
    """Twilio (WhatsApp section): a WhatsApp message carries no SMS geography but the sender's
    profile (ProfileName, WaId), MessageType, the forwarding flags and ReferralNumMedia."""
    message_sid = sid("MM" if media else "SM")
    kind = media[0][1].partition("/")[0] if media else "text"
    kind = kind if not media or kind in ("image", "audio", "video") else "document"
    form = {
        "SmsMessageSid": message_sid,
        "NumMedia": str(len(media)),
        "ProfileName": "Ana Lima",
        "MessageType": kind,
        "SmsSid": message_sid,
        "WaId": WA_ID,
        "SmsStatus": "received",
        "Body": body,
        "To": GATEWAY_WA,
        "NumSegments": "1",
        "ReferralNumMedia": "0",
        "MessageSid": message_sid,
        "AccountSid": DEFAULT_ACCOUNT_SID,
        "From": WA,
        "ApiVersion": "2010-04-01",
    }
    for index, (media_id, mime) in enumerate(media):
        form[f"MediaContentType{index}"] = mime
        form[f"MediaUrl{index}"] = media_url(message_sid, media_id)
    return form | extra


def status(value: str, to: str = PHONE, **extra: str) -> dict[str, str]:
    """status: the parameters of every status callback (SmsStatus mirrors MessageStatus)."""
    message_sid = extra.pop("MessageSid", None) or sid()
    whatsapp_route = to.startswith("whatsapp:")
    return {
        "SmsSid": message_sid,
        "SmsStatus": value,
        "MessageStatus": value,
        "To": to,
        "MessageSid": message_sid,
        "AccountSid": DEFAULT_ACCOUNT_SID,
        "From": GATEWAY_WA if whatsapp_route else TWILIO_NUMBER,
        "ApiVersion": "2010-04-01",
        **extra,
    }


def me(n: int) -> str:
    return f"ME{n:032x}"


_SENT = sid()
"""One outbound SMS whose callbacks arrive in order."""
_WA_SENT = sid()
"""One outbound WhatsApp message: sent, delivered, read."""

FIXTURES: list[Fixture] = [
    # --- SMS -------------------------------------------------------------------------------
    # Twilio: "Incoming message webhook" (an SMS)
    Fixture("sms/text", sms("Hello there"), (FORWARDED,)),
    # Twilio: every documented parameter, through a Messaging Service (MessagingServiceSid),
    # the carrier's geography filled in (the Events "Inbound Message" example: NASHUA, NH ...)
    Fixture(
        "sms/all-parameters-messaging-service",
        sms(
            "What time do you open tomorrow?",
            MessagingServiceSid=SERVICE_SID,
            FromCity="NASHUA",
            FromState="NH",
            FromZip="03049",
            ToCity="FORT MEADE",
            ToState="FL",
            ToZip="33841",
        ),
        (FORWARDED,),
    ),
    # Twilio: "Inbound messages over 160 characters are reassembled" (NumSegments); UCS-2
    # text (emoji, Cyrillic, CJK) segments at 70 characters
    Fixture(
        "sms/long-unicode",
        sms(
            "Привет! 👋 Can you check my order? " * 8 + "注文番号は 1042 です。🙏",
            NumSegments="5",
        ),
        (FORWARDED,),
    ),
    # Twilio: AddOns (a JSON string with the results of the Add-ons enabled on the number)
    Fixture(
        "sms/add-ons",
        sms(
            "Call me back please",
            AddOns='{"status":"successful","message":null,"code":null,"results":{}}',
        ),
        (FORWARDED,),
    ),
    # Twilio: a non-US sender (FromCountry, empty city/state/zip as carriers often leave them)
    Fixture(
        "sms/international-sender",
        sms(
            "Bonjour, je voudrais réserver une table.",
            From="+33612345678",
            FromCountry="FR",
            FromCity="",
            FromState="",
            FromZip="",
        ),
        (FORWARDED,),
    ),
    # --- MMS -------------------------------------------------------------------------------
    # Twilio: NumMedia=1, MediaUrl0/MediaContentType0 (an MMS photo with text);
    # chatwoot "creates a new message with media"
    Fixture(
        "mms/photo",
        sms("Is this the right part?", (me(1), "image/jpeg")),
        (FORWARDED,),
        media={me(1): (JPEG, "image/jpeg")},
    ),
    # Twilio: "the Body parameter is empty" for a media-only message
    Fixture(
        "mms/photo-no-body",
        sms("", (me(2), "image/png")),
        (FORWARDED,),
        media={me(2): (PNG, "image/png")},
    ),
    # Twilio: several media (MediaUrl0..N, one MediaContentType each); chatwoot "multiple
    # attachments": image, a recorded voice memo (audio/amr), video, a contact card, a PDF
    Fixture(
        "mms/several-media",
        sms(
            "Here is everything",
            (me(3), "image/jpeg"),
            (me(4), "audio/amr"),
            (me(5), "video/mp4"),
            (me(6), "text/vcard"),
            (me(7), "application/pdf"),
        ),
        (FORWARDED,),
        media={
            me(3): (JPEG, "image/jpeg"),
            me(4): (AMR, "audio/amr"),
            me(5): (MP4, "video/mp4"),
            me(6): (VCARD, "text/vcard"),
            me(7): (PDF, "application/pdf"),
        },
    ),
    # Twilio: an MMS audio item alone (a voice memo), no Body
    Fixture(
        "mms/audio-only",
        sms("", (me(8), "audio/mpeg")),
        (FORWARDED,),
        media={me(8): (MP3, "audio/mpeg")},
    ),
    # Twilio: a contact card shared from the phone's address book (text/vcard), no Body
    Fixture(
        "mms/vcard-only",
        sms("", (me(9), "text/x-vcard")),
        (FORWARDED,),
        media={me(9): (VCARD, "text/x-vcard")},
    ),
    # Twilio: a video clip with text
    Fixture(
        "mms/video",
        sms("Watch this", (me(10), "video/3gpp")),
        (FORWARDED,),
        media={me(10): (MP4, "video/3gpp")},
    ),
    # --- SMS keywords (docs/decisions.md "SMS and WhatsApp") ------------------------------
    # AOO: "STOP" (Twilio confirms on long codes; the gateway stays silent, opts the number out)
    Fixture("keywords/stop", sms("STOP", From=STOP_PHONE), (RECORDED,)),
    # Twilio: any later message of an opted-out number is recorded, never forwarded
    Fixture("keywords/after-stop", sms("hello?", From=STOP_PHONE), (RECORDED,)),
    # AOO: "START" opts back in; the gateway acknowledges it
    Fixture("keywords/start", sms("Start", From=STOP_PHONE), (ANSWERED,)),
    # ... and the number's messages reach the agent again
    Fixture("keywords/after-start", sms("I'm back", From=STOP_PHONE), (FORWARDED,)),
    # AOO: with Advanced Opt-Out on, Twilio adds OptOutType=STOP
    Fixture(
        "keywords/stop-advanced-opt-out",
        sms("stop", From=AOO_PHONE, OptOutType="STOP", MessagingServiceSid=SERVICE_SID),
        (RECORDED,),
    ),
    # AOO: "UNSTOP" is an opt-in keyword (OptOutType=START)
    Fixture(
        "keywords/unstop-advanced-opt-out",
        sms("UNSTOP", From=AOO_PHONE, OptOutType="START", MessagingServiceSid=SERVICE_SID),
        (ANSWERED,),
    ),
    # AOO: "HELP" (OptOutType=HELP): the gateway answers with its help text
    Fixture(
        "keywords/help-advanced-opt-out",
        sms("HELP", From=HELP_PHONE, OptOutType="HELP", MessagingServiceSid=SERVICE_SID),
        (ANSWERED,),
    ),
    # AOO: the other default opt-out keywords (UNSUBSCRIBE ...), case and punctuation ignored
    Fixture("keywords/unsubscribe", sms("Unsubscribe.", From="+14155550115"), (RECORDED,)),
    # --- WhatsApp over Twilio --------------------------------------------------------------
    # Twilio (WhatsApp): a text message with ProfileName and WaId
    Fixture("whatsapp/text", whatsapp("Olá! Vocês entregam hoje?"), (FORWARDED,)),
    # Twilio (WhatsApp): keywords are SMS only; a WhatsApp user who types STOP reaches the agent
    Fixture("whatsapp/stop-is-text", whatsapp("STOP"), (FORWARDED,)),
    # Twilio (WhatsApp): an image with a caption (Body)
    Fixture(
        "whatsapp/image-caption",
        whatsapp("Meu pedido chegou assim", (me(20), "image/jpeg")),
        (FORWARDED,),
        media={me(20): (JPEG, "image/jpeg")},
    ),
    # Twilio (WhatsApp): a voice note (audio/ogg, no Body)
    Fixture(
        "whatsapp/voice-note",
        whatsapp("", (me(21), "audio/ogg")),
        (FORWARDED,),
        media={me(21): (OGG, "audio/ogg")},
    ),
    # Twilio (WhatsApp): a video
    Fixture(
        "whatsapp/video",
        whatsapp("", (me(22), "video/mp4")),
        (FORWARDED,),
        media={me(22): (MP4, "video/mp4")},
    ),
    # Twilio (WhatsApp): a document (the file name is the Body)
    Fixture(
        "whatsapp/document",
        whatsapp("boleto.pdf", (me(23), "application/pdf")),
        (FORWARDED,),
        media={me(23): (PDF, "application/pdf")},
    ),
    # Twilio (WhatsApp): a sticker arrives as image/webp media
    Fixture(
        "whatsapp/sticker",
        whatsapp("", (me(24), "image/webp")),
        (FORWARDED,),
        media={me(24): (WEBP, "image/webp")},
    ),
    # Twilio (WhatsApp): a shared contact arrives as a text/vcard media item
    Fixture(
        "whatsapp/contact",
        whatsapp("", (me(25), "text/vcard")),
        (FORWARDED,),
        media={me(25): (VCARD, "text/vcard")},
    ),
    # Twilio (WhatsApp): a shared location (Latitude/Longitude/Address/Label), no Body;
    # chatwoot "when a location message is received"
    Fixture(
        "whatsapp/location",
        whatsapp(
            "",
            MessageType="location",
            Latitude="-23.5613",
            Longitude="-46.6565",
            Address="Av. Paulista, 1578 - Bela Vista, São Paulo - SP",
            Label="MASP",
        ),
        (FORWARDED,),
    ),
    # Twilio (WhatsApp): a live/current location without Address or Label
    Fixture(
        "whatsapp/location-bare",
        whatsapp("", MessageType="location", Latitude="12.160894393921", Longitude="75.2652"),
        (FORWARDED,),
    ),
    # Twilio (WhatsApp) location parameters, with a Latitude that is not a coordinate
    # (decisions "Real payloads", issue 24): the location is left out, the text still goes
    Fixture(
        "whatsapp/location-bad-latitude-with-text",
        whatsapp(
            "I'm here",
            MessageType="location",
            Latitude="north",
            Longitude="-46.6565",
            Label="Home",
        ),
        (FORWARDED,),
    ),
    # ... (a Latitude out of range) and with nothing else readable the user is told it
    # cannot be read
    Fixture(
        "whatsapp/location-bad-latitude-alone",
        whatsapp("", MessageType="location", Latitude="123.4", Longitude="-46.6565"),
        (ANSWERED,),
    ),
    # Twilio (WhatsApp): a quick-reply button of a template (ButtonPayload/ButtonText, the
    # button's text as Body, the template as OriginalRepliedMessageSid)
    Fixture(
        "whatsapp/quick-reply-button",
        whatsapp(
            "Track my order",
            MessageType="button",
            ButtonText="Track my order",
            ButtonPayload="track_order_1042",
            OriginalRepliedMessageSender=GATEWAY_WA,
            OriginalRepliedMessageSid=sid("MM"),
        ),
        (FORWARDED,),
    ),
    # Twilio (WhatsApp): a list picker reply (twilio/list-picker: ListId, ListTitle; the
    # item's title as Body), MessageType=interactive
    Fixture(
        "whatsapp/list-reply",
        whatsapp(
            "Priority Mail Express",
            MessageType="interactive",
            ListId="priority_express",
            ListTitle="Priority Mail Express",
            OriginalRepliedMessageSender=GATEWAY_WA,
            OriginalRepliedMessageSid=sid("MM"),
        ),
        (FORWARDED,),
    ),
    # Twilio (WhatsApp), chatwoot "CTWA referral parameters": the first message after a
    # click-to-WhatsApp ad carries the Referral* parameters
    Fixture(
        "whatsapp/click-to-whatsapp-ad",
        whatsapp(
            "Hallo! Kann ich hierzu mehr Informationen erhalten?",
            ReferralCtwaClid="AfjyUDlaIoiweZDnlzmDTEaG",
            ReferralSourceId="120237244350960485",
            ReferralSourceUrl="https://fb.me/4tBfhWhjr",
            ReferralSourceType="ad",
            ReferralHeadline="Summer sale",
            ReferralBody="20% off everything this week",
            ReferralMediaId="",
            ReferralMediaContentType="image/jpeg",
            ReferralMediaUrl="https://scontent.whatsapp.net/v/ad.jpg",
            ReferralNumMedia="1",
        ),
        (FORWARDED,),
    ),
    # Twilio (WhatsApp): a reply to one of the gateway's messages (OriginalRepliedMessageSid)
    Fixture(
        "whatsapp/reply",
        whatsapp(
            "Yes, that one",
            OriginalRepliedMessageSender=GATEWAY_WA,
            OriginalRepliedMessageSid=sid("SM"),
        ),
        (FORWARDED,),
    ),
    # Twilio (WhatsApp): a forwarded message, and a frequently forwarded one
    Fixture(
        "whatsapp/forwarded",
        whatsapp("Look at this offer", Forwarded="true", FrequentlyForwarded="false"),
        (FORWARDED,),
    ),
    Fixture(
        "whatsapp/frequently-forwarded",
        whatsapp(
            "Forwarded many times",
            (me(26), "image/jpeg"),
            Forwarded="true",
            FrequentlyForwarded="true",
        ),
        (FORWARDED,),
        media={me(26): (JPEG, "image/jpeg")},
    ),
    # chatwoot "only has BSUID identifiers": a user with a WhatsApp username, From is the
    # business-scoped user id (no phone number)
    Fixture(
        "whatsapp/bsuid-only-sender",
        whatsapp(
            "testing bsuid",
            From="whatsapp:IN.2081978709342942",
            WaId="",
            ProfileUsername="muhsin",
            ExternalUserId="IN.2081978709342942",
            ParentExternalUserId="IN.ENT.9081726354",
        ),
        (FORWARDED,),
    ),
    # --- Status callbacks on the status route ----------------------------------------------
    # status: the seed (a "delivered" callback without SmsSid, as Twilio sometimes sends)
    Fixture(
        "status/delivered",
        {
            "MessageSid": sid(),
            "MessageStatus": "delivered",
            "SmsSid": "",
            "SmsStatus": "delivered",
            "AccountSid": DEFAULT_ACCOUNT_SID,
            "From": TWILIO_NUMBER,
            "To": PHONE,
            "ApiVersion": "2010-04-01",
        },
        (STATUS,),
        status_route=True,
    ),
    # status: one SMS's callbacks in order: queued, sending, sent, delivered (RawDlrDoneDate,
    # the carrier's YYMMDDhhmm)
    Fixture("status/queued", status("queued", MessageSid=_SENT), (STATUS,), status_route=True),
    Fixture("status/sending", status("sending", MessageSid=_SENT), (STATUS,), status_route=True),
    Fixture("status/sent", status("sent", MessageSid=_SENT), (STATUS,), status_route=True),
    Fixture(
        "status/delivered-raw-dlr",
        status("delivered", MessageSid=_SENT, RawDlrDoneDate="2612031910"),
        (STATUS,),
        status_route=True,
    ),
    # status: a Messaging Service's "accepted"
    Fixture(
        "status/accepted",
        status("accepted", MessagingServiceSid=SERVICE_SID),
        (STATUS,),
        status_route=True,
    ),
    # status: "undelivered" with ErrorCode 30003 (Unreachable destination handset)
    Fixture(
        "status/undelivered-30003",
        status("undelivered", ErrorCode="30003", RawDlrDoneDate="2612031911"),
        (STATUS,),
        status_route=True,
    ),
    # status: "failed" (ErrorCode 30008, unknown error)
    Fixture("status/failed", status("failed", ErrorCode="30008"), (STATUS,), status_route=True),
    # status: a Messaging Service's scheduled message: "scheduled", then "canceled"
    Fixture(
        "status/scheduled",
        status("scheduled", MessagingServiceSid=SERVICE_SID),
        (STATUS,),
        status_route=True,
    ),
    Fixture(
        "status/canceled",
        status("canceled", MessagingServiceSid=SERVICE_SID),
        (STATUS,),
        status_route=True,
    ),
    # status (WhatsApp): sent, delivered, read with ChannelPrefix/ChannelInstallSid/
    # ChannelToAddress
    Fixture(
        "status/whatsapp-sent",
        status(
            "sent",
            WA,
            MessageSid=_WA_SENT,
            ChannelPrefix="whatsapp",
            ChannelInstallSid="XE" + "7" * 32,
            ChannelToAddress=WA_PHONE,
            StructuredMessage="false",
        ),
        (STATUS,),
        status_route=True,
    ),
    Fixture(
        "status/whatsapp-delivered",
        status(
            "delivered",
            WA,
            MessageSid=_WA_SENT,
            ChannelPrefix="whatsapp",
            ChannelInstallSid="XE" + "7" * 32,
            ChannelToAddress=WA_PHONE,
        ),
        (STATUS,),
        status_route=True,
    ),
    Fixture(
        "status/whatsapp-read",
        status(
            "read",
            WA,
            MessageSid=_WA_SENT,
            ChannelPrefix="whatsapp",
            ChannelInstallSid="XE" + "7" * 32,
            ChannelToAddress=WA_PHONE,
        ),
        (STATUS,),
        status_route=True,
    ),
    # status (WhatsApp): failed outside the 24-hour window (63016), with the channel's message
    Fixture(
        "status/whatsapp-failed-63016",
        status(
            "failed",
            WA,
            ErrorCode="63016",
            ChannelPrefix="whatsapp",
            ChannelInstallSid="XE" + "7" * 32,
            ChannelStatusMessage="Failed to send freeform message because you are outside "
            "the allowed window.",
        ),
        (STATUS,),
        status_route=True,
    ),
    # --- A status callback on the inbound URL (decisions "Real payloads", issue 24 item 9) ---
    # status: a number whose status callback points at the inbound route: a STATUS, never a
    # message (answering would text the gateway's own number)
    Fixture("status/misrouted-delivered", status("delivered"), (STATUS,)),
    Fixture(
        "status/misrouted-whatsapp-read",
        status("read", WA, ChannelPrefix="whatsapp", ChannelInstallSid="XE" + "7" * 32),
        (STATUS,),
    ),
]
