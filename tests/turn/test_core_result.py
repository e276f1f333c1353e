"""Reading the core's answer (`CoreResult`): the contract's precedence for ids, model, cost and
reason, and bodies of the wrong shape read as "not there", never as an exception."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.turn.cooldowns import limit_scope
from gateway.turn.core_client import CoreResult, _error_text


def result(body: dict[str, Any], status: int = 200) -> CoreResult:
    return CoreResult("hdr_1", 0, status, body)


def test_ids_model_and_cost_prefer_the_general_augment_metadata() -> None:
    full = result(
        {
            "model": "balanced",
            "usage": {"cost": 9.0},
            "metadata": {
                "general_augment_request_id": "ga_req",
                "request_id": "plain_req",
                "general_augment_trace_id": "ga_trace",
                "trace_id": "plain_trace",
                "general_augment_model": "gpt-x",
                "general_augment_cost_usd": "0.0125",
            },
        }
    )
    assert (full.request_id, full.trace_id, full.model, full.cost) == (
        "ga_req",
        "ga_trace",
        "gpt-x",
        0.0125,
    )
    plain = result({"model": "balanced", "metadata": {"request_id": "r", "trace_id": "t"}})
    assert (plain.request_id, plain.trace_id, plain.model, plain.cost) == (
        "r",
        "t",
        "balanced",
        None,
    )
    assert result({}).request_id == "hdr_1"  # then the X-Request-ID header


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"reason": "a", "detail": {"reason": "b"}, "error": {"code": "c"}}, "a"),
        ({"detail": {"reason": "b"}, "error": {"code": "c"}}, "b"),
        ({"detail": "text only", "error": {"code": "c"}}, "c"),
        ({"error": {"code": None}}, None),
        ({"reason": 42, "detail": ["x"], "error": "boom"}, None),
    ],
)
def test_the_reason_is_reason_then_detail_reason_then_error_code(
    body: dict[str, Any], reason: str | None
) -> None:
    assert result(body, 429).reason == reason
    assert result(body, 200).reason is None  # a success has no error reason


@pytest.mark.parametrize(
    "body",
    [
        {"metadata": "x", "output": 5, "usage": [1]},
        {"metadata": {"general_augment_cost_usd": "NaN", "general_augment_model": 3}},
        {"output": [{"type": "message", "content": {"type": "output_text"}}], "id": 7},
        {"output": [{"type": "message", "content": [{"type": "output_text", "text": None}]}]},
    ],
)
def test_a_body_of_the_wrong_shape_is_read_as_missing_fields(body: dict[str, Any]) -> None:
    answer = result(body)
    assert answer.text == "" and answer.approval_requests == []
    assert answer.cost is None and answer.response_id is None
    assert answer.model is None and answer.trace_id is None and answer.request_id == "hdr_1"


def test_ids_longer_than_their_columns_are_cut() -> None:
    answer = result({"id": "r" * 500, "metadata": {"general_augment_trace_id": "t" * 500}})
    assert answer.response_id == "r" * 128 and answer.trace_id == "t" * 128


def test_error_text_names_the_message_and_the_reason() -> None:
    body = {"detail": {"reason": "input_too_long", "message": "too long"}}
    assert _error_text(body, 422) == "core 422 input_too_long: too long"
    assert _error_text({"detail": "Not Found"}, 404) == "core 404: Not Found"
    assert _error_text(["odd"], 500) == "core 500"


def test_a_limit_is_the_projects_only_when_the_core_says_so() -> None:
    assert limit_scope("project_rate_limited") == "project"
    assert limit_scope("user_rate_limited") == "user"
    assert limit_scope("rate_limit_exceeded") == "user"
    assert limit_scope(None) == "user"
