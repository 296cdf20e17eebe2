"""The seed's two environment variables, read as one quantisation mode. Imports nothing heavy.

``QUANTIZATION_ENABLED=false`` means none; ``true`` means ``QUANTIZATION_BITS`` (4 when unset);
``QUANTIZATION_BITS`` alone picks the width. Blank counts as unset.
"""

from __future__ import annotations

from collections.abc import Mapping

from cosydesk.engine.errors import ConfigError

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
    """The seed's pair of variables as one mode, and the names that set it; None when unset.

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
