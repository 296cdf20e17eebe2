"""A seeded generator of hostile settings files: what a crash, an editor or a person leaves.

`settings_case(rng)` returns a `SettingsCase`: the bytes to write (or a non-file to put in the
file's place) and a short description for the failure message. The mix: valid files with wrong
types per option, huge and non-finite numbers, deep nesting, byte order marks, other
encodings, random byte damage, non-objects at top level, old and future format versions, files
over the size limit, and folders, pipes and links where the file should be.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cosydesk.config import OPTIONS

BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Raw:
    """JSON text written as it is (a 5,000-digit number, NaN, -Infinity)."""

    text: str


@dataclass(frozen=True)
class SettingsCase:
    """`content` is the file's bytes, or None when `node` puts something else there."""

    description: str
    content: bytes | None
    node: str = "file"  # file, folder, fifo, dangling-link, link-loop, link-to-file


def to_json(value: Any, indent: bool) -> str:
    """JSON for generated values, Raw parts included (json.dumps cannot write those)."""
    sep = "\n  " if indent else " "
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        items = [f"{json.dumps(k)}: {to_json(v, indent)}" for k, v in value.items()]
        return "{" + ("," + sep).join(items) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(to_json(v, indent) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _digits(rng: random.Random) -> Raw:
    length = rng.choice([20, 310, 400, 4300, 4301, 5000, 20000])
    sign = rng.choice(["", "-"])
    return Raw(sign + str(rng.randint(1, 9)) + "".join(rng.choices("0123456789", k=length - 1)))


def _nested(rng: random.Random, depth: int | None = None) -> Raw:
    depth = depth if depth is not None else rng.choice([2, 31, 33, 100, 999, 5000, 100_000])
    opener, closer = rng.choice([("[", "]"), ('{"a": ', "}")])
    return Raw(opener * depth + "1" + closer * depth)


def _text(rng: random.Random) -> str:
    pool = [
        "",
        " ",
        "4bit",
        "8BIT",
        "cuda",
        "Ctrl+Alt+S",
        "a\x00b",
        "\u202eevil",
        "x" * rng.choice([10, 4096, 4097, 70_000]),
        "".join(chr(rng.randint(1, 0x2FFF)) for _ in range(rng.randint(1, 40))),
        chr(0xD800 + rng.randrange(0x800)),  # a lone surrogate: "\\ud800" in JSON
        "1e999",
        "NaN",
        "true",
        "/dev/null",
        "../../etc",
    ]
    return rng.choice(pool)


def junk_value(rng: random.Random, depth: int = 0) -> Any:
    """A value of any JSON type, often out of range, sometimes huge or non-finite."""
    kind = rng.randrange(12 if depth < 3 else 9)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, 1, -1, 2, 4, 8, 1023, 1024, 65535, 65536, 2**31, -(2**63)])
    if kind == 3:
        return rng.choice([0.0, -0.0, 0.4999, 0.5, 2.0, 2.0001, 1e308, -1e-320, 6.0, 20.5])
    if kind == 4:
        return Raw(rng.choice(["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1E400"]))
    if kind == 5:
        return _digits(rng)
    if kind in (6, 7, 8):
        return _text(rng)
    if kind == 9:
        return [junk_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    if kind == 10:
        return {_text(rng)[:20]: junk_value(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    return _nested(rng)


def _settings_object(rng: random.Random) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if rng.random() < 0.8:
        data["version"] = rng.choice([2, 2, 2, 1, 0, 3, 99, -1, "2", 2.0, True, None, _digits(rng)])
    for option in OPTIONS:
        roll = rng.random()
        if roll < 0.4:
            data[option.name] = option.default
        elif roll < 0.55 and option.choices:
            data[option.name] = rng.choice(option.choices)
        elif roll < 0.85:
            data[option.name] = junk_value(rng)
    if rng.random() < 0.3:  # the seed's version-1 pair
        data["quantization_enabled"] = junk_value(rng)
        data["quantization_bits"] = rng.choice([4, 8, 5, "8", None, junk_value(rng)])
    for _ in range(rng.randint(0, 3)):  # settings of a newer cosydesk
        data[_text(rng)[:30] or "future"] = junk_value(rng)
    keys = list(data)
    rng.shuffle(keys)
    return {key: data[key] for key in keys}


def _damage(rng: random.Random, raw: bytes) -> bytes:
    """Random byte damage: flips, cuts, insertions, a BOM or NUL in the middle."""
    data = bytearray(raw)
    for _ in range(rng.randint(1, 6)):
        where = rng.randrange(len(data) + 1)
        action = rng.randrange(6)
        if action == 0 and data:
            data[min(where, len(data) - 1)] ^= 1 << rng.randrange(8)
        elif action == 1:
            del data[where:]
        elif action == 2:
            data[where:where] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif action == 3:
            data[where:where] = BOM
        elif action == 4:
            data[where:where] = b"\x00"
        elif data:
            start = rng.randrange(len(data))
            data[where:where] = data[start : start + rng.randint(1, 64)]
    return bytes(data)


def _encoded(rng: random.Random, text: str) -> bytes:
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate written raw: not UTF-8
        raw = text.encode("utf-8", "surrogatepass")
    encoding = rng.random()
    if encoding < 0.1:
        return BOM + raw
    if encoding < 0.15:
        return text.encode("utf-16", "surrogatepass")  # what some Windows editors save
    if encoding < 0.2:
        return text.encode("latin-1", "replace")
    return raw


def _valid_ish(rng: random.Random) -> SettingsCase:
    text = to_json(_settings_object(rng), indent=rng.random() < 0.5)
    return SettingsCase("settings with wrong values", _encoded(rng, text))


def _damaged(rng: random.Random) -> SettingsCase:
    text = to_json(_settings_object(rng), indent=True)
    return SettingsCase("damaged bytes", _damage(rng, text.encode("utf-8", "surrogatepass")))


def _top_level(rng: random.Random) -> SettingsCase:
    value = rng.choice([[], [1, 2], "settings", 42, None, True, Raw("NaN"), _digits(rng)])
    return SettingsCase("not an object", to_json(value, False).encode())


def _deep(rng: random.Random) -> SettingsCase:
    inner = to_json(_nested(rng), False)
    text = inner if rng.random() < 0.5 else '{"version": 2, "extra": ' + inner + "}"
    return SettingsCase("deep nesting", text.encode())


def _long_number(rng: random.Random) -> SettingsCase:
    name = rng.choice([o.name for o in OPTIONS] + ["version", "extra"])
    return SettingsCase("long number", ('{"' + name + '": ' + _digits(rng).text + "}").encode())


def _random_bytes(rng: random.Random) -> SettingsCase:
    return SettingsCase("random bytes", rng.randbytes(rng.choice([0, 1, 3, 64, 4096])))


def _big(rng: random.Random) -> SettingsCase:
    size = rng.choice([999_000, 1_000_001, 1_200_000])
    pad = "x" * size
    return SettingsCase("big file", ('{"speed": 1.5, "pad": "' + pad + '"}').encode())


def _not_a_file(rng: random.Random) -> SettingsCase:
    node = rng.choice(["folder", "fifo", "dangling-link", "link-loop", "link-to-file"])
    content = b'{"speed": 1.5}' if node == "link-to-file" else None
    return SettingsCase(f"a {node} in place of the file", content, node)


# (weight, maker): most cases are files a person could plausibly end up with.
MAKERS: list[tuple[int, Callable[[random.Random], SettingsCase]]] = [
    (30, _valid_ish),
    (25, _damaged),
    (6, _top_level),
    (8, _deep),
    (8, _long_number),
    (8, _random_bytes),
    (1, _big),
    (4, _not_a_file),
]


def settings_case(rng: random.Random) -> SettingsCase:
    """One hostile settings file, drawn from `rng` (same seed, same case)."""
    makers = [maker for _, maker in MAKERS]
    weights = [weight for weight, _ in MAKERS]
    return rng.choices(makers, weights)[0](rng)
