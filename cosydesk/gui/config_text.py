"""The labels and descriptions of the settings declared in cosydesk/config.py,
marked for the translation tools (config.py stays Qt-free); the settings dialog shows them
translated through QCoreApplication.translate("config", text).
Written by scripts/translations: do not edit.
"""

# ruff: noqa: E501

from cosydesk.gui.i18n import QT_TRANSLATE_NOOP

TEXTS = (
    QT_TRANSLATE_NOOP(
        "config",
        "How the LLM is quantised: auto (4-bit on a CUDA GPU, none on the CPU, where quantised layers are slow), 4-bit NF4, 8-bit LLM.int8 or none (full precision). QUANTIZATION_ENABLED=true/false and QUANTIZATION_BITS=4/8 override it.",
    ),
    QT_TRANSLATE_NOOP(
        "config",
        "Automatic (4-bit on a GPU, none on the CPU)",
    ),
    QT_TRANSLATE_NOOP(
        "config",
        "4-bit NF4 (least GPU memory)",
    ),
    QT_TRANSLATE_NOOP(
        "config",
        "8-bit LLM.int8",
    ),
    QT_TRANSLATE_NOOP(
        "config",
        "None (full precision)",
    ),
    QT_TRANSLATE_NOOP(
        "config",
        "Precision of the flow and the vocoder: fp32, bf16 (where the card supports it) or fp16.",
    ),
    QT_TRANSLATE_NOOP(
        "config",
        "fp32 (safest)",
    ),
    QT_TRANSLATE_NOOP(
        "config",
        "bf16 (half the memory; needs a recent GPU)",
    ),
    QT_TRANSLATE_NOOP(
        "config",
        "fp16 (guarded against silent audio)",
    ),
    QT_TRANSLATE_NOOP(
        "config",
        "Outlier threshold of 8-bit mode (LLM.int8): speed against a little accuracy. 0, the default, computes everything in 8 bits, so the decode step replays from a CUDA graph and speech comes several times faster than real time. A threshold such as 6.0 (the value LLM.int8 was published with) computes large activations in 16 bits, which can help the accuracy of big models but makes every step wait for the CPU: even on a fast card speech then comes slower than real time.",
    ),
    QT_TRANSLATE_NOOP(
        "config",
        "Where the model runs: auto (the GPU when there is one), cuda or cpu.",
    ),
    QT_TRANSLATE_NOOP(
        "config",
        "Automatic (GPU when present)",
    ),
    QT_TRANSLATE_NOOP(
        "config",
        "CUDA GPU",
    ),
    QT_TRANSLATE_NOOP(
        "config",
        "CPU",
    ),
    QT_TRANSLATE_NOOP(
        "config",
        "The CosyVoice3 model folder (the one holding cosyvoice3.yaml); empty until chosen.",
    ),
    QT_TRANSLATE_NOOP(
        "config",
        "Global shortcut that reads the clipboard aloud.",
    ),
    QT_TRANSLATE_NOOP(
        "config",
        "Sound output device; empty means the system default.",
    ),
    QT_TRANSLATE_NOOP(
        "config",
        "Voice used when none is picked; empty means the first.",
    ),
    QT_TRANSLATE_NOOP(
        "config",
        "Speaking speed.",
    ),
    QT_TRANSLATE_NOOP(
        "config",
        "Loudness of the speech, in percent of what the model renders.",
    ),
    QT_TRANSLATE_NOOP(
        "config",
        "Unload the model after this many idle minutes to free GPU memory; 0 keeps it loaded.",
    ),
    QT_TRANSLATE_NOOP(
        "config",
        "Start playing while the rest of the text is synthesised.",
    ),
    QT_TRANSLATE_NOOP(
        "config",
        "How numbers, dates, amounts and units become words: wetext's grammars as upstream uses them ('$5' is read 'five dollars'), or basic (only bare digits are spelled out).",
    ),
    QT_TRANSLATE_NOOP(
        "config",
        "Full: numbers, dates, amounts and units (wetext)",
    ),
    QT_TRANSLATE_NOOP(
        "config",
        "Basic: only digits are spelled out",
    ),
    QT_TRANSLATE_NOOP(
        "config",
        "Serve the local HTTP API.",
    ),
    QT_TRANSLATE_NOOP(
        "config",
        "Port of the local HTTP API.",
    ),
    QT_TRANSLATE_NOOP(
        "config",
        "Key the local HTTP API asks for; empty means none.",
    ),
    QT_TRANSLATE_NOOP(
        "config",
        "The first-run dialog has been completed.",
    ),
)
