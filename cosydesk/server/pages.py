"""The status page at GET /: what is loaded, how it is quantised, the memory it holds, the voices.

Plain HTML with no script and no outside resources; every value is escaped. It refreshes
itself every few seconds so that it can stay open beside a client.
"""

from __future__ import annotations

import html
import os
from collections.abc import Iterable, Mapping
from typing import Any

from cosydesk import __version__
from cosydesk.config import option

REFRESH_S = 5
_QUANT_WORDS = {
    "4bit": "4-bit NF4 (double quantisation)",
    "8bit": "8-bit LLM.int8",
    "none": "none (full precision)",
}

_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:52em;padding:0 1em;color:#222}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.1em;margin-top:1.6em}
table{border-collapse:collapse}td,th{text-align:left;padding:.2em 1.2em .2em 0;vertical-align:top}
th{font-weight:600;color:#555}code,pre{background:#f3f3f3;padding:.1em .3em;border-radius:3px}
pre{padding:.6em;overflow-x:auto}.ok{color:#176f2c}.bad{color:#a31515}.muted{color:#777}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def mib(count: int | None) -> str:
    """Bytes as "123.4 MiB" (or "-" when unknown)."""
    return "-" if count is None else f"{count / 2**20:.1f} MiB"


def _rows(pairs: Iterable[tuple[str, Any]]) -> str:
    return "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in pairs)


def _quant_rows(health: Mapping[str, Any], environ: Mapping[str, str]) -> str:
    in_effect = str(health.get("quantization_mode", "none"))
    requested = str(health.get("quantization_requested", "")) or in_effect
    env_text = (
        ", ".join(
            f"{name}={environ[name]}" for name in option("quantization").env if environ.get(name)
        )
        or "not set (the setting decides)"
    )
    pairs = [
        ("In effect", _QUANT_WORDS.get(in_effect, in_effect)),
        ("Requested", _QUANT_WORDS.get(requested, requested)),
        ("Environment", env_text),
        ("LLM compute precision", health.get("precisions", {}).get("llm_compute") or "-"),
        (
            "Flow / vocoder precision",
            "{} / {}".format(
                health.get("precisions", {}).get("flow") or "-",
                health.get("precisions", {}).get("vocoder") or "-",
            ),
        ),
    ]
    if health.get("quantization_note"):
        pairs.append(("Note", health["quantization_note"]))
    return _rows(pairs)


def _memory_rows(health: Mapping[str, Any]) -> str:
    components = health.get("components", {}) or {}
    rows = [
        (f"{name} ({info.get('device')}, {info.get('precision')})", mib(info.get("bytes")))
        for name, info in components.items()
    ]
    rows.append(
        (
            "Model total",
            mib(sum(int(i.get("bytes") or 0) for i in components.values())) if components else "-",
        )
    )
    if health.get("card_total"):
        rows.append(
            (
                "Card",
                f"{health.get('card_name') or 'GPU'}: {mib(health.get('card_used'))}"
                f" used of {mib(health.get('card_total'))}",
            )
        )
        rows.append(
            (
                "This process (CUDA)",
                f"{mib(health.get('cuda_allocated'))} allocated, "
                f"{mib(health.get('cuda_reserved'))} reserved",
            )
        )
    else:
        rows.append(
            (
                "GPU",
                "none in use (the model runs on the CPU)" if health.get("device") == "cpu" else "-",
            )
        )
    return _rows(rows)


def _queue_state(queue: Mapping[str, Any]) -> str:
    if queue.get("app_speaking"):
        return "busy (the cosydesk app is speaking)"
    if queue.get("running_for") == "app":
        return "busy (working for the cosydesk app)"
    return "busy" if queue.get("running") else "idle"


def render_status_page(
    health: Mapping[str, Any],
    voices: list[dict[str, Any]],
    base_url: str,
    environ: Mapping[str, str] | None = None,
) -> str:
    """The whole page. `health` is the /health body; `voices` the /v1/audio/voices entries."""
    env = os.environ if environ is None else environ
    status = str(health.get("status", "unknown"))
    status_class = "ok" if status == "ok" else "bad" if status == "error" else "muted"
    load = health.get("load", {}) or {}
    queue = health.get("queue", {}) or {}
    general = [
        ("Model", f"{health.get('model')} ({health.get('backend')})"),
        ("Folder", health.get("model_dir") or "-"),
        ("Device", health.get("device")),
        ("Decode path", health.get("decode_path")),
        ("Load time", f"{load['seconds']:.1f} s" if load.get("seconds") is not None else "-"),
        (
            "Queue",
            f"{_queue_state(queue)}, {queue.get('waiting', 0)} "
            f"waiting of {queue.get('capacity', 0)}, {queue.get('finished', 0)} done",
        ),
    ]
    if load.get("error"):
        general.append(("Load error", load["error"]))
    mark = " <span class=muted>(default)</span>"
    voice_rows = (
        "".join(
            f"<tr><td>{_e(v['name'])}{mark if v.get('default') else ''}"
            f"</td><td>{v.get('duration_s', 0):.1f} s</td><td>{_e(v.get('transcript'))}</td></tr>"
            for v in voices
        )
        or "<tr><td colspan=3 class=muted>No voice yet: add one in cosydesk.</td></tr>"
    )
    example = (
        f"curl {base_url}/v1/audio/speech -H 'Content-Type: application/json' \\\n"
        f'  -d \'{{"input": "Hello there.", "voice": "default", '
        f'"response_format": "wav"}}\' -o hello.wav'
    )
    warnings = "".join(f"<li>{_e(w)}</li>" for w in health.get("warnings", []) or [])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{REFRESH_S}">
<title>cosydesk speech server</title><style>{_STYLE}</style></head>
<body>
<h1>cosydesk speech server</h1>
<p>Status: <strong class="{status_class}">{_e(status)}</strong>
<span class="muted">&middot; cosydesk {_e(__version__)}</span></p>
{f"<ul class=bad>{warnings}</ul>" if warnings else ""}
<table>{_rows(general)}</table>
<h2>Quantisation</h2><table>{_quant_rows(health, env)}</table>
<h2>Memory</h2><table>{_memory_rows(health)}</table>
<h2>Voices</h2>
<table><tr><th>Name</th><th>Clip</th><th>Transcript</th></tr>{voice_rows}</table>
<h2>Use it</h2>
<pre>{_e(example)}</pre>
<p>Endpoints: <code>POST /v1/audio/speech</code>, <code>GET /v1/audio/voices</code>,
<code>GET /v1/models</code>, <code>GET /health</code>, <code>POST /warmup</code>.</p>
</body></html>
"""
