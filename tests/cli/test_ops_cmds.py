"""Operating commands as real subprocesses against a running gateway's database: `trace`,
`support-bundle`, and the dead-letter commands (`outbox list|retry`, `inbox list|replay`)."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from importlib import metadata
from pathlib import Path

import aiohttp
from sqlalchemy import select

from gateway.dev import fake_twilio
from gateway.storage.db.models import InboxEvent, OutboundMessage, Turn
from tests.auxil.cli import GATEWAY, ROOT, as_json, cli_env, failed, gateway, ok
from tests.auxil.harness import CORE_KEY, SECRET_KEY, Harness, eventually, free_port

PHONE = "+14155557777"


def _env(gw: Harness) -> dict[str, str]:
    return cli_env(gw.db_url, gw.telegram_url, GATEWAY_SECRET_KEY=SECRET_KEY)


async def _first(gw: Harness, query: object) -> object:
    assert gw.runtime is not None
    async with gw.runtime.db.session() as session:
        return (await session.scalars(query)).first()  # type: ignore[arg-type]


async def test_trace_and_support_bundle(gw: Harness, tmp_path: Path) -> None:
    assert gw.twilio is not None
    form = fake_twilio.inbound_form(from_=PHONE, body="where is my parcel?")
    await gw.post_twilio(form)
    await gw.twilio.wait_for_messages(1)
    await eventually(
        lambda: _first(gw, select(OutboundMessage).where(OutboundMessage.status == "sent"))
    )
    turn = await _first(gw, select(Turn))
    env = _env(gw)
    story = as_json(await gateway("trace", turn.response_id, "--json", env=env))  # type: ignore[attr-defined]
    assert story["inbound"]["provider_event_id"] == form["MessageSid"]
    assert story["core"]["trace_id"] == turn.trace_id  # type: ignore[attr-defined]
    assert story["outbound"][0]["status"] == "sent"
    table = ok(await gateway("trace", form["MessageSid"], env=env)).stdout
    assert "inbound" in table and "outbound" in table and PHONE not in table

    bundle = tmp_path / "bundle.json"
    ok(await gateway("support-bundle", turn.trace_id, "-o", str(bundle), env=env))  # type: ignore[attr-defined]
    text = bundle.read_text()
    assert json.loads(text)["core"]["response_id"] == turn.response_id  # type: ignore[attr-defined]
    versions = json.loads(text)["versions"]  # both sides' builds, for the ticket
    assert versions["gateway"]["version"] == metadata.version("channel-gateway")
    assert versions["core"]["version"] == gw.core.version and versions["core"]["build"] == "mock"
    assert PHONE not in text and PHONE[1:] not in text and "7777" in text
    for secret in (CORE_KEY, SECRET_KEY, fake_twilio.DEFAULT_AUTH_TOKEN):
        assert secret not in text
    failed(await gateway("trace", "resp_does_not_exist", env=env), "resp_does_not_exist")
    await gw.core.stop()  # a core that does not answer: the bundle is still written
    ok(await gateway("support-bundle", turn.trace_id, "-o", str(bundle), env=env))  # type: ignore[attr-defined]
    assert json.loads(bundle.read_text())["versions"]["core"] == "unknown"


async def test_dead_letters_are_listed_with_reasons_and_requeued(gw: Harness) -> None:
    assert gw.twilio is not None
    env = _env(gw)
    # A provider refusal: the reply fails for good, with the reason kept.
    gw.twilio.fail_next(1, status=400, code=21211, message="The 'To' number is not valid")
    await gw.post_twilio(fake_twilio.inbound_form(from_=PHONE, body="hello"))
    await eventually(
        lambda: _first(gw, select(OutboundMessage).where(OutboundMessage.status == "failed"))
    )
    rows = as_json(await gateway("outbox", "list", "--json", env=env))
    assert len(rows) == 1 and "21211" in rows[0]["reason"] and PHONE not in json.dumps(rows)
    assert "1 message" in ok(await gateway("outbox", "retry", "--all", env=env)).stdout
    await gw.twilio.wait_for_messages(1)
    await eventually(
        lambda: _first(gw, select(OutboundMessage).where(OutboundMessage.status == "sent"))
    )
    assert as_json(await gateway("outbox", "list", "--json", env=env)) == []

    # The core refuses the request (a 4xx it will not take back): the turn fails, apologizes.
    gw.core.controls.fail_status, gw.core.controls.fail_count = 400, 1
    await gw.post_twilio(fake_twilio.inbound_form(from_=PHONE, body="second question"))
    await eventually(lambda: _first(gw, select(InboxEvent).where(InboxEvent.status == "failed")))
    rows = as_json(await gateway("inbox", "list", "--json", env=env))
    assert len(rows) == 1 and rows[0]["reason"]
    failed(await gateway("inbox", "replay", env=env), "--all")
    assert "1 event" in ok(await gateway("inbox", "replay", str(rows[0]["id"]), env=env)).stdout
    await eventually(
        lambda: any(body.startswith("Echo: second question") for body in gw.twilio.sent_bodies())
    )
    assert await _first(
        gw, select(Turn).where(Turn.status == "completed", Turn.inbox_event_id == rows[0]["id"])
    )
    assert as_json(await gateway("inbox", "list", "--json", env=env)) == []


async def test_worker_serves_its_own_metrics_and_drains_on_sigterm(gw: Harness) -> None:
    port = free_port()
    proc = subprocess.Popen(  # noqa: ASYNC220 (starts it; waiting happens in a thread)
        [GATEWAY, "worker", "--metrics-port", str(port)],
        cwd=ROOT,
        env=_env(gw),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                try:
                    async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
                        body = await resp.text()
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
            else:
                raise AssertionError(f"no metrics endpoint: {proc.stderr and proc.stderr.read()}")
        assert "gateway_outbox_depth" in body and "gateway_turns_total" in body
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.to_thread(proc.communicate, timeout=30)
    assert proc.returncode == 0, stderr
    assert "draining" in stderr


async def test_a_send_that_keeps_failing_is_dead_then_delivered_once_after_retry(
    db_url: str,
) -> None:
    from gateway.dev.fake_telegram import FakeTelegram
    from gateway.dev.fake_twilio import FakeTwilio
    from gateway.dev.mock_core import MockCore

    gw = Harness(db_url, FakeTelegram(), MockCore(), twilio=FakeTwilio())
    await gw.start(outbox_max_attempts=2)
    try:
        assert gw.twilio is not None
        gw.twilio.fail_next(2, status=500, code=20500, message="Internal Server Error")
        await gw.post_twilio(fake_twilio.inbound_form(from_=PHONE, body="hello"))
        dead = await eventually(
            lambda: _first(gw, select(OutboundMessage).where(OutboundMessage.status == "dead")),
            timeout=20,
        )
        assert "gave up after 2 attempts" in (dead.last_error or "")  # type: ignore[attr-defined]
        env = _env(gw)
        rows = as_json(await gateway("outbox", "list", "--status", "dead", "--json", env=env))
        assert [row["id"] for row in rows] == [dead.id]  # type: ignore[attr-defined]
        ok(await gateway("outbox", "retry", str(dead.id), env=env))  # type: ignore[attr-defined]
        await gw.twilio.wait_for_messages(1)
        await asyncio.sleep(0.5)
        assert gw.twilio.sent_bodies(PHONE) == ["Echo: hello"]
    finally:
        await gw.stop()
