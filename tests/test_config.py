"""Settings: defaults, validation, round-trip, damaged and old files, environment overrides."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from cosydesk import config
from cosydesk.config import OPTIONS, Settings
from cosydesk.engine.errors import ConfigError


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "settings.json"


def _load(path: Path, **environ: str) -> Settings:
    return Settings.load(path, environ=environ)


def test_missing_file_gives_defaults_and_writes_nothing(path: Path) -> None:
    settings = _load(path)
    assert settings.get("quantization") == "auto"
    assert settings.hotkey == "Ctrl+Alt+S"
    assert settings.speed == 1.0
    assert settings.stream is True
    assert settings.warnings == []
    assert not path.exists()


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
    assert _load(path).speed == 1.5


def test_set_coerces_text_and_rejects_bad_values_with_a_sentence(path: Path) -> None:
    settings = _load(path)
    settings.set("speed", "1.5")
    settings.set("stream", "false")
    settings.set("api_port", "8080")
    assert (settings.speed, settings.stream, settings.api_port) == (1.5, False, 8080)

    with pytest.raises(ConfigError, match=r"speed is 3\.0.*a number from 0\.5 to 2\.0"):
        settings.set("speed", 3.0)
    with pytest.raises(ConfigError, match=r"quantization is '2bit'.*auto or 4bit or 8bit or none"):
        settings.set("quantization", "2bit")
    with pytest.raises(ConfigError, match="api_port"):
        settings.set("api_port", 80)
    with pytest.raises(ConfigError, match="stream"):
        settings.set("stream", "maybe")
    with pytest.raises(KeyError):
        settings.set("volume", 3)
    assert (settings.speed, settings.quantization, settings.api_port) == (1.5, "auto", 8080)


def test_attribute_assignment_is_refused(path: Path) -> None:
    settings = _load(path)
    with pytest.raises(AttributeError, match="set"):
        settings.speed = 2.0
    assert settings.speed == 1.0


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
    assert settings.speed == 1.0
    assert settings.device == "auto"
    assert settings.idle_unload_minutes == 0
    assert settings.hotkey == "Ctrl+Shift+R"
    text = "\n".join(settings.warnings)
    assert "speed is 9" in text and "device is 'tpu'" in text and "idle_unload_minutes" in text
    assert len(settings.warnings) == 3


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2, 3]", b"\xff\xfe\x00garbage"])
def test_corrupt_file_is_kept_aside_and_replaced_by_defaults(path: Path, content: bytes) -> None:
    path.write_bytes(content)
    settings = _load(path)

    assert settings.as_dict() == {option.name: option.default for option in OPTIONS}
    backups = list(path.parent.glob("settings.json.corrupt-*"))
    assert len(backups) == 1
    assert backups[0].read_bytes() == content
    assert len(settings.warnings) == 1
    assert "damaged" in settings.warnings[0] and backups[0].name in settings.warnings[0]
    assert json.loads(path.read_text())["version"] == config.VERSION


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

    assert settings.quantization == expected
    assert settings.speed == 1.2
    assert settings.warnings == []
    backup = path.with_name("settings.json.v1.bak")
    assert json.loads(backup.read_text()) == old
    stored = json.loads(path.read_text())
    assert stored["version"] == config.VERSION and stored["quantization"] == expected
    assert "quantization_bits" not in stored and "quantization_enabled" not in stored


def test_version_1_file_with_a_bad_width_warns_and_uses_the_default(path: Path) -> None:
    path.write_text(json.dumps({"quantization_enabled": True, "quantization_bits": 5}))
    settings = _load(path)
    assert settings.quantization == "auto"
    assert any("'5bit'" in warning for warning in settings.warnings)


def test_newer_file_keeps_unknown_settings_when_saved(path: Path) -> None:
    path.write_text(json.dumps({"version": 99, "speed": 1.5, "future_option": [1, 2]}))
    settings = _load(path)
    assert settings.speed == 1.5
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
    settings = _load(path, QUANTIZATION_BITS="  ")  # blank counts as unset
    settings.set("quantization", "8bit")
    assert settings.effective("quantization") == "8bit"
    assert settings.overridden_by_env("quantization") is None


@pytest.mark.parametrize(
    ("environ", "variable", "value", "allowed"),
    [
        ({"QUANTIZATION_BITS": "5"}, "QUANTIZATION_BITS", "'5'", "4 or 8"),
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
    assert (settings.quantization, settings.speed, settings.warnings) == (expected, 1.1, [])
    assert json.loads(path.with_name("settings.json.v2.bak").read_text())["quantization"] == stored
    assert json.loads(path.read_text())["quantization"] == expected
