"""MLX adapter: availability, backend hook, unified-memory verdict, and timing a tiny fp16 model."""

from __future__ import annotations

import pytest

import llmfit_mlx
from llmfit_core.errors import BenchError
from llmfit_core.hardware.registry import resolve_hardware


def test_runner_status_reports_the_device():
    ok, msg = llmfit_mlx.runner_status()
    assert isinstance(ok, bool) and isinstance(msg, str)
    dev = llmfit_mlx.mlx_device()
    assert ok == (dev is not None)
    if dev == "cpu":
        assert "CPU only" in msg


def test_backend_hook_only_for_apple_hardware():
    mac = resolve_hardware("macbook-pro-m3-max")
    assert [b.name for b in llmfit_mlx.llmfit_backends(mac)] == ["mlx"]
    assert llmfit_mlx.llmfit_backends(resolve_hardware("workstation-4090")) is None


def test_working_set_is_part_of_unified_memory():
    mac = resolve_hardware("macbook-pro-m3-max")
    ws = llmfit_mlx.working_set_bytes(mac)
    assert 0.5 * mac.memory.total_bytes < ws < mac.memory.total_bytes
    assert llmfit_mlx.working_set_bytes(resolve_hardware("cpu-only-16gb")) is None


def test_mlx_repo_verdicts_against_the_working_set(hf_env):
    mac = resolve_hardware("macbook-pro-m3-max")
    small = llmfit_mlx.fit_mlx("fake-community/Tiny-llama-4bit", hardware=mac)
    assert small.backend == "mlx" and small.fits and small.spec.quant == "MLX-4bit"
    # a bare BF16 repo on mlx means the mlx-community 4-bit conversion (~37 GiB for 70B): fits 64 GB
    bare = llmfit_mlx.fit_mlx("fake-org/Big-llama", hardware=mac, context=4096)
    assert bare.spec.quant == "MLX-4bit" and bare.fits and any("mlx-community" in r for r in bare.reasons)
    # ~70B as stored in BF16 (~140 GB): more than any Mac's working set
    big = llmfit_mlx.fit_mlx("fake-org/Big-llama", hardware=mac, context=4096, quant="BF16")
    assert big.backend == "mlx" and not big.fits and big.verdict == "no-fit"
    assert big.memory.total_bytes > llmfit_mlx.working_set_bytes(mac)
    assert any("working-set" in r.lower() or "working set" in r.lower() for r in big.reasons)


def test_fit_mlx_off_apple_says_so():
    from llmfit_core.model_spec import ModelSpec

    spec = ModelSpec(ref="x", arch="llama", params=10**8, active_params=10**8, n_layers=4, hidden_size=512,
                     n_heads=8, n_kv_heads=8, head_dim=64, vocab_size=1000, max_context=2048,
                     format="mlx", quant="F16", weight_bytes=2 * 10**8)
    from llmfit_core.errors import UnsupportedSettingError

    with pytest.raises(UnsupportedSettingError, match="Apple silicon"):  # MLX runs on Apple silicon only
        llmfit_mlx.fit_mlx(spec, hardware="cpu-only-16gb")


@pytest.mark.slow
def test_time_tiny_fp16_model_and_record(tmp_path):
    pytest.importorskip("mlx_lm")
    from llmfit_mlx import calibrate

    d = calibrate.write_tiny_model(tmp_path / "tiny")
    run = calibrate.time_generation(d, prompt_tokens=16, gen_tokens=4)
    assert run.prompt_tokens == 16 and run.gen_tokens == 4
    assert run.prefill_s > 0 and run.decode_s > 0 and run.prompt_tps > 0 and run.generation_tps > 0
    spec = calibrate.spec_for_dir(d)
    assert spec.arch == "llama" and spec.n_layers == 2 and spec.quant == "F16"
    assert spec.weight_bytes == 2 * spec.params  # fp16, shapes from config.json
    rec = calibrate.make_record(run, resolve_hardware(None), spec)
    assert rec["runtime"]["name"] == "mlx" and set(rec["results"]) == {"pp", "tg"}
    assert rec["results"]["tg"]["n_tokens"] == 4 and rec["model"]["params"] == spec.params


def test_time_generation_bad_dir_is_a_bench_error(tmp_path):
    from llmfit_mlx import calibrate

    with pytest.raises(BenchError, match="config.json"):
        calibrate.time_generation(tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "nosuchmodel"}')
    with pytest.raises(BenchError):
        calibrate.time_generation(tmp_path)


def test_missing_mlx_disables_only_this_adapter(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "mlx", None)
    monkeypatch.setitem(sys.modules, "mlx.core", None)
    assert llmfit_mlx.mlx_device() is None
    ok, msg = llmfit_mlx.runner_status()
    assert not ok and "not importable" in msg
