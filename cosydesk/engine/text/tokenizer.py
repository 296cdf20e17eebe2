"""The CosyVoice3 text tokenizer: Qwen2 byte-level BPE plus the control strings CosyVoice3 adds.

The model folder's `CosyVoice-BlankEN/` holds the plain Qwen2 vocabulary (`vocab.json`,
`merges.txt`) and declares Qwen2's own control tokens in `tokenizer_config.json`. CosyVoice3 then
appends its markers (prompt separator, breath and laughter tags, ARPAbet and pinyin phone tags) at
load time. Their ids are simply the next free ones in the order listed below, so that order is part
of the checkpoint format: the LM's embedding rows 151646.. were trained for exactly these strings.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers
from tokenizers.models import BPE

from cosydesk.engine.errors import ModelFolderError

ENDOFPROMPT = "<|endofprompt|>"

# Qwen2's pre-tokenisation: English contractions, letter runs with one leading non-letter, single
# digits, punctuation runs, newlines, then whitespace (a trailing space stays with the next word).
QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# Qwen2's own control tokens (ids 151643..151645), assumed when tokenizer_config.json is absent.
QWEN2_CONTROL = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")

# Markers CosyVoice3 registers before the phone tags. The two chat markers are already in Qwen2's
# vocabulary and keep their ids; everything after them gets a new id, starting at 151646.
_MARKERS = """
    <|im_start|> <|im_end|> <|endofprompt|>
    [breath] <strong> </strong> [noise] [laughter] [cough] [clucking] [accent] [quick_breath]
    <laughter> </laughter> [hissing] [sigh] [vocalized-noise] [lipsmack] [mn] <|endofsystem|>
"""

# CMU ARPAbet phones; vowels also come with lexical stress 0, 1 and 2.
_ARPABET_VOWELS = "AA AE AH AO AW AY EH ER EY IH IY OW OY UH UW"
_ARPABET_CONSONANTS = "B CH D DH F G HH JH K L M N NG P R S SH T TH V W Y Z ZH"

# Pinyin units: initials, toneless finals, then toned finals grouped by tone (1st to 4th). They
# are registered in code-point order, which is how CosyVoice3 laid out their ids.
_PINYIN = """
    b c ch d f g h j k l m n p q r s sh t w x y z zh
    a ai an ang ao e ei en eng i ian in ing iu o ong ou u uang ue un uo
    iā iān iāng iāo iē iōng iū uā uāi uān uāng uē uī uō
    ā āi ān āng āo ē ēi ēn ēng ī īn īng ō ōng ōu ū ūn
    iá ián iáng iáo ié ióng iú uá uái uán uáng ué uí uó
    á ái án áng áo é éi én éng ér í ín íng ó óng óu ú ún ǘ
    iě iǎ iǎn iǎng iǎo iǒng iǔ uě uǎ uǎi uǎn uǎng uǐ uǒ
    ǎ ǎi ǎn ǎng ǎo ě ěi ěn ěng ěr ǐ ǐn ǐng ǒ ǒng ǒu ǔ ǔn ǚ
    ià iàn iàng iào iè iòng iù uà uài uàn uàng uè uì uò vè
    à ài àn àng ào è èi èn èng èr ì ìn ìng ò òng òu ù ùn ǜ
"""


def _arpabet_tags() -> list[str]:
    vowels = set(_ARPABET_VOWELS.split())
    tags = []
    for phone in sorted(vowels | set(_ARPABET_CONSONANTS.split())):
        tags.append(f"[{phone}]")
        if phone in vowels:
            tags += [f"[{phone}{stress}]" for stress in "012"]
    return tags


def cosyvoice3_special_tokens() -> list[str]:
    """Every control string CosyVoice3 registers, in registration (= id) order."""
    pinyin = sorted(f"[{unit}]" for unit in _PINYIN.split())
    return [*_MARKERS.split(), *_arpabet_tags(), *pinyin]


# Tokenizers in use, by their files: a reload of the same folder (switching 4-bit/8-bit) gets
# the one its previous engine had instead of parsing vocab.json again. That parse is one call
# that holds the GIL for 0.15-0.3 s on two cores, and the app's window cannot answer meanwhile.
# Weak, so an unloaded model's tokenizer is not kept; a tokenizer never changes once built.
_IN_USE: weakref.WeakValueDictionary[tuple[object, ...], CosyTokenizer] = (
    weakref.WeakValueDictionary()
)
_IN_USE_LOCK = threading.Lock()
_FILES = ("vocab.json", "merges.txt", "tokenizer_config.json")


def _files_key(folder: Path) -> tuple[object, ...] | None:
    """What identifies the tokenizer files' contents: path, size and change time of each."""
    try:
        stats = [(folder / name).stat() for name in _FILES if (folder / name).exists()]
        return (str(folder.resolve()), *((s.st_size, s.st_mtime_ns, s.st_ino) for s in stats))
    except OSError:
        return None


