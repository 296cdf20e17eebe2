"""`cosydesk voices`: the app's voice library from the command line (list, add, remove, default).

It opens the same library folder and settings file as the tray app, so a voice added here is in
the app's list at its next look, and the default chosen here is the app's default.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from cosydesk.engine.errors import VoiceError

ADD_USAGE = "cosydesk voices add NAME CLIP --transcript TEXT"


def unknown_voice(name: str) -> VoiceError:
    """The sentence for a voice name the library does not know, naming the commands to use."""
    return VoiceError(
        f"There is no voice called '{name}': `cosydesk voices list` shows the voices, "
        f"`{ADD_USAGE}` adds one."
    )


def add_parser(sub: Any, add_model_options: Any) -> None:
    """The `voices` command and its four subcommands, on the `cosydesk` parser's `sub`."""
    voices = sub.add_parser(
        "voices",
        help="list, add, remove or choose the default voice (the app's own library)",
        description="The voice library that the tray app uses.",
    )
    what = voices.add_subparsers(dest="voices_command", metavar="{list,add,remove,default}")
    what.add_parser("list", help="show the voices (the default one is marked with *)")
    add = what.add_parser("add", help="add a voice from a clip and its transcript")
    add.add_argument("name", help="the voice's name, e.g. Narrator")
    add.add_argument(
        "clip",
        type=Path,
        help="a recording of one person speaking (5 to 15 s is best, 30 s at most)",
    )
    add.add_argument(
        "--transcript",
        required=True,
        help="exactly what the clip says ('-' reads standard input)",
    )
    add.add_argument(
        "--prepare",
        action="store_true",
        help="load the model and compute the voice's features now (otherwise at its first use)",
    )
    add_model_options(add)
    remove = what.add_parser("remove", help="delete a voice and its clip")
    remove.add_argument("name")
    default = what.add_parser("default", help="choose the default voice (without NAME: show it)")
    default.add_argument("name", nargs="?")


def cmd_voices(args: argparse.Namespace, load_engine: Any) -> int:
    """Run `cosydesk voices ...`; errors are raised as EngineError (VoiceError) or OSError.

    `load_engine(args)` loads the model for `add --prepare`.
    """
    from cosydesk.config import voices_dir
    from cosydesk.engine.voices import VoiceLibrary

    library = VoiceLibrary(voices_dir())
    command = args.voices_command or "list"
    if command == "list":
        return _list(library)
    if command == "add":
        return _add(library, args, load_engine)
    if command == "remove":
        return _remove(library, args.name)
    return _default(library, args.name)


def _settings() -> Any:
    from cosydesk.config import Settings

    return Settings.load()


def _known(library: Any, name: str) -> Any:
    """The voice called `name`, ignoring case and spacing as the library's names do."""
    key = " ".join(name.split()).casefold()
    for info in library.list():
        if info.name.casefold() == key:
            return info
    raise unknown_voice(name)


def _list(library: Any) -> int:
    voices = library.list()
    if not voices:
        print(f"No voices yet: add one with `{ADD_USAGE}`.", file=sys.stderr)
        return 0
    default = str(_settings().get("default_voice") or "")
    for info in voices:
        mark = "*" if info.name == default else " "
        print(f"{mark} {info.name}  ({info.duration_s:.1f} s)  {info.transcript}")
    return 0


def _add(library: Any, args: argparse.Namespace, load_engine: Any) -> int:
    transcript = sys.stdin.read() if args.transcript == "-" else args.transcript
    engine = None
    if args.prepare:
        from cosydesk.engine.prompt.frontend import read_prompt_clip

        read_prompt_clip(args.clip)  # a bad clip is said before the model loads
        engine = load_engine(args)
    info = library.add(args.name, args.clip, transcript, engine)
    ready = " and prepared for the model" if engine is not None else ""
    print(f"Added the voice '{info.name}' ({info.duration_s:.1f} s){ready}.", file=sys.stderr)
    settings = _settings()
    if not settings.get("default_voice"):
        settings.set("default_voice", info.name)
        settings.save()
        print("It is the default voice.", file=sys.stderr)
    return 0


def _remove(library: Any, name: str) -> int:
    info = _known(library, name)
    library.delete(info.name)
    print(f"Removed the voice '{info.name}'.", file=sys.stderr)
    settings = _settings()
    if settings.get("default_voice") == info.name:
        settings.set("default_voice", "")
        settings.save()
        print("There is no default voice now: the first in the list speaks.", file=sys.stderr)
    return 0


def _default(library: Any, name: str | None) -> int:
    settings = _settings()
    if name is None:
        current = str(settings.get("default_voice") or "")
        print(current or "(none: the first voice in the list speaks)")
        return 0
    info = _known(library, name)
    settings.set("default_voice", info.name)
    settings.save()
    print(f"The default voice is now '{info.name}'.", file=sys.stderr)
    return 0
