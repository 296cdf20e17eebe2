"""What quantising the LLM produced, kept on disk so the next load skips the work.

Quantising the Qwen2 trunk happens on every load otherwise (at every app start and every switch
between 4-bit and 8-bit). The result is a few hundred packed tensors per mode; they are written
once, as safetensors (plain tensors and a JSON header: reading one runs no code, unlike a
pickle), in the user's cache folder, never in the model folder.

An entry is keyed to everything its tensors depend on: the content of llm.pt (size, mtime and a
SHA-256 of the bytes), the mode and its parameters, the layout of the layers, and the versions of
bitsandbytes and torch. The key names the file and is stored inside it; an entry whose stored key
differs, or that cannot be read, is ignored with a log line and written again. Files are written
to a temp file in the same folder and renamed, so a crash never leaves half an entry under the
final name. Hashing 2 GB costs seconds, so the digest of llm.pt is remembered per (path, size,
mtime, inode) in `digests.json` beside the entries, and computed again when any of them changes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import torch

from cosydesk.configfile import replace_atomically

log = logging.getLogger(__name__)

FORMAT = 1
DIGESTS = "digests.json"
_CHUNK = 8 << 20


def _versions() -> dict[str, str]:
    import bitsandbytes

    return {"torch": torch.__version__, "bitsandbytes": str(bitsandbytes.__version__)}


def _stat_record(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


class QuantCache:
    """The quantised-LLM entries in one cache folder (created when first written)."""

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)

    # -- the key --------------------------------------------------------------------------------

    def file_digest(self, path: Path) -> str:
        """SHA-256 of `path`'s bytes, remembered while its size, mtime and inode stay the same."""
        path = Path(path).resolve()
        record = _stat_record(path)
        memo_path = self.folder / DIGESTS
        memo: dict[str, Any] = {}
        with contextlib.suppress(OSError, ValueError):
            loaded = json.loads(memo_path.read_text(encoding="utf-8"))
            memo = loaded if isinstance(loaded, dict) else {}
        known = memo.get(str(path))
        if isinstance(known, dict) and all(known.get(k) == v for k, v in record.items()):
            sha = known.get("sha256")
            if isinstance(sha, str) and len(sha) == 64:
                return sha
        sha = _sha256(path)
        memo[str(path)] = {**record, "sha256": sha}
        text = json.dumps(memo, indent=1, sort_keys=True)
        try:
            replace_atomically(memo_path, lambda temp: temp.write_text(text, "utf-8"))
        except OSError as exc:
            log.warning("could not remember the digest of %s in %s: %s", path, memo_path, exc)
        return sha

    def key(self, llm_pt: Path, params: dict[str, Any], layout: dict[str, list[int]]) -> dict:
        """Everything an entry's tensors depend on, as plain JSON data."""
        llm_pt = Path(llm_pt)
        st = llm_pt.stat()
        return {
            "format": FORMAT,
            "llm_pt": {
                "size": st.st_size,
                "mtime_ns": st.st_mtime_ns,
                "sha256": self.file_digest(llm_pt),
            },
            "params": params,
            "layout": hashlib.sha256(json.dumps(layout, sort_keys=True).encode()).hexdigest(),
            "versions": _versions(),
        }

    def path_for(self, key: dict) -> Path:
        text = json.dumps(key, sort_keys=True)
        name = hashlib.sha256(text.encode()).hexdigest()[:24]
        return self.folder / f"llm-{key['params'].get('mode', 'q')}-{name}.safetensors"

    # -- reading and writing --------------------------------------------------------------------

    def read(self, key: dict, source: str) -> dict[str, torch.Tensor] | None:
        """The tensors stored under `key` (on the CPU), or None (logged) when there are none
        usable: none yet, damaged, or written for another key."""
        from safetensors import SafetensorError, safe_open

        path = self.path_for(key)
        if not path.is_file():
            stale = self._entries_for(source, key["params"].get("mode"))
            if stale:
                log.info(
                    "the quantised LLM cached in %s no longer fits %s (the file, the settings "
                    "or bitsandbytes/torch changed); quantising again",
                    stale[0],
                    source,
                )
            return None
        try:
            with safe_open(str(path), framework="pt", device="cpu") as stream:
                stored = (stream.metadata() or {}).get("cosydesk_key")
                if stored != json.dumps(key, sort_keys=True):
                    log.warning(
                        "ignoring the quantisation cache %s: it was made for another key", path
                    )
                    return None
                return {name: stream.get_tensor(name) for name in stream.keys()}  # noqa: SIM118
        except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
            log.warning(
                "ignoring the damaged quantisation cache %s (%s); quantising again", path, exc
            )
            return None

    def write(self, key: dict, source: str, tensors: dict[str, torch.Tensor]) -> Path | None:
        """Store `tensors` under `key`, atomically; older entries for the same model file and
        mode are removed. Returns the entry's path, or None (logged) when it cannot be written."""
        from safetensors.torch import save_file

        path = self.path_for(key)
        metadata = {"cosydesk_key": json.dumps(key, sort_keys=True), "source": source}
        cpu = {name: t.detach().to("cpu").contiguous() for name, t in tensors.items()}
        try:
            stale = [p for p in self._entries_for(source, key["params"].get("mode")) if p != path]
            replace_atomically(path, lambda temp: save_file(cpu, str(temp), metadata=metadata))
        except OSError as exc:
            log.warning("could not write the quantisation cache %s: %s", path, exc)
            return None
        for old in stale:
            with contextlib.suppress(OSError):
                old.unlink()
        log.info("kept the quantised LLM in %s for the next load", path)
        return path

    def _entries_for(self, source: str, mode: Any) -> list[Path]:
        """Entries of this folder made from `source` in `mode` (their headers only are read)."""
        from safetensors import safe_open

        found = []
        for path in sorted(self.folder.glob(f"llm-{mode}-*.safetensors")):
            try:
                with safe_open(str(path), framework="pt", device="cpu") as stream:
                    if (stream.metadata() or {}).get("source") == source:
                        found.append(path)
            except Exception:  # a damaged entry is not this model's; leave it
                continue
        return found


