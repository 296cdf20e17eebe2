"""Load the `.pt` weight files of a model folder without ever running code from them.

The official `llm.pt`, `flow.pt` and `hift.pt` are `torch.save(state_dict)` zip archives. They are
opened with `weights_only=True`, so a pickle that asks for any callable is refused before anything
is called, and memory-mapped, so a 2 GB file is not read twice. Every failure becomes a
ModelFolderError that names the file and tells the person what to do.
"""

from __future__ import annotations

import logging
import pickle
import re
import warnings
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from cosydesk.engine.errors import ModelFolderError

if TYPE_CHECKING:
    import torch
    from torch import nn

log = logging.getLogger(__name__)

# Names that a module may hold as a second name of another tensor. Upstream ties the Qwen2
# output head to the text embedding: torch.save stores it once under both names, a re-saved
# file may leave it out, and our LLM may not have a head at all (it is never used).
TIED_WEIGHTS: dict[str, str] = {
    "llm.model.lm_head.weight": "llm.model.model.embed_tokens.weight",
}

# How many individual problems an error message spells out before it summarises the rest.
_SHOWN_PROBLEMS = 5

_AGAIN = "Download the model folder again."


def _where(path: Path) -> str:
    return f"{path.name} in {path.parent}"


def _refused_global(message: str) -> str | None:
    """The dotted name a weights-only unpickler refused, if its message names one."""
    found = re.search(r"GLOBAL ([\w.]+)", message) or re.search(r"global[: ]+'?([\w.]+)", message)
    return found.group(1) if found else None


def check_archive(path: Path) -> None:
    """Raise ModelFolderError unless `path` is a complete zip archive, as torch.save writes.

    Reads only the file's first bytes and its zip directory; nothing is unpickled.
    """
    if not path.exists():
        raise ModelFolderError(f"The model folder {path.parent} lacks {path.name}. {_AGAIN}")
    if not path.is_file():
        raise ModelFolderError(
            f"{_where(path)} is not a file. Choose the folder that holds the official "
            f"{path.name}, or download the model folder again."
        )
    try:
        with path.open("rb") as handle:
            head = handle.read(4)
        size = path.stat().st_size
    except OSError as exc:
        raise ModelFolderError(
            f"Cannot read {_where(path)} ({exc.strerror or exc}). Check the file's permissions "
            f"or download the model folder again."
        ) from None
    if size == 0:
        raise ModelFolderError(f"{_where(path)} is empty (an interrupted download?). {_AGAIN}")
    if head != b"PK\x03\x04":
        raise ModelFolderError(
            f"{_where(path)} is not a PyTorch weight archive of the official format (it may be "
            f"damaged or in an old pickle format that cosydesk does not open). {_AGAIN}"
        )
    try:
        # is_zipfile lets some damage through as an exception (a zip64 record that claims
        # several disks); either way the directory at the end of the file is not usable.
        complete = zipfile.is_zipfile(path)
    except zipfile.BadZipFile:
        complete = False
    if not complete:
        raise ModelFolderError(
            f"{_where(path)} is incomplete: the archive ends early (an interrupted download?). "
            f"{_AGAIN}"
        )


def _torch_load(path: Path) -> object:
    """torch.load, weights only and memory-mapped, with what torch warns about logged only.

    A damaged pickle can make torch warn about its own internals ("Defining your
    `__torch_function__` as a plain method is deprecated") before it fails; that line on the
    terminal would tell the person nothing that the sentence about the file does not.
    """
    import torch

    with warnings.catch_warnings(record=True) as noted:
        warnings.simplefilter("always")
        try:
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        finally:
            for warning in noted:
                log.debug("torch.load(%s) warned: %s", path, warning.message)


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Read a `torch.save(state_dict)` file as a dict of CPU tensors, executing nothing from it.

    The tensors are memory-mapped from the file where torch can. Raises ModelFolderError, naming
    the file, when it is missing, empty, truncated, not a zip archive, asks to call any Python
    callable, or does not hold a flat mapping of names to tensors.
    """
    import torch

    path = Path(path)
    check_archive(path)
    try:
        loaded = _torch_load(path)
    except pickle.UnpicklingError as exc:
        target = _refused_global(str(exc))
        # A cut-off pickle also ends in a refused (truncated) torch name: call that damage.
        if target is not None and not target.startswith("torch."):
            raise ModelFolderError(
                f"{_where(path)} holds Python code besides weights (it asks to call {target}); "
                f"cosydesk never runs code from a model file. Download the model folder again "
                f"from the official source."
            ) from None
        raise ModelFolderError(
            f"{_where(path)} is damaged: its weight table cannot be read. {_AGAIN}"
        ) from None
    except (RuntimeError, EOFError, ValueError, OSError, zipfile.BadZipFile) as exc:
        raise ModelFolderError(
            f"{_where(path)} is damaged or is not a PyTorch weight file ({exc}). {_AGAIN}"
        ) from None
    except Exception:
        # A damaged pickle makes torch's weights-only unpickler fail in any way its code can
        # (KeyError on a bad memo index, IndexError, struct.error, TypeError on a call with the
        # wrong arguments, AssertionError ...). Nothing has run from the file; all of them mean
        # the same thing to the person: the file is damaged.
        # The exception's class names nothing a person can act on; the log keeps it.
        log.debug("torch.load(%s) failed", path, exc_info=True)
        raise ModelFolderError(
            f"{_where(path)} is damaged: its weight table cannot be read. {_AGAIN}"
        ) from None
    if not isinstance(loaded, Mapping):
        raise ModelFolderError(
            f"{_where(path)} holds a {type(loaded).__name__}, not a table of named weights. "
            f"{_AGAIN}"
        )
    for name, value in loaded.items():
        if not isinstance(name, str) or not isinstance(value, torch.Tensor):
            raise ModelFolderError(
                f"{_where(path)} holds '{name}' ({type(value).__name__}), which is not a named "
                f"weight tensor; it is not a model weight file cosydesk can use. {_AGAIN}"
            )
    return dict(loaded)


def _shape(shape: tuple[int, ...] | torch.Size) -> str:
    return "[" + ", ".join(str(n) for n in shape) + "]"


def align_tied(
    expected: Mapping[str, object], state: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Return `state` with tied second names added or dropped to match the module's names.

    A tied name the module lacks is dropped; one the module has but the file left out is filled
    from the tensor it is tied to. Other names are left for `check_state_dict` to judge.
    """
    aligned = dict(state)
    for alias, source in TIED_WEIGHTS.items():
        if alias in aligned and alias not in expected:
            del aligned[alias]
        elif alias in expected and alias not in aligned and source in aligned:
            aligned[alias] = aligned[source]
    return aligned


