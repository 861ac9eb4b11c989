"""max_context (issue 13): the largest context that fits, in the API, `fit --json`, the table and `--max-context`."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import llmfit_core
from llmfit_core.cli.main import cli
from llmfit_core.context_fit import context_fit, context_table, estimate_and_place, max_context, table_contexts
from llmfit_core.hardware.registry import resolve_hardware
from llmfit_core.settings import RunSettings
from llmfit_core.synth import shape_spec

GIB = 1024**3


def cpu_box(ram_gb: float) -> dict:
    return {"name": f"box-{ram_gb}", "cpu": {"model": "test cpu", "cores": 8, "isa": ["avx2"], "mem_bandwidth_gbs": 50},
            "memory": {"total_gb": ram_gb, "available_gb": ram_gb}, "gpus": []}


def gpu_box(vram_gb: float, ram_gb: float = 64) -> dict:
    return {**cpu_box(ram_gb), "name": f"gpu-{vram_gb}",
            "gpus": [{"vendor": "nvidia", "name": "Test GPU", "vram_gb": vram_gb, "bandwidth_gbs": 900,
                      "fp16_tflops": 80}]}


def _fits(spec, hw, backend, ctx, s=None) -> bool:
    return estimate_and_place(spec, hw, backend, ctx, s or RunSettings())[1].fits


@settings(max_examples=25, deadline=None)
@given(ram=st.floats(min_value=1.0, max_value=24.0))
def test_max_context_is_the_boundary(ram):
    """The answer fits, the next multiple of 256 does not (unless the trained context stops the search)."""
    spec = shape_spec("llama-1b")  # F16, 2.3 GiB of weights, 128k trained context
    hw = resolve_hardware(cpu_box(ram))
    best = max_context(spec, hw, "cpu")
    if best is None:
        assert not _fits(spec, hw, "cpu", 512)
        return
    assert best % 256 == 0 and 512 <= best <= spec.max_context
    assert _fits(spec, hw, "cpu", best)
    if best < spec.max_context:
        assert not _fits(spec, hw, "cpu", best + 256)


def test_brute_force_agrees_on_a_small_model():
    spec = shape_spec("llama-tiny")  # trained 4096
    for ram in (0.6, 0.75, 1.0):
        hw = resolve_hardware(cpu_box(ram))
        fitting = [c for c in range(256, 4097, 256) if _fits(spec, hw, "cpu", c)]
        expect = max(fitting) if fitting and max(fitting) >= 512 else None
        assert max_context(spec, hw, "cpu") == expect


def test_kv_settings_change_the_answer():
    spec = shape_spec("llama-1b")
    hw = resolve_hardware(cpu_box(5))
    f16 = max_context(spec, hw, "cpu")
    q8 = max_context(spec, hw, "cpu", cache_type_k="q8_0", cache_type_v="q8_0")
    two = max_context(spec, hw, "cpu", n_seq=2)
    assert f16 < q8 and two <= f16
    assert max_context(spec, hw, "cpu", flash_attn=False) <= f16  # the KQ scores grow with the context


def test_unknown_trained_context_caps_at_4k_and_says_so():
    spec = replace(shape_spec("llama-tiny"), max_context=0)
    r = context_fit(spec, resolve_hardware(cpu_box(64)), "cpu")
    assert r.max_context == 4096 and r.trained_context is None
    assert any("trained context unknown" in x and "4k" in x for x in r.reasons)
    rep = llmfit_core.fit(spec, hardware=cpu_box(64))
    assert rep.max_context == 4096 and any("trained context unknown" in x for x in rep.reasons)


def test_none_when_512_does_not_fit():
    spec = shape_spec("llama-8b")  # 15 GiB of F16 weights
    assert max_context(spec, resolve_hardware(cpu_box(8)), "cpu") is None
    rep = llmfit_core.fit(spec, hardware=cpu_box(8))
    assert rep.to_dict()["max_context"] is None and any("not even 512" in x for x in rep.reasons)


def test_odd_trained_context_rounds_down_to_256():
    spec = replace(shape_spec("llama-tiny"), max_context=3000)
    assert max_context(spec, resolve_hardware(cpu_box(64)), "cpu") == 2816


def test_gpu_report_keeps_every_layer_on_the_gpu():
    """A model wholly on the GPU: max_context is the largest context that keeps it there."""
    spec = shape_spec("llama-1b")
    hw = resolve_hardware(gpu_box(6))
    rep = llmfit_core.fit(spec, hardware=hw, backend="llama.cpp-cuda")
    assert rep.gpu_layers == rep.total_layers and rep.verdict == "runs"
    best = rep.max_context
    assert best is not None and best < spec.max_context
    at = llmfit_core.fit(spec, hardware=hw, backend="llama.cpp-cuda", context=best)
    assert at.gpu_layers == at.total_layers
    over = llmfit_core.fit(spec, hardware=hw, backend="llama.cpp-cuda", context=best + 256)
    assert over.gpu_layers < over.total_layers or not over.fits
    # layers free to move to RAM (what llama.cpp does with -ngl below the total): a larger context fits
    assert max_context(spec, hw, "llama.cpp-cuda") > best


def test_fit_json_and_table_carry_max_context(tmp_path):
    res = CliRunner().invoke(cli, ["fit", "llama-3.1-8b", "--hardware", "workstation-4090", "--offline", "--json"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert isinstance(d["max_context"], int) and d["max_context"] % 256 == 0
    assert d["memory"]["detail"]["allocated_bytes"] >= d["memory"]["weights_bytes"]
    res = CliRunner().invoke(cli, ["fit", "llama-3.1-8b", "--hardware", "workstation-4090", "--offline"],
                             catch_exceptions=False)
    assert "max context" in res.output


def test_max_context_table_cli():
    args = ["fit", "llama-3.1-8b", "--hardware", "Raspberry Pi 5 8GB", "--offline", "--max-context"]
    res = CliRunner().invoke(cli, args + ["--json"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert set(d["max_context"]) == {"f16", "q8_0", "q4_0"}
    assert d["max_context"]["f16"] < d["max_context"]["q8_0"] < d["max_context"]["q4_0"]
    ctxs = sorted({r["context"] for r in d["rows"]})
    assert ctxs == [4096, 8192, 16384, 32768, 65536, 131072]
    for t, best in d["max_context"].items():  # the table agrees with the max
        for r in d["rows"]:
            if r["cache_type"] == t:
                assert r["fits"] == (r["context"] <= best)
    res = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert res.exit_code == 0 and "KV q4_0" in res.output and "max" in res.output


def test_table_contexts():
    assert table_contexts(131072) == [4096, 8192, 16384, 32768, 65536, 131072]
    assert table_contexts(40960) == [4096, 8192, 16384, 32768, 40960]
    assert table_contexts(2048) == [2048]


def test_quantized_v_without_flash_attention_is_marked_not_a_crash():
    rows, best = context_table(shape_spec("llama-tiny"), resolve_hardware(cpu_box(16)), "cpu",
                               RunSettings(flash_attn=False))
    assert best["f16"].max_context == 4096
    assert best["q8_0"].max_context is None and "flash attention" in best["q8_0"].reasons[0]
    assert all(r.total_bytes is None for r in rows if r.cache_type == "q8_0")


@pytest.mark.parametrize("hardware", ["workstation-4090", "cpu-only-16gb"])
def test_moe_expert_offload_is_held(hardware):
    spec = shape_spec("qwen3moe-30b")
    rep = llmfit_core.fit(spec, hardware=hardware, quant="Q4_K_M")
    if rep.n_cpu_moe:
        s = rep.max_context_settings
        assert s.cpu_moe
    assert rep.max_context is None or rep.max_context <= spec.max_context


def test_llama_cpp_python_defaults_need_more():
    """Llama()'s defaults (flash attention off, full sliding-window cache) leave less room for the context."""
    from llmfit_core.memory import RUNNER_DEFAULTS

    hw = resolve_hardware(cpu_box(2))
    for shape in ("gemma2-0.3b", "llama-0.1b"):
        spec = replace(shape_spec(shape), max_context=131072)
        own = max_context(spec, hw, "cpu")
        py = max_context(spec, hw, "cpu", **RUNNER_DEFAULTS["llama-cpp-python"].memory_kwargs())
        assert own is not None and py is not None and py < own
        assert _fits(spec, hw, "cpu", py, RunSettings(flash_attn=False, swa_full=True, n_batch=512))