class CosyTokenizer:
    """Text -> token ids exactly as CosyVoice3 tokenises (special strings always honoured)."""

    def __init__(self, backend: Tokenizer) -> None:
        self._backend = backend
        self._special = frozenset(
            token.content for token in backend.get_added_tokens_decoder().values()
        )

    @classmethod
    def from_folder(cls, blank_en_dir: Path) -> CosyTokenizer:
        """Build the tokenizer from a `CosyVoice-BlankEN` folder.

        Raises ModelFolderError naming the file when vocab.json or merges.txt is missing or
        unreadable, or when tokenizer_config.json contradicts the vocabulary. Files that a
        tokenizer still in use was built from give that same tokenizer.
        """
        folder = Path(blank_en_dir)
        key = _files_key(folder)
        with _IN_USE_LOCK:
            found = _IN_USE.get(key) if key is not None else None
        if found is not None:
            return found
        built = cls._build(folder)
        if key is not None:
            with _IN_USE_LOCK:
                _IN_USE[key] = built
        return built

    @classmethod
    def _build(cls, folder: Path) -> CosyTokenizer:
        vocab = _read_vocab(folder / "vocab.json")
        merges = _read_merges(folder / "merges.txt", vocab)
        try:
            model = BPE(vocab=vocab, merges=merges, fuse_unk=False, byte_fallback=False)
        except Exception as exc:  # the Rust side reports inconsistencies as plain Exceptions
            raise ModelFolderError(
                f"merges.txt in {folder} does not fit vocab.json ({exc}): the tokenizer files are"
                " damaged; download the model folder again."
            ) from exc
        backend = Tokenizer(model)
        backend.normalizer = normalizers.NFC()
        backend.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated", invert=False),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
            ]
        )
        backend.decoder = decoders.ByteLevel()
        for token_id, token in _declared_tokens(folder / "tokenizer_config.json"):
            if token.special:
                backend.add_special_tokens([token])
            else:
                backend.add_tokens([token])
            landed = backend.token_to_id(token.content)
            if token_id is not None and landed != token_id:
                raise ModelFolderError(
                    f"tokenizer_config.json in {folder} puts {token.content} at id {token_id},"
                    f" but with this vocab.json it lands at id {landed}: the tokenizer files do"
                    " not belong together; download the model folder again."
                )
        # Strings already known keep their id; the rest are numbered in list order.
        backend.add_special_tokens(cosyvoice3_special_tokens())
        return cls(backend)

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`; control strings such as <|endofprompt|> become their own id."""
        try:
            return list(self._backend.encode(text, add_special_tokens=False).ids)
        except TypeError:
            # Lone surrogates (broken clipboard data) cannot cross into Rust: drop them.
            clean = text.encode("utf-8", "replace").decode("utf-8")
            return list(self._backend.encode(clean, add_special_tokens=False).ids)

    def decode(self, ids: Iterable[int], *, skip_special: bool = False) -> str:
        """Text of `ids`; control strings are kept verbatim unless `skip_special`."""
        # Control strings are emitted as written: the byte-level decoder would otherwise read
        # pinyin tags such as "[ěn]" as encoded bytes and garble them.
        parts: list[str] = []
        run: list[int] = []
        for token_id in ids:
            content = self._backend.id_to_token(int(token_id))
            if content not in self._special:
                run.append(int(token_id))
                continue
            if run:
                parts.append(self._backend.decode(run, skip_special_tokens=False))
                run = []
            if not skip_special:
                parts.append(content)
        if run:
            parts.append(self._backend.decode(run, skip_special_tokens=False))
        return "".join(parts)

    def __len__(self) -> int:
        return int(self._backend.get_vocab_size(with_added_tokens=True))

    def token_id(self, s: str) -> int:
        """Id of one vocabulary entry or control string; KeyError when it is neither."""
        token_id = self._backend.token_to_id(s)
        if token_id is None:
            raise KeyError(f"{s!r} is not a single token of the CosyVoice3 vocabulary")
        return int(token_id)

    @property
    def endofprompt_id(self) -> int:
        """Id of <|endofprompt|>, the marker that ends the instruction/system part of a prompt."""
        return self.token_id(ENDOFPROMPT)

    @property
    def special_tokens(self) -> frozenset[str]:
        """Every control string the tokenizer matches before BPE."""
        return self._special

    def is_special(self, token_id: int) -> bool:
        """Whether `token_id` is a control token rather than a piece of text."""
        return self._backend.id_to_token(int(token_id)) in self._special


def _read_vocab(path: Path) -> dict[str, int]:
    if not path.is_file():
        raise ModelFolderError(
            f"The tokenizer folder {path.parent} lacks vocab.json: choose the model folder whose"
            " CosyVoice-BlankEN/ holds vocab.json and merges.txt, or download it again."
        )
    try:
        vocab = json.loads(path.read_text(encoding="utf-8"))
        ok = isinstance(vocab, dict) and all(type(v) is int for v in vocab.values())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _damaged(path, str(exc)) from exc
    if not ok or not vocab:
        raise _damaged(path, "it is not a mapping of tokens to ids")
    return vocab


def _read_merges(path: Path, vocab: dict[str, int]) -> list[tuple[str, str]]:
    if not path.is_file():
        raise ModelFolderError(
            f"The tokenizer folder {path.parent} lacks merges.txt: choose the model folder whose"
            " CosyVoice-BlankEN/ holds vocab.json and merges.txt, or download it again."
        )
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise _damaged(path, str(exc)) from exc
    merges = []
    for number, line in enumerate(lines, start=1):
        if not line or (number == 1 and line.startswith("#version")):
            continue
        pair = line.split(" ")
        if len(pair) != 2 or not all(pair):
            raise _damaged(path, f"line {number} is not a pair of tokens")
        # Checked here: the Rust BPE builder panics on such a merge instead of raising an error.
        if pair[0] not in vocab or pair[1] not in vocab or pair[0] + pair[1] not in vocab:
            raise _damaged(path, f"line {number} merges tokens that vocab.json does not have")
        merges.append((pair[0], pair[1]))
    if not merges:
        raise _damaged(path, "it holds no merges")
    return merges


def _declared_tokens(path: Path) -> list[tuple[int | None, AddedToken]]:
    """Control tokens the config declares, by id.

    Without a config, Qwen2's three are assumed and take the next free ids (no id is promised).
    """
    if not path.is_file():
        return [(None, AddedToken(s, special=True, normalized=False)) for s in QWEN2_CONTROL]
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
        declared: dict[str, Any] = config.get("added_tokens_decoder") or {}
        tokens = [(int(key), _added_token(entry)) for key, entry in declared.items()]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError) as exc:
        raise _damaged(path, str(exc)) from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise _damaged(path, f"an added_tokens_decoder entry is malformed ({exc})") from exc
    tokens.sort(key=lambda item: item[0])
    return list(tokens)


def _added_token(entry: dict[str, Any]) -> AddedToken:
    content = entry["content"]
    if not isinstance(content, str) or not content:
        raise ValueError("empty content")
    special = bool(entry.get("special", True))
    return AddedToken(
        content,
        single_word=bool(entry.get("single_word", False)),
        lstrip=bool(entry.get("lstrip", False)),
        rstrip=bool(entry.get("rstrip", False)),
        normalized=bool(entry.get("normalized", not special)),
        special=special,
    )


def _damaged(path: Path, why: str) -> ModelFolderError:
    return ModelFolderError(
        f"{path.name} in {path.parent} cannot be read ({why}): the tokenizer files are damaged;"
        " download the model folder again."
    )
