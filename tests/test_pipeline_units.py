"""Unit tests for the pipeline's own small pieces: reference parsing, token counts, scoring, JSON contract shape."""

import pytest

from llmfit_core.api import parse_count
from llmfit_core.errors import LlmfitError
from llmfit_core.report import FitReport, MemoryBreakdown
from llmfit_core.resolve import split_ref
from llmfit_core.scoring import fit_score, speed_points


@pytest.mark.parametrize(
    "ref, expected",
    [
        ("bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M", ("bartowski/Llama-3.2-1B-Instruct-GGUF", "Q4_K_M")),
        ("org/name", ("org/name", None)),
        ("ollama:llama3:8b", ("ollama:llama3:8b", None)),
        ("llama-3.1-8b", ("llama-3.1-8b", None)),
    ],
)
def test_split_ref(ref, expected):
    assert split_ref(ref) == expected


@pytest.mark.parametrize("value, n", [(4096, 4096), ("16k", 16384), ("32K", 32768), ("2048", 2048), ("1m", 1048576), (None, None)])
def test_parse_count(value, n):
    assert parse_count(value) == n


@pytest.mark.parametrize("bad", ["abc", "-5", "0", "k"])
def test_parse_count_rejects(bad):
    with pytest.raises(LlmfitError):
        parse_count(bad)


def test_score_orders_verdicts_and_speed():
    assert fit_score("no-fit", 500.0) == 0
    assert fit_score("runs", 60) == 100
    assert fit_score("runs", 20) > fit_score("runs", 5) > fit_score("runs", 1.0) == 45
    assert fit_score("runs", 20) > fit_score("tight", 20) > fit_score("offload", 20)
    assert speed_points(float("nan")) == 0.0
    assert 0 <= fit_score("offload", 0.2) <= 100


def test_report_to_dict_is_the_contract():
    mem = MemoryBreakdown(weights_bytes=100, kv_cache_bytes=20, compute_bytes=5, overhead_bytes=3, gpu_bytes=90, cpu_bytes=38)
    rep = FitReport(
        model_ref="m", arch="llama", params=10, active_params=10, quant="Q4_K_M", file_bytes=120, hardware_name="hw",
        backend="llama.cpp-cpu", context=4096, memory=mem, gpu_layers=1, total_layers=2, fits=True, verdict="offload",
        score=50, prefill_tok_s=100.123, decode_tok_s=10.0, decode_tok_s_range=(8.0, 12.0), reasons=["x"],
    )
    d = rep.to_dict()
    assert set(d) == {"model", "hardware", "backend", "context", "max_context", "memory", "gpu_layers", "total_layers", "n_cpu_moe",
                      "fits", "verdict", "score", "prefill_tok_s", "decode_tok_s", "decode_tok_s_range", "prefill_tok_s_range",
                      "depth", "reasons"}
    assert d["prefill_tok_s_range"] is None  # a report built without a prefill band says so, never invents one
    assert set(d["model"]) == {"ref", "arch", "params", "active_params", "quant", "file_bytes"}
    assert set(d["memory"]) == {"weights_bytes", "kv_cache_bytes", "compute_bytes", "overhead_bytes", "total_bytes",
                                "gpu_bytes", "cpu_bytes", "detail"}
    assert d["memory"]["total_bytes"] == 128
    assert d["max_context"] is None
    assert d["hardware"] == {"name": "hw"}
    assert d["decode_tok_s_range"] == [8.0, 12.0]


def test_http_timeout_setting(monkeypatch):
    from llmfit_core.net import http_timeout

    monkeypatch.delenv("LLMFIT_HTTP_TIMEOUT", raising=False)
    assert http_timeout() == 20.0 and http_timeout(5.0) == 5.0
    monkeypatch.setenv("LLMFIT_HTTP_TIMEOUT", "2.5")
    assert http_timeout(5.0) == 2.5
    for bad in ("abc", "-1", "0"):
        monkeypatch.setenv("LLMFIT_HTTP_TIMEOUT", bad)
        assert http_timeout(5.0) == 5.0
