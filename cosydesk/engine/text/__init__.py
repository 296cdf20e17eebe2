"""Text to token ids: normalisation, sentence splitting and the Qwen2 tokenizer."""
