"""What the app remembers that is not a setting: where its window was, the last voice picked,
and the text being written (the draft).

It lives beside the settings (state.json and draft.txt in the config folder) but is no part
of them: nobody chooses it in a dialog, and a damaged or missing state file only means the
window opens where the desktop puts it, empty. Both files are written atomically, so a crash
or a power cut leaves the previous version or the new one, never half of one. Qt-free.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from cosydesk.configfile import UnusableFile, read_object, write_atomically

log = logging.getLogger(__name__)

STATE_FILE = "state.json"
DRAFT_FILE = "draft.txt"
# The names the state file knows, with their types; anything else in the file is ignored.
KEYS: dict[str, type] = {"window_geometry": str, "last_voice": str}
# A draft longer than this (bytes) is not read back: the editor would take long to fill and
# cosydesk never writes one so large unless a whole book was pasted, which its file still holds.
MAX_DRAFT_BYTES = 20_000_000


class RememberedState:
    """The remembered values of one user, bound to a folder; `save()` writes them."""

    def __init__(self, folder: Path) -> None:
        """Empty state bound to `folder`; nothing is read (see `load`)."""
        self.folder = Path(folder)
        self._values: dict[str, Any] = {}

    @property
    def path(self) -> Path:
        return self.folder / STATE_FILE

    @property
    def draft_path(self) -> Path:
        return self.folder / DRAFT_FILE

    @classmethod
    def load(cls, folder: Path) -> RememberedState:
        """The state stored in `folder`; empty (with a log line) when it cannot be read."""
        state = cls(folder)
        try:
            data = read_object(state.path)
        except FileNotFoundError:
            return state
        except UnusableFile as exc:
            log.warning("Ignoring the state file %s: %s", state.path, exc)
            return state
        for name, kind in KEYS.items():
            value = data.get(name)
            if isinstance(value, kind):
                state._values[name] = value
        return state

    def get(self, name: str) -> Any:
        """The remembered value of `name`, or None. KeyError for a name that is not in KEYS."""
        if name not in KEYS:
            raise KeyError(f"the app state has no value named {name!r}")
        return self._values.get(name)

    def set(self, name: str, value: Any) -> None:
        """Remember `value` (written by `save`). TypeError when it is not of the declared type."""
        kind = KEYS[name]
        if not isinstance(value, kind):
            raise TypeError(f"{name} is a {kind.__name__}, not {type(value).__name__}")
        self._values[name] = value

    def save(self) -> None:
        """Write state.json atomically. OSError when the folder cannot be written."""
        text = json.dumps(self._values, indent=2, sort_keys=True) + "\n"
        write_atomically(self.path, text)

    def read_draft(self) -> str:
        """The draft written last, or "" when there is none or it cannot be read."""
        try:
            size = self.draft_path.stat().st_size
            if size > MAX_DRAFT_BYTES:
                log.warning("The draft %s is too large to restore (%d B)", self.draft_path, size)
                return ""
            return self.draft_path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""
        except OSError as exc:
            log.warning("Could not read the draft %s: %s", self.draft_path, exc)
            return ""

    def write_draft(self, text: str) -> None:
        """Keep `text` as the draft (atomically); an empty text removes the file.

        OSError when the folder cannot be written.
        """
        if not text:
            self.draft_path.unlink(missing_ok=True)
            return
        # Lone surrogates (pasted from odd sources) cannot be UTF-8; they are not worth a crash.
        write_atomically(self.draft_path, text.encode("utf-8", "replace").decode("utf-8"))
