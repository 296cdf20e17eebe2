"""A voice's reference clip to prompt features: audio features, speaker embedding, speech tokens."""
