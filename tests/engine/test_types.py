"""The state words: enums that read as their words wherever a person or a client sees them."""

from __future__ import annotations

import json
import logging

import pytest

from cosydesk.engine.types import EngineStatus, ModelStatus
from cosydesk.gui.app_state import AppState
from cosydesk.runner.events import RunnerState


@pytest.mark.parametrize("member", [ModelStatus.OK, RunnerState.BUSY, AppState.NO_MODEL])
def test_a_state_reads_as_its_word_in_text_logs_and_json(
    member: ModelStatus | RunnerState | AppState, caplog: pytest.LogCaptureFixture
) -> None:
    word = member.value
    assert (str(member), f"{member}", f"{member:>10}") == (word, word, f"{word:>10}")
    with caplog.at_level(logging.INFO):
        logging.getLogger("cosydesk.test").info("state %s", member)
    assert caplog.messages == [f"state {word}"]
    assert json.loads(json.dumps({"state": member})) == {"state": word}
    assert member == word and type(member)(word) is member  # a word from a signal compares equal


def test_the_status_dict_carries_the_word() -> None:
    data = EngineStatus(status=ModelStatus.LOADING).to_dict()
    assert json.loads(json.dumps(data))["status"] == "loading"
