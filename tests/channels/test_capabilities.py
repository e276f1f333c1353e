"""Capabilities, not channel names: every adapter declares what its channel can do, and nothing
outside `channels/` branches on a channel's name (config, CLI argument parsing and display, and
the development fakes may name channels)."""

from __future__ import annotations

import inspect
import re
from dataclasses import astuple
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from channels import ADAPTERS
from channels.base import ChannelAdapter
from channels.capabilities import (
    BY_CHANNEL,
    SMS,
    TELEGRAM,
    WHATSAPP,
    WHATSAPP_VIA_TWILIO,
    Capabilities,
    capabilities,
)
from gateway.config import Settings
from gateway.delivery.pacing import build_pacers
from gateway.messages import AccountInfo

ROOT = Path(__file__).resolve().parents[2]
ALL = [*BY_CHANNEL.values(), WHATSAPP_VIA_TWILIO]


@pytest.mark.parametrize("route", list(ADAPTERS))
def test_every_adapter_declares_its_capabilities_and_implements_the_protocol(route: str) -> None:
    adapter = ADAPTERS[route]
    assert issubclass(adapter, ChannelAdapter)
    assert adapter.channel == route
    assert isinstance(adapter.capabilities, Capabilities)
    # What the gateway reads without importing the adapter (pacers, proactive splits) is the
    # adapter's own declaration.
    assert adapter.capabilities is capabilities(route)
    assert not inspect.isabstract(adapter), sorted(adapter.__abstractmethods__)


def test_twilio_chats_are_sms_or_whatsapp_by_address() -> None:
    twilio = ADAPTERS["sms"](
        AccountInfo(project="p", channel="sms", account="a", secrets={"auth_token": "t"}, config={})
    )
    assert twilio.capabilities_for("+14155550100") is SMS
    assert twilio.channel_of("+14155550100") == "sms"
    wa = twilio.capabilities_for("whatsapp:+14155550100")
    assert wa is WHATSAPP_VIA_TWILIO and twilio.channel_of("whatsapp:+14155550100") == "whatsapp"
    assert wa.name == "WhatsApp" and wa != SMS
    assert SMS.carrier_keywords and not wa.carrier_keywords
    assert wa.service_window == timedelta(hours=24) and SMS.service_window is None
    assert wa.max_text_units == SMS.max_text_units == 1600  # Twilio's body limit, not WhatsApp's
    assert not wa.buttons and WHATSAPP.buttons


def test_commands_are_slash_commands_or_typed_words() -> None:
    assert TELEGRAM.command("LINK", "X") == "/link X"
    assert SMS.command("LINK", "X") == "LINK X"
    assert WHATSAPP.command("link", "X") == "LINK X"
    assert TELEGRAM.command("UNLINK") == "/unlink" and SMS.command("unlink") == "UNLINK"


@given(st.sampled_from(ALL), st.text(min_size=1, max_size=5000))
def test_split_parts_fit_and_join_back(caps: Capabilities, text: str) -> None:
    parts = caps.split(text)
    assert "".join(parts) == text
    assert all(0 < caps.text_units(part) <= caps.max_text_units for part in parts)


def test_a_long_text_is_split_by_the_channels_own_count() -> None:
    text = "😀" * 3000  # 3000 characters, 6000 UTF-16 units
    assert len(SMS.split(text)) == 2  # 1600-character bodies
    assert len(TELEGRAM.split(text)) == 2  # 4096 UTF-16 units each
    assert len(WHATSAPP.split(text)) == 1


def test_service_window() -> None:
    assert SMS.allows_send_after(None) and TELEGRAM.allows_send_after(timedelta(days=30))
    assert WHATSAPP.allows_send_after(timedelta(hours=23))
    assert not WHATSAPP.allows_send_after(timedelta(hours=25))
    assert not WHATSAPP.allows_send_after(None)  # never wrote


def test_pacers_come_from_capabilities_and_the_settings_tune_them() -> None:
    paced = {route for route, caps in BY_CHANNEL.items() if caps.pacing is not None}
    assert paced == {"telegram"}
    assert TELEGRAM.pacing is not None
    # The settings' documented defaults are the declared limits.
    fields = Settings.model_fields
    assert (
        fields["telegram_rate_per_bot"].default,
        fields["telegram_rate_per_chat"].default,
        fields["telegram_chat_burst"].default,
        fields["telegram_group_per_minute"].default,
    ) == astuple(TELEGRAM.pacing)
    tuned = build_pacers(
        Settings(
            telegram_rate_per_bot=1000.0,
            telegram_rate_per_chat=2.0,
            telegram_chat_burst=100,
            telegram_group_per_minute=30.0,
        )
    )
    assert set(tuned) == paced
    assert astuple(tuned["telegram"].policy) == (1000.0, 2.0, 100, 30.0)


# --- nothing outside channels/ branches on a channel's name ------------------------------------
_NAME = r"""["'](?:telegram|sms|whatsapp)["']"""
_BRANCHES = [
    re.compile(rf"[=!]=\s*{_NAME}"),  # x == "telegram", x != "sms"
    re.compile(rf"{_NAME}\s*[=!]="),  # "telegram" == x
    re.compile(rf"\bin\s*[(\[{{]\s*{_NAME}"),  # x in ("sms", ...), x not in ["sms", ...]
    re.compile(rf"[(\[{{]\s*{_NAME}\s*,\s*{_NAME}"),  # NAMES = ("sms", "whatsapp")
    re.compile(rf"(?:^|[{{,])\s*{_NAME}\s*:"),  # {"telegram": ...} per-channel tables
    re.compile(r"""startswith\(\s*["']whatsapp:"""),  # a provider's address scheme
]
AREAS = {
    "gateway": ROOT / "gateway",
    "gateway/turn": ROOT / "gateway" / "turn",
    "identity": ROOT / "identity",
    "approvals": ROOT / "approvals",
}
ALLOWED = {
    ROOT / "gateway" / "cli",  # argument parsing and display
    ROOT / "gateway" / "dev",  # the fake providers
    ROOT / "gateway" / "config.py",  # configuration
    ROOT / "gateway" / "schemas.py",  # per-channel account fields (configuration)
}


def _branches(area: Path, skip: set[Path]) -> list[str]:
    found = []
    for path in sorted(area.rglob("*.py")):
        if any(path == s or s in path.parents for s in skip):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if any(pattern.search(code) for pattern in _BRANCHES):
                found.append(f"{path}:{number}: {line.strip()}")
    return found


@pytest.mark.parametrize("area", list(AREAS))
def test_nothing_outside_channels_branches_on_a_channel_name(area: str) -> None:
    # `gateway` is checked without `gateway/turn`, which has its own row.
    skip = ALLOWED | ({AREAS["gateway/turn"]} if area == "gateway" else set())
    found = _branches(AREAS[area], skip)
    assert not found, "ask the adapter's capabilities instead:\n" + "\n".join(found)


def test_the_name_check_catches_what_it_is_for(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        'if event.channel == "telegram": pass\n'
        "ok = channel != 'sms'\n"
        'PHONE = ("sms", "whatsapp")\n'
        'if channel in ("sms", "whatsapp"): pass\n'
        'LIMITS = {"telegram": 4096}\n'
        'PACERS = {\n    "telegram": 1,\n}\n'
        'if chat.startswith("whatsapp:"): pass\n'
        'x = ADAPTERS["telegram"]  # a lookup, not a branch\n'
        '# if channel == "telegram": a comment\n'
    )
    assert len(_branches(tmp_path, set())) == 7
