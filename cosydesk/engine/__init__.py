"""The CosyVoice3 inference engine. Qt-free: usable from scripts, the CLI, tests or a server.

Heavy libraries (torch, transformers, onnxruntime, bitsandbytes) are imported lazily by the
modules that need them, so importing this package is cheap.
"""
