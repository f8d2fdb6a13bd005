"""A button press of the pet dialog: its answer does not wait for the commit; the next question, which the
pressed question is edited into, does (commit before telling). And `together`, which runs such steps."""
from __future__ import annotations

import asyncio
import time

import pytest

from infra.local.bot_api_double import BotApiDouble
from shared.bot.application import AnswerTrackingBot
from shared.bot.replies import together
from shared.services.unit_of_work import StaleUpdate
from tests import fakes
from tests.bot_harness import TOKEN, BotHarness

USER = 7007


@pytest.fixture
async def harness():
    with BotApiDouble(TOKEN) as double:
        h = BotHarness(double)
        yield h
        await h.app.shutdown()


def _held_commit(monkeypatch, outcome=None):
    """Holds every unit-of-work commit until `release` is set; then commits, or raises `outcome`."""
    entered, release = asyncio.Event(), asyncio.Event()
    original = fakes.FakeUnitOfWork.commit

    async def commit(self):
        entered.set()
        await release.wait()
        if outcome is not None:
            raise outcome
        return await original(self)

    monkeypatch.setattr(fakes.FakeUnitOfWork, "commit", commit)
    return entered, release


async def _calls_until(double, since, wanted: set[str], timeout=5.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while True:
        methods = [c["method"] for c in double.calls(since=since)]
        if wanted <= set(methods) or time.monotonic() > deadline:
            return methods
        await asyncio.sleep(0.01)


async def test_the_answer_goes_while_the_step_commits(harness, monkeypatch):
    await harness.onboard(USER)
    await harness.press("pet:add", USER)
    seq = harness._seq()
    committing, commit_done = _held_commit(monkeypatch)
    answering, answer_done = asyncio.Event(), asyncio.Event()
    answer = AnswerTrackingBot.answer_callback_query

    async def held_answer(self, *args, **kwargs):
        answering.set()
        await answer_done.wait()
        return await answer(self, *args, **kwargs)

    monkeypatch.setattr(AnswerTrackingBot, "answer_callback_query", held_answer)
    press = asyncio.ensure_future(harness.press("f:species:cat", USER))
    # the commit starts while the answer is still on its way
    await asyncio.wait_for(asyncio.gather(committing.wait(), answering.wait()), 5)
    answer_done.set()
    during = await _calls_until(harness.double, seq, {"answerCallbackQuery"})
    await asyncio.sleep(0.05)
    assert during == [c["method"] for c in harness.double.calls(since=seq)] == ["answerCallbackQuery"]  # no question before the commit
    commit_done.set()
    await press
    after = [c["method"] for c in harness.double.calls(since=seq)]
    assert after == ["answerCallbackQuery", "editMessageText"]  # the pressed question became the next one
    assert harness.double.callback_query_faults() == {"unanswered": [], "answered_twice": []}


async def test_a_step_taken_meanwhile_is_answered_once_and_asks_nothing(harness, monkeypatch):
    await harness.onboard(USER)
    await harness.press("pet:add", USER)
    seq = harness._seq()
    entered, release = _held_commit(monkeypatch, StaleUpdate())
    press = asyncio.ensure_future(harness.press("f:species:cat", USER))
    await asyncio.wait_for(entered.wait(), 5)
    release.set()
    replies = await press
    calls = harness.double.calls(since=seq)
    assert [c["method"] for c in calls].count("answerCallbackQuery") == 1
    texts = [c["params"].get("text") for c in calls if c["method"] == "sendMessage"]
    assert len(texts) == 1 and texts == [r for r in replies if r in texts]  # "step taken", no next question
    assert harness.double.callback_query_faults() == {"unanswered": [], "answered_twice": []}


async def test_together_waits_for_every_step_then_raises_the_first_failure():
    done = []

    async def step(name, delay, error=None):
        await asyncio.sleep(delay)
        done.append(name)
        if error:
            raise error

    with pytest.raises(KeyError):
        await together(step("commit", 0.02, KeyError()), step("answer", 0.0, ValueError()), step("drop", 0.04))
    assert sorted(done) == ["answer", "commit", "drop"]  # nothing left running behind the update
    await together(step("a", 0), step("b", 0))
