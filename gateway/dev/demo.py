"""`gateway demo`: scripted Telegram, SMS and WhatsApp conversations through a real gateway,
fully offline.

Everything runs on loopback: the gateway (HTTP + worker) on a temporary SQLite database, the mock
responses core and fake provider APIs (Telegram Bot API, Twilio, WhatsApp Cloud API). Webhooks are
posted exactly as the providers post them, signatures included.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import SecretStr
from rich.console import Console
from rich.markup import escape
from sqlalchemy import select

from gateway.config import Settings
from gateway.dev import fake_twilio, fake_whatsapp
from gateway.dev.fake_app_webhook import AppWebhookReceiver
from gateway.dev.fake_media import FakeFile
from gateway.dev.fake_telegram import FakeTelegram, media_field, photo_sizes
from gateway.dev.fake_twilio import FakeTwilio
from gateway.dev.fake_whatsapp import FakeWhatsApp
from gateway.dev.mock_core import MockCore
from gateway.dev.mock_core_transcribe import SAMPLE_VOICE_NOTE
from gateway.logs import configure_logging
from gateway.runtime import Runtime
from gateway.storage.db.models import InboxEvent, Turn
from gateway.storage.secrets import generate_key
from gateway.web.app import create_app

BOT_USERNAME = "gateway_demo_bot"
USER_ID = 4242001
USER = {"id": USER_ID, "is_bot": False, "first_name": "Ana", "language_code": "en"}
GROUP = -1001234567890
PUBLIC_URL = "https://gateway.dev.demo.invalid"
"""What the providers see; Twilio signs this URL (the demo posts to loopback, as a proxy would)."""
TWILIO_NUMBER = "+15005550006"
PHONE = "+14155550123"
WA_ID = "5511987654321"
PHOTO = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(12_345 - 11)
"""The demo's photo: a JPEG header and 12,345 bytes in all (the mock core echoes the size)."""
BERLIN = (52.52, 13.405, "Brandenburg Gate", "Pariser Platz, 10117 Berlin")


@dataclass
class Step:
    says: str
    channel: str = "telegram"
    chat_id: int = USER_ID
    note: str = ""
    redeliver: bool = False
    expect_replies: int = 1
    code_for: str | None = None
    """Mint a link code for this app user first (as the app would) and put it in `says`."""
    tap: int | None = None
    """Telegram: press this button (0 Approve, 1 Deny) of the latest prompt instead of typing."""
    media: str | None = None
    """Send a `photo` (`says` is its caption), a `voice` note or a `location` instead of text."""
    event_id: str = field(default="", init=False)


