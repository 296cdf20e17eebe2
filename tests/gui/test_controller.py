"""The controller: speech streamed into the (fake) sound card, stop, pause, no sound device,
reload on a settings change, a request that waits for the local speech API - with the real
runner and engine on a tiny model."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import numpy as np
import pytest
from pytestqt.qtbot import QtBot

from tests.audio.fake_sounddevice import FakeSoundDevice
from tests.helpers import write_clip
from tests.runner.conftest import gate, on_runner

TEXT = "Hello there. This is a test of the controller."
LONG_TEXT = " ".join(f"Sentence number {n} of a long narration goes here." for n in range(1, 8))


def _is(state: str):
    return lambda s, _detail: s == state


@pytest.fixture
def ready(qtbot: QtBot, make_controller, use_model, library, tmp_path: Path, sd):
    """A controller whose model has loaded, with one voice in the library."""
    library.add("Tester", write_clip(tmp_path / "voice.wav"), "A short test clip.")
    controller = make_controller(use_model)
    with qtbot.waitSignal(controller.state_changed, timeout=120000, check_params_cb=_is("ready")):
        controller.start()
    return controller


def _drain(stream) -> np.ndarray:
    """Play everything the player has (as the card would), until the stream ends."""
    pulled = []
    while stream.active:
        pulled.append(stream.pull(4800))
    return np.concatenate(pulled) if pulled else np.zeros(0, np.float32)


def test_speech_reaches_the_sound_card_then_the_app_is_ready_again(
    qtbot: QtBot, ready, sd: FakeSoundDevice
) -> None:
    states = []
    ready.state_changed.connect(lambda s, _d: states.append(s))
    with qtbot.waitSignal(ready.job_finished, timeout=60000):
        assert ready.speak(TEXT) is not None
    assert states[0] == "speaking" and ready.speaking
    stream = sd.streams[-1]
    assert (stream.samplerate, stream.channels) == (24000, 1)
    with qtbot.waitSignal(ready.state_changed, check_params_cb=_is("ready")):
        audio = _drain(stream)
    assert audio.size > 0 and np.isfinite(audio).all() and np.abs(audio).max() > 0
    assert not ready.speaking


def test_stop_silences_at_once(qtbot: QtBot, ready, sd: FakeSoundDevice) -> None:
    with qtbot.waitSignal(ready.speech_progress, timeout=60000):
        ready.speak(LONG_TEXT)
    stream = sd.streams[-1]
    with qtbot.waitSignal(ready.state_changed, check_params_cb=_is("ready")):
        ready.stop()
    assert stream.aborted and not stream.active
    assert not ready.speaking
    # The worker drops the rest of the narration: a new utterance can start right away.
    with qtbot.waitSignal(ready.job_finished, timeout=60000):
        ready.speak("Next one.")


def test_pause_plays_silence_and_resume_goes_on(qtbot: QtBot, ready, sd) -> None:
    with qtbot.waitSignal(ready.job_finished, timeout=60000):
        ready.speak(TEXT)
    stream = sd.streams[-1]
    with qtbot.waitSignal(ready.state_changed, check_params_cb=_is("paused")):
        ready.toggle_pause()
    assert not stream.pull(2400).any()
    with qtbot.waitSignal(ready.state_changed, check_params_cb=_is("speaking")):
        ready.toggle_pause()
    with qtbot.waitSignal(ready.state_changed, check_params_cb=_is("ready")):
        audio = _drain(stream)
    assert np.abs(audio).max() > 0


def test_speech_reaches_the_sound_card_while_the_gui_thread_is_busy(
    qtbot: QtBot, ready, sd: FakeSoundDevice
) -> None:
    ready.speak(TEXT)
    stream = sd.streams[-1]
    # From here on this thread runs no Qt event: the chunks must reach the card without it.
    heard = np.zeros(0, np.float32)
    deadline = time.monotonic() + 60
    while not np.abs(heard).max(initial=0.0) > 0 and time.monotonic() < deadline:
        time.sleep(0.05)
        heard = np.concatenate([heard, stream.pull(2400)])
    assert np.abs(heard).max(initial=0.0) > 0, "no speech reached the card"
    ready.stop()


def test_a_request_that_waits_for_the_speech_api_says_so(qtbot: QtBot, ready, sd) -> None:
    from cosydesk.gui.controller import WAITING_FOR_API

    answering = "Ready; answering a speech API request..."
    with qtbot.waitSignal(ready.state_changed, check_params_cb=lambda s, d: d == answering):
        _api_request, release = gate(ready.runner)  # the model works for an API client
    with qtbot.waitSignal(ready.state_changed, check_params_cb=lambda s, d: d == WAITING_FOR_API):
        assert ready.speak(TEXT) is not None
    assert ready.state == "working"
    # Once the API's request is done, the person's starts.
    with qtbot.waitSignal(ready.state_changed, timeout=60000, check_params_cb=_is("speaking")):
        release.set()
    with qtbot.waitSignal(ready.job_finished, timeout=60000):
        pass
    ready.stop()


def test_without_a_sound_device_speaking_says_so_and_saving_still_works(
    qtbot: QtBot, ready, sd: FakeSoundDevice, tmp_path: Path
) -> None:
    import soundfile

    sd.devices = []  # the sound system has no output at all
    with qtbot.waitSignal(ready.error) as blocker:
        assert ready.speak(TEXT) is None
    assert "No sound output device" in blocker.args[0]
    assert "WAV" in blocker.args[0]
    out = tmp_path / "still.wav"
    with qtbot.waitSignal(ready.job_finished, timeout=60000):
        ready.save(TEXT, None, out)
    assert soundfile.info(out).frames > 0


def test_a_new_quantisation_setting_reloads_the_model(qtbot: QtBot, ready) -> None:
    states = []
    ready.state_changed.connect(lambda s, _d: states.append(s))
    with qtbot.waitSignal(
        ready.engine_status,
        timeout=120000,
        check_params_cb=lambda st: st.status == "ok" and st.quantization_requested == "8bit",
    ):
        ready.settings.set("quantization", "8bit")

    def shown() -> list[str]:
        return [state for state, _ in itertools.groupby(states)]

    # Polled, not waited for as a signal: Qt delivers every event already posted in one batch,
    # so "ready" may have arrived in the batch that ended the wait for the status above.
    qtbot.waitUntil(lambda: shown()[-1:] == ["ready"], timeout=30000)
    # The tray and the status bar say "loading" until the model is ready, without a flicker.
    assert shown() == ["loading", "ready"]


def test_the_first_load_goes_from_loading_to_ready(
    qtbot: QtBot, make_controller, use_model, library
) -> None:
    controller = make_controller(use_model)
    states: list[str] = []
    controller.state_changed.connect(lambda s, _d: states.append(s))
    with qtbot.waitSignal(controller.state_changed, timeout=120000, check_params_cb=_is("ready")):
        controller.start()
    assert [state for state, _ in itertools.groupby(states)] == ["loading", "ready"]


def _int8_thresholds(engine) -> set[float]:
    import bitsandbytes as bnb

    layers = [m for m in engine.llm.modules() if isinstance(m, bnb.nn.Linear8bitLt)]
    return {float(layer.state.threshold) for layer in layers}


def test_an_8bit_reload_uses_the_int8_threshold_setting(qtbot: QtBot, ready) -> None:
    assert ready.engine_options().int8_threshold == 0.0  # the default: 8-bit from a graph
    with qtbot.waitSignal(
        ready.engine_status,
        timeout=120000,
        check_params_cb=lambda st: st.status == "ok" and st.quantization_requested == "8bit",
    ):
        ready.settings.set("quantization", "8bit")
    assert on_runner(ready.runner, _int8_thresholds) == {0.0}
    # A new threshold alone reloads the 8-bit model with it.
    with qtbot.waitSignal(ready.state_changed, timeout=120000, check_params_cb=_is("loading")):
        ready.settings.set("int8_threshold", 4.5)
    with qtbot.waitSignal(ready.state_changed, timeout=120000, check_params_cb=_is("ready")):
        pass
    assert on_runner(ready.runner, _int8_thresholds) == {4.5}


def test_the_reading_of_numbers_changes_without_a_reload(
    qtbot: QtBot, ready, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("wetext", reason="wetext is not installed (pip install wetext)")
    engine = on_runner(ready.runner, lambda engine: engine)
    heard: list[str] = []
    real = engine.segment_input

    def spy(text: str, *args, **kwargs):
        heard.append(text)
        return real(text, *args, **kwargs)

    monkeypatch.setattr(engine, "segment_input", spy)
    states: list[str] = []
    ready.state_changed.connect(lambda s, _d: states.append(s))
    for setting in ("wetext", "basic"):
        ready.settings.set("text_normalization", setting)
        with qtbot.waitSignal(ready.job_finished, timeout=60000):
            ready.speak("It costs $5.")
        ready.stop()
    assert heard == ["It costs five dollars.", "It costs $five."]
    assert "loading" not in states
    assert on_runner(ready.runner, lambda loaded: loaded is engine)


def test_a_bad_environment_variable_is_shown_as_an_error(
    qtbot: QtBot, make_controller, use_model, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUANTIZATION_BITS", "5")
    controller = make_controller(use_model)
    with qtbot.waitSignal(controller.state_changed, check_params_cb=_is("error")) as blocker:
        controller.start()
    assert "QUANTIZATION_BITS" in blocker.args[1] and "4 or 8" in blocker.args[1]


def test_without_a_model_folder_the_app_asks_for_one(
    qtbot: QtBot, make_controller, settings, sd
) -> None:
    controller = make_controller(settings)
    with qtbot.waitSignal(controller.state_changed, check_params_cb=_is("no-model")):
        controller.start()
    with qtbot.waitSignal(controller.error) as blocker:
        controller.speak("Hello.")
    assert "No model folder is set" in blocker.args[0]
    assert controller.state == "no-model"


def test_a_model_folder_that_fails_to_load_is_explained(
    qtbot: QtBot, make_controller, settings, tmp_path: Path, tiny_model: Path
) -> None:
    settings.set("model_dir", str(tmp_path))
    controller = make_controller(settings)
    shown: list[tuple[str, str]] = []
    controller.state_changed.connect(lambda state, detail: shown.append((state, detail)))
    with qtbot.waitSignal(controller.error, timeout=60000) as blocker:
        controller.start()
    assert "lacks cosyvoice3.yaml" in blocker.args[0]
    # The tray and the status bar end on the error and its sentence, not on "unloaded".
    qtbot.waitUntil(lambda: shown[-1] == ("error", blocker.args[0]))


def test_a_refused_voice_is_left_to_the_voices_dialog_to_explain(
    qtbot: QtBot, ready, tmp_path: Path
) -> None:
    errors: list[str] = []
    ready.error.connect(errors.append)
    clip = write_clip(tmp_path / "long.wav", seconds=31)
    with qtbot.waitSignal(ready.job_failed, timeout=60000):
        ready.add_voice("Too long", clip, "Far too long.")
    assert errors == []
