"""The engine facade: load a model folder, speak text with a voice, report status, unload.

This is the one object the GUI, the CLI and the server hold. It is not thread-safe: one thread
(the runner's, cosydesk.runner) owns it.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from cosydesk.config import option
from cosydesk.engine.errors import Cancelled, EngineError
from cosydesk.engine.types import (
    SAMPLE_RATE,
    EngineOptions,
    EngineStatus,
    ModelStatus,
    ProgressFn,
)

if TYPE_CHECKING:
    import torch

    from cosydesk.engine.folder.modelfolder import ModelFolder
    from cosydesk.engine.model.flow import FlowModel
    from cosydesk.engine.model.hift import HiFTGenerator
    from cosydesk.engine.model.llm import CosyVoice3LM
    from cosydesk.engine.model.quant import QuantResult
    from cosydesk.engine.model.synthesis import SegmentRenderer
    from cosydesk.engine.prompt.frontend import PromptFeatures, PromptFrontend
    from cosydesk.engine.text.tokenizer import CosyTokenizer
    from cosydesk.engine.voices import Voice

log = logging.getLogger(__name__)

# progress(characters of the text covered by what has been spoken, characters in all)
SegmentProgress = Callable[[int, int], None]


_Part = TypeVar("_Part")


def _loaded(part: _Part | None) -> _Part:
    """`part` of the loaded model; EngineError once the model was unloaded."""
    if part is None:
        raise EngineError("The model is not loaded: wait for it to load, or load it again.")
    return part


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("Loading was cancelled.")


def _fingerprint(folder: Any) -> str:
    """Identifies the models that prompt features depend on, so voice caches stay valid."""
    h = hashlib.sha1()
    for path in (folder.campplus, folder.speech_tokenizer, folder.yaml):
        st = Path(path).stat()
        h.update(f"{Path(path).name}:{st.st_size}:{int(st.st_mtime)}".encode())
    return h.hexdigest()[:12]


def resolve_device(name: str) -> str:
    """'auto' becomes 'cuda' when a CUDA GPU is usable, else 'cpu'."""
    import torch

    if name == "cpu":
        return "cpu"
    if torch.cuda.is_available():
        return "cuda"
    if name == "cuda":
        raise EngineError(
            "No CUDA GPU is available (driver missing, or torch was installed without CUDA). "
            "Choose 'auto' or 'cpu' as the device in Settings."
        )
    return "cpu"


def _freeze_import_heap() -> None:
    """Put what the imports made out of the garbage collector's sight, once per process.

    torch and transformers leave some 400,000 objects (modules, classes, functions) that live
    as long as the process. A full collection walks all of them: 156 ms measured here, holding
    the GIL all along, which froze the app's window while a model loaded (its X ping went
    unanswered for 220 ms). They never become garbage; what is made later (the models) is
    still collected, now in a few milliseconds.
    """
    import transformers  # noqa: F401  (part of what is frozen)

    if gc.get_freeze_count() == 0:
        gc.collect()
        gc.freeze()


class Engine:
    """A loaded CosyVoice3 model. Create it with `Engine.load`."""

    def __init__(self) -> None:
        """An engine with nothing loaded; `load` fills it, `unload` empties it again."""
        self._status = EngineStatus(status=ModelStatus.UNLOADED)
        self._model_status: tuple[Any, EngineStatus] | None = None
        # What loading sets; kept after unload, where they describe what was loaded.
        self.options = EngineOptions()
        self.sample_rate = SAMPLE_RATE
        self.fingerprint = ""
        self.folder: ModelFolder | None = None
        self.device: torch.device | None = None
        self.flow_dtype: torch.dtype | None = None
        self.quant: QuantResult | None = None
        self.load_seconds: float | None = None
        self.text_notes: list[str] = []
        self._rewriters: dict[str, Any] = {}
        # The models; unload drops them.
        self.tokenizer: CosyTokenizer | None = None
        self.llm: CosyVoice3LM | None = None
        self.flow: FlowModel | None = None
        self.hift: HiFTGenerator | None = None
        self.renderer: SegmentRenderer | None = None
        self._frontend: PromptFrontend | None = None

    # -- loading ----------------------------------------------------------------------------
    @classmethod
    def load(
        cls,
        model_dir: Path | str,
        options: EngineOptions | None = None,
        *,
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
    ) -> Engine:
        """Load the model folder on the configured device, quantising the LLM as asked.

        Raises ModelFolderError for a bad folder, EngineError for other problems a person can
        fix, Cancelled when `cancel` is set between steps.
        """
        engine = cls()
        engine._load(Path(model_dir), options or EngineOptions(), progress, cancel)
        return engine

    def _load(self, root: Path, options: EngineOptions, progress, cancel) -> None:
        import torch
        from accelerate import init_empty_weights

        from cosydesk.engine.folder import checkpoint
        from cosydesk.engine.folder.modelfolder import open_model_folder
        from cosydesk.engine.model import quant
        from cosydesk.engine.model.flow import FlowModel
        from cosydesk.engine.model.hift import HiFTGenerator
        from cosydesk.engine.model.llm import CosyVoice3LM
        from cosydesk.engine.text.tokenizer import CosyTokenizer

        _freeze_import_heap()

        # Seconds each step took, by its message: where a load's time goes (the bench shows it).
        self.load_times: dict[str, float] = {}
        last: list[Any] = [None, time.perf_counter()]

        def step(fraction: float, message: str) -> None:
            now = time.perf_counter()
            if last[0] is not None:
                self.load_times[last[0]] = now - last[1]
            last[:] = [message, now]
            _check(cancel)
            log.info("load: %s", message)
            if progress is not None:
                progress(fraction, message)

        started = time.perf_counter()
        step(0.0, "Checking the model folder")
        folder = open_model_folder(root)
        self.folder = folder
        self.options = options
        self.sample_rate = int(folder.sample_rate)
        self.fingerprint = _fingerprint(folder)
        device = torch.device(resolve_device(options.device))
        self.device = device
        if device.type == "cuda":
            # cuBLAS keeps a workspace for every stream that ever ran a matmul (32 MiB each on
            # Hopper by default). This model's matmuls are small; 4 MiB serves them, and the
            # saving measured on an H100 is 84 MiB of the 4-bit pipeline's ~1 GiB. It only
            # takes effect if set before cuBLAS starts, so a user's own value wins. This is the
            # engine's one touch of the environment: a knob of the CUDA library below it, set
            # here because only the engine knows that cuBLAS is about to start on a card. No
            # setting of cosydesk is read from the environment here (see cosydesk.config).
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:1")
        flow_dtype = quant.flow_dtype(options.flow_precision, device)
        self.flow_dtype = flow_dtype

        step(0.05, "Reading the tokenizer")
        self.tokenizer = CosyTokenizer.from_folder(folder.blank_en)
        self._rewriters = {}
        self.text_notes = []
        self._rewriter(options.text_normalization)

        step(0.1, "Loading the language model (llm.pt)")
        # Skeletons, not random weights that the checkpoint would overwrite at once: random
        # initialisation took 12 s of the official LLM's load and 2.6 s of the flow's on a CPU.
        # The LM's trunk gets uninitialised memory that the file is copied into (assigning the
        # file's tensors would untie its text table from its head); the flow and the vocoder get
        # accelerate's meta-device parameters beside real computed buffers, and then the file's
        # tensors themselves (on the CPU they stay mapped from the file until unload).
        llm = CosyVoice3LM.from_config(folder.llm_node, folder.qwen_config, init_weights=False)
        checkpoint.load_into(llm, folder.llm_pt)
        llm.eval()
        llm.fuse_projections()
        step(0.45, f"Preparing the language model ({options.quantization})")
        self.quant = quant.quantize_llm(llm, options, device, source=folder.llm_pt)
        self.llm = llm

        step(0.6, "Loading the flow model (flow.pt)")
        with init_empty_weights():
            flow = FlowModel.from_config(folder.flow_node)
        checkpoint.load_into(flow, folder.flow_pt)
        self.flow = flow.to(device=device, dtype=flow_dtype).eval()

        step(0.8, "Loading the vocoder (hift.pt)")
        with init_empty_weights():
            hift = HiFTGenerator.from_config(folder.hift_node)
        checkpoint.load_into(hift, folder.hift_pt)
        if hasattr(hift, "remove_weight_norm"):
            hift.remove_weight_norm()
        self.hift = hift.to(device=device, dtype=flow_dtype).eval()

        step(0.95, "Getting ready")
        from cosydesk.engine.model import sampling
        from cosydesk.engine.model.synthesis import SegmentRenderer

        llm_node = folder.llm_node
        self.renderer = SegmentRenderer(
            llm,
            self.flow,
            self.hift,
            device=device,
            flow_dtype=flow_dtype,
            sampler_factory=lambda: sampling.from_config(llm_node),
            token_mel_ratio=int(folder.token_mel_ratio),
            pre_lookahead=int(folder.flow_node.get("pre_lookahead_len", 3)),
            hop=int(folder.chunk_size),
        )
        llm.use_cuda_graph = options.use_cuda_graph
        if self.quant.mode == "8bit" and options.int8_threshold > 0:
            # The outlier split of LLM.int8 reads values back to the host mid-step, which a
            # CUDA graph cannot hold (a failed capture also poisons the CUDA context).
            llm.use_cuda_graph = False
            llm.graph_off_reason = (
                f"LLM.int8 with outlier threshold {options.int8_threshold:g} cannot be captured; "
                "threshold 0 can"
            )
        if device.type == "cuda" and options.use_cuda_graph:
            self.flow.enable_cuda_graphs()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        self.load_times[last[0]] = time.perf_counter() - last[1]
        self.load_seconds = time.perf_counter() - started
        self._status = EngineStatus(status=ModelStatus.OK, model_dir=str(root))
        if progress is not None:
            progress(1.0, "Ready")
        log.info("model loaded in %.1f s on %s", self.load_seconds, device)
        # torch and transformers raise and catch exceptions while a model is built (attribute
        # probes, optional imports); some end up in reference cycles with their tracebacks, and
        # those keep this frame, with its locals, until a full collection. Without the models
        # among them, unload gives the card back at once (on a card it did not, before).
        del llm, flow, hift

    # -- voices -----------------------------------------------------------------------------
    def _prompt_frontend(self):
        if self._frontend is None:
            from cosydesk.engine.prompt.frontend import PromptFrontend
            from cosydesk.engine.prompt.onnx_models import SpeakerEncoder, SpeechTokenizer

            folder = _loaded(self.folder)
            self._frontend = PromptFrontend(
                SpeakerEncoder(folder.campplus),
                SpeechTokenizer(folder.speech_tokenizer),
                folder.feat_params,
                self.sample_rate,
            )
        return self._frontend

    def prompt_features(self, wav_path: Path) -> PromptFeatures:
        """Prompt features of a voice clip (loads the two ONNX models on first use)."""
        return self._prompt_frontend().extract(Path(wav_path))

    # -- text -----------------------------------------------------------------------------
    def _rewriter(self, name: str | None) -> Any:
        """The spoken-form rewriter of text normalisation `name` (None: the one loaded with).

        A missing wetext falls back to the basic rules, with a note in the status.
        """
        from cosydesk.engine.text.wfst import make_rewriter

        name = name or self.options.text_normalization
        if name not in self._rewriters:
            try:
                self._rewriters[name] = make_rewriter(name)
            except EngineError as exc:
                if name != "wetext":
                    raise
                log.warning("%s", exc)
                self.text_notes.append(str(exc))
                self._rewriters[name] = None
        return self._rewriters[name]

    @property
    def text_normalization(self) -> str:
        """The text normalisation in effect by default: "wetext <version>" or "basic"."""
        rewriter = self._rewriter(None)
        return "basic" if rewriter is None else str(rewriter.label)

    def text_chunks(self, text: str, normalization: str | None = None) -> Iterator[Any]:
        """TextChunks of `text` as the model will speak them, normalised a paragraph at a time.

        Raises NoTextError (an EngineError) at once for empty text, and on the first step for
        text with nothing to read (only symbols).
        """
        from cosydesk.engine.text.textnorm import iter_chunks

        rewrite = self._rewriter(normalization)
        return iter_chunks(text, self.tokenizer, rewrite=rewrite)

    # -- speaking ---------------------------------------------------------------------------

    def _ids(self, text: str):
        import torch

        return torch.tensor([_loaded(self.tokenizer).encode(text)], dtype=torch.long)

    def synthesize(
        self,
        text: str,
        voice: Voice,
        *,
        stream: bool = True,
        speed: float = 1.0,
        instruct: str | None = None,
        mode: str | None = None,
        cancel: threading.Event | None = None,
        progress: SegmentProgress | None = None,
        normalization: str | None = None,
        reading: SegmentProgress | None = None,
    ) -> Iterator[np.ndarray]:
        """Speak `text` with `voice`; yields float32 mono chunks at `sample_rate`.

        `mode` is "zero-shot" (default), "cross-lingual" (the voice's timbre, not its wording),
        or "instruct" (set when `instruct` is given). The text is normalised a paragraph at a
        time while earlier ones are spoken, so a book starts as fast as a sentence.
        `normalization` ("wetext" or "basic") overrides the one the engine was loaded with.
        `progress(done, total)` counts characters of the text; `reading(start, end)` comes
        before each part's audio with the characters of the text it speaks (they end on the
        text's sentence marks). Raises Cancelled between chunks,
        NoTextError (an EngineError) when the text holds nothing to read.
        """
        if self._status.status != ModelStatus.OK:
            raise EngineError("The model is not loaded: wait for it to load, or load it again.")
        speeds = option("speed")
        if not speeds.in_range(speed):
            raise EngineError(f"Speed must be between {speeds.minimum} and {speeds.maximum}.")
        mode = mode or ("instruct" if instruct else "zero-shot")
        if mode not in ("zero-shot", "cross-lingual", "instruct"):
            raise EngineError(f"Unknown mode '{mode}': use zero-shot, cross-lingual or instruct.")
        transcript = self.voice_transcript(voice, normalization)  # once, not per part
        done = total = 0
        for part in self.text_chunks(text, normalization):
            if progress is not None:
                progress(done, part.total)
            if reading is not None:
                reading(done, part.done)
            seg = self.segment_input(
                part.text, voice, mode=mode, instruct=instruct, transcript=transcript
            )
            render = _loaded(self.renderer).render
            for chunk in render(seg, stream=stream, speed=speed, cancel=cancel):
                if chunk.numel():
                    yield chunk.numpy().astype(np.float32, copy=False)
            if cancel is not None and cancel.is_set():
                raise Cancelled("Stopped.")
            done = part.done
            total = part.total
        if progress is not None and total:
            progress(total, total)

    def segment_input(
        self,
        text: str,
        voice: Voice,
        *,
        mode: str = "zero-shot",
        instruct: str | None = None,
        transcript: str | None = None,
    ) -> Any:
        """The models' inputs for one already-normalised segment `text` spoken by `voice`.

        `transcript` is the voice's transcript from `voice_transcript`; without it, it is
        normalised here with the engine's default rules.
        """
        import torch

        from cosydesk.engine.model.synthesis import SegmentInput, prompt_text_for

        feats = voice.features
        prompt = transcript if transcript is not None else self.voice_transcript(voice)
        empty = torch.zeros(1, 0, dtype=torch.long)
        return SegmentInput(
            text_ids=self._ids(text),
            prompt_text_ids=self._ids(prompt_text_for(mode, prompt, instruct)),
            llm_prompt_token=feats.speech_token if mode == "zero-shot" else empty,
            flow_prompt_token=feats.speech_token,
            prompt_feat=feats.speech_feat,
            embedding=feats.embedding,
        )

    def voice_transcript(self, voice: Voice, normalization: str | None = None) -> str:
        """What the voice's clip says, normalised as the text is (`normalization`, else the
        engine's default), as upstream normalises the prompt text."""
        from cosydesk.engine.model.synthesis import END_OF_PROMPT
        from cosydesk.engine.text.textnorm import normalize

        prompt = str(voice.transcript)
        if END_OF_PROMPT in prompt:
            return prompt
        rewrite = self._rewriter(normalization)
        normalized = normalize(prompt, self.tokenizer, split=False, rewrite=rewrite)
        return normalized[0] if normalized else prompt

    def warm_up(self, voice: Voice, tokens: int | None = None) -> float:
        """Speak a throw-away utterance with `voice` so the first real request is not slow.

        On a GPU this records the CUDA graphs of the decode step and of the flow shapes that
        streaming uses with this voice (the first two hops). Returns the seconds it took.
        """
        from cosydesk.engine.model.sampling import ForcedLengthSampler

        started = time.perf_counter()
        prompt = int(voice.features.speech_token.shape[1])
        renderer = _loaded(self.renderer)
        hop = renderer.hop
        lookahead = renderer.lookahead
        count = tokens or (-prompt % hop) + 3 * hop + lookahead
        size = _loaded(self.llm).speech_token_size
        factory = renderer.sampler_factory
        renderer.sampler_factory = lambda: ForcedLengthSampler(count, size)
        try:
            for _ in self.synthesize("Warming up the model now.", voice, stream=True):
                pass
        finally:
            renderer.sampler_factory = factory
        return time.perf_counter() - started

    # -- status and unloading ---------------------------------------------------------------
    def status(self) -> EngineStatus:
        """What is loaded, how, and how much memory it holds. Cheap enough to poll."""
        from cosydesk.engine import memory

        st = self._status
        if st.status != ModelStatus.OK:
            return memory.card_status(EngineStatus(status=st.status))
        # The model part only changes with these; the CUDA figures are read fresh each time.
        renderer, llm = _loaded(self.renderer), _loaded(self.llm)
        key = (renderer.flow_dtype, self._frontend is not None, llm.decode_path)
        if self._model_status is None or self._model_status[0] != key:
            self._model_status = (key, memory.model_status(self))
        return memory.card_status(dataclasses.replace(self._model_status[1]))

    def unload(self) -> None:
        """Free the models; GPU memory returns to what it was before loading.

        Nothing here waits for the garbage collector: the models hold no reference cycles (the
        decode graph refers to its LLM weakly), and the graphs, caches and pools that hold
        most of the card are dropped explicitly first, in case a caller still holds a module.
        """
        llm, flow = getattr(self, "llm", None), getattr(self, "flow", None)
        if llm is not None:
            llm.release_cuda_state()
        if flow is not None and flow.graphed is not None:
            flow.graphed.release()
            flow.graphed = None
        del llm, flow
        for name in ("llm", "flow", "hift", "renderer", "_frontend", "tokenizer"):
            setattr(self, name, None)
        self._status = EngineStatus(status=ModelStatus.UNLOADED)
        self._model_status = None
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.synchronize()
                # cuBLAS keeps a workspace per stream for the life of the process; the capture
                # streams of this model are gone, so their workspaces go too.
                clear = getattr(torch._C, "_cuda_clearCublasWorkspaces", None)
                if clear is not None:
                    clear()
                torch.cuda.empty_cache()
        except ImportError:
            pass
