"""Settings of cosydesk: every option declared once, stored as versioned JSON, read defensively.

The file lives under the platform's config dir (`COSYDESK_CONFIG_DIR` replaces it, which tests
and CI do so that a person's real settings are never touched). Reading never fails: a value
that is wrong falls back to its default, a file that cannot be read as settings (damaged JSON,
not UTF-8, nested too deeply, a number too long, over 1 MB, a folder, unreadable) is kept aside
and replaced by defaults, an older file is backed up and migrated; each of these leaves a
sentence in `Settings.warnings`. A UTF-8 byte order mark, as some Windows editors write, is
read as usual.

Each option is declared once, in OPTIONS: type, default, allowed values (with the words the
settings dialog shows for each), range, description and environment variables. The settings
dialog, the command line, the server and the engine's own checks are built from these
declarations (through `option(name)`) and retype none of them. Environment variables declared
with an option override it without being stored: `effective(name)` applies them, `get(name)`
does not. Qt-free: the GUI wraps `on_change` in a signal.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from cosydesk.configfile import UnusableFile, free_name, read_object, write_atomically
from cosydesk.configvalues import (
    FALSE_WORDS,
    QUANTIZATION_BITS,
    QUANTIZATION_ENABLED,
    coerce,
    env_override,
    quantization_from_env,
    set_in,
    shown,
)
from cosydesk.engine.errors import ConfigError

log = logging.getLogger(__name__)

APP_NAME = "cosydesk"
SETTINGS_FILE = "settings.json"
# Version 2 replaced the seed's pair quantization_enabled + quantization_bits by `quantization`;
# version 3 added quantization "auto" and made it the default; version 4 made the LLM.int8
# outlier threshold 0 by default (6.0 before).
VERSION = 4

# Reads an option's environment variables: (value, the names that set it) or None when unset.
EnvReader = Callable[[Mapping[str, str]], tuple[Any, str] | None]


@dataclass(frozen=True)
class Option:
    """One setting: its type, default, allowed values and the sentence that explains it.

    `allowed` lists the values a choice takes, in the order the settings dialog shows them,
    each with the words the dialog shows for it; `minimum` and `maximum` bound a number.
    `env` names the environment variables that override the stored value (the first one set
    wins, read as the option's type) unless `read_env` reads them its own way.
    """

    name: str
    type: type
    default: Any
    description: str
    allowed: tuple[tuple[Any, str], ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    env: tuple[str, ...] = ()
    read_env: EnvReader | None = None

    def __post_init__(self) -> None:
        # A declaration whose default it does not allow is a mistake made here, not by a user.
        coerce(self, self.default)

    @property
    def choices(self) -> tuple[Any, ...] | None:
        """The values this option takes, or None when it is not a choice."""
        return tuple(value for value, _label in self.allowed) or None

    def in_range(self, value: float) -> bool:
        """True when `value` is within `minimum` and `maximum` (each applies when declared)."""
        return (self.minimum is None or value >= self.minimum) and (
            self.maximum is None or value <= self.maximum
        )

    def label(self, value: Any) -> str:
        """The words that show `value` of a choice to a person; the value itself otherwise."""
        return dict(self.allowed).get(value, str(value))


OPTIONS: tuple[Option, ...] = (
    Option(
        "quantization",
        str,
        "auto",
        "How the LLM is quantised: auto (4-bit on a CUDA GPU, none on the CPU, where "
        "quantised layers are slow), 4-bit NF4, 8-bit LLM.int8 or none (full precision). "
        "QUANTIZATION_ENABLED=true/false and QUANTIZATION_BITS=4/8 override it.",
        allowed=(
            ("auto", "Automatic (4-bit on a GPU, none on the CPU)"),
            ("4bit", "4-bit NF4 (least GPU memory)"),
            ("8bit", "8-bit LLM.int8"),
            ("none", "None (full precision)"),
        ),
        env=(QUANTIZATION_ENABLED, QUANTIZATION_BITS),
        read_env=quantization_from_env,
    ),
    Option(
        "flow_precision",
        str,
        "fp32",
        "Precision of the flow and the vocoder: fp32, bf16 (where the card supports it) or fp16.",
        allowed=(
            ("fp32", "fp32 (safest)"),
            ("bf16", "bf16 (half the memory; needs a recent GPU)"),
            ("fp16", "fp16 (guarded against silent audio)"),
        ),
    ),
    Option(
        "int8_threshold",
        float,
        0.0,
        "Outlier threshold of 8-bit mode (LLM.int8): speed against a little accuracy. 0, the "
        "default, computes everything in 8 bits, so the decode step replays from a CUDA graph "
        "and speech comes several times faster than real time. A threshold such as 6.0 (the "
        "value LLM.int8 was published with) computes large activations in 16 bits, which can "
        "help the accuracy of big models but makes every step wait for the CPU: even on a fast "
        "card speech then comes slower than real time.",
        minimum=0.0,
        maximum=20.0,
    ),
    Option(
        "device",
        str,
        "auto",
        "Where the model runs: auto (the GPU when there is one), cuda or cpu.",
        allowed=(
            ("auto", "Automatic (GPU when present)"),
            ("cuda", "CUDA GPU"),
            ("cpu", "CPU"),
        ),
    ),
    Option(
        "model_dir",
        str,
        "",
        "The CosyVoice3 model folder (the one holding cosyvoice3.yaml); empty until chosen.",
        env=("COSYDESK_MODEL_DIR",),
    ),
    Option("hotkey", str, "Ctrl+Alt+S", "Global shortcut that reads the clipboard aloud."),
    Option("output_device", str, "", "Sound output device; empty means the system default."),
    Option("default_voice", str, "", "Voice used when none is picked; empty means the first."),
    Option("speed", float, 1.0, "Speaking speed.", minimum=0.5, maximum=2.0),
    Option(
        "volume",
        int,
        100,
        "Loudness of the speech, in percent of what the model renders.",
        minimum=1,
        maximum=100,
    ),
    Option(
        "idle_unload_minutes",
        int,
        0,
        "Unload the model after this many idle minutes to free GPU memory; 0 keeps it loaded.",
        minimum=0,
        maximum=1440,
    ),
    Option("stream", bool, True, "Start playing while the rest of the text is synthesised."),
    Option(
        "text_normalization",
        str,
        "wetext",
        "How numbers, dates, amounts and units become words: wetext's grammars as upstream "
        "uses them ('$5' is read 'five dollars'), or basic (only bare digits are spelled out).",
        allowed=(
            ("wetext", "Full: numbers, dates, amounts and units (wetext)"),
            ("basic", "Basic: only digits are spelled out"),
        ),
    ),
    Option("api_enabled", bool, False, "Serve the local HTTP API."),
    Option("api_port", int, 8000, "Port of the local HTTP API.", minimum=1024, maximum=65535),
    Option("api_key", str, "", "Key the local HTTP API asks for; empty means none."),
    Option("first_run_done", bool, False, "The first-run dialog has been completed."),
)

OPTIONS_BY_NAME: dict[str, Option] = {option.name: option for option in OPTIONS}


def option(name: str) -> Option:
    """The declaration of the setting `name`; KeyError (naming it) when there is none.

    Everything built from a declaration looks it up here when it is built, not when its module
    is imported, so a changed declaration changes the dialog, the command line and the server.
    """
    try:
        return OPTIONS_BY_NAME[name]
    except KeyError:
        raise KeyError(f"there is no setting named {name!r}") from None


def check_environment(environ: Mapping[str, str]) -> None:
    """Raise ConfigError (a sentence naming the variable, its value and what is allowed) for the
    first environment variable that overrides an option with a value it does not take."""
    for declared in OPTIONS:
        env_override(declared, environ)


# -- locations --------------------------------------------------------------------------------


def config_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """The folder of settings.json: COSYDESK_CONFIG_DIR if set, else the platform's config dir."""
    override = environ.get("COSYDESK_CONFIG_DIR")
    if override:
        return Path(override)
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def data_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """The data folder (voices, caches): COSYDESK_DATA_DIR if set, else the platform's.

    Not created here.
    """
    override = environ.get("COSYDESK_DATA_DIR")
    if override:
        return Path(override)
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def default_model_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """Where `cosydesk download` puts the model folder unless told otherwise."""
    from cosydesk.engine.folder.modelfolder import MODEL_NAME

    return data_dir(environ) / "models" / MODEL_NAME


def log_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """The log folder: <COSYDESK_DATA_DIR>/logs if that is set, else the platform's. Not created."""
    if environ.get("COSYDESK_DATA_DIR"):
        return data_dir(environ) / "logs"
    return Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))


