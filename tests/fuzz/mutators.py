"""Seeded mutators that damage model-folder files the ways downloads, disks and people do.

Every mutator takes the original content and a `random.Random`, and returns new content; the
same seed gives the same damage, so a failing case can be replayed from its seed and index.
Nothing here knows what a test expects: a fuzz test applies a mutator, runs the real loader and
checks that the result is a loaded model or one EngineError sentence, never another exception.

* `mutate_archive(data, rng)`: a torch.save zip archive (llm.pt, flow.pt, hift.pt) with its
  structure damaged: bytes flipped in the pickle, a header or the central directory, a cut, a
  pickle that is valid zip content but altered (so the unpickler itself sees the damage).
* `calling_pickle(data, rng)`: a torch archive whose pickle asks to call a Python function
  (os.system, eval, ...) that would create `marker` if it ever ran.
* `mutate_yaml(text, rng)`: cosyvoice3.yaml with one scalar value replaced by a hostile one.
* `mutate_json(data, rng)`: a parsed JSON document (config.json) with one value replaced.
* `damage_text(text, rng)`: bytes flipped, cut, repeated or inserted anywhere in a text file.
* `hostile_yaml(text, rng)` / `hostile_json(rng)`: whole documents no configuration should be:
  deep nesting, alias bombs, code tags, not a mapping.
* `linked_copy(source, dest)`: a model folder made of symbolic links to `source`, so a test can
  replace any one file without copying the others.

Hostile values live in HOSTILE_YAML_VALUES / HOSTILE_JSON_VALUES; extend those lists, not the
mutators, when a new kind of bad value turns up.
"""

from __future__ import annotations

import io
import random
import re
import zipfile
from pathlib import Path
from typing import Any

# Scalars that have broken a loader somewhere: zero and negative sizes, huge numbers, floats
# where integers go, impossible dates, thousands of digits, strings, empty containers, NaN.
HOSTILE_YAML_VALUES: tuple[str, ...] = (
    "0",
    "-1",
    "1",
    "3",
    "48000",
    "1000000000000",
    "100000",
    "1e12",
    "1e-400",
    "1e400",
    ".nan",
    ".inf",
    "-.inf",
    "2.5",
    "2001-02-30",
    "2001-02-03",
    "1" * 5000,
    "0x7fffffffffffffffffff",
    "0o777",
    "'tiny'",
    "''",
    "null",
    "true",
    "[]",
    "{}",
    "[0, 0]",
    "[[1, 3, 5]]",
    "!!binary AAAA",
    "!!float 'x'",
    "!ref <nowhere>",
    "!ref <sample_rate> / 0",
    "!ref <sample_rate> * <sample_rate> * <sample_rate> * <sample_rate>",
)

HOSTILE_JSON_VALUES: tuple[Any, ...] = (
    0,
    -1,
    1,
    3,
    10**12,
    100000,
    1e12,
    1e-300,
    float("inf"),
    float("nan"),
    2.5,
    "tiny",
    "",
    None,
    True,
    [],
    {},
    [0],
    {"type": "yarn", "factor": 4.0},
)

# A "key: value" line of the yaml whose value is a plain scalar or a flow list.
_YAML_SCALAR = re.compile(
    r"^(\s*[A-Za-z_][\w]*:[ \t]+)([^\s#!&*|>][^#\n]*?|\[[^\n#]*\])[ \t]*$", re.M
)


def flip_bytes(data: bytes, rng: random.Random, start: int = 0, end: int | None = None) -> bytes:
    """`data` with 1 to 8 random bytes between `start` and `end` set to random values."""
    end = len(data) if end is None else min(end, len(data))
    if end <= start:
        return data
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        out[rng.randrange(start, end)] = rng.randrange(256)
    return bytes(out)


def truncate(data: bytes, rng: random.Random) -> bytes:
    """`data` cut at a random point (possibly to nothing)."""
    return data[: rng.randrange(len(data))] if data else data


def _members(data: bytes) -> list[zipfile.ZipInfo]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.infolist()


def _central_directory(data: bytes) -> int:
    """Offset where the zip's central directory starts, read from its end record."""
    end = data.rfind(b"PK\x05\x06")
    if end < 0:
        return max(0, len(data) - 4096)
    offset = int.from_bytes(data[end + 16 : end + 20], "little")
    return offset if offset < end else max(0, end - 4096)  # zip64: near the end will do


