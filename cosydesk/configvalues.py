"""How a setting's value is read: checked against its declaration, from a file or the environment.

`coerce` turns what a file, a widget or an environment variable holds into the option's type
and refuses what the declaration does not allow, with a sentence. The quantisation option has
its own pair of environment variables, kept from the project's first HTTP server:
``QUANTIZATION_ENABLED=false`` means none; ``true`` means ``QUANTIZATION_BITS`` (4 when unset);
``QUANTIZATION_BITS`` alone picks the width. Blank counts as unset everywhere. Qt-free and
torch-free; the declarations themselves are in `cosydesk.config`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cosydesk.engine.errors import ConfigError

if TYPE_CHECKING:
    from cosydesk.config import Option

MAX_TEXT_CHARS = 4096
QUANTIZATION_ENABLED = "QUANTIZATION_ENABLED"
QUANTIZATION_BITS = "QUANTIZATION_BITS"
TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off"})


def set_in(environ: Mapping[str, str], variable: str) -> str | None:
    """The variable's value, or None when it is unset or blank (blank counts as unset)."""
    value = environ.get(variable)
    if value is None or not value.strip():
        return None
    return value


def quantization_from_env(environ: Mapping[str, str]) -> tuple[str, str] | None:
    """The pair of quantisation variables as one mode, and the names that set it; None when unset.

    QUANTIZATION_ENABLED=false means none; true means QUANTIZATION_BITS (4 when unset);
    QUANTIZATION_BITS alone picks the width. A bad value of either is an error even when the
    other would make it irrelevant, so a typo never goes unnoticed.
    """
    enabled = set_in(environ, QUANTIZATION_ENABLED)
    bits = set_in(environ, QUANTIZATION_BITS)
    if enabled is None and bits is None:
        return None
    if bits is not None and bits.strip() not in ("4", "8"):
        raise ConfigError(
            f"The environment variable {QUANTIZATION_BITS} is {bits!r}, which is not allowed: "
            "use 4 or 8, or unset it."
        )
    if enabled is not None:
        word = enabled.strip().lower()
        if word not in TRUE_WORDS | FALSE_WORDS:
            raise ConfigError(
                f"The environment variable {QUANTIZATION_ENABLED} is {enabled!r}, which is not "
                "allowed: use true or false, or unset it."
            )
        if word in FALSE_WORDS:
            return "none", QUANTIZATION_ENABLED
    names = " and ".join(
        name
        for name, value in ((QUANTIZATION_ENABLED, enabled), (QUANTIZATION_BITS, bits))
        if value
    )
    return f"{bits.strip() if bits else '4'}bit", names


def allowed_text(option: Option) -> str:
    """The values `option` takes, in words: its choices joined by "or", or the kind of value and
    its range ("a number from <minimum> to <maximum>")."""
    if option.choices is not None:
        return " or ".join(str(choice) for choice in option.choices)
    kind = {bool: "true or false", int: "a whole number", float: "a number"}.get(
        option.type, "text"
    )
    if option.minimum is not None and option.maximum is not None:
        return f"{kind} from {option.minimum} to {option.maximum}"
    return kind


def shown(value: Any, limit: int = 60) -> str:
    """`value` as Python writes it, cut short for a message (a file may hold 4,000 digits)."""
    try:
        text = repr(value)
    except (ValueError, RecursionError):  # an int beyond Python's digit limit, deep nesting
        text = f"a {type(value).__name__} too large to show"
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _plain_text(value: str) -> bool:
    """Not overlong, no NUL (a path with one fails in every system call), and writable as
    UTF-8 (a lone surrogate, read from a "\\ud800" escape, is not)."""
    if len(value) > MAX_TEXT_CHARS or "\0" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def coerce(option: Option, value: Any, label: str | None = None) -> Any:
    """`value` converted to the option's type and checked; ConfigError (a sentence) otherwise.

    Strings are accepted for every type, so that environment variables and hand-edited files
    work; `label` names where the value came from in the message. Text longer than
    MAX_TEXT_CHARS, holding a NUL or a lone surrogate is refused (no setting needs it).
    """
    label = label or f"The setting {option.name}"
    bad = ConfigError(
        f"{label} is {shown(value)}, which is not allowed: use {allowed_text(option)}."
    )
    result: Any
    if option.type is bool:
        if isinstance(value, bool):
            result = value
        elif isinstance(value, int) and value in (0, 1):
            result = bool(value)
        elif isinstance(value, str) and value.strip().lower() in TRUE_WORDS | FALSE_WORDS:
            result = value.strip().lower() in TRUE_WORDS
        else:
            raise bad
    elif option.type is int:
        if isinstance(value, bool):
            raise bad
        if isinstance(value, int):
            result = value
        elif isinstance(value, float) and value.is_integer():
            result = int(value)
        elif isinstance(value, str):
            try:
                result = int(value.strip())
            except ValueError:
                raise bad from None
        else:
            raise bad
    elif option.type is float:
        if isinstance(value, bool):
            raise bad
        if isinstance(value, int | float):
            try:
                result = float(value)
            except OverflowError:  # an int of 400 digits
                raise bad from None
        elif isinstance(value, str):
            try:
                result = float(value.strip())
            except ValueError:
                raise bad from None
        else:
            raise bad
        if not math.isfinite(result):
            raise bad
    else:
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        if not isinstance(value, str) or not _plain_text(value):
            raise bad
        result = value
    if option.choices is not None and result not in option.choices:
        raise bad
    too_low = option.minimum is not None and result < option.minimum
    too_high = option.maximum is not None and result > option.maximum
    if too_low or too_high:
        raise bad
    return result


def env_override(option: Option, environ: Mapping[str, str]) -> tuple[Any, str] | None:
    """(value, the variable names that set it) when the environment overrides `option`.

    None when none of its variables is set; ConfigError (a sentence naming the variable, its
    value and what is allowed) when one holds a value the option does not take.
    """
    if option.read_env is not None:
        return option.read_env(environ)
    for variable in option.env:
        raw = set_in(environ, variable)
        if raw is not None:
            return coerce(option, raw, f"The environment variable {variable}"), variable
    return None