# -- the layers an entry holds ---------------------------------------------------------------


def empty_nf4_linear(bnb: Any, lin: torch.nn.Linear, compute_dtype: torch.dtype) -> Any:
    """An NF4 Linear4bit shaped like `lin`, on the meta device, waiting for its weight: one
    construction for layers quantised now and layers read back from the cache."""
    return bnb.nn.Linear4bit(
        lin.in_features,
        lin.out_features,
        bias=lin.bias is not None,
        compute_dtype=compute_dtype,
        compress_statistics=True,
        quant_type="nf4",
        device="meta",
    )


def empty_int8_linear(bnb: Any, lin: torch.nn.Linear, threshold: float) -> Any:
    """An LLM.int8 Linear8bitLt shaped like `lin`, on the meta device, waiting for its weight:
    one construction for layers quantised now and layers read back from the cache."""
    return bnb.nn.Linear8bitLt(
        lin.in_features,
        lin.out_features,
        bias=lin.bias is not None,
        has_fp16_weights=False,
        threshold=threshold,
        device="meta",
    )


def build_4bit(stored: dict[str, torch.Tensor], bnb: Any, compute_dtype, device):
    """Build Linear4bit layers from the tensors a cache entry holds (see `layer_tensors`)."""

    def make(name: str, lin: torch.nn.Linear) -> torch.nn.Module:
        prefix = f"{name}.qs."
        stats = {k[len(prefix) :]: v for k, v in stored.items() if k.startswith(prefix)}
        q = empty_nf4_linear(bnb, lin, compute_dtype)
        weight = bnb.nn.Params4bit.from_prequantized(
            stored[f"{name}.weight"], stats, requires_grad=False, device=device, module=q
        )
        if tuple(weight.quant_state.shape) != tuple(lin.weight.shape):
            raise ValueError(f"{name} was stored with shape {tuple(weight.quant_state.shape)}")
        q.weight = weight
        if lin.bias is not None:
            q.bias = torch.nn.Parameter(lin.bias.data.to(compute_dtype), requires_grad=False)
        return q.to(device)

    return make


def build_8bit(stored: dict[str, torch.Tensor], bnb: Any, threshold: float, device):
    """Build Linear8bitLt layers from the tensors a cache entry holds."""

    def make(name: str, lin: torch.nn.Linear) -> torch.nn.Module:
        codes, scales = stored[f"{name}.weight"], stored[f"{name}.SCB"]
        if codes.dtype != torch.int8 or tuple(codes.shape) != tuple(lin.weight.shape):
            raise ValueError(f"{name} was stored as {codes.dtype} {tuple(codes.shape)}")
        if tuple(scales.shape) != (lin.out_features,):
            raise ValueError(f"{name} was stored with {tuple(scales.shape)} scales")
        q = empty_int8_linear(bnb, lin, threshold)
        weight = bnb.nn.Int8Params(codes.to(device), requires_grad=False, has_fp16_weights=False)
        weight.CB = weight.data
        weight.SCB = scales.to(device=device, dtype=torch.float32)
        q.weight = weight
        if lin.bias is not None:
            dtype = torch.float16 if device.type == "cuda" else torch.float32
            q.bias = torch.nn.Parameter(lin.bias.data.to(dtype), requires_grad=False)
        return q.to(device)

    return make


def layer_tensors(swapped: list[Any], mode: str) -> dict[str, torch.Tensor]:
    """What a cache entry keeps of the quantised layers, given as (qualified name, layer)
    pairs: 4-bit codes and their quantisation
    state (bitsandbytes' own packed form), or 8-bit codes and their row scales."""
    out: dict[str, torch.Tensor] = {}
    for name, layer in swapped:
        out[f"{name}.weight"] = layer.weight.data
        if mode == "4bit":
            for key, value in layer.weight.quant_state.as_dict(packed=True).items():
                out[f"{name}.qs.{key}"] = value
        else:
            # The first forward pass moves the scales from the weight to the layer's state.
            scales = layer.weight.SCB if layer.weight.SCB is not None else layer.state.SCB
            out[f"{name}.SCB"] = scales
    return out