def cache_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """Files cosydesk can always make again (the quantised LLM, see cosydesk.engine.quantcache):
    COSYDESK_CACHE_DIR if set, <COSYDESK_DATA_DIR>/cache if that is set, else the platform's
    cache dir. Not created."""
    override = environ.get("COSYDESK_CACHE_DIR")
    if override:
        return Path(override)
    if environ.get("COSYDESK_DATA_DIR"):
        return data_dir(environ) / "cache"
    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def quant_cache_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """Where the quantised LLM is kept between loads, inside the cache folder. Not created."""
    return cache_dir(environ) / "quantized"


def voices_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """The voice library folder, inside the data folder. Not created."""
    return data_dir(environ) / "voices"


def starter_voices_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """Where the model download puts the starter voices' clips, inside the data folder."""
    return data_dir(environ) / "starter-voices"


# -- migrations -------------------------------------------------------------------------------


def _v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 stored the seed's pair; version 2 stores one `quantization` mode."""
    data = dict(data)
    enabled = data.pop("quantization_enabled", None)
    bits = data.pop("quantization_bits", None)
    if "quantization" not in data and (enabled is not None or bits is not None):
        disabled = enabled is False or (
            isinstance(enabled, str) and enabled.strip().lower() in FALSE_WORDS
        )
        # A bad width becomes an invalid mode here; loading then warns and uses the default.
        data["quantization"] = "none" if disabled else f"{bits if bits is not None else 4}bit"
    return data


