"""Settings: defaults, validation, round-trip, damaged and old files, environment overrides."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cosydesk import config
from cosydesk.config import OPTIONS, OPTIONS_BY_NAME, Settings
from cosydesk.engine.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "settings.json"


def _load(path: Path, **environ: str) -> Settings:
    return Settings.load(path, environ=environ)


def test_missing_file_gives_defaults_and_writes_nothing(path: Path) -> None:
    settings = _load(path)
    assert settings.get("quantization") == "auto"
    assert settings.get("hotkey") == "Ctrl+Alt+S"
    assert settings.get("speed") == 1.0
    assert settings.get("stream") is True
    assert settings.warnings == []
    assert not path.exists()


def test_texts_people_read_name_no_benchmark_figures_and_no_seed() -> None:
    """Descriptions (tooltips, CLI help), the dialog's words for each choice, and the command
    line's help: figures measured on one card and the project's first document mean nothing
    to the person reading them."""
    from cosydesk import cli

    parser = cli.build_parser()
    commands = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    texts = [o.description for o in OPTIONS] + [label for o in OPTIONS for _, label in o.allowed]
    texts += [parser.format_help()] + [command.format_help() for command in commands.values()]
    figures = re.compile(r"\bseed\b|tok/s|\bH[12]00\b|\d\s*(?:MiB|GiB|ms)\b|\binstead of \d", re.I)
    for text in texts:
        assert not figures.search(text), text


def test_every_option_default_passes_its_own_validation() -> None:
    for option in OPTIONS:
        assert config.coerce(option, option.default) == option.default


def test_round_trip_keeps_every_changed_value(path: Path) -> None:
    settings = _load(path)
    settings.set("quantization", "8bit")
    settings.set("speed", 1.25)
    settings.set("idle_unload_minutes", 15)
    settings.set("stream", False)
    settings.set("model_dir", "/models/Fun-CosyVoice3-0.5B")
    settings.save()

    again = _load(path)
    assert again.warnings == []
    assert again.as_dict() == settings.as_dict()
    assert json.loads(path.read_text())["version"] == config.VERSION


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")
def test_saved_file_is_private_to_its_owner(path: Path) -> None:
    settings = _load(path)
    settings.set("api_key", "secret")
    settings.save()
    assert path.stat().st_mode & 0o077 == 0


def test_save_leaves_no_temp_file_and_a_failed_save_keeps_the_old_file(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = _load(path)
    settings.set("speed", 1.5)
    settings.save()
    assert [p.name for p in path.parent.iterdir()] == ["settings.json"]

    def broken_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    settings.set("speed", 0.75)
    monkeypatch.setattr(config.os, "replace", broken_replace)
    with pytest.raises(OSError):
        settings.save()
    monkeypatch.undo()
    assert [p.name for p in path.parent.iterdir()] == ["settings.json"]
    assert _load(path).get("speed") == 1.5


def test_set_coerces_text_and_rejects_bad_values_with_a_sentence(path: Path) -> None:
    settings = _load(path)
    settings.set("speed", "1.5")
    settings.set("stream", "false")
    settings.set("api_port", "8080")
    assert (settings.get("speed"), settings.get("stream"), settings.get("api_port")) == (
        1.5,
        False,
        8080,
    )

    with pytest.raises(ConfigError, match=r"speed is 3\.0.*a number from 0\.5 to 2\.0"):
        settings.set("speed", 3.0)
    with pytest.raises(ConfigError, match=r"quantization is '2bit'.*auto or 4bit or 8bit or none"):
        settings.set("quantization", "2bit")
    with pytest.raises(ConfigError, match="api_port"):
        settings.set("api_port", 80)
    with pytest.raises(ConfigError, match="stream"):
        settings.set("stream", "maybe")
    with pytest.raises(KeyError):
        settings.set("loudness", 3)
    assert (settings.get("speed"), settings.get("quantization"), settings.get("api_port")) == (
        1.5,
        "auto",
        8080,
    )


def test_settings_are_read_with_get_and_changed_with_set_only(path: Path) -> None:
    settings = _load(path)
    with pytest.raises(AttributeError, match="set"):
        settings.speed = 2.0
    with pytest.raises(AttributeError):
        settings.speed  # noqa: B018 - the attribute form is gone: get() or effective()
    assert settings.get("speed") == 1.0


def test_listeners_hear_each_real_change_once(path: Path) -> None:
    settings = _load(path)
    heard: list[tuple[str, object]] = []
    settings.on_change(lambda name, value: heard.append((name, value)))
    settings.set("quantization", "none")
    settings.set("quantization", "none")
    settings.set("speed", "1.0")  # the default, unchanged
    settings.reset("quantization")
    assert heard == [("quantization", "none"), ("quantization", "auto")]


def test_a_broken_listener_does_not_silence_the_others(path: Path) -> None:
    settings = _load(path)
    heard: list[str] = []

    def broken(name: str, value: object) -> None:
        raise RuntimeError("listener bug")

    settings.on_change(broken)
    settings.on_change(lambda name, value: heard.append(name))
    settings.set("device", "cpu")
    assert heard == ["device"]


def test_invalid_stored_values_fall_back_to_defaults_with_warnings(path: Path) -> None:
    path.write_text(
        json.dumps(
            {
                "version": config.VERSION,
                "speed": 9,
                "device": "tpu",
                "idle_unload_minutes": "ten",
                "hotkey": "Ctrl+Shift+R",
            }
        )
    )
    settings = _load(path)
    assert settings.get("speed") == 1.0
    assert settings.get("device") == "auto"
    assert settings.get("idle_unload_minutes") == 0
    assert settings.get("hotkey") == "Ctrl+Shift+R"
    text = "\n".join(settings.warnings)
    assert "speed is 9" in text and "device is 'tpu'" in text and "idle_unload_minutes" in text
    assert len(settings.warnings) == 3


DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"{not json", "it is damaged: not valid JSON"),
        (b"[1, 2, 3]", "it holds a list instead of named settings"),
        (b'"speed"', "it holds a text instead of named settings"),
        (b"42", "it holds a single value instead of named settings"),
        (b"\xff\xfe\x00garbage", "it is not UTF-8 text"),
        (b'{"speed": 1.2, "hotkey": "Caf\xe9"}', "it is not UTF-8 text"),
        (DEEP, "it is nested too deeply"),  # Python's parser: RecursionError
        (b'{"extra": ' + b"[" * 40 + b"]" * 40 + b"}", "it is nested too deeply"),
        (b'{"speed": ' + b"7" * 5000 + b"}", "it holds a number too long to read"),
        (b'{"pad": "' + b"x" * 1_000_001 + b'"}', "it is larger than 1 MB"),
    ],
    ids=[
        "bad-json",
        "list",
        "string",
        "number",
        "binary",
        "latin-1",
        "recursion",
        "nested",
        "5000-digits",
        "huge",
    ],
)
def test_a_file_that_is_not_settings_is_kept_aside_and_replaced_by_defaults(
    path: Path, content: bytes, reason: str
) -> None:
    path.write_bytes(content)
    settings = _load(path)

    assert settings.as_dict() == {option.name: option.default for option in OPTIONS}
    backups = list(path.parent.glob("settings.json.corrupt-*"))
    assert len(backups) == 1
    assert backups[0].read_bytes() == content
    assert settings.warnings == [
        f"The settings file {path} could not be read as settings ({reason}): it was kept as "
        f"{backups[0]}, and cosydesk starts with default settings. Choose your settings again."
    ]
    assert json.loads(path.read_text())["version"] == config.VERSION
    assert _load(path).warnings == []  # the next start is quiet


def test_a_byte_order_mark_is_read_as_usual(path: Path) -> None:
    path.write_bytes(
        b"\xef\xbb\xbf" + json.dumps({"version": config.VERSION, "speed": 1.25}).encode()
    )
    settings = _load(path)
    assert settings.warnings == []
    assert settings.get("speed") == 1.25
    assert list(path.parent.iterdir()) == [path]


def test_a_folder_in_place_of_the_file_is_kept_aside_with_its_content(path: Path) -> None:
    path.mkdir()
    (path / "notes.txt").write_text("mine")
    settings = _load(path)
    [backup] = path.parent.glob("settings.json.corrupt-*")
    assert (backup / "notes.txt").read_text() == "mine"
    assert "(it is a folder, not a file)" in settings.warnings[0]
    assert path.is_file() and settings.as_dict()["speed"] == 1.0


@pytest.mark.skipif(sys.platform == "win32", reason="named pipes")
def test_a_pipe_in_place_of_the_file_does_not_block_the_start(path: Path) -> None:
    os.mkfifo(path)
    settings = _load(path)  # reading a pipe nobody writes to would wait for ever
    assert "(it is not a regular file)" in settings.warnings[0]
    assert path.is_file()


def test_an_unreadable_file_is_kept_aside(path: Path, unprivileged: list[str]) -> None:
    path.write_text(json.dumps({"speed": 1.5}))
    path.chmod(0o000)
    script = (
        "import sys; from pathlib import Path; from cosydesk.config import Settings\n"
        "settings = Settings.load(Path(sys.argv[1]), environ={})\n"
        "print(settings.get('speed')); print(*settings.warnings, sep='\\n')\n"
    )
    done = subprocess.run(
        [*unprivileged, sys.executable, "-c", script, str(path)],
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    [backup] = path.parent.glob("settings.json.corrupt-*")
    backup.chmod(0o600)
    assert done.stdout.splitlines()[:2] == [
        "1.0",
        f"The settings file {path} could not be read as settings (it cannot be read: "
        f"Permission denied): it was kept as {backup}, and cosydesk starts with default "
        "settings. Choose your settings again.",
    ], done.stderr
    assert json.loads(backup.read_text()) == {"speed": 1.5}


def test_a_file_that_cannot_be_moved_aside_is_left_as_it_is(
    path: Path, unprivileged: list[str]
) -> None:
    path.write_bytes(DEEP)
    path.parent.chmod(0o500)
    script = (
        "import sys; from pathlib import Path; from cosydesk.config import Settings\n"
        "print(*Settings.load(Path(sys.argv[1]), environ={}).warnings, sep='\\n')\n"
    )
    try:
        done = subprocess.run(
            [*unprivileged, sys.executable, "-c", script, str(path)],
            env=dict(os.environ, PYTHONPATH=str(REPO)),
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        path.parent.chmod(0o700)
    assert "it could not be moved aside (Permission denied) and was left as it is" in done.stdout
    assert path.read_bytes() == DEEP
    assert list(path.parent.iterdir()) == [path]


def test_nan_infinity_and_overlong_values_fall_back_one_by_one(path: Path) -> None:
    path.write_text(
        "{"
        '"version": 2, "speed": NaN, "int8_threshold": Infinity, '
        '"idle_unload_minutes": -Infinity, "api_port": 1' + "0" * 400 + ", "
        '"hotkey": "' + "x" * 5000 + '", "model_dir": "/models\\u0000/x", '
        '"device": "cpu", "extra": NaN'
        "}"
    )
    settings = _load(path)
    changed = {k: v for k, v in settings.as_dict().items() if v != OPTIONS_BY_NAME[k].default}
    assert changed == {"device": "cpu"}
    names = ("speed", "int8_threshold", "idle_unload_minutes", "api_port", "hotkey", "model_dir")
    assert len(settings.warnings) == len(names)
    for name, warning in zip(names, settings.warnings, strict=True):
        assert warning.startswith(f"The setting {name} is ")
        assert len(warning) < 250  # a 400-digit number is cut short in the sentence
    settings.save()  # values read from such a file can be written back
    assert _load(path).warnings == []


def test_a_lone_surrogate_is_refused_as_a_value_and_kept_escaped_in_unknown_settings(
    path: Path,
) -> None:
    path.write_text('{"version": 2, "hotkey": "Ctrl+\\udfff", "future": ["\\ud800"]}')
    settings = _load(path)
    assert settings.get("hotkey") == "Ctrl+Alt+S"
    assert settings.warnings[0].startswith("The setting hotkey is 'Ctrl+\\udfff', which is not")
    settings.save()  # raw, the surrogate is not UTF-8: the file is written escaped instead
    again = _load(path)
    assert again.warnings == []
    assert json.loads(path.read_text())["future"] == ["\ud800"]


@pytest.mark.parametrize(
    ("enabled", "bits", "expected"),
    # 4 bits was the default; it reaches today's default, auto, through version 2.
    [(True, 8, "8bit"), (True, 4, "auto"), (False, 8, "none"), ("false", 4, "none")],
)
def test_version_1_file_is_backed_up_and_migrated(
    path: Path, enabled: object, bits: int, expected: str
) -> None:
    old = {"version": 1, "quantization_enabled": enabled, "quantization_bits": bits, "speed": 1.2}
    path.write_text(json.dumps(old))
    settings = _load(path)

    assert settings.get("quantization") == expected
    assert settings.get("speed") == 1.2
    assert settings.warnings == []
    backup = path.with_name("settings.json.v1.bak")
    assert json.loads(backup.read_text()) == old
    stored = json.loads(path.read_text())
    assert stored["version"] == config.VERSION and stored["quantization"] == expected
    assert "quantization_bits" not in stored and "quantization_enabled" not in stored


def test_version_1_file_with_a_bad_width_warns_and_uses_the_default(path: Path) -> None:
    path.write_text(json.dumps({"quantization_enabled": True, "quantization_bits": 5}))
    settings = _load(path)
    assert settings.get("quantization") == "auto"
    assert any("'5bit'" in warning for warning in settings.warnings)


def test_newer_file_keeps_unknown_settings_when_saved(path: Path) -> None:
    path.write_text(json.dumps({"version": 99, "speed": 1.5, "future_option": [1, 2]}))
    settings = _load(path)
    assert settings.get("speed") == 1.5
    assert any("newer cosydesk" in warning for warning in settings.warnings)
    settings.set("speed", 0.8)
    settings.save()
    stored = json.loads(path.read_text())
    assert stored["future_option"] == [1, 2] and stored["speed"] == 0.8


@pytest.mark.parametrize(
    ("environ", "expected", "names"),
    [
        ({"QUANTIZATION_ENABLED": "false"}, "none", "QUANTIZATION_ENABLED"),
        ({"QUANTIZATION_ENABLED": "true"}, "4bit", "QUANTIZATION_ENABLED"),
        (
            {"QUANTIZATION_ENABLED": "TRUE", "QUANTIZATION_BITS": "8"},
            "8bit",
            "QUANTIZATION_ENABLED and QUANTIZATION_BITS",
        ),
        ({"QUANTIZATION_BITS": "8"}, "8bit", "QUANTIZATION_BITS"),
        ({"QUANTIZATION_ENABLED": "false", "QUANTIZATION_BITS": "8"}, "none", None),
        ({"QUANTIZATION_ENABLED": " TRUE ", "QUANTIZATION_BITS": "4"}, "4bit", None),
    ],
)
def test_seed_environment_variables_override_quantization(
    path: Path, environ: dict[str, str], expected: str, names: str | None
) -> None:
    settings = _load(path, **environ)
    settings.set("quantization", "none" if expected != "none" else "8bit")
    assert settings.effective("quantization") == expected
    if names is not None:
        assert settings.overridden_by_env("quantization") == names
    assert settings.get("quantization") != expected  # the stored value is left alone


def test_without_environment_the_stored_value_is_in_force(path: Path) -> None:
    settings = _load(path, QUANTIZATION_ENABLED="", QUANTIZATION_BITS="  ")  # blank is unset
    settings.set("quantization", "8bit")
    assert settings.effective("quantization") == "8bit"
    assert settings.overridden_by_env("quantization") is None


@pytest.mark.parametrize(
    ("environ", "variable", "value", "allowed"),
    [
        ({"QUANTIZATION_BITS": "5"}, "QUANTIZATION_BITS", "'5'", "4 or 8"),
        (
            {"QUANTIZATION_ENABLED": "true", "QUANTIZATION_BITS": "5"},
            "QUANTIZATION_BITS",
            "'5'",
            "4 or 8",
        ),
        ({"QUANTIZATION_ENABLED": "maybe"}, "QUANTIZATION_ENABLED", "'maybe'", "true or false"),
        (
            {"QUANTIZATION_ENABLED": "false", "QUANTIZATION_BITS": "16"},
            "QUANTIZATION_BITS",
            "'16'",
            "4 or 8",
        ),
    ],
)
def test_bad_seed_variables_are_errors_naming_variable_value_and_allowed_values(
    path: Path, environ: dict[str, str], variable: str, value: str, allowed: str
) -> None:
    settings = _load(path, **environ)
    with pytest.raises(ConfigError) as caught:
        settings.effective("quantization")
    message = str(caught.value)
    assert variable in message and value in message and allowed in message


def test_model_dir_environment_variable(path: Path) -> None:
    settings = _load(path, COSYDESK_MODEL_DIR="/opt/cosyvoice3")
    assert settings.effective("model_dir") == "/opt/cosyvoice3"
    assert settings.get("model_dir") == ""
    assert settings.overridden_by_env("model_dir") == "COSYDESK_MODEL_DIR"
    assert settings.overridden_by_env("speed") is None


def test_default_locations_honour_the_override_variables(tmp_path: Path) -> None:
    environ = {
        "COSYDESK_CONFIG_DIR": str(tmp_path / "conf"),
        "COSYDESK_DATA_DIR": str(tmp_path / "data"),
    }
    settings = Settings.load(environ=environ)
    assert settings.path == tmp_path / "conf" / "settings.json"
    settings.set("speed", 1.1)
    settings.save()
    assert (tmp_path / "conf" / "settings.json").is_file()
    assert config.data_dir(environ) == tmp_path / "data"
    assert config.voices_dir(environ) == tmp_path / "data" / "voices"
    assert config.log_dir(environ) == tmp_path / "data" / "logs"


def test_platform_locations_are_per_user_folders_named_after_the_app() -> None:
    environ: dict[str, str] = {}
    for folder in (config.config_dir(environ), config.data_dir(environ), config.log_dir(environ)):
        assert "cosydesk" in folder.parts
        assert folder.is_absolute()
    assert os.fspath(config.voices_dir(environ)).startswith(os.fspath(config.data_dir(environ)))


@pytest.mark.parametrize(
    ("stored", "expected"), [("4bit", "auto"), ("8bit", "8bit"), ("none", "none")]
)
def test_version_2_default_4bit_becomes_auto(path: Path, stored: str, expected: str) -> None:
    """4-bit was the default, stored in every file: it becomes auto (4-bit on a GPU, none on
    the CPU); a mode someone chose stays."""
    path.write_text(json.dumps({"version": 2, "quantization": stored, "speed": 1.1}))
    settings = _load(path)
    assert (settings.get("quantization"), settings.get("speed"), settings.warnings) == (
        expected,
        1.1,
        [],
    )
    assert json.loads(path.with_name("settings.json.v2.bak").read_text())["quantization"] == stored
    assert json.loads(path.read_text())["quantization"] == expected


@pytest.mark.parametrize(("stored", "expected"), [(6.0, 0.0), (4.5, 4.5), (0.0, 0.0)])
def test_version_3_default_int8_threshold_becomes_0(
    path: Path, stored: float, expected: float
) -> None:
    """6.0 was the outlier threshold's default, stored in every file, and made 8-bit speech
    slower than real time: it becomes the new default 0; a threshold someone chose stays. The
    old file is backed up first."""
    path.write_text(json.dumps({"version": 3, "int8_threshold": stored, "quantization": "8bit"}))
    settings = _load(path)
    assert (settings.get("int8_threshold"), settings.get("quantization"), settings.warnings) == (
        expected,
        "8bit",
        [],
    )
    backup = json.loads(path.with_name("settings.json.v3.bak").read_text())
    assert backup["int8_threshold"] == stored
    assert json.loads(path.read_text())["int8_threshold"] == expected


def test_8bit_is_fast_by_default() -> None:
    """A new user who picks 8-bit gets the outlier threshold that lets the decode step replay
    from a CUDA graph (0): with 6.0 it spoke slower than real time on an H100."""
    assert config.option("int8_threshold").default == 0.0
    assert config.Settings(Path("unused.json"), environ={}).get("int8_threshold") == 0.0
