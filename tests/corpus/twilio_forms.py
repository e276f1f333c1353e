"""Twilio webhook forms: incoming SMS, MMS and WhatsApp messages, and status callbacks. Sources
are named per fixture: "Twilio" is the Messaging webhook reference
(twilio.com/docs/messaging/guides/webhook-request), "status" the status callback reference
(twilio.com/docs/messaging/guides/track-outbound-message-status), "WA" Twilio's WhatsApp
webhook reference (twilio.com/docs/whatsapp/api#incoming-message-webhook-parameters)."""

from __future__ import annotations

from gateway.dev.fake_twilio import DEFAULT_ACCOUNT_SID
from tests.auxil.harness import TWILIO_NUMBER
from tests.corpus.model import Fixture, Outcome

FORWARDED, ANSWERED, RECORDED, STATUS = (
    Outcome.FORWARDED,
    Outcome.ANSWERED,
    Outcome.RECORDED,
    Outcome.STATUS,
)

PHONE = "+14155550111"
_sids = iter(range(1, 1_000_000))


def sid(prefix: str = "SM") -> str:
    return f"{prefix}{next(_sids):032x}"


def sms(body: str, **extra: str) -> dict[str, str]:
    """Twilio: the parameters of every incoming message."""
    message_sid = sid()
    return {
        "ToCountry": "US",
        "ToState": "CA",
        "SmsMessageSid": message_sid,
        "NumMedia": "0",
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
        **extra,
    }


FIXTURES: list[Fixture] = [
    # Twilio: "Incoming message webhook" (an SMS)
    Fixture("sms/text", sms("Hello there"), (FORWARDED,)),
    # status: "delivered" callback of an outbound message
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
]
