"""Tokenizer files and ONNX stand-ins for the random model folders that `tinymodel` builds.

The tokenizer is a small byte-level BPE laid out like Qwen2's (byte symbols first, placeholders up
to the Qwen2 special ids), so the CosyVoice3 specials land at their official ids. The ONNX files
are small deterministic graphs with the calling conventions of CAM++ and the S3 speech tokenizer.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

REGULAR_TOKENS = 151643  # ids of vocab.json; the Qwen2 specials follow
QWEN_SPECIALS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
SPEECH_TOKENS = 6561
MEL = 80
SPK = 192


# Text the merges are learnt from: everyday English, so that common words become single tokens.
_CORPUS = """
Hello world, this is a test of the speech model. The quick brown fox jumps over the lazy dog.
Please read the text aloud in a clear and friendly voice. It was a bright cold day in April,
and the clocks were striking thirteen. We would like to thank you for your time and patience.
There are many things that people can do with their own computer at home or at work today.
What time is it now? I think that we should go there together, but only if you want to come.
She said that he had never seen anything like this before, and they all laughed about it.
This morning the weather is nice, so let us take a long walk through the park and the town.
Numbers such as one, two, three, four, five, six, seven, eight, nine and ten are spoken out.
"""
_PRETOKEN = re.compile(r" ?[A-Za-z]+| ?[0-9]| ?[^\sA-Za-z0-9]+|\s+")


def _byte_table() -> dict[int, str]:
    """Byte -> symbol, in Qwen2's id order: printable bytes as themselves, the rest shifted."""
    kept = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    table = {b: chr(b) for b in kept}
    shifted = [b for b in range(256) if b not in table]
    table.update({b: chr(256 + n) for n, b in enumerate(shifted)})
    return table


def byte_symbols() -> list[str]:
    """The 256 byte-level symbols, ids 0..255 of a Qwen2 vocabulary."""
    return list(_byte_table().values())


def learn_merges(text: str, count: int) -> list[tuple[str, str]]:
    """Byte-level BPE merges learnt from `text`: most frequent pair first, ties by the pair."""
    table = _byte_table()
    pieces = _PRETOKEN.findall(text)
    words = Counter(tuple(table[b] for b in piece.encode("utf-8")) for piece in pieces)
    merges: list[tuple[str, str]] = []
    while len(merges) < count:
        pairs: Counter[tuple[str, str]] = Counter()
        for word, n in words.items():
            for pair in itertools.pairwise(word):
                pairs[pair] += n
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        words = Counter({_merge(word, best): n for word, n in words.items()})
    return merges


def _merge(word: tuple[str, ...], pair: tuple[str, str]) -> tuple[str, ...]:
    out: list[str] = []
    i = 0
    while i < len(word):
        if i + 1 < len(word) and (word[i], word[i + 1]) == pair:
            out.append(word[i] + word[i + 1])
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)


def write_tokenizer(folder: Path, merges_count: int = 400) -> None:
    merges = learn_merges(_CORPUS, merges_count)
    vocab: dict[str, int] = {}
    for token in [*byte_symbols(), *(a + b for a, b in merges)]:
        vocab.setdefault(token, len(vocab))
    # Unreachable stand-ins (no merge builds them) so that the specials get Qwen2's ids.
    for n in range(len(vocab), REGULAR_TOKENS):
        vocab[f"<unused_{n}>"] = n
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    lines = ["#version: 0.2", *(f"{a} {b}" for a, b in merges)]
    (folder / "merges.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_onnx_models(dest: Path, seed: int) -> None:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)

    def init(name: str, array: Any) -> onnx.TensorProto:
        return numpy_helper.from_array(np.asarray(array), name)

    def save(graph: onnx.GraphProto, path: Path) -> None:
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        onnx.checker.check_model(model)
        path.write_bytes(model.SerializeToString())

    # Speaker stand-in: relu(x W1 + b1), averaged over time, then W2 + b2.
    hidden = 64
    speaker = helper.make_graph(
        [
            helper.make_node("MatMul", ["feature", "w1"], ["a"]),
            helper.make_node("Add", ["a", "b1"], ["b"]),
            helper.make_node("Relu", ["b"], ["c"]),
            helper.make_node("ReduceMean", ["c"], ["d"], axes=[1], keepdims=0),
            helper.make_node("MatMul", ["d", "w2"], ["e"]),
            helper.make_node("Add", ["e", "b2"], ["embedding"]),
        ],
        "campplus_stand_in",
        [helper.make_tensor_value_info("feature", TensorProto.FLOAT, ["B", "T", MEL])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["B", SPK])],
        [
            init("w1", rng.normal(0, 0.2, (MEL, hidden)).astype(np.float32)),
            init("b1", rng.normal(0, 0.1, hidden).astype(np.float32)),
            init("w2", rng.normal(0, 0.3, (hidden, SPK)).astype(np.float32)),
            init("b2", rng.normal(0, 0.1, SPK).astype(np.float32)),
        ],
    )
    save(speaker, dest / "campplus.onnx")

    # Speech-token stand-in: stride-4 conv to 8 channels, tanh, round to {-1, 0, 1}, base-3 code.
    # Padding 3 on the right gives ceil(T / 4) tokens; feats_length is read but changes nothing.
    tokenizer = helper.make_graph(
        [
            helper.make_node("Conv", ["feats", "w", "b"], ["y"], strides=[4], pads=[0, 3]),
            helper.make_node("Tanh", ["y"], ["t"]),
            helper.make_node("Round", ["t"], ["r"]),
            helper.make_node("Add", ["r", "one"], ["digits"]),
            helper.make_node("Transpose", ["digits"], ["dt"], perm=[0, 2, 1]),
            helper.make_node("MatMul", ["dt", "powers"], ["code"]),
            helper.make_node("Cast", ["code"], ["code_i"], to=TensorProto.INT64),
            helper.make_node("Cast", ["feats_length"], ["len_i"], to=TensorProto.INT64),
            helper.make_node("Mul", ["len_i", "zero"], ["nothing"]),
            helper.make_node("Add", ["code_i", "nothing"], ["indices"]),
        ],
        "speech_tokenizer_stand_in",
        [
            helper.make_tensor_value_info("feats", TensorProto.FLOAT, [1, 128, "T"]),
            helper.make_tensor_value_info("feats_length", TensorProto.INT32, [1]),
        ],
        [helper.make_tensor_value_info("indices", TensorProto.INT64, [1, "N"])],
        [
            init("w", rng.normal(0, 0.1, (8, 128, 4)).astype(np.float32)),
            init("b", rng.normal(0, 0.1, 8).astype(np.float32)),
            init("one", np.float32(1.0)),
            init("powers", (3.0 ** np.arange(8)).astype(np.float32)),
            init("zero", np.int64(0)),
        ],
    )
    save(tokenizer, dest / "speech_tokenizer_v3.onnx")
