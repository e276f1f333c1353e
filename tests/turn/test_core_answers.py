"""What the gateway keeps of the core's answer: the core's request id, trace id, model and cost
from its `metadata.general_augment_*` fields, and the machine-readable `reason` of an error, on the
turn row and in every place support looks (`gateway trace`, support bundles, the turn API); and a
200 with nothing to say gets an honest reply instead of silence."""

from __future__ import annotations

import json
from pathlib import Path

from channels.capabilities import TELEGRAM
from gateway.turn.core_client import CoreResult
from gateway.turn.replies import EMPTY_REPLY, QUOTA_REPLY
from tests.auxil import updates
from tests.auxil.cli import as_json, cli_env, gateway, ok
from tests.auxil.harness import SECRET_KEY, Harness, eventually

TURNS = "/api/v1/admin/projects/default/turns"


async def test_the_cores_ids_model_and_cost_are_kept_and_shown(
    harness: Harness, tmp_path: Path
) -> None:
    await harness.post_update(updates.message("hello"))
    await harness.telegram.wait_for("sendMessage", 1)
    (turn,) = await eventually(harness.turns)
    (call,) = harness.core.requests
    meta = await _answer_metadata(harness, call)
    # The metadata's ids win over the X-Request-ID header and the request's model tier.
    assert turn.request_id == meta["general_augment_request_id"]
    assert turn.request_id != call["headers"]["x-request-id"]
    assert turn.trace_id == meta["general_augment_trace_id"]
    assert turn.model == meta["general_augment_model"] == f"mock-{call['body']['model']}-1"
    assert turn.cost == float(meta["general_augment_cost_usd"]) and turn.cost > 0

    wanted = {
        "request_id": turn.request_id,
        "trace_id": turn.trace_id,
        "model": turn.model,
        "cost": turn.cost,
    }
    status, story = await harness.admin("GET", f"{TURNS}/{turn.request_id}")
    assert status == 200
    assert {k: story["core"][k] for k in wanted} == wanted

    env = cli_env(harness.db_url, harness.telegram_url, GATEWAY_SECRET_KEY=SECRET_KEY)
    traced = as_json(await gateway("trace", turn.trace_id, "--json", env=env))
    assert {k: traced["core"][k] for k in wanted} == wanted
    table = ok(await gateway("trace", turn.request_id, env=env)).stdout
    assert turn.trace_id in table and turn.model in table
    bundle = tmp_path / "bundle.json"
    ok(await gateway("support-bundle", turn.request_id, "-o", str(bundle), env=env))
    assert {k: json.loads(bundle.read_text())["core"][k] for k in wanted} == wanted


async def test_the_reason_of_a_refused_turn_is_kept_and_shown(harness: Harness) -> None:
    await harness.post_update(updates.message("#status=422 #reason=input_too_long hi"))
    await harness.post_update(updates.message("#status=400 #detail=unsupported_input hi"))
    await harness.post_update(updates.message("#status=402 hi"))
    await harness.telegram.wait_for("sendMessage", 3)
    apology, second, quota = harness.telegram.sent_texts()
    assert "(ref " in apology and "(ref " in second
    assert quota == QUOTA_REPLY  # 402 keeps its short reply
    turns = await harness.turns()
    # `reason`, else `detail.reason`, else `error.code`.
    assert [(t.status, t.http_status, t.reason) for t in turns] == [
        ("failed", 422, "input_too_long"),
        ("failed", 400, "unsupported_input"),
        ("payment_required", 402, "quota_exceeded"),
    ]
    assert "input_too_long" in (turns[0].error or "")
    status, story = await harness.admin("GET", f"{TURNS}/{turns[0].request_id}")
    assert status == 200 and story["core"]["reason"] == "input_too_long"
    env = cli_env(harness.db_url, harness.telegram_url, GATEWAY_SECRET_KEY=SECRET_KEY)
    traced = as_json(await gateway("trace", turns[1].request_id, "--json", env=env))
    assert traced["core"]["reason"] == "unsupported_input"
    assert "unsupported_input" in ok(await gateway("trace", turns[1].request_id, env=env)).stdout


async def test_an_answer_with_no_text_gets_an_honest_reply(harness: Harness) -> None:
    await harness.post_update(updates.message("#empty=1 think about it"))
    await harness.telegram.wait_for("sendMessage", 1)
    assert harness.telegram.sent_texts() == [EMPTY_REPLY]
    (turn,) = await harness.turns()
    assert turn.status == "completed" and turn.http_status == 200
    assert turn.error == "core answered no output_text"


async def _answer_metadata(harness: Harness, call: dict[str, object]) -> dict[str, str]:
    """The metadata the mock core answered with (asked again with the same idempotency key, it
    returns the very same stored response)."""
    assert harness.http is not None
    headers = call["headers"]
    assert isinstance(headers, dict)
    async with harness.http.post(
        f"{harness.core_url}/v1/responses",
        json=call["body"],
        headers={"X-Idempotency-Key": headers["x-idempotency-key"]},
    ) as resp:
        answer = await resp.json()
    metadata: dict[str, str] = answer["metadata"]
    return metadata


def test_an_output_image_part_becomes_a_markdown_image_in_its_place() -> None:
    """https only; alt text kept on one line with its brackets escaped; a URL that would end the
    link early is encoded; other images (a data: URL, http) are not sent by link."""
    content = [
        {"type": "output_text", "text": "Here:"},
        {"type": "output_image", "image_url": "https://img.example/a b>.png", "alt": "A [cat]\n"},
        {"type": "output_image", "image_url": "data:image/png;base64,AAAA"},
        {"type": "output_image", "image_url": "http://img.example/plain.png"},
        {"type": "output_text", "text": "Done."},
    ]
    result = CoreResult("req", 0, 200, {"output": [{"type": "message", "content": content}]})
    assert result.text == "Here:\n\n![A \\[cat\\]](<https://img.example/a%20b%3E.png>)\n\nDone."
    parts = TELEGRAM.render(result.text)
    assert [(p.text, p.image_url) for p in parts] == [
        ("Here:", None),
        ("A [cat]", "https://img.example/a%20b%3E.png"),
        ("Done.", None),
    ]
