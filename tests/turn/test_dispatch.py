"""The turn's dispatch: handlers asked in order, the first that does not pass decides."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest

from gateway.turn.context import TurnContext
from gateway.turn.handlers import turn_handlers
from gateway.turn.outcome import HandlerResult, InboxStatus, Outcome, Step
from gateway.turn.pipeline import TurnPipeline


class Recorder:
    def __init__(self, name: str, answer: HandlerResult, asked: list[str]) -> None:
        self.name, self.answer, self.asked = name, answer, asked

    async def handle(self, ctx: TurnContext) -> HandlerResult:
        self.asked.append(self.name)
        return self.answer


def pipeline_with(*handlers: Recorder, max_attempts: int = 5) -> TurnPipeline:
    pipeline = TurnPipeline.__new__(TurnPipeline)  # only the dispatch is exercised
    pipeline.settings = cast(Any, SimpleNamespace(inbox_max_attempts=max_attempts))
    pipeline.handlers = list(handlers)
    return pipeline


def context(attempts: int = 1) -> TurnContext:
    return cast(
        TurnContext,
        SimpleNamespace(row=SimpleNamespace(id=7, attempts=attempts, last_error="boom")),
    )


async def test_the_first_handler_that_does_not_pass_decides() -> None:
    asked: list[str] = []
    decided = Outcome.done("hello")
    pipeline = pipeline_with(
        Recorder("a", Step.PASS, asked),
        Recorder("b", decided, asked),
        Recorder("c", Outcome.done("never"), asked),
    )
    assert await pipeline._decide(context()) is decided
    assert asked == ["a", "b"]


async def test_a_rescheduled_event_stops_the_dispatch() -> None:
    asked: list[str] = []
    pipeline = pipeline_with(
        Recorder("a", Step.RESCHEDULED, asked), Recorder("b", Outcome.done(), asked)
    )
    assert await pipeline._decide(context()) is Step.RESCHEDULED
    assert asked == ["a"]


async def test_nobody_takes_it_then_it_is_ignored() -> None:
    asked: list[str] = []
    pipeline = pipeline_with(Recorder("a", Step.PASS, asked))
    outcome = await pipeline._decide(context())
    assert isinstance(outcome, Outcome) and outcome.status is InboxStatus.IGNORED


async def test_a_poisoned_event_is_answered_with_an_apology_before_any_handler() -> None:
    asked: list[str] = []
    pipeline = pipeline_with(Recorder("a", Outcome.done(), asked), max_attempts=3)
    outcome = await pipeline._decide(context(attempts=6))
    assert isinstance(outcome, Outcome) and outcome.status is InboxStatus.FAILED
    assert outcome.replies and "(ref 7)" in outcome.replies[0]
    assert asked == []


@pytest.mark.parametrize("attempts", [1, 5])
async def test_the_handlers_are_asked_below_the_poison_limit(attempts: int) -> None:
    asked: list[str] = []
    pipeline = pipeline_with(Recorder("a", Outcome.done(), asked), max_attempts=3)
    await pipeline._decide(context(attempts=attempts))
    assert asked == ["a"]


def test_the_turn_policy_reads_in_one_place() -> None:
    """The order is the policy: reports and resumes first, carrier keywords before anything is
    answered, an album gathered before the addressed check (its caption is what mentions the
    bot), the addressed check before any reply, the core last."""
    fake = cast(Any, object())
    names = [
        type(h).__name__
        for h in turn_handlers(
            db=fake,
            approvals=fake,
            caller=fake,
            conversations=fake,
            inputs=fake,
            spawn=lambda work: None,
            album_wait_seconds=1.0,
            media_concurrency=1,
        )
    ]
    assert names == [
        "DeliveryStatus",
        "ResumeAfterApprovals",
        "CarrierKeywords",
        "Album",
        "Addressed",
        "ApprovalButtons",
        "OtherActions",
        "TextDecisions",
        "Commands",
        "Unreadable",
        "IdentityGate",
        "Forward",
    ]
