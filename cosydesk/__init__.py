"""cosydesk: a local text-to-speech desktop app built on CosyVoice3."""

__version__ = "0.1.0"
