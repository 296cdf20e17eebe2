"""A seeded generator of places to save a WAV file: what a person or another program left there.

`output_case(rng)` returns an `OutputCase`: the things to create in an empty folder (files with
content, folders, named pipes, sockets, device nodes, links of every kind, read-only folders,
temp files of live and dead writers), the path to save to (relative to that folder), whether
overwriting is allowed, and optionally something that appears at the target while the save
runs. Names include long, unicode, dotted, spaced and newline-holding ones.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field

# Above Linux's largest pid_max (2**22): no process can have this pid.
DEAD_PID = 2**22 + 4321


@dataclass(frozen=True)
class Node:
    """Something to create: kind is file, dir, ro-dir, fifo, socket, device or link.

    A device is a private copy of /dev/null's node (a pipe where that needs root): the suite
    never aims a save at the machine's own /dev/null.
    """

    path: str
    kind: str
    payload: bytes | str = b""  # a file's bytes, or where a link points


@dataclass
class OutputCase:
    description: str
    target: str  # relative to the case's folder
    overwrite: bool
    nodes: list[Node] = field(default_factory=list)
    late: str | None = None  # file, dir or fifo put at the target before the commit
    via_cli: bool = False


def _name(rng: random.Random) -> str:
    pool = [
        "speech.wav",
        "Speech Final (2).wav",
        "наговор.wav",
        "声音.wav",
        ".hidden.wav",
        "no-extension",
        "trailing.",
        "-dash.wav",
        "new\nline.wav",
        "percent %s %d.wav",
        "x" * 240 + ".wav",
        "y" * 300 + ".wav",  # longer than a name may be
        "a.b.c.wav",
        "tab\there.wav",
    ]
    return rng.choice(pool)


def _bystanders(rng: random.Random, taken: set[str]) -> list[Node]:
    """Things beside the target that must come through every case untouched."""
    nodes: list[Node] = []
    for index in range(rng.randint(0, 3)):
        kind = rng.choice(["file", "file", "dir", "fifo", "live-part", "stale-part"])
        if kind == "file":
            path = f"other-{index}.wav"
            nodes.append(Node(path, "file", rng.randbytes(rng.randint(0, 64))))
        elif kind == "dir":
            nodes += [Node(f"folder-{index}", "dir"), Node(f"folder-{index}/in.wav", "file", b"in")]
        elif kind == "fifo":
            nodes.append(Node(f"pipe-{index}.wav", "fifo"))
        elif kind == "live-part":  # being written by this very process: never removed
            nodes.append(Node(f".x{index}.{os.getpid()}-0000000{index}.wav.part", "file", b"RIFF"))
        else:  # left by a writer that no longer runs: the next save here removes it
            nodes.append(Node(f".y{index}.{DEAD_PID}-0000000{index}.wav.part", "file", b"RIFF"))
    return [node for node in nodes if node.path not in taken]


def output_case(rng: random.Random) -> OutputCase:
    """One save, drawn from `rng` (same seed, same case)."""
    name = _name(rng)
    overwrite = rng.random() < 0.6
    scenario = rng.choice(
        [
            "absent",
            "absent",
            "file",
            "file",
            "dir",
            "fifo",
            "socket",
            "link-file",
            "link-chain",
            "link-dir",
            "link-fifo",
            "link-dangling",
            "link-loop",
            "link-device",
            "link-elsewhere",
            "missing-parent",
            "parent-is-file",
            "parent-is-link",
            "read-only-parent",
            "dot",
            "device",
        ]
    )
    nodes: list[Node] = []
    target = name
    if scenario == "file":
        nodes.append(Node(name, "file", rng.randbytes(rng.randint(0, 100))))
    elif scenario == "dir":
        nodes += [Node(name, "dir"), Node(f"{name}/inside.wav", "file", b"inside")]
    elif scenario in ("fifo", "socket"):
        nodes.append(Node(name, scenario))
    elif scenario == "link-file":
        nodes += [Node("real.wav", "file", b"real"), Node(name, "link", "real.wav")]
    elif scenario == "link-chain":
        nodes += [
            Node("real.wav", "file", b"real"),
            Node("hop.wav", "link", "real.wav"),
            Node(name, "link", "hop.wav"),
        ]
    elif scenario == "link-dir":
        nodes += [Node("dir", "dir"), Node(name, "link", "dir")]
    elif scenario == "link-fifo":
        nodes += [Node("pipe", "fifo"), Node(name, "link", "pipe")]
    elif scenario == "link-dangling":
        nodes.append(Node(name, "link", "nowhere/at/all.wav"))
    elif scenario == "link-loop":
        nodes.append(Node(name, "link", name))
    elif scenario == "link-device":
        nodes += [Node("null", "device"), Node(name, "link", "null")]
    elif scenario == "link-elsewhere":  # a regular file in another folder of the case
        nodes += [
            Node("elsewhere", "dir"),
            Node("elsewhere/real.wav", "file", b"far"),
            Node(name, "link", "elsewhere/real.wav"),
        ]
    elif scenario == "missing-parent":
        target = f"missing/{name}"
    elif scenario == "parent-is-file":
        nodes.append(Node("plain.txt", "file", b"text"))
        target = f"plain.txt/{name}"
    elif scenario == "parent-is-link":
        nodes += [Node("sub", "dir"), Node("via", "link", "sub")]
        target = f"via/{name}"
    elif scenario == "read-only-parent":
        nodes.append(Node("locked", "ro-dir"))
        target = f"locked/{name}"
    elif scenario == "dot":
        target = rng.choice([".", "", "..", "sub/.."])
        nodes.append(Node("sub", "dir"))
    elif scenario == "device":
        nodes.append(Node(name, "device"))
    late = rng.choice(["file", "dir", "fifo"]) if rng.random() < 0.1 else None
    nodes += _bystanders(rng, {node.path for node in nodes})
    return OutputCase(
        description=f"{scenario}, overwrite={overwrite}, late={late}, name={name[:20]!r}",
        target=target,
        overwrite=overwrite,
        nodes=nodes,
        late=late,
        via_cli=rng.random() < 0.12,
    )