SCRIPT = [
    Step("Hello! What can you do?", note="not linked yet: told how to link, nothing forwarded"),
    Step(
        "/start {code}",
        code_for="app-user-ana",
        note="the app's deep link t.me/<bot>?start=<code>: linked, once",
    ),
    Step("Hello! What can you do?", note="now the core gets user app-user-ana"),
    Step("Tell me more", note="continues the conversation (same conversation id)"),
    Step(
        "Tell me more",
        redeliver=True,
        expect_replies=0,
        note="Telegram redelivers the same update: stored once, answered once",
    ),
    Step(
        "#long=5000 Give me the long version",
        expect_replies=2,
        note="5,000 characters: split on a paragraph boundary into 2 messages",
    ),
    Step(
        "hello everyone",
        chat_id=GROUP,
        expect_replies=0,
        note="group message not addressed to the bot: recorded, not answered",
    ),
    Step(
        f"@{BOT_USERNAME} what is on the agenda?",
        chat_id=GROUP,
        note="group message that mentions the bot",
    ),
    Step(
        "#approval=delete_repo Clean up the old repository",
        expect_replies=2,
        note="the agent asks to run a tool: the gateway records an approval and prompts Ana "
        "with Approve / Deny buttons",
    ),
    Step(
        "[taps Approve]",
        tap=0,
        note="decided once: the prompt is edited (buttons gone), the core gets "
        "mcp_approval_response approve=true and the final answer arrives",
    ),
    Step(
        "[taps Approve again]",
        tap=0,
        expect_replies=0,
        note="a second tap changes nothing: 'already approved' on the button",
    ),
    Step("/new", note="start a fresh conversation"),
    Step(
        "What's in this picture?",
        media="photo",
        note="a captioned photo: the worker fetches it (getFile, then the file) and the core "
        "gets input_text + input_image",
    ),
    Step(
        "[voice note]",
        media="voice",
        note="a voice note: transcribed by the core's /v1/audio/transcriptions, the agent "
        "gets the transcript",
    ),
    Step("[location]", media="location", note="a shared location, as text for the agent"),
    Step(
        "#markdown=1 Plan my day in Berlin",
        note="the agent answers in Markdown: sent as Telegram HTML (parse_mode HTML)",
    ),
    Step("HELP", channel="sms", note="SMS keyword: answered by the gateway, no core call"),
    Step("LINK {code}", channel="sms", code_for="app-user-ben", note="linking by SMS"),
    Step("Hi, is my order shipped?", channel="sms"),
    Step(
        "Hi, is my order shipped?",
        channel="sms",
        redeliver=True,
        expect_replies=0,
        note="Twilio retries the same MessageSid: answered once",
    ),
    Step(
        "#long=2500 all the details please",
        channel="sms",
        expect_replies=2,
        note="2,500 characters: split on word boundaries into SMS-sized parts (1,600 max)",
    ),
    Step("STOP", channel="sms", expect_replies=0, note="opted out: nothing more is sent"),
    Step("are you there?", channel="sms", expect_replies=0, note="not forwarded while opted out"),
    Step("START", channel="sms", note="opted back in, acknowledged"),
    Step(
        "#approval=refund_order Refund order 42",
        channel="sms",
        expect_replies=2,
        note="an approval over SMS: the prompt ends with 'Reply YES to approve or NO to deny'",
    ),
    Step(
        "yes",
        channel="sms",
        expect_replies=2,
        note="YES decides it (case-insensitive): confirmed, and the core's final answer follows",
    ),
    Step(
        "What's in this picture?",
        channel="sms",
        media="photo",
        note="an MMS photo: fetched from Twilio with the account's credentials",
    ),
    Step(
        "[voice memo]",
        channel="sms",
        media="voice",
        note="MMS audio is a recording: answered through its transcript (SMS has no locations)",
    ),
    Step(
        "#markdown=1 Plan my day in Berlin",
        channel="sms",
        note="the same Markdown answer as plain text: markup removed, links as text (url)",
    ),
    Step("link {code}", channel="whatsapp", code_for="app-user-caio", note="linking on WhatsApp"),
    Step("Olá! Can you help me?", channel="whatsapp"),
    Step("And in Portuguese?", channel="whatsapp", note="continues the WhatsApp conversation"),
    Step(
        "And in Portuguese?",
        channel="whatsapp",
        redeliver=True,
        expect_replies=0,
        note="Meta redelivers the same message id: answered once",
    ),
    Step(
        "What's in this picture?",
        channel="whatsapp",
        media="photo",
        note="a captioned image: media lookup and download with the bearer token",
    ),
    Step(
        "[voice note]",
        channel="whatsapp",
        media="voice",
        note="a voice note (audio, voice: true): answered through its transcript",
    ),
    Step("[location]", channel="whatsapp", media="location", note="a shared place"),
    Step(
        "#markdown=1 Plan my day in Berlin",
        channel="whatsapp",
        note="the Markdown answer in WhatsApp's own markup (*bold*, _italic_, ~strike~)",
    ),
]


