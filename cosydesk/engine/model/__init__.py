"""The model path: LLM (Qwen2 trunk, sampling, quantisation) -> flow (DiT) -> HiFT vocoder."""
