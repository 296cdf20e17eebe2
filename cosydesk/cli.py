"""The `cosydesk` command: the tray app by default, plus `say`, `voices`, `bench`, `parity`,
`download` and `serve`.

Exit codes: 0 done, 1 error (with a sentence on stderr), 2 bad usage, 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from cosydesk.config import option

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
ACTIONS = ("show", "speak-clipboard", "stop", "pause", "next-sentence", "previous-sentence")
_DECLARED = object()  # "the setting's declared default"


def _help(text: str) -> str:
    return text.replace("%", "%%")  # argparse formats help with %


def _setting_argument(
    p: argparse.ArgumentParser, flag: str, name: str, *, default: Any = _DECLARED, help: str = ""
) -> None:
    """`flag` for the setting `name`: its choices, default and description as declared."""
    declared = option(name)
    # A declared choice list is matched as the text typed; only free values are converted.
    convert: dict[str, Any] = {"type": declared.type} if declared.choices is None else {}
    p.add_argument(
        flag,
        choices=declared.choices,
        default=declared.default if default is _DECLARED else default,
        help=_help(help or declared.description),
        **convert,
    )


def _add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", type=Path, help="the CosyVoice3 model folder (cosyvoice3.yaml ...)")
    _setting_argument(p, "--device", "device")
    quantization = option("quantization")
    _setting_argument(
        p,
        "--quantization",
        "quantization",
        default=None,
        help=f"{quantization.description} This flag wins over them and over the stored setting "
        f"(default {quantization.default}).",
    )
    _setting_argument(p, "--precision", "flow_precision")
    _setting_argument(p, "--text-normalization", "text_normalization")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cosydesk", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--action",
        choices=ACTIONS,
        help="send an action to the running cosydesk (bind it to a shortcut); show and "
        "speak-clipboard start it when it is not running",
    )
    parser.add_argument("--verbose", "-v", action="store_true")
    parser.add_argument(
        "--minimized", action="store_true", help="start in the tray without showing the window"
    )
    sub = parser.add_subparsers(dest="command")

    say = sub.add_parser("say", help="speak text into a WAV file")
    say.add_argument("text", help="the text to speak ('-' reads standard input)")
    say.add_argument("-o", "--output", type=Path, required=True, help="the WAV file to write")
    say.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing regular file (through a link: the file it names)",
    )
    _add_model_options(say)
    voice = say.add_mutually_exclusive_group(required=True)
    voice.add_argument("--voice", help="a voice from the voice library")
    voice.add_argument("--prompt-wav", type=Path, help="a reference clip (<= 30 s)")
    say.add_argument("--prompt-text", help="what the reference clip says")
    say.add_argument("--instruct", help="an instruction, e.g. 'Speak slowly and calmly.'")
    say.add_argument(
        "--cross-lingual",
        action="store_true",
        help="use only the clip's timbre, not its transcript",
    )
    say.add_argument("--stream", action="store_true", help="render in streaming chunks")
    speed = option("speed")
    speed_help = f"{speed.description} From {speed.minimum} to {speed.maximum}."
    _setting_argument(say, "--speed", "speed", help=speed_help)

    bench = sub.add_parser("bench", help="measure memory and speed per quantisation mode")
    bench.add_argument("--model", type=Path, help="a model folder (default: build random weights)")
    bench.add_argument(
        "--dims",
        choices=("official", "tiny"),
        default=None,
        help="dimensions of the random model built when --model is absent",
    )
    bench.add_argument("--modes", default="none,8bit,4bit")
    bench.add_argument("--tokens", type=int, default=250, help="speech tokens to force")
    _setting_argument(bench, "--device", "device")
    _setting_argument(bench, "--precision", "flow_precision")
    bench.add_argument(
        "--text-table",
        choices=("cpu", "gpu"),
        default="cpu",
        help="where the LLM's text-embedding table lives (for comparison)",
    )
    bench.add_argument("--repeat", type=int, default=3)
    bench.add_argument(
        "--long-chars",
        type=int,
        default=10_000,
        help="characters of the long text spoken in parts (0 leaves it out)",
    )
    bench.add_argument("--json", type=Path, help="also write the figures as JSON")

    parity = sub.add_parser("parity", help="run the engine on a parity fixture folder")
    parity.add_argument("fixture", type=Path)
    parity.add_argument("--out", type=Path, required=True)
    parity.add_argument("-v", "--verbose", action="store_true", help="one line per array")
    parity.add_argument("--stage", action="append", help="run only this stage (repeatable)")

    download = sub.add_parser(
        "download", help="download the model folder from Hugging Face (HF_ENDPOINT: a mirror)"
    )
    download.add_argument(
        "folder",
        type=Path,
        nargs="?",
        help="where to put it (default: the models folder under cosydesk's data folder)",
    )

    from cosydesk.cli_voices import add_parser as add_voices_parser

    add_voices_parser(sub, _add_model_options)

    serve = sub.add_parser("serve", help="serve an OpenAI-style speech API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=option("api_port").default)
    _add_model_options(serve)
    return parser


def _progress(fraction: float, message: str) -> None:
    print(f"[{fraction * 100:3.0f}%] {message}", file=sys.stderr, flush=True)


def _stored(name: str) -> Any:
    """The stored setting `name`, or its default when the settings cannot be read."""
    try:
        from cosydesk.config import Settings

        return Settings.load().get(name)
    except Exception:  # a broken config must not stop the command
        return option(name).default


def _in_force(name: str, given: Any) -> Any:
    """What the command line gives for `name`, else its environment variables, else the stored
    setting. A bad variable is a ConfigError even when the flag wins, so a typo is never hidden;
    the settings file is read only when neither decides."""
    import os

    from cosydesk.configvalues import env_override

    override = env_override(option(name), os.environ)
    if given is not None:
        return given
    if override is not None:
        return override[0]
    return _stored(name)


def _options(args: argparse.Namespace):
    """EngineOptions from the command line: an explicit --quantization wins over the
    quantisation variables, which win over the setting. ConfigError for a bad variable."""
    from cosydesk.config import quant_cache_dir
    from cosydesk.engine.types import EngineOptions

    return EngineOptions(
        device=args.device,
        quantization=_in_force("quantization", args.quantization),
        flow_precision=args.precision,
        text_normalization=args.text_normalization,
        quant_cache_dir=str(quant_cache_dir()),
    )


def _model_dir(args: argparse.Namespace) -> Path:
    from cosydesk.engine.errors import EngineError

    folder = _in_force("model_dir", args.model)
    if folder:
        return Path(folder)
    raise EngineError("No model folder given: pass --model DIR (the folder with cosyvoice3.yaml).")


def cmd_say(args: argparse.Namespace) -> int:
    from cosydesk.audio.wavfile import WavExistsError, WavWriter, check_target, shown
    from cosydesk.engine.engine import Engine
    from cosydesk.engine.errors import EngineError
    from cosydesk.engine.voices import Voice

    # Everything that can be checked without the model is checked before it loads.
    text = sys.stdin.read() if args.text == "-" else args.text
    if not text.strip():
        raise EngineError("There is no text to read: pass the text, or '-' to read stdin.")
    try:
        # Only a regular file is ever replaced: a pipe, a device or a folder is refused.
        check_target(args.output, args.overwrite)
    except WavExistsError:
        raise EngineError(
            f"{shown(args.output)} exists already: pass --overwrite to replace it."
        ) from None
    if args.prompt_wav and not args.prompt_text and not args.cross_lingual:
        raise EngineError(
            "--prompt-wav needs --prompt-text (what the clip says), or --cross-lingual."
        )
    if args.instruct and args.cross_lingual:
        raise EngineError("Choose --instruct or --cross-lingual, not both.")
    if args.voice and args.prompt_text:
        raise EngineError("--prompt-text goes with --prompt-wav; a --voice has its transcript.")
    speed = option("speed")
    if not speed.in_range(args.speed):
        raise EngineError(
            f"--speed {args.speed} is out of range: use {speed.minimum} to {speed.maximum}."
        )
    if args.prompt_wav:
        from cosydesk.engine.prompt.frontend import read_prompt_clip

        read_prompt_clip(args.prompt_wav)  # missing, unreadable, silent or too long: say so now
    library = None
    if args.voice:
        from cosydesk.cli_voices import unknown_voice
        from cosydesk.config import voices_dir
        from cosydesk.engine.voices import VoiceLibrary

        library = VoiceLibrary(voices_dir())
        if args.voice not in library:  # an unknown name fails here, not after loading the model
            raise unknown_voice(args.voice)
    engine = Engine.load(_model_dir(args), _options(args), progress=_progress)
    status = engine.status()
    asked = ""
    if status.quantization_requested == "auto":
        asked = " (automatic for this device)"
    elif status.quantization_requested != status.quantization:
        asked = f" (asked for {status.quantization_requested})"
    print(
        f"[   ] Model ready on {status.device}, quantisation {status.quantization_label}{asked}",
        file=sys.stderr,
        flush=True,
    )
    if library is not None:
        voice = library.get(args.voice, engine)
    else:
        print("[   ] Reading the reference clip", file=sys.stderr, flush=True)
        voice = Voice("prompt", args.prompt_text or "", engine.prompt_features(args.prompt_wav))
    mode = "cross-lingual" if args.cross_lingual else None

    def seg_progress(done: int, total: int) -> None:
        percent = 100 * done // max(total, 1)
        print(f"[{percent:3d}%] Spoken {done} of {total} characters", file=sys.stderr, flush=True)

    seconds = 0.0
    with WavWriter(args.output, engine.sample_rate, overwrite=args.overwrite) as out:
        for chunk in engine.synthesize(
            text,
            voice,
            stream=args.stream,
            speed=args.speed,
            instruct=args.instruct,
            mode=mode,
            progress=seg_progress,
        ):
            out.write(chunk)
            seconds += len(chunk) / engine.sample_rate
        out.commit()
    print(f"Wrote {seconds:.2f} s of audio to {args.output}", file=sys.stderr)
    return EXIT_OK


def cmd_download(folder: Path | None) -> int:
    """Fetch the model folder, then the starter voice (a note if it cannot be had); the
    settings point at the folder when they name no model yet."""
    from cosydesk.config import Settings, default_model_dir, starter_voices_dir
    from cosydesk.download import ModelDownload

    dest = folder or default_model_dir()
    last: list[tuple[int, str]] = [(-1, "")]  # the line printed last

    def progress(done: int, total: int, message: str) -> None:
        percent = 100 * done // max(total, 1)
        if last[0] != (percent, message):  # one line per percent and file
            last[0] = (percent, message)
            print(
                f"[{percent:3d}%] {message} ({done / 1e9:.2f} of {total / 1e9:.2f} GB)",
                file=sys.stderr,
                flush=True,
            )

    download = ModelDownload(dest, starter_dir=starter_voices_dir())
    download.run(progress)
    print(f"The model is in {dest}", file=sys.stderr)
    for note in download.notes:
        print(note, file=sys.stderr)
    try:
        settings = Settings.load()
        if not settings.get("model_dir"):
            settings.set("model_dir", str(dest))
            settings.save()
            print("cosydesk will use it from now on.", file=sys.stderr)
    except OSError as exc:
        print(f"Could not save the settings ({exc}); pass --model {dest}.", file=sys.stderr)
    return EXIT_OK


def _load_for_voice(args: argparse.Namespace) -> Any:
    """The engine for `voices add --prepare`, loaded as `say` loads it."""
    from cosydesk.engine.engine import Engine

    return Engine.load(_model_dir(args), _options(args), progress=_progress)


# Actions that start cosydesk when it is not running (and then are done by it); stopping or
# pausing an app that does not run has nothing to do.
STARTING_ACTIONS = ("show", "speak-clipboard")


def cmd_action(action: str, argv: list[str]) -> int:
    """Hand `action` to the running cosydesk; start it (which then does it) where it may."""
    from cosydesk.gui.single_instance import send_to_running

    if send_to_running(action):
        return EXIT_OK
    if action in STARTING_ACTIONS:
        from cosydesk.gui.app import run_gui

        return run_gui(argv)  # reads --action, and does it once it runs
    print(f"cosydesk is not running, so there is nothing to {action}.", file=sys.stderr)
    return EXIT_ERROR


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    from cosydesk.termination import Terminated, exit_by_signal, stop_on_signals

    if args.action or not args.command:
        return _run_command(args, argv)  # the tray app handles its own signals
    try:
        # SIGTERM and SIGHUP unwind like Ctrl+C, so that a save removes its temp file.
        with stop_on_signals():
            return _run_command(args, argv)
    except Terminated as stop:
        print(f"Stopped by {stop.name}.", file=sys.stderr, flush=True)
        return exit_by_signal(stop.signum)


def _run_command(args: argparse.Namespace, argv: list[str]) -> int:
    """Run the chosen command; errors become a sentence on stderr and an exit code."""
    from cosydesk.engine.errors import Cancelled, EngineError

    try:
        if args.action:
            return cmd_action(args.action, argv)
        if args.command == "say":
            return cmd_say(args)
        if args.command == "parity":
            from cosydesk.devtools.parity import run_parity

            return run_parity(args.fixture, args.out, verbose=args.verbose, stages=args.stage)
        if args.command == "bench":
            from cosydesk.bench import run_bench

            return run_bench(args)
        if args.command == "download":
            return cmd_download(args.folder)
        if args.command == "voices":
            from cosydesk.cli_voices import cmd_voices

            return cmd_voices(args, _load_for_voice)
        if args.command == "serve":
            from cosydesk.server import run_server

            return run_server(args, _model_dir(args), _options(args))
        from cosydesk.gui.app import run_gui

        return run_gui(argv)
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Cancelled:
        return EXIT_INTERRUPTED
    except (EngineError, OSError) as exc:
        print(f"cosydesk: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:
        if args.command != "say":
            raise
        # The engine reports everything a person can act on as an EngineError, so this is a
        # bug; `say` still ends in one sentence, and --verbose shows where it happened.
        logging.getLogger(__name__).debug("say failed", exc_info=True)
        if args.verbose:
            import traceback

            traceback.print_exc()
        reason = (str(exc).splitlines() or [""])[0][:200]
        print(
            f"cosydesk: an unexpected error stopped the command ({type(exc).__name__}: "
            f"{reason}); run it again with --verbose to see where, and please report it.",
            file=sys.stderr,
        )
        return EXIT_ERROR