class Channels:
    """Posts a step's message as its provider would and reads what the provider was sent."""

    def __init__(self, base: str, telegram: FakeTelegram, twilio: FakeTwilio, wa: FakeWhatsApp):
        self.base, self.telegram, self.twilio, self.wa = base, telegram, twilio, wa
        self._next_update = 900_000_000

    def sent(self, channel: str) -> list[str]:
        """What the provider was asked to deliver, as sent (in the channel's markup)."""
        if channel == "telegram":
            return [
                str(call.params.get("text") or call.params.get("caption") or "")
                + (" [parse_mode HTML]" if call.params.get("parse_mode") else "")
                for call in self.telegram.calls
                if call.method in ("sendMessage", "sendPhoto") and call.status == 200
            ]
        if channel == "sms":
            return self.twilio.sent_bodies()
        return self.wa.sent_texts()

    def _file(self, step: Step, add: Any) -> FakeFile:
        """The step's photo or voice note, registered with the provider that serves it."""
        if step.media == "voice":
            return add(SAMPLE_VOICE_NOTE, "audio/ogg")
        return add(PHOTO, "image/jpeg")

    async def post(self, http: aiohttp.ClientSession, step: Step, previous: Step | None) -> int:
        if step.redeliver and previous is not None:
            step.event_id = previous.event_id
        if step.channel == "telegram":
            return await self._telegram(http, step)
        if step.channel == "sms":
            return await self._sms(http, step)
        return await self._whatsapp(http, step)

    async def _telegram(self, http: aiohttp.ClientSession, step: Step) -> int:
        if not step.event_id:
            self._next_update += 1
            step.event_id = str(self._next_update)
        headers = {
            "X-Telegram-Bot-Api-Secret-Token": "demo-webhook-secret",
            "Content-Type": "application/json",
        }
        update = (
            _tap(int(step.event_id), self._buttons()[step.tap])
            if step.tap is not None
            else _update(int(step.event_id), step)
        )
        if step.media and not step.redeliver:
            message = update["message"]
            caption = message.pop("text")
            if step.media == "location":
                message["location"] = {"latitude": BERLIN[0], "longitude": BERLIN[1]}
                message["venue"] = {
                    "location": message["location"],
                    "title": BERLIN[2],
                    "address": BERLIN[3],
                }
            elif step.media == "voice":
                message["voice"] = media_field("voice", self._file(step, self.telegram.add_file))
            else:
                message["photo"] = photo_sizes(self._file(step, self.telegram.add_file))
                message["caption"] = caption
        body = json.dumps(update)
        url = f"{self.base}/webhooks/telegram/default"
        async with http.post(url, data=body, headers=headers) as resp:
            return resp.status

    def _buttons(self) -> list[str]:
        """The callback data of the latest prompt's buttons."""
        for call in reversed(self.telegram.calls_to("sendMessage")):
            markup = call.params.get("reply_markup")
            if markup:
                markup = json.loads(markup) if isinstance(markup, str) else markup
                return [b["callback_data"] for b in markup["inline_keyboard"][0]]
        raise RuntimeError("no approval prompt was sent")

    async def _sms(self, http: aiohttp.ClientSession, step: Step) -> int:
        media: list[tuple[str, str]] = []
        if step.media:
            file = self._file(step, self.twilio.add_media)
            media.append((self.twilio.media_url(file), file.mime_type))
        form = fake_twilio.inbound_form(
            from_=PHONE,
            to=TWILIO_NUMBER,
            body="" if step.media == "voice" else step.says,
            message_sid=step.event_id or None,
            media=media,
        )
        step.event_id = form["MessageSid"]
        path = "/webhooks/twilio/default"
        headers = {
            "X-Twilio-Signature": fake_twilio.sign(PUBLIC_URL + path, form),
            "Content-Type": "application/x-www-form-urlencoded",
        }
        body = fake_twilio.encode_form(form)
        async with http.post(self.base + path, data=body, headers=headers) as resp:
            return resp.status

    async def _whatsapp(self, http: aiohttp.ClientSession, step: Step) -> int:
        if step.media == "location":
            lat, lon, name, address = BERLIN
            message = fake_whatsapp.location_message(WA_ID, lat, lon, name=name, address=address)
        elif step.media == "voice":
            voice = self._file(step, self.wa.add_media)
            message = fake_whatsapp.media_message(WA_ID, "audio", file=voice, voice=True)
        elif step.media == "photo":
            photo = self._file(step, self.wa.add_media)
            message = fake_whatsapp.media_message(WA_ID, "image", file=photo, caption=step.says)
        else:
            message = fake_whatsapp.text_message(WA_ID, step.says)
        if step.event_id:
            message["id"] = step.event_id
        step.event_id = message["id"]
        body, headers = fake_whatsapp.signed_body(fake_whatsapp.webhook_payload(messages=[message]))
        async with http.post(
            f"{self.base}/webhooks/whatsapp/default", data=body, headers=headers
        ) as resp:
            return resp.status


