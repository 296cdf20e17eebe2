"""The status page: quantisation, memory and voices shown, and nothing from a voice executed."""

from __future__ import annotations

from cosydesk.engine.types import ComponentMemory, EngineStatus
from cosydesk.server.pages import mib, render_status_page


def health(**fields) -> dict:
    status = EngineStatus(
        status="ok",
        device="cuda",
        quantization="4bit",
        quantization_requested="8bit",
        quantization_note="8-bit needs a newer GPU; using 4-bit instead.",
        precisions={"llm": "nf4", "llm_compute": "bfloat16", "flow": "bf16", "vocoder": "bf16"},
        components=[
            ComponentMemory("llm", "cuda", 436 * 2**20, "nf4"),
            ComponentMemory("flow", "cuda", 650 * 2**20, "bf16"),
        ],
        card_name="Test GPU",
        card_used=3 * 2**30,
        card_total=8 * 2**30,
        cuda_allocated=2**30,
        cuda_reserved=2**31,
        **fields,
    )
    body = status.to_dict()
    body.update(
        load={"seconds": 12.5},
        queue={"running": "speech", "waiting": 2, "capacity": 4, "finished": 7},
    )
    return body


def test_page_shows_quantisation_environment_memory_and_voices():
    voices = [{"name": "Anna", "duration_s": 4.2, "transcript": "Hello there.", "default": True}]
    page = render_status_page(
        health(),
        voices,
        "http://127.0.0.1:8000",
        environ={"QUANTIZATION_ENABLED": "true", "QUANTIZATION_BITS": "8"},
    )
    assert "4-bit NF4 (double quantisation)" in page  # in effect
    assert "8-bit LLM.int8" in page  # requested
    assert "QUANTIZATION_ENABLED=true, QUANTIZATION_BITS=8" in page
    assert "using 4-bit instead" in page
    assert "436.0 MiB" in page and "1086.0 MiB" in page  # llm, and the model's total
    assert "Test GPU: 3072.0 MiB used of 8192.0 MiB" in page
    assert "busy, 2 waiting of 4, 7 done" in page and "12.5 s" in page
    assert "Anna" in page and "(default)" in page and "4.2 s" in page
    assert "curl http://127.0.0.1:8000/v1/audio/speech" in page


def test_page_escapes_what_users_typed():
    voices = [
        {
            "name": "<script>alert(1)</script>",
            "duration_s": 1.0,
            "transcript": "a & b",
            "default": False,
        }
    ]
    page = render_status_page(health(), voices, "http://127.0.0.1:8000", environ={})
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "a &amp; b" in page
    assert "not set (the setting decides)" in page


def test_mib():
    assert mib(None) == "-" and mib(3 * 2**20) == "3.0 MiB"
