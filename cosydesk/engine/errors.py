"""Exceptions the engine raises; every message tells a person what happened and what to do."""

from __future__ import annotations


class EngineError(Exception):
    """Base class of every error the engine reports to a user."""


class ModelFolderError(EngineError):
    """The model folder is missing a file, holds a damaged one, or does not match its config."""


class ConfigError(EngineError):
    """A setting or environment variable has a value outside its allowed set."""


class VoiceError(EngineError):
    """A voice clip or its transcript cannot be used."""


class Cancelled(EngineError):
    """The caller asked for the work to stop; raised between chunks, never mid-chunk."""