def _bisection(spec, hw, backend, s) -> int | None:
    """The plain bisection the search replaced (the reference: same invariant, ~10 estimates)."""
    from llmfit_core import context_fit as cf
    from llmfit_core.memory import KV_PAD

    def fits(ctx):
        return cf.estimate_and_place(spec, hw, backend, ctx, s)[1].fits

    limit, _ = cf.context_cap(spec)
    low = min(cf.MIN_CONTEXT, limit)
    if not fits(low):
        return None
    if fits(limit):
        return limit
    lo, hi = low, limit
    while hi - lo > KV_PAD:
        mid = max((lo + hi) // 2 // KV_PAD * KV_PAD, lo + KV_PAD)
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


@pytest.mark.slow
def test_headroom_guided_search_gives_the_bisection_answer_in_fewer_estimates(monkeypatch):
    # catalog models of every kind (dense, MoE, hybrid, sliding window) on CPU, unified, one and two GPUs, with the
    # settings recommend and fit hold (layers as fit places them, every layer on the GPU, expert offload, q8_0 KV)
    import random

    from llmfit_core import context_fit as cf
    from llmfit_core.backends import default_backend
    from llmfit_core.catalog import load_catalog

    cat = load_catalog()
    models = [cat.entries[int(i)] for i in cat.model_rows]
    random.Random(7).shuffle(models)
    count = {"n": 0}
    real = cf.estimate_and_place

    def counted(*args, **kw):
        count["n"] += 1
        return real(*args, **kw)

    monkeypatch.setattr(cf, "estimate_and_place", counted)

    def estimates(fn, *args):
        count["n"] = 0
        return fn(*args), count["n"]

    searched, used = 0, {"search": 0, "bisection": 0}
    for name in ("workstation-4090", "cpu-only-16gb", "macbook-pro-m3-max", "dual-3090", "raspberry-pi-5"):
        hw = resolve_hardware(name)
        be = default_backend(hw)
        for e in models[:60]:  # enough that > 50 searches stop below the cap (windowed and hybrid models rarely do)
            spec = e.to_spec("Q4_K_M")
            held = [RunSettings(cache_type_k="q8_0", cache_type_v="q8_0", flash_attn=True)]
            if be.gpu and not hw.unified_memory:
                held.append(RunSettings(cpu_moe=True) if spec.n_experts > 1 else
                            RunSettings(gpu_layers=spec.n_layers + 1))
            for s in [RunSettings(), *held]:
                fit, n_search = estimates(context_fit, spec, hw, be, s)
                got = fit.max_context
                want, n_bisect = estimates(_bisection, spec, hw, be, s)
                assert got == want, (name, e.id, s)
                if want is not None and want < cf.context_cap(spec)[0]:
                    searched += 1
                    used["search"] += n_search
                    used["bisection"] += n_bisect
    assert searched > 50
    print(f"{searched} searches: {used['search']} estimates, bisection {used['bisection']}")
    assert used["search"] < 0.75 * used["bisection"], used
