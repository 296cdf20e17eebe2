"""The interface speaks the system's language: Simplified Chinese where the system asks for it,
English otherwise; the shipped translation is whole, keeps every placeholder and Alt+letter,
and its compiled .qm is the one its .ts makes."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PySide6.QtWidgets import QGroupBox, QLabel, QPushButton
from pytestqt.qtbot import QtBot

from cosydesk.config import OPTIONS
from cosydesk.gui.i18n import ENGLISH, TRANSLATIONS_DIR, choose_language, plain, shipped
from cosydesk.gui.settings_dialog import SettingsDialog
from cosydesk.gui.tray import Tray
from cosydesk.gui.voices_dialog import VoicesDialog

ROOT = Path(__file__).resolve().parents[2]
TS = TRANSLATIONS_DIR / "cosydesk_zh_CN.ts"
HAN = re.compile(r"[\u4e00-\u9fff]")
LUPDATE = shutil.which("pyside6-lupdate", path=str(Path(sys.executable).parent))
LRELEASE = shutil.which("pyside6-lrelease", path=str(Path(sys.executable).parent))


def _messages(ts: Path = TS) -> list[tuple[str, str, ET.Element]]:
    """(context, source, translation element) of every entry of a .ts file."""
    found = []
    for context in ET.parse(ts).getroot().iter("context"):
        name = context.findtext("name", "")
        for message in context.iter("message"):
            translation = message.find("translation")
            assert translation is not None
            found.append((name, message.findtext("source", ""), translation))
    return found


def _chinese(text: str) -> bool:
    return bool(HAN.search(text))


# -- which language -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("preferred", "expected"),
    [
        (["zh-Hans-CN", "zh-CN", "zh"], "zh_CN"),
        (["zh-Hans-SG", "zh-SG"], "zh_CN"),  # Simplified Chinese outside the mainland
        (["de-DE", "de", "zh-CN"], "zh_CN"),  # no German: the next language asked for
        (["en-US", "en", "zh-CN"], ENGLISH),  # English first wins over a later Chinese
        (["zh-Hant-TW", "zh-TW"], ENGLISH),  # Traditional Chinese is not Simplified
        (["fr-FR"], ENGLISH),
        (["C"], ENGLISH),
    ],
)
def test_the_first_system_language_that_is_english_or_translated_wins(
    preferred: list[str], expected: str
) -> None:
    assert choose_language(preferred, ["zh_CN"]) == expected


def test_simplified_chinese_is_shipped_compiled() -> None:
    assert "zh_CN" in shipped()


_SHOW_TRAY = (
    "from PySide6.QtWidgets import QApplication\n"
    "from cosydesk.gui.i18n import install_translation\n"
    "from cosydesk.gui.tray import Tray\n"
    "app = QApplication([])\n"
    "install_translation()\n"
    "tray = Tray()\n"
    "print('|'.join(a.text() for a in tray.menu.actions() if a.text()))\n"
)


@pytest.mark.parametrize(
    ("environment", "chinese"),
    [
        ({"LANG": "zh_CN.UTF-8"}, True),
        ({"LANG": "en_US.UTF-8", "LANGUAGE": "zh_CN:en"}, True),
        ({"LC_ALL": "zh_CN.UTF-8", "LANG": "en_US.UTF-8"}, True),
        ({"LANG": "en_US.UTF-8", "LANGUAGE": "en_US:zh_CN"}, False),
        ({"LANG": "C.UTF-8"}, False),
    ],
)
def test_the_app_follows_the_language_of_the_system(
    environment: dict[str, str], chinese: bool
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("LANG", "LANGUAGE", "LC_ALL")}
    env.pop("LC_MESSAGES", None)
    env.update(environment, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", _SHOW_TRAY], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    menu = done.stdout.strip().split("|")
    if chinese:
        assert menu[:3] == ["朗读剪贴板", "暂停", "停止"] and menu[-1] == "退出"
    else:
        assert menu[:3] == ["Speak clipboard", "Pause", "Stop"] and menu[-1] == "Quit"


def test_the_app_installs_the_translation_of_the_system_at_start(dirs: Path) -> None:
    (dirs / "config").mkdir(parents=True, exist_ok=True)
    (dirs / "config" / "settings.json").write_text(
        json.dumps({"version": 3, "first_run_done": True})
    )
    runtime = dirs / "runtime"
    runtime.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES")}
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE"):
        env.pop(name, None)
    env.update(
        LANG="zh_CN.UTF-8",
        PYTHONPATH=str(ROOT),
        QT_QPA_PLATFORM="offscreen",
        XDG_RUNTIME_DIR=str(runtime),  # a private instance socket: no other cosydesk answers
        TMPDIR=str(runtime),
    )
    app = subprocess.Popen(
        [sys.executable, "-m", "cosydesk", "--minimized"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    log_file = dirs / "data" / "logs" / "cosydesk.log"
    try:
        deadline = time.monotonic() + 60
        while "cosydesk started" not in (log_file.read_text() if log_file.exists() else ""):
            assert app.poll() is None, f"cosydesk exited with {app.returncode}"
            assert time.monotonic() < deadline, "cosydesk did not start"
            time.sleep(0.1)
    finally:
        app.send_signal(signal.SIGTERM)
        output, _ = app.communicate(timeout=30)
    assert app.returncode == 0, output
    log = log_file.read_text()
    assert "Interface language: zh_CN (loaded cosydesk_zh_CN.qm, qtbase_zh_CN.qm)" in log


# -- the windows in Chinese and in English ----------------------------------------------------


def test_the_tray_menu_speaks_chinese(chinese) -> None:
    tray = Tray()
    texts = [action.text() for action in tray.menu.actions() if not action.isSeparator()]
    assert texts == ["朗读剪贴板", "暂停", "停止", "显示窗口", "设置...", "退出"]
    tray.set_state("paused", "")
    assert tray.pause_action.text() == "继续"


def test_the_tray_menu_stays_english_for_an_english_system(language) -> None:
    assert language("en_US").language == ENGLISH
    tray = Tray()
    texts = [action.text() for action in tray.menu.actions() if not action.isSeparator()]
    assert texts == ["Speak clipboard", "Pause", "Stop", "Show window", "Settings...", "Quit"]


def _settings_texts(dialog: SettingsDialog) -> list[str]:
    texts = [dialog.windowTitle()]
    texts += [dialog.tabs.tabText(i) for i in range(dialog.tabs.count())]
    texts += [box.title() for box in dialog.findChildren(QGroupBox)]
    texts += [label.text() for label in dialog.findChildren(QLabel) if label.text()]
    texts += [button.text() for button in dialog.findChildren(QPushButton)]
    return texts


def test_the_settings_dialog_speaks_chinese(qtbot: QtBot, chinese, settings, library) -> None:
    dialog = SettingsDialog(settings, library)
    qtbot.addWidget(dialog)
    assert dialog.windowTitle() == "设置"
    assert [dialog.tabs.tabText(i) for i in range(4)] == ["模型", "语音", "桌面", "语音 API"]
    # Every title, label and button is Chinese, Qt's own OK/Apply/Cancel included (qtbase's
    # translation).
    assert [text for text in _settings_texts(dialog) if not _chinese(text)] == []
    assert [button.text() for button in dialog.buttons.buttons()] == ["确定", "取消", "应用"]
    # The choices and tooltips declared in config.py are translated at display time.
    quantization = dialog.fields["quantization"].widget
    assert quantization.itemText(0) == "自动（GPU 上 4 位，CPU 上不量化）"
    assert _chinese(quantization.toolTip())
    # Screen readers hear the label without its "(&Q)：".
    assert quantization.accessibleName() == "量化"


def test_the_settings_dialog_is_english_without_a_translation(
    qtbot: QtBot, language, settings, library
) -> None:
    language("en_GB")
    dialog = SettingsDialog(settings, library)
    qtbot.addWidget(dialog)
    assert not any(_chinese(text) for text in _settings_texts(dialog))
    assert dialog.fields["quantization"].widget.accessibleName() == "Quantisation"


def test_the_voices_dialog_speaks_chinese(
    qtbot: QtBot, chinese, make_controller, settings, library, clip: Path
) -> None:
    library.add("Alice", clip, "Alice speaking here.")
    settings.set("default_voice", "Alice")
    dialog = VoicesDialog(make_controller(settings))
    qtbot.addWidget(dialog)
    assert dialog.windowTitle() == "声音"
    assert dialog.list.item(0).text() == "Alice  （2.0 秒）  - 默认"
    assert dialog.details.text() == "<b>Alice</b> 说：“Alice speaking here.”"
    buttons = {button.text() for button in dialog.findChildren(QPushButton)}
    assert {"从文件添加(&A)...", "删除(&D)", "设为默认(&F)", "试听(&T)", "关闭"} <= buttons


# -- the translation file ---------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{[^{}]*\}|%\d|%n|%[sd]")


def _mnemonic(text: str) -> str | None:
    match = re.search(r"&([^&\s])", text.replace("&&", ""))
    return match.group(1).lower() if match else None


def test_every_entry_is_translated_with_its_placeholders_and_mnemonic() -> None:
    problems = []
    for context, source, translation in _messages():
        where = f"{context}: {source!r}"
        text = translation.text or ""
        if translation.get("type") in ("unfinished", "vanished", "obsolete") or not text.strip():
            problems.append(f"{where} is not translated")
            continue
        if sorted(_PLACEHOLDER.findall(source)) != sorted(_PLACEHOLDER.findall(text)):
            problems.append(f"{where}: the placeholders differ in {text!r}")
        if _mnemonic(source) != _mnemonic(text):  # the same Alt+letter as in English
            problems.append(f"{where}: the mnemonic is lost in {text!r}")
        if _mnemonic(source) and not re.search(r"\(&[^&\s]\)", text):
            problems.append(f"{where}: {text!r} does not end its label with (&X)")
    assert problems == []


def test_every_setting_label_and_description_is_marked_for_translation() -> None:
    from cosydesk.gui.config_text import TEXTS

    declared = {o.description for o in OPTIONS} | {label for o in OPTIONS for _, label in o.allowed}
    assert set(TEXTS) == declared, "run scripts/translations"


@pytest.mark.skipif(LUPDATE is None, reason="pyside6-lupdate is not installed")
def test_every_text_in_the_code_has_a_translation(tmp_path: Path) -> None:
    copy = tmp_path / TS.name
    shutil.copy(TS, copy)
    sources = sorted(str(p) for p in (ROOT / "cosydesk" / "gui").rglob("*.py"))
    subprocess.run(
        [str(LUPDATE), *sources, "-locations", "none", "-ts", str(copy)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    missing = [
        f"{context}: {source!r}"
        for context, source, translation in _messages(copy)
        if translation.get("type") == "unfinished"
    ]
    assert missing == [], "run scripts/translations, then translate these"


@pytest.mark.skipif(LRELEASE is None, reason="pyside6-lrelease is not installed")
def test_the_shipped_qm_is_compiled_from_the_ts(tmp_path: Path) -> None:
    compiled = tmp_path / "cosydesk_zh_CN.qm"
    subprocess.run(
        [str(LRELEASE), str(TS), "-qm", str(compiled)], check=True, capture_output=True, timeout=60
    )
    assert compiled.read_bytes() == TS.with_suffix(".qm").read_bytes(), "run scripts/translations"


def test_a_label_is_spoken_without_its_mnemonic_and_colon() -> None:
    assert plain("Model &folder:") == "Model folder"
    assert plain("模型文件夹(&F)：") == "模型文件夹"
    assert plain("Save && quit") == "Save & quit"
