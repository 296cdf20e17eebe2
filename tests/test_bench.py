"""`cosydesk bench` on the CPU with a tiny random model: the table's shape, the target lines and
the JSON figures (their shape, not their speed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cosydesk import bench, cli

COLUMNS = [
    "mode",
    "load s",
    "llm MiB",
    "flow MiB",
    "vocoder MiB",
    "peak GiB",
    "LLM tok/s",
    "flow s",
    "vocoder s",
    "RTF",
    "first chunk s",
    "decode",
    "after unload MiB",
    "load s (cache)",
    "long RTF",
    "long first sound s",
    "process GiB",
]


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def test_bench_prints_a_row_per_mode_and_writes_the_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench.json"
    args = ["bench", "--dims", "tiny", "--device", "cpu", "--tokens", "30", "--repeat", "1"]
    args += ["--long-chars", "200"]
    assert cli.main([*args, "--modes", "none,4bit", "--json", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()

    table = [line for line in printed if line.startswith("|")]
    assert _cells(table[0]) == COLUMNS
    rows = [_cells(line) for line in table[2:]]
    assert [row[0] for row in rows] == ["none", "4bit"]
    for row in rows:
        assert len(row) == len(COLUMNS)
        assert float(row[COLUMNS.index("LLM tok/s")]) > 0
        assert float(row[COLUMNS.index("RTF")]) > 0
        assert float(row[COLUMNS.index("long RTF")]) > 0
        assert float(row[COLUMNS.index("long first sound s")]) > 0
        assert float(row[COLUMNS.index("load s (cache)")]) > 0
        assert row[COLUMNS.index("peak GiB")] == "-"  # no GPU: not measured, not made up
        assert row[COLUMNS.index("process GiB")] == "-"

    targets = [line for line in printed if line.startswith("target ")]
    assert len(targets) == len(bench.TARGETS) + 1  # and 4-bit decode against full precision
    assert any("LLM decode: 4bit >= 1000 tok/s | upstream fp32 33" in t for t in targets)
    assert any(
        t.startswith("target load with the quantisation cache: 4bit <= 3.00 s") for t in targets
    )
    long_lines = [line for line in printed if line.startswith("long text (")]
    assert [line.split(")")[0] for line in long_lines] == ["long text (none", "long text (4bit"]
    # The second load of each mode took the quantised layers from the cache.
    load_lines = [line for line in printed if line.startswith("load steps with the cache")]
    assert len(load_lines) == 2 and all("Preparing the language model" in x for x in load_lines)
    assert any(t.endswith("not measured") for t in targets if "GPU memory" in t)

    report = json.loads(out.read_text())
    modes = report["modes"]
    assert [m["mode"] for m in modes] == ["none", "4bit"]
    assert [m["mode_in_effect"] for m in modes] == ["none", "4bit"]
    for figures in modes:
        assert figures["device"] == "cpu"
        assert figures["audio_s"] == pytest.approx(30 * 960 / 24000)  # the forced length
        for key in ("load_s", "llm_tok_s", "flow_s", "vocoder_s", "rtf", "first_chunk_s"):
            assert figures[key] > 0, key
        assert figures["long_parts"] >= 1 and figures["long_audio_s"] > 0
        assert figures["load_cached_s"] > 0 and figures["process_gib"] is None
        assert figures["peak_gib"] is None and figures["llm_gpu_mib"] is None
        parts = figures["components_mib"]
        assert all(parts[name] > 0 for name in ("llm", "flow", "vocoder"))
    assert modes[1]["components_mib"]["llm"] < modes[0]["components_mib"]["llm"]
    assert set(report["targets"]) == {*bench.TARGETS, "llm_tok_s_vs_none"}
    assert report["targets"]["peak_gib"]["verdict_4bit"] == "not measured"


@pytest.mark.parametrize("modes", ["none,5bit", "4bit@2", ","])
def test_unknown_modes_are_refused_before_anything_is_built(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], modes: str
) -> None:
    args = ["bench", "--dims", "tiny", "--device", "cpu", "--modes", modes]
    assert cli.main(args) == cli.EXIT_ERROR
    captured = capsys.readouterr()
    assert "--modes" in captured.err
    assert "Building" not in captured.err


def _figures(mode: str, in_effect: str, **values: float) -> bench.ModeFigures:
    return bench.ModeFigures(mode=mode, mode_in_effect=in_effect, device="cuda", **values)


def test_target_lines_say_which_goals_the_4bit_run_meets() -> None:
    figs = [
        _figures("none", "none", llm_tok_s=40.0, rtf=0.5, peak_gib=3.0),
        _figures("4bit", "4bit", llm_tok_s=600.0, rtf=0.1, peak_gib=0.9, llm_gpu_mib=150.0),
        _figures("8bit", "8bit", rtf=0.12),
    ]
    lines = {line.split(":")[0]: line for line in bench.target_lines(figs)}
    assert lines["target LLM decode"].endswith("missed (0.60x the target)")
    assert lines["target peak GPU memory"].endswith("| met")
    assert lines["target LLM on the GPU"].endswith("| met")
    assert lines["target real-time factor"].endswith("missed (2.86x the target)")
    assert lines["target first chunk, streaming"].endswith("not measured")
    assert "measured none 40, 4bit 600" in lines["target LLM decode"]
    assert lines["target 8-bit real-time factor, default threshold"].endswith("| met")


def test_a_fallen_back_mode_shows_in_the_table_and_meets_no_4bit_target() -> None:
    figs = [_figures("4bit", "none", llm_tok_s=40.0, rtf=0.5)]
    table = bench.format_table(figs)
    assert "| 4bit->none |" in table
    assert all(
        check["verdict_4bit"] == "not measured" for check in bench.target_checks(figs).values()
    )