def replace_member(data: bytes, name: str, content: bytes) -> bytes:
    """The archive with member `name` replaced by `content` (valid zip records and CRCs)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with source, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as target:
        for info in source.infolist():
            body = content if info.filename == name else source.read(info.filename)
            target.writestr(info, body)
    return out.getvalue()


def mutate_pickle(data: bytes, rng: random.Random) -> bytes:
    """A torch archive whose data.pkl is damaged but correctly zipped, so it reaches the
    unpickler: bytes flipped, a slice dropped or repeated, or the pickle cut short."""
    pkl = next(m.filename for m in _members(data) if m.filename.endswith("data.pkl"))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        body = archive.read(pkl)
    kind = rng.randrange(4)
    if kind == 0:
        body = flip_bytes(body, rng)
    elif kind == 1:
        a = rng.randrange(len(body))
        body = body[:a] + body[a + rng.randint(1, 16) :]
    elif kind == 2:
        a = rng.randrange(len(body))
        body = body[:a] + body[a : a + rng.randint(1, 16)] * 2 + body[a + 16 :]
    else:
        body = truncate(body, rng)
    return replace_member(data, pkl, body)


def mutate_archive(data: bytes, rng: random.Random) -> bytes:
    """A damaged copy of a torch.save archive: one of several kinds of structural damage.

    Damage lands where the structure is (the pickle, the record headers, the central
    directory); flipping bytes inside tensor data only changes weights, which no loader can
    or should notice.
    """
    kind = rng.randrange(6)
    if kind == 0:
        return mutate_pickle(data, rng)
    if kind == 1:
        first = _members(data)[0]
        pkl_end = first.header_offset + 30 + len(first.filename) + first.file_size + 64
        return flip_bytes(data, rng, 0, pkl_end)  # local header and pickle, CRC now wrong
    if kind == 2:
        return flip_bytes(data, rng, _central_directory(data))
    if kind == 3:
        return truncate(data, rng)
    if kind == 4:
        # A member's record header (its name, sizes or offsets).
        member = rng.choice(_members(data))
        return flip_bytes(data, rng, member.header_offset, member.header_offset + 30)
    return flip_bytes(data, rng)


# Functions a malicious pickle asks for, as (module, name, argument); each would create the
# marker file (its path replaces MARKER) if it were ever called.
MARKER = "@MARKER@"
CALLS: tuple[tuple[str, str, str], ...] = (
    ("posix", "system", f"touch {MARKER}"),
    ("os", "system", f"touch {MARKER}"),
    ("builtins", "eval", f"open('{MARKER}', 'w')"),
    ("builtins", "exec", f"open('{MARKER}', 'w')"),
    ("subprocess", "getoutput", f"touch {MARKER}"),
    ("pathlib", "Path.touch", MARKER),
    ("torch.serialization", "load", MARKER),
    ("torch._utils", "_rebuild_tensor", MARKER),  # an allowed name, given the wrong arguments
)


def calling_pickle(data: bytes, rng: random.Random, marker: Path) -> bytes:
    """`data` (a torch archive) with a pickle that calls one of CALLS with `marker`'s path:
    alone, as the value of a weight, or after a valid prefix of the original pickle."""
    module, name, argument = rng.choice(CALLS)
    text = argument.replace(MARKER, str(marker)).encode()
    call = (
        b"c"
        + module.encode()
        + b"\n"
        + name.encode()
        + b"\n"
        + b"X"
        + len(text).to_bytes(4, "little")
        + text
        + b"\x85R"
    )
    shape = rng.randrange(3)
    if shape == 0:
        body = b"\x80\x02" + call + b"."
    elif shape == 1:  # {"weight": call(...)}
        body = b"\x80\x02}X\x06\x00\x00\x00weight" + call + b"s."
    else:
        pkl = next(m.filename for m in _members(data) if m.filename.endswith("data.pkl"))
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            original = archive.read(pkl)
        cut = rng.randrange(2, max(3, len(original) // 2))
        body = original[:cut] + call + b"."
        return replace_member(data, pkl, body)
    pkl = next(m.filename for m in _members(data) if m.filename.endswith("data.pkl"))
    return replace_member(data, pkl, body)


def damage_text(text: str, rng: random.Random) -> bytes:
    """`text` as UTF-8 with 1 to 6 random edits: bits flipped, a cut, bytes inserted or a
    stretch repeated, a NUL or a byte order mark put in."""
    data = bytearray(text.encode("utf-8"))
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
            data[where:where] = rng.choice([b"\x00", b"\xef\xbb\xbf", b"\t", b"\n  ", b":", b"- "])
        elif data:
            start = rng.randrange(len(data))
            data[where:where] = data[start : start + rng.randint(1, 64)]
    return bytes(data)


def hostile_yaml(text: str, rng: random.Random) -> str:
    """A whole hostile cosyvoice3.yaml: the original with something appended that must be
    refused (a code tag, an alias bomb, deep nesting, a duplicated model node), or not a
    mapping at all."""
    depth = rng.choice([50, 500, 5000, 50_000])
    bomb = "".join(f"l{i + 1}: &l{i + 1} [" + ", ".join([f"*l{i}"] * 9) + "]\n" for i in range(12))
    extras = [
        "evil: !!python/object/apply:os.system ['true']\n",
        "evil: !new:os.system\n  command: 'true'\n",
        "evil: !apply:builtins.exec ['1']\n",
        "evil: !name:subprocess.run\n",
        "evil: !ref <evil>\n",
        "evil: !ref <sample_rate> ** 99999\n",
        "evil: !ref __import__('os').system('true')\n",
        "l0: &l0 [1, 2]\n" + bomb,
        "deep: " + "[" * depth + "]" * depth + "\n",
        "deep: " + "{a: " * depth + "1" + "}" * depth + "\n",
        "llm: !new:cosyvoice.llm.llm.Qwen2LM\n  llm_input_size: 896\n",
        "flow: !new:cosyvoice.flow.flow.CausalMaskedDiffWithXvec {}\n",
        "hift: null\n",
        "sample_rate: !ref <sample_rate>\n",
    ]
    choice = rng.randrange(len(extras) + 4)
    if choice < len(extras):
        return text + extras[choice]
    return rng.choice(["", "---\n", "[1, 2, 3]\n", "just words\n", "a: b: c\n", "&a [*a]\n"])


def hostile_json(rng: random.Random) -> str:
    """A config.json no loader may choke on: deep nesting, huge numbers, not an object."""
    depth = rng.choice([50, 1000, 100_000])
    return rng.choice(
        [
            "[" * depth + "]" * depth,
            '{"a": ' * depth + "1" + "}" * depth,
            '{"hidden_size": ' + "9" * rng.choice([20, 4300, 5000]) + "}",
            '{"hidden_size": 1e999, "num_hidden_layers": NaN}',
            "[]",
            "null",
            '"config"',
            "",
            "\ufeff{}",
        ]
    )


def mutate_yaml(text: str, rng: random.Random) -> str:
    """`text` with the value of one random `key: value` line replaced by a hostile value."""
    lines = list(_YAML_SCALAR.finditer(text))
    if not lines:
        return text
    line = rng.choice(lines)
    value = rng.choice(HOSTILE_YAML_VALUES)
    return text[: line.start(2)] + value + text[line.end(2) :]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(node, dict):
        found: list[tuple[Any, ...]] = []
        for key, value in node.items():
            found.append((*prefix, key))
            found += _paths(value, (*prefix, key))
        return found
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in [(*prefix, i), *_paths(v, (*prefix, i))]]
    return []


def mutate_json(data: Any, rng: random.Random) -> Any:
    """A deep copy of parsed JSON `data` with one random value replaced by a hostile value."""
    import copy

    out = copy.deepcopy(data)
    paths = _paths(out)
    if not paths:
        return rng.choice(HOSTILE_JSON_VALUES)
    *parents, last = rng.choice(paths)
    node = out
    for key in parents:
        node = node[key]
    node[last] = copy.deepcopy(rng.choice(HOSTILE_JSON_VALUES))
    return out


def linked_copy(source: Path, dest: Path) -> Path:
    """A copy of folder `source` at `dest` made of symbolic links to its files (folders are
    real), so that replacing one file (unlink, then write) leaves `source` untouched."""
    for path in sorted(source.rglob("*")):
        target = dest / path.relative_to(source)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(path)
    dest.mkdir(parents=True, exist_ok=True)
    return dest


def replace_file(path: Path, content: bytes | str) -> None:
    """Write `content` at `path` as a new file (a link there is removed, not followed)."""
    path.unlink(missing_ok=True)
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