def _problems(expected: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor]) -> list[str]:
    found: list[str] = []
    for name, want in expected.items():
        have = state.get(name)
        if have is None:
            found.append(f"{name} {_shape(want.shape)} is missing")
        elif tuple(have.shape) != tuple(want.shape):
            found.append(
                f"{name} should be {_shape(want.shape)} but is {_shape(have.shape)} in the file"
            )
        elif have.is_floating_point() != want.is_floating_point():
            found.append(f"{name} should be {want.dtype} but is {have.dtype} in the file")
    for name, have in state.items():
        if name not in expected:
            found.append(f"{name} {_shape(have.shape)} is not part of this model")
    return found


def check_state_dict(module: nn.Module, state: Mapping[str, torch.Tensor], file: Path) -> None:
    """Raise one ModelFolderError if `state` does not fit `module` name for name and shape.

    The message lists the first few problems (missing, unknown and mis-shaped tensors) and says
    that the file does not belong to this configuration. Tied second names (the LLM's output
    head) may be present or absent.
    """
    file = Path(file)
    expected = module.state_dict(keep_vars=True)
    problems = _problems(expected, align_tied(expected, dict(state)))
    if not problems:
        return
    shown = "; ".join(problems[:_SHOWN_PROBLEMS])
    more = len(problems) - _SHOWN_PROBLEMS
    if more > 0:
        shown += f"; and {more} more problem{'s' if more > 1 else ''}"
    # The LM's shape comes from both configuration files; the others' from the yaml alone.
    described = (
        "cosyvoice3.yaml and CosyVoice-BlankEN/config.json describe"
        if file.name == "llm.pt"
        else "cosyvoice3.yaml describes"
    )
    raise ModelFolderError(
        f"{_where(file)} does not belong to the model that {described} in {file.parent}: "
        f"{shown}. The weights and the configuration come from different models: download the "
        f"model folder again and keep its files together."
    )


def load_into(module: nn.Module, path: Path, *, strip_prefix: str = "") -> None:
    """Fill `module` with the weights of `path`, strictly checked, then release the file's tensors.

    `strip_prefix` is removed from the start of every name first (a vocoder saved inside its GAN
    wrapper has names starting with "generator."). A module whose parameters are on the meta
    device gets the file's tensors assigned instead of copied. Raises ModelFolderError on any
    problem `load_state_dict` or `check_state_dict` reports.
    """
    path = Path(path)
    state = load_state_dict(path)
    if strip_prefix:
        state = {
            (name[len(strip_prefix) :] if name.startswith(strip_prefix) else name): tensor
            for name, tensor in state.items()
        }
    expected = module.state_dict(keep_vars=True)
    state = align_tied(expected, state)
    check_state_dict(module, state, path)
    on_meta = any(tensor.is_meta for tensor in expected.values())
    del expected
    try:
        module.load_state_dict(state, strict=True, assign=on_meta)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise ModelFolderError(
            f"The weights of {_where(path)} could not be placed in the model ({exc}). {_AGAIN}"
        ) from None
    finally:
        # The mapped file stays open while any of its tensors is referenced; drop them now.
        # They are in no reference cycle, so this frees them: no collection is needed (a full
        # one held the GIL for up to 90 ms per file, freezing the app's window meanwhile).
        del state
