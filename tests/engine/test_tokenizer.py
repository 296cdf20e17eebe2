"""CosyVoice3 text tokenizer: exact id parity with upstream, control strings, clear file errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cosydesk.engine.errors import ModelFolderError
from cosydesk.engine.text.tokenizer import CosyTokenizer, cosyvoice3_special_tokens

TOKENS_CASES = range(9)


def _npz(parity_dir: Path, name: str) -> dict[str, np.ndarray]:
    with np.load(parity_dir / "golden" / f"{name}.npz", allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


# -- parity with the upstream tokenizer ------------------------------------------------------


def test_vocabulary_size_matches_upstream(tokenizer: CosyTokenizer, golden_tokens: dict) -> None:
    assert len(tokenizer) == golden_tokens["tokenizer_len"] == 151924


def test_special_ids_match_upstream(
    tokenizer: CosyTokenizer, golden_tokens: dict, parity_dir: Path
) -> None:
    expected = _npz(parity_dir, "tokens")["special_ids"].tolist()
    got = [tokenizer.token_id(s) for s in golden_tokens["special_ids_for"]]
    assert got == expected
    assert tokenizer.endofprompt_id == 151646


@pytest.mark.parametrize("index", TOKENS_CASES)
def test_raw_text_ids_match_upstream(
    tokenizer: CosyTokenizer, golden_tokens: dict, parity_dir: Path, index: int
) -> None:
    case = golden_tokens["cases"][index]
    ids = tokenizer.encode(case["text"])
    assert ids == case["ids"]
    assert ids == _npz(parity_dir, "tokens")[f"ids_{index:02d}"].tolist()


@pytest.mark.parametrize("index", TOKENS_CASES)
def test_normalized_text_ids_match_upstream(
    tokenizer: CosyTokenizer, golden_tokens: dict, index: int
) -> None:
    case = golden_tokens["cases"][index]
    assert [tokenizer.encode(t) for t in case["normalized_split"]] == case["normalized_ids"]


def test_llm_and_e2e_text_ids_match_upstream(tokenizer: CosyTokenizer, parity_dir: Path) -> None:
    llm, e2e, frontend = (_npz(parity_dir, n) for n in ("llm", "e2e", "frontend"))
    texts = json.loads((parity_dir / "golden" / "e2e.json").read_text(encoding="utf-8"))
    text_ids = tokenizer.encode(texts["tts_text_normalized"])
    prompt_ids = tokenizer.encode(texts["prompt_text_normalized"])
    for golden in (llm, e2e):
        assert golden["text"][0].tolist() == text_ids
        assert golden["prompt_text"][0].tolist() == prompt_ids
    assert frontend["zs_text"][0].tolist() == text_ids
    assert frontend["zs_prompt_text"][0].tolist() == prompt_ids
    assert prompt_ids.count(tokenizer.endofprompt_id) == 1


@pytest.mark.parametrize(
    ("case", "text"),
    [
        ("A", "Hello world, this is a parity test."),
        ("B", "The quick brown fox jumps over the lazy dog."),
        # The LM goldens were fed this text as written (space before "machine" kept).
        ("C", "我今天学了 machine learning。"),
    ],
)
def test_greedy_case_text_ids_match_upstream(
    tokenizer: CosyTokenizer, parity_dir: Path, case: str, text: str
) -> None:
    assert tokenizer.encode(text) == _npz(parity_dir, "llm")[f"greedy{case}_text"].tolist()


# -- behaviour ---------------------------------------------------------------------------------


def test_special_token_list_is_complete_and_unique() -> None:
    tokens = cosyvoice3_special_tokens()
    assert len(tokens) == len(set(tokens)) == 280
    assert tokens[:3] == ["<|im_start|>", "<|im_end|>", "<|endofprompt|>"]
    assert tokens[19:24] == ["<|endofsystem|>", "[AA]", "[AA0]", "[AA1]", "[AA2]"]
    assert tokens[-1] == "[ǜ]"


def test_phone_tags_are_single_tokens(tokenizer: CosyTokenizer) -> None:
    text = "[HH][AH0][L][OW1][n][ǐ][h][ǎo][laughter]<|endofsystem|>"
    ids = tokenizer.encode(text)
    assert len(ids) == 10
    assert all(tokenizer.is_special(i) for i in ids)
    assert tokenizer.decode(ids) == text


def test_decode_round_trips_and_can_drop_control_strings(tokenizer: CosyTokenizer) -> None:
    text = "Grüße, 世界 😀\n\t[breath]naïve <|endofprompt|>[ěn] end."
    ids = tokenizer.encode(text)
    assert tokenizer.decode(ids) == text
    assert tokenizer.decode(ids, skip_special=True) == "Grüße, 世界 😀\n\tnaïve  end."


def test_text_is_nfc_normalised_but_markers_are_matched_as_written(
    tokenizer: CosyTokenizer,
) -> None:
    assert tokenizer.encode("cafe\u0301") == tokenizer.encode("café")
    # A decomposed pinyin tag is not the control string; it is tokenised as plain text.
    assert tokenizer.token_id("[ǎo]") not in tokenizer.encode("[a\u030co]")


def test_broken_unicode_does_not_crash(tokenizer: CosyTokenizer) -> None:
    ids = tokenizer.encode("a\ud800b")
    assert tokenizer.decode(ids) == "a?b"


def test_unknown_token_id_is_a_key_error(tokenizer: CosyTokenizer) -> None:
    with pytest.raises(KeyError, match="not a single token"):
        tokenizer.token_id("<|no such marker|>")
    assert tokenizer.token_id("Hello") == 9707


# -- small folders: id layout and errors ---------------------------------------------------------


def _byte_alphabet() -> list[str]:
    """GPT-2 byte-level alphabet: printable Latin-1 bytes stand for themselves."""
    printable = {*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)}
    shifted = iter(range(0x100, 0x200))
    return [chr(b) if b in printable else chr(next(shifted)) for b in range(256)]


def _write_folder(
    folder: Path,
    *,
    vocab: object = None,
    merges: str | None = None,
    config: object = None,
    skip: tuple[str, ...] = (),
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if vocab is None:
        vocab = {s: i for i, s in enumerate([*_byte_alphabet(), "he", "ll", "hell", "hello"])}
    if merges is None:
        merges = "#version: 0.2\nh e\nl l\nhe ll\nhell o\n"
    if config is None:
        base = len(vocab) if isinstance(vocab, dict) else 0
        names = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
        config = {
            "added_tokens_decoder": {
                str(base + i): {"content": s, "special": True, "normalized": False}
                for i, s in enumerate(names)
            }
        }
    files = {
        "vocab.json": vocab if isinstance(vocab, str) else json.dumps(vocab),
        "merges.txt": merges,
        "tokenizer_config.json": config if isinstance(config, str) else json.dumps(config),
    }
    for name, content in files.items():
        if name not in skip:
            (folder / name).write_text(content, encoding="utf-8")
    return folder


def test_small_vocabulary_gets_cosyvoice3_markers_after_its_own(tmp_path: Path) -> None:
    tok = CosyTokenizer.from_folder(_write_folder(tmp_path / "tok"))
    base = 256 + 4
    assert tok.token_id("<|endoftext|>") == base
    assert tok.endofprompt_id == base + 3
    assert len(tok) == base + 3 + 278
    assert tok.encode("hello<|endofprompt|>[breath]") == [base - 1, base + 3, base + 4]


def test_folder_without_config_assumes_qwen_markers(tmp_path: Path) -> None:
    tok = CosyTokenizer.from_folder(
        _write_folder(tmp_path / "tok", skip=("tokenizer_config.json",))
    )
    assert tok.token_id("<|im_end|>") == 256 + 4 + 2
    assert tok.endofprompt_id == 256 + 4 + 3


def test_the_same_files_give_the_tokenizer_in_use_and_changed_files_a_new_one(
    tmp_path: Path,
) -> None:
    import gc
    import os
    import weakref

    folder = _write_folder(tmp_path / "tok")
    first = CosyTokenizer.from_folder(folder)
    assert CosyTokenizer.from_folder(folder) is first
    vocab = folder / "vocab.json"
    stamp = vocab.stat().st_mtime_ns
    os.utime(vocab, ns=(stamp + 10**9, stamp + 10**9))  # the file was replaced
    second = CosyTokenizer.from_folder(folder)
    assert second is not first
    # Nothing keeps a tokenizer that is no longer in use.
    gone = weakref.ref(second)
    del second
    gc.collect()
    assert gone() is None


@pytest.mark.parametrize("missing", ["vocab.json", "merges.txt"])
def test_missing_file_is_named(tmp_path: Path, missing: str) -> None:
    folder = _write_folder(tmp_path / "tok", skip=(missing,))
    with pytest.raises(ModelFolderError, match=f"lacks {missing}"):
        CosyTokenizer.from_folder(folder)


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"vocab": "{not json"}, "vocab.json"),
        ({"vocab": ["a", "b"]}, "vocab.json"),
        ({"merges": "#version: 0.2\nh e x\n"}, "merges.txt"),
        ({"merges": "#version: 0.2\nq z\n"}, "merges.txt"),
        ({"merges": "#version: 0.2\n"}, "merges.txt"),
        ({"config": "{]"}, "tokenizer_config.json"),
        ({"config": {"added_tokens_decoder": {"5": {"content": "<|endoftext|>"}}}}, "id 5"),
    ],
)
def test_damaged_file_is_named(tmp_path: Path, kwargs: dict, named: str) -> None:
    folder = _write_folder(tmp_path / "tok", **kwargs)
    with pytest.raises(ModelFolderError, match=named.replace(".", r"\.")) as info:
        CosyTokenizer.from_folder(folder)
    assert "download the model folder again" in str(info.value)
