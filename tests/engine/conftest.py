"""Fixtures shared by the engine tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cosydesk.engine.text.tokenizer import CosyTokenizer


@pytest.fixture(scope="session")
def tokenizer(parity_dir: Path) -> CosyTokenizer:
    """The tokenizer of the dev parity fixture's model folder."""
    return CosyTokenizer.from_folder(parity_dir / "model" / "CosyVoice-BlankEN")


@pytest.fixture(scope="session")
def golden_tokens(parity_dir: Path) -> dict:
    """golden/tokens.json of the dev parity fixture."""
    return json.loads((parity_dir / "golden" / "tokens.json").read_text(encoding="utf-8"))
