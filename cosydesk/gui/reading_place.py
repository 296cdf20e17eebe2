"""Where the last reading of a text stopped, kept across restarts, so "Continue" reads on.

A place belongs to one text: it is stored with a digest of the whole text, so a place is
never applied to a text that changed since (its characters would no longer match). The
most recent places are kept, one per text, in a small JSON file beside the voices. Qt-free.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from cosydesk.configfile import UnusableFile, read_object, write_atomically

log = logging.getLogger(__name__)

FILE_NAME = "reading-places.json"
KEEP = 20  # texts whose place is remembered; older ones are forgotten


def text_id(text: str) -> str:
    """The identity of `text`: a digest of its characters."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class ReadingPlaces:
    """The places of the last texts read, stored at `path` (written at every change)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._places: dict[str, int] = {}  # text id -> character, oldest first
        try:
            data = read_object(self.path)
        except FileNotFoundError:
            return
        except UnusableFile as exc:
            log.warning("The reading places in %s are ignored: %s", self.path, exc)
            return
        places = data.get("places")
        if isinstance(places, dict):
            for key, value in places.items():
                if isinstance(key, str) and isinstance(value, int) and value >= 0:
                    self._places[key] = value

    def place(self, text: str) -> int | None:
        """Where the last reading of exactly this `text` stopped, or None."""
        found = self._places.get(text_id(text))
        return found if found is not None and found < len(text) else None

    def remember(self, text: str, position: int) -> None:
        """The reading of `text` stopped at character `position`."""
        key = text_id(text)
        self._places.pop(key, None)
        self._places[key] = int(position)
        while len(self._places) > KEEP:
            del self._places[next(iter(self._places))]
        self._write()

    def forget(self, text: str) -> None:
        """`text` was read to its end: the next reading starts at its beginning."""
        if self._places.pop(text_id(text), None) is not None:
            self._write()

    def _write(self) -> None:
        try:
            write_atomically(self.path, json.dumps({"version": 1, "places": self._places}) + "\n")
        except OSError as exc:
            log.warning("Could not keep the reading place in %s: %s", self.path, exc)
