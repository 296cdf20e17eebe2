"""The app's state as the tray, the window and the status bar show it (the controller decides)."""

from __future__ import annotations

from cosydesk.engine.types import Word


class AppState(Word):
    """What the app is doing, as a person sees it. The controller's `state_changed` signal
    carries the word; the words compare equal to the members."""

    NO_MODEL = "no-model"  # no model folder chosen yet
    UNLOADED = "unloaded"
    LOADING = "loading"
    READY = "ready"
    SPEAKING = "speaking"
    PAUSED = "paused"
    WORKING = "working"  # saving a file, adding a voice, or waiting behind an API request
    ERROR = "error"
