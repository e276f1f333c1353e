"""Every payload of the corpus, replayed through the real routes as its provider would post it
(issue 24, "Must show"): a forged copy is refused and stores nothing; the signed one is accepted
(never a 5xx), every item it carries is stored (no sibling lost) and ends as the documented
outcome says: forwarded to the agent, answered by the gateway, recorded silently, or a status.
"""

from __future__ import annotations

import pytest

from tests.auxil.harness import Harness
from tests.corpus import telegram_updates, twilio_forms, whatsapp_payloads
from tests.corpus.model import Fixture
from tests.corpus.replay import replay

CORPORA: dict[str, list[Fixture]] = {
    "telegram": telegram_updates.FIXTURES,
    "whatsapp": whatsapp_payloads.FIXTURES,
    "twilio": twilio_forms.FIXTURES,
}


def test_fixture_names_are_unique_per_corpus() -> None:
    for channel, fixtures in CORPORA.items():
        names = [fixture.name for fixture in fixtures]
        assert len(names) == len(set(names)), channel


@pytest.mark.parametrize("channel", sorted(CORPORA))
async def test_every_payload_gets_its_documented_outcome(gw: Harness, channel: str) -> None:
    wrong: list[str] = []
    for fixture in CORPORA[channel]:
        status, outcomes = await replay(gw, channel, fixture)
        if status != 200 or tuple(outcomes) != fixture.expect:
            got = [str(outcome) for outcome in outcomes]
            wrong.append(f"{fixture.name}: HTTP {status}, {got} (expected {fixture.expect})")
    assert not wrong, "\n".join(wrong)