async def run_demo() -> int:
    configure_logging("ERROR", "console")
    console = Console()
    telegram, core = FakeTelegram(bot_username=BOT_USERNAME), MockCore()
    twilio, wa = FakeTwilio(phone_numbers=(TWILIO_NUMBER,)), FakeWhatsApp()
    app_hook = AppWebhookReceiver(secret=secrets.token_urlsafe(24))
    with tempfile.TemporaryDirectory(prefix="gateway-demo-") as tmp:
        tg_url, core_url = await telegram.start(), await core.start()
        await app_hook.start()
        twilio_url, wa_url = await twilio.start(), await wa.start()
        settings = Settings(
            database_url=f"sqlite+aiosqlite:///{Path(tmp) / 'demo.db'}",
            secret_key=SecretStr(generate_key()),
            public_url=PUBLIC_URL,
            core_base_url=core_url,
            core_api_key=SecretStr("demo-project-key"),
            telegram_bot_token=SecretStr("100001:DEMO-bot-token-not-a-real-one-xyz"),
            telegram_webhook_secret=SecretStr("demo-webhook-secret"),
            telegram_api_base_url=tg_url,
            twilio_account_sid=fake_twilio.DEFAULT_ACCOUNT_SID,
            twilio_auth_token=SecretStr(fake_twilio.DEFAULT_AUTH_TOKEN),
            twilio_from_number=TWILIO_NUMBER,
            twilio_api_base_url=twilio_url,
            whatsapp_phone_number_id=fake_whatsapp.DEFAULT_PHONE_NUMBER_ID,
            whatsapp_access_token=SecretStr(fake_whatsapp.DEFAULT_ACCESS_TOKEN),
            whatsapp_app_secret=SecretStr(fake_whatsapp.DEFAULT_APP_SECRET),
            whatsapp_verify_token=SecretStr("demo-verify-token"),
            whatsapp_api_base_url=wa_url,
            approval_webhook_url=app_hook.url,
            approval_webhook_secret=SecretStr(app_hook.secret),
            allow_private_webhooks=True,  # the fake app listens on 127.0.0.1 over http://
            poll_interval_seconds=0.05,
            log_level="ERROR",
        )
        runtime = Runtime(settings)
        await runtime.prepare()
        runner = web.AppRunner(create_app(runtime), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{port}"
        console.print(
            f"[bold]gateway demo[/] gateway {base}  mock core {core_url}\n"
            f"fake providers: Telegram {tg_url}  Twilio {twilio_url}  WhatsApp {wa_url}\n"
        )
        try:
            ok = await _play(console, Channels(base, telegram, twilio, wa), runtime)
            ok = await _show_lifecycle(console, app_hook) and ok
        finally:
            await runner.cleanup()
            for fake in (telegram, core, twilio, wa, app_hook):
                await fake.stop()
    console.print(
        "\n[bold green]demo finished: every step behaved as expected[/]"
        if ok
        else "\n[bold red]demo finished with unexpected results[/]"
    )
    return 0 if ok else 1


WHO = {
    "telegram": "Ana (Telegram)",
    "sms": f"Ben (SMS {PHONE[:-4]}****)",
    "whatsapp": "Caio (WhatsApp)",
}


async def _play(console: Console, channels: Channels, runtime: Runtime) -> bool:
    ok = True
    previous: Step | None = None
    async with aiohttp.ClientSession() as http:
        for step in SCRIPT:
            if previous is None or previous.channel != step.channel:
                console.print(f"\n[bold]-- {step.channel} --[/]")
            before = len(channels.sent(step.channel))
            if step.code_for:
                code, _ = await runtime.identity.mint_code(
                    "default", step.code_for, actor="demo-app"
                )
                step.says = step.says.format(code=code)
                console.print(f"[magenta]app>[/] link code {code} minted for {step.code_for}")
            status = await channels.post(http, step, previous)
            where = " in the group" if step.chat_id < 0 else ""
            console.print(
                f"[cyan]{WHO[step.channel]}{where}>[/] {escape(step.says)}   "
                f"[dim](webhook -> {status})[/]"
            )
            if step.note:
                console.print(f"   [dim]{step.note}[/]")
            replies = await _replies(channels, step.channel, before, step.expect_replies)
            if step.tap is not None:
                answers = channels.telegram.calls_to("answerCallbackQuery")
                said = answers[-1].params.get("text") if answers else None
                console.print(f"[green]bot (on the button)>[/] {said}")
            for text in replies:
                shown = text if len(text) < 400 else f"{text[:120]}... [{len(text)} chars]"
                shown = shown.replace("\n", "\n     ")
                console.print(f"[green]bot>[/] {escape(shown)}")
            turn = await _turn(runtime, step.event_id)
            if turn is not None and not step.redeliver:
                console.print(
                    f"   [dim]user {turn.user_ref}  response {turn.response_id}  "
                    f"trace {turn.trace_id}  {turn.latency_ms} ms[/]"
                )
            if len(replies) != step.expect_replies or status != 200:
                console.print(
                    f"   [red]expected {step.expect_replies} replies, got {len(replies)}[/]"
                )
                ok = False
            previous = step
    return ok


async def _show_lifecycle(console: Console, app_hook: AppWebhookReceiver) -> bool:
    """What the app's lifecycle webhook received (signed, each event once)."""
    links = sum(1 for step in SCRIPT if step.code_for)  # identity.linked each
    expected = links + 4  # and two approvals: pending + approved each
    for _ in range(200):  # up to 10 s
        if len(app_hook.events) >= expected:
            break
        await asyncio.sleep(0.05)
    console.print("\n[bold]-- the app's lifecycle webhook --[/]")
    for event in app_hook.events:
        if "identity" in event:
            who = event["identity"]
            console.print(
                f"[magenta]app<[/] {event['type']:<18} {who['channel']}:{who['sender']}  "
                f"user {who['app_user_id']}  [dim]{event['event_id']}[/]"
            )
            continue
        approval = event["approval"]
        console.print(
            f"[magenta]app<[/] {event['type']:<18} {approval['id']}  tool {approval['tool']}  "
            f"user {approval['app_user_id']}  [dim]{event['event_id']}[/]"
        )
    signed = all(d.signature_ok for d in app_hook.deliveries)
    console.print(f"   [dim]X-General-Augment-Signature verified on every delivery: {signed}[/]")
    return signed and len(app_hook.events) == expected


async def _replies(channels: Channels, channel: str, before: int, expected: int) -> list[str]:
    """Wait for the expected replies; when none are expected, wait long enough to be sure."""
    deadline = time.monotonic() + (10.0 if expected else 1.0)
    while time.monotonic() < deadline:
        if expected and len(channels.sent(channel)) >= before + expected:
            break
        await asyncio.sleep(0.05)
    return channels.sent(channel)[before:]


async def _turn(runtime: Runtime, event_id: str) -> Turn | None:
    async with runtime.db.session() as session:
        return await session.scalar(
            select(Turn)
            .join(InboxEvent, Turn.inbox_event_id == InboxEvent.id)
            .where(InboxEvent.event_id == event_id)
        )


def _tap(update_id: int, data: str) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "callback_query": {
            "id": f"demo-{update_id}",
            "chat_instance": "demo",
            "from": USER,
            "message": {
                "message_id": 1,
                "date": int(time.time()),
                "chat": {"id": USER["id"], "type": "private"},
                "text": "Approval needed",
            },
            "data": data,
        },
    }


def _update(update_id: int, step: Step) -> dict[str, Any]:
    group = step.chat_id < 0
    chat: dict[str, Any] = {"id": step.chat_id, "type": "supergroup" if group else "private"}
    chat.update({"title": "Project team"} if group else {"first_name": USER["first_name"]})
    message: dict[str, Any] = {
        "message_id": update_id % 10_000,
        "date": int(time.time()),
        "from": USER,
        "chat": chat,
        "text": step.says,
    }
    entities = []
    if step.says.startswith("/"):
        entities.append({"type": "bot_command", "offset": 0, "length": len(step.says.split()[0])})
    if step.says.startswith("@"):
        entities.append({"type": "mention", "offset": 0, "length": len(BOT_USERNAME) + 1})
    if entities:
        message["entities"] = entities
    return {"update_id": update_id, "message": message}
