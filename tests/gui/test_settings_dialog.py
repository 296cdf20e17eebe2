"""The settings dialog: shows the settings, validates on Apply, saves, and locks env overrides."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QDialogButtonBox
from pytestqt.qtbot import QtBot

from cosydesk.gui.settings_dialog import SettingsDialog


def _dialog(qtbot: QtBot, settings, library=None) -> SettingsDialog:
    dialog = SettingsDialog(settings, library)
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def _click(qtbot: QtBot, dialog: SettingsDialog, which: QDialogButtonBox.StandardButton) -> None:
    qtbot.mouseClick(dialog.buttons.button(which), Qt.MouseButton.LeftButton)


def _choose(combo: QComboBox, value: str) -> None:
    combo.setCurrentIndex(combo.findData(value))


def _stored(settings) -> dict:
    return json.loads(Path(settings.path).read_text())


def test_it_shows_the_stored_values(qtbot: QtBot, settings) -> None:
    settings.set("quantization", "8bit")
    settings.set("speed", 1.25)
    settings.set("idle_unload_minutes", 15)
    dialog = _dialog(qtbot, settings)
    assert dialog.fields["quantization"].get() == "8bit"
    assert dialog.fields["quantization"].widget.currentText() == "8-bit LLM.int8"
    assert dialog.fields["speed"].get() == 1.25
    assert dialog.fields["idle_unload_minutes"].widget.text() == "15 min"
    assert dialog.fields["hotkey"].get() == "Ctrl+Alt+S"


def test_quantisation_modes_are_offered_in_words(qtbot: QtBot, settings) -> None:
    dialog = _dialog(qtbot, settings)
    combo = dialog.fields["quantization"].widget
    assert [(combo.itemData(i), combo.itemText(i)) for i in range(combo.count())] == [
        ("auto", "Automatic (4-bit on a GPU, none on the CPU)"),
        ("4bit", "4-bit NF4 (least GPU memory)"),
        ("8bit", "8-bit LLM.int8"),
        ("none", "None (full precision)"),
    ]


def test_choices_words_and_ranges_come_from_the_declarations(
    qtbot: QtBot, settings, redeclare
) -> None:
    redeclare("quantization", allowed=(("auto", "Let cosydesk choose"), ("2bit", "Two bits")))
    redeclare("speed", minimum=0.25, maximum=3.0)
    redeclare("idle_unload_minutes", maximum=60)
    dialog = _dialog(qtbot, settings)
    combo = dialog.fields["quantization"].widget
    assert [(combo.itemData(i), combo.itemText(i)) for i in range(combo.count())] == [
        ("auto", "Let cosydesk choose"),
        ("2bit", "Two bits"),
    ]
    speed = dialog.fields["speed"].widget
    assert (speed.minimum(), speed.maximum()) == (0.25, 3.0)
    assert dialog.fields["idle_unload_minutes"].widget.maximum() == 60
    _choose(combo, "2bit")
    speed.setValue(2.75)
    _click(qtbot, dialog, QDialogButtonBox.StandardButton.Ok)
    assert (_stored(settings)["quantization"], _stored(settings)["speed"]) == ("2bit", 2.75)


def test_apply_stores_saves_and_announces_a_new_quantisation(qtbot: QtBot, settings) -> None:
    changes = []
    settings.on_change(lambda name, value: changes.append((name, value)))
    dialog = _dialog(qtbot, settings)
    _choose(dialog.fields["quantization"].widget, "none")
    dialog.fields["speed"].widget.setValue(0.8)
    with qtbot.waitSignal(dialog.applied, timeout=1000):
        _click(qtbot, dialog, QDialogButtonBox.StandardButton.Apply)
    assert ("quantization", "none") in changes and ("speed", 0.8) in changes
    assert _stored(settings)["quantization"] == "none"
    assert dialog.isVisible()  # Apply keeps the dialog open; OK closes it
    _click(qtbot, dialog, QDialogButtonBox.StandardButton.Ok)
    assert not dialog.isVisible()


def test_the_reading_of_numbers_is_a_choice_that_is_saved(qtbot: QtBot, settings) -> None:
    dialog = _dialog(qtbot, settings)
    field = dialog.fields["text_normalization"]
    assert field.get() == "wetext" and "dates, amounts" in field.widget.currentText()
    _choose(field.widget, "basic")
    _click(qtbot, dialog, QDialogButtonBox.StandardButton.Ok)
    assert _stored(settings)["text_normalization"] == "basic"


def test_without_wetext_the_reading_choice_says_how_to_install_it(
    qtbot: QtBot, settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "wetext", None)  # find_spec sees it as absent
    dialog = _dialog(qtbot, settings)
    dialog.tabs.setCurrentIndex(1)  # the Speech page
    note = dialog.fields["text_normalization"].note
    assert note is not None and note.isVisible() and "pip install wetext" in note.text()


def test_cancel_changes_nothing(qtbot: QtBot, settings) -> None:
    dialog = _dialog(qtbot, settings)
    _choose(dialog.fields["device"].widget, "cpu")
    _click(qtbot, dialog, QDialogButtonBox.StandardButton.Cancel)
    assert settings.get("device") == "auto"
    assert not Path(settings.path).exists()


def test_a_wrong_model_folder_is_refused_with_the_engine_sentence(
    qtbot: QtBot, settings, tmp_path: Path
) -> None:
    dialog = _dialog(qtbot, settings)
    dialog.model_edit.clear()
    qtbot.keyClicks(dialog.model_edit, str(tmp_path))
    _choose(dialog.fields["quantization"].widget, "8bit")
    _click(qtbot, dialog, QDialogButtonBox.StandardButton.Ok)
    assert dialog.isVisible()
    assert dialog.error_label.isVisible()
    assert "lacks cosyvoice3.yaml" in dialog.error_label.text()
    # Nothing is stored while any field is wrong.
    assert settings.get("model_dir") == "" and settings.get("quantization") == "auto"


def test_a_real_model_folder_is_accepted(qtbot: QtBot, settings, parity_dir: Path) -> None:
    dialog = _dialog(qtbot, settings)
    qtbot.keyClicks(dialog.model_edit, str(parity_dir / "model"))
    _click(qtbot, dialog, QDialogButtonBox.StandardButton.Ok)
    assert not dialog.isVisible()
    assert _stored(settings)["model_dir"] == str(parity_dir / "model")


def test_an_option_set_by_the_environment_is_shown_locked_with_its_variable(
    qtbot: QtBot, settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUANTIZATION_ENABLED", "true")
    monkeypatch.setenv("QUANTIZATION_BITS", "8")
    dialog = _dialog(qtbot, settings)
    field = dialog.fields["quantization"]
    assert not field.widget.isEnabled()
    assert field.get() == "8bit"  # the value in force, not the stored one
    assert field.note is not None and field.note.isVisible()
    assert "QUANTIZATION_ENABLED and QUANTIZATION_BITS" in field.note.text()
    with qtbot.waitSignal(dialog.applied, timeout=1000):
        _click(qtbot, dialog, QDialogButtonBox.StandardButton.Apply)
    assert settings.get("quantization") == "auto"  # the override is never stored


def test_the_hotkey_is_edited_as_a_key_sequence(qtbot: QtBot, settings) -> None:
    dialog = _dialog(qtbot, settings)
    edit = dialog.fields["hotkey"].widget
    edit.clear()
    qtbot.keyClick(edit, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    assert dialog.fields["hotkey"].get() == "Ctrl+R"
    qtbot.keyClick(edit, Qt.Key.Key_Return)  # ends the editing; it does not become the hotkey
    assert dialog.fields["hotkey"].get() == "Ctrl+R"
    _click(qtbot, dialog, QDialogButtonBox.StandardButton.Ok)
    assert settings.get("hotkey") == "Ctrl+R"


def test_the_default_voice_is_chosen_from_the_library(
    qtbot: QtBot, settings, library, clip: Path
) -> None:
    library.add("Narrator", clip, "Hello there.")
    dialog = _dialog(qtbot, settings, library)
    combo = dialog.fields["default_voice"].widget
    assert [combo.itemText(i) for i in range(combo.count())] == [
        "First voice in the library",
        "Narrator",
    ]
    _choose(combo, "Narrator")
    _click(qtbot, dialog, QDialogButtonBox.StandardButton.Ok)
    assert settings.get("default_voice") == "Narrator"


def test_output_devices_come_from_the_sound_system(qtbot: QtBot, settings, sd) -> None:
    dialog = _dialog(qtbot, settings)
    combo = dialog.fields["output_device"].widget
    labels = [combo.itemText(i) for i in range(combo.count())]
    assert labels == ["System default", "Built-in Speakers (ALSA)"]


def test_without_a_sound_system_the_output_note_says_why(
    qtbot: QtBot, settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cosydesk.audio import playback

    def no_portaudio():
        raise playback.AudioDeviceError("No sound output device can be used: PortAudio is missing.")

    monkeypatch.setattr(playback, "list_output_devices", no_portaudio)
    dialog = _dialog(qtbot, settings)
    dialog.tabs.setCurrentIndex(1)  # the Speech page
    note = dialog.fields["output_device"].note
    assert note is not None and note.isVisible() and "PortAudio is missing" in note.text()


def test_the_8bit_threshold_says_what_it_trades(qtbot: QtBot, settings) -> None:
    """By default 8-bit runs without the outlier split, the fast way, and the field says so;
    its tooltip names what a threshold buys and what it costs."""
    dialog = _dialog(qtbot, settings)
    box = dialog.fields["int8_threshold"].widget
    assert dialog.fields["int8_threshold"].get() == 0.0
    assert box.text() == "0 (off: fastest)"
    tip = box.toolTip()
    assert "faster than real time" in tip and "slower than real time" in tip and "6.0" in tip