def _v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:
    """4bit was the default and every file stores every value, so a stored 4bit almost always
    means "never chosen": it becomes auto, which is still 4-bit on a GPU and none on the CPU."""
    data = dict(data)
    if data.get("quantization") == "4bit":
        data["quantization"] = "auto"
    return data


def _v3_to_v4(data: dict[str, Any]) -> dict[str, Any]:
    """6.0 was the outlier threshold's default, stored in every file, and the settings dialog
    showed no reason to change it, so a stored 6.0 means "never chosen": it becomes today's
    default, 0, which makes 8-bit speech faster than real time. Any other value was chosen and
    stays."""
    data = dict(data)
    if data.get("int8_threshold") == 6.0:
        data["int8_threshold"] = 0.0
    return data


# Each function takes the data of version N and returns that of version N + 1.
_MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {
    1: _v1_to_v2,
    2: _v2_to_v3,
    3: _v3_to_v4,
}


# -- the settings -----------------------------------------------------------------------------


class Settings:
    """The user's settings: typed values, environment overrides, change callbacks, atomic save.

    Read a stored value with `settings.get("speed")`, the value in force (environment
    overrides applied) with `settings.effective("speed")`; change it with `set()`, which
    validates and announces it; `save()` writes the file.
    """

    def __init__(self, path: Path, environ: Mapping[str, str] = os.environ) -> None:
        """Default settings bound to `path`; nothing is read or written (see `load`)."""
        self._values: dict[str, Any] = {o.name: o.default for o in OPTIONS}
        self._extra: dict[str, Any] = {}
        self._listeners: list[Callable[[str, Any], None]] = []
        self._environ: Mapping[str, str] = environ
        self.path = Path(path)
        self.warnings: list[str] = []

    @classmethod
    def load(cls, path: Path | None = None, environ: Mapping[str, str] = os.environ) -> Settings:
        """The settings stored at `path` (default: settings.json in `config_dir()`).

        Never raises for a bad file: missing means defaults; a file that cannot be read as
        settings is renamed to `settings.json.corrupt-<time>` and replaced by defaults; an older
        version is copied to `settings.json.v<N>.bak` and migrated; a bad value falls back to
        its default. Each case adds a sentence to `warnings`.
        """
        settings = cls(path if path is not None else config_dir(environ) / SETTINGS_FILE, environ)
        settings._read()
        return settings

    # -- reading values ---------------------------------------------------------------------

    def get(self, name: str) -> Any:
        """The stored value of `name` (environment overrides not applied). KeyError if unknown."""
        return self._values[option(name).name]

    def __setattr__(self, name: str, value: Any) -> None:
        # `settings.speed = 2.0` would make a stray attribute that nothing reads: say what to use.
        if name in OPTIONS_BY_NAME:
            raise AttributeError(f"use settings.set({name!r}, value) to change a setting")
        object.__setattr__(self, name, value)

    def effective(self, name: str) -> Any:
        """The value in force: the environment override when one is set, else the stored value.

        Raises ConfigError naming the variable, its value and the allowed values when the
        override is invalid.
        """
        override = env_override(option(name), self._environ)
        if override is not None:
            return override[0]
        return self._values[name]

    def overridden_by_env(self, name: str) -> str | None:
        """The environment variable(s) that override `name`, as text for the user; else None."""
        names = [v for v in option(name).env if set_in(self._environ, v) is not None]
        return " and ".join(names) or None

    def as_dict(self) -> dict[str, Any]:
        """A copy of every stored value, by name."""
        return dict(self._values)

    # -- changing values --------------------------------------------------------------------

    def set(self, name: str, value: Any) -> None:
        """Store `value` (coerced and validated) and call the listeners if it changed.

        Raises ConfigError with a sentence for an invalid value, KeyError for an unknown name.
        The file is written by `save()`, not here.
        """
        value = coerce(option(name), value)
        if self._values[name] == value and type(self._values[name]) is type(value):
            return
        self._values[name] = value
        for callback in list(self._listeners):
            try:
                callback(name, value)
            except Exception:
                # One broken listener must not keep the others from hearing about the change.
                log.exception("A listener failed on the change of setting %s", name)

    def reset(self, name: str) -> None:
        """Put `name` back to its default."""
        self.set(name, option(name).default)

    def on_change(self, callback: Callable[[str, Any], None]) -> None:
        """Call `callback(name, value)` after every change made through `set()`."""
        self._listeners.append(callback)

    def save(self) -> None:
        """Write the file atomically (temp file in the same folder, fsync, rename).

        The file is readable by its owner only, as it may hold the API key. OSError if the
        folder cannot be written.
        """
        data: dict[str, Any] = {**self._extra, **self._values, "version": VERSION}
        text = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            # A setting of a newer cosydesk may hold a lone surrogate (read from an escape);
            # written raw it would not be UTF-8, escaped it reads back the same.
            text = json.dumps(data, indent=2, sort_keys=True) + "\n"
        write_atomically(self.path, text)

    # -- loading ----------------------------------------------------------------------------

    def _read(self) -> None:
        try:
            data = read_object(self.path)
        except FileNotFoundError:
            return
        except UnusableFile as exc:
            self._keep_aside(str(exc))
            return

        version = data.pop("version", 1)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            version = 1
        migrated = False
        if version < VERSION:
            data = self._migrate(data, version)
            migrated = True
        elif version > VERSION:
            self.warnings.append(
                f"The settings file {self.path} was written by a newer cosydesk (format "
                f"{shown(version)}); settings this version does not know are kept as they are."
            )

        for name, value in data.items():
            declared = OPTIONS_BY_NAME.get(name)
            if declared is None:
                self._extra[name] = value
                continue
            try:
                self._values[name] = coerce(declared, value)
            except ConfigError as exc:
                self.warnings.append(f"{exc} Using the default, {declared.default!r}, instead.")
        for warning in self.warnings:
            log.warning("%s", warning)
        if migrated:
            self._save_quietly()

    def _migrate(self, data: dict[str, Any], version: int) -> dict[str, Any]:
        backup = free_name(self.path.with_name(f"{self.path.name}.v{version}.bak"))
        try:
            shutil.copy2(self.path, backup)
        except OSError as exc:
            self.warnings.append(
                f"Could not back up the old settings file to {backup} ({exc.strerror}); "
                "it is upgraded in place."
            )
        else:
            log.info("Backed up settings format %d to %s before upgrading", version, backup)
        while version < VERSION:
            data = _MIGRATIONS[version](data)
            version += 1
        return data

    def _keep_aside(self, reason: str) -> None:
        """Rename the unusable file to `settings.json.corrupt-<time>` and start from defaults.

        Defaults are written only once the old file is out of the way: one that could not be
        moved is never overwritten.
        """
        stamp = time.strftime("%Y%m%d-%H%M%S")
        backup = free_name(self.path.with_name(f"{self.path.name}.corrupt-{stamp}"))
        try:
            os.replace(self.path, backup)
        except OSError as exc:
            kept = f"it could not be moved aside ({exc.strerror or exc}) and was left as it is"
            moved = False
        else:
            kept = f"it was kept as {backup}"
            moved = True
        self.warnings.append(
            f"The settings file {self.path} could not be read as settings ({reason}): {kept}, "
            "and cosydesk starts with default settings. Choose your settings again."
        )
        log.warning("%s", self.warnings[-1])
        if moved:
            self._save_quietly()

    def _save_quietly(self) -> None:
        try:
            self.save()
        except OSError as exc:
            self.warnings.append(
                f"The settings could not be written to {self.path} ({exc.strerror}); "
                "changes will not be kept after cosydesk quits."
            )
            log.warning("%s", self.warnings[-1])
