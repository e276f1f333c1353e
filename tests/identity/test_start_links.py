"""`/start <payload>` deep links (issue 24, item 6): only a payload shaped like a link code is
redeemed. Any other payload (a referral, a campaign) gets the normal greeting under every
unlinked policy, and becomes the chat's start context: every later core call of the chat
carries it as metadata `start_param`."""

from __future__ import annotations

import pytest

from tests.auxil import updates
from tests.auxil.harness import Harness, eventually

BASE = "/api/v1/admin/projects/default"
GREETING = "Hi Ana! I'm your assistant."


async def _policy(gw: Harness, policy: str) -> None:
    status, _ = await gw.admin("PATCH", BASE, json={"unlinked_policy": policy})
    assert status == 200


async def _code(gw: Harness, app_user: str) -> str:
    status, body = await gw.admin("POST", f"{BASE}/link-codes", json={"app_user_id": app_user})
    assert status == 201, body
    return str(body["code"])


async def _say(gw: Harness, user_id: int, text: str) -> str:
    """A private Telegram message from Ana (as `user_id`); the gateway's reply."""
    before = len(gw.telegram.sent_texts(user_id))
    user = {**updates.USER, "id": user_id}
    assert (await gw.post_update(updates.message(text, chat_id=user_id, user=user))).status == 200
    await eventually(lambda: len(gw.telegram.sent_texts(user_id)) > before, message=text)
    return gw.telegram.sent_texts(user_id)[-1]


@pytest.mark.parametrize("policy", ["channel_user", "link_required"])
async def test_a_referral_payload_greets_and_is_never_a_code(gw: Harness, policy: str) -> None:
    await _policy(gw, policy)
    reply = await _say(gw, 1201, "/start ref_abc123")
    assert reply.startswith(GREETING)
    assert "isn't valid" not in reply
    assert gw.core.requests == []  # the greeting is the gateway's own


async def test_the_start_context_reaches_the_core_with_every_later_turn(gw: Harness) -> None:
    await _policy(gw, "channel_user")
    await _say(gw, 1202, "/start spring-campaign_2026")
    await _say(gw, 1202, "what do you sell?")
    await _say(gw, 1202, "and shipping?")
    assert [r["body"]["metadata"]["start_param"] for r in gw.core.requests] == [
        "spring-campaign_2026",
        "spring-campaign_2026",
    ]
    # Another chat never sees it; a new payload replaces it.
    await _say(gw, 1203, "hello")
    assert "start_param" not in gw.core.requests[-1]["body"]["metadata"]
    await _say(gw, 1202, "/start ref_zzz")
    await _say(gw, 1202, "hi again")
    assert gw.core.requests[-1]["body"]["metadata"]["start_param"] == "ref_zzz"


async def test_under_link_required_the_context_waits_for_the_link(gw: Harness) -> None:
    await _policy(gw, "link_required")
    await _say(gw, 1204, "/start ref_abc123")
    assert "link your account" in await _say(gw, 1204, "hello?")
    assert gw.core.requests == []
    # A real link code through the same deep link still links.
    code = await _code(gw, "user-ref")
    assert "Your account is linked" in await _say(gw, 1204, f"/start {code}")
    await _say(gw, 1204, "now?")
    call = gw.core.requests[-1]["body"]
    assert call["user"] == "user-ref"
    assert call["metadata"]["start_param"] == "ref_abc123"


async def test_a_code_shaped_payload_is_still_redeemed(gw: Harness) -> None:
    await _policy(gw, "channel_user")
    assert "isn't valid" in await _say(gw, 1205, "/start AAAA-AAAA")
    code = await _code(gw, "user-deep")
    assert "Your account is linked" in await _say(gw, 1205, f"/start {code.lower()}")
