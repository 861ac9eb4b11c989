"""Throughput predictor: roofline physics, the shipped ONNX correction, fallbacks, batch API."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from llmfit_core.backends import BACKENDS
from llmfit_core.hardware.profile import CPUInfo, GPUInfo, HardwareProfile, MemoryInfo
from llmfit_core.model_spec import ModelSpec
from llmfit_core.quant import quant_fact, quant_fact_or_none
from llmfit_core.throughput import (
    hardware_arrays,
    hardware_figures,
    load_correction,
    model_arrays,
    model_figures,
    predict,
    predict_batch,
)
from llmfit_core.throughput.correction import weights_dirs
from llmfit_core.throughput.quantfamily import quant_family

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from training.model_configs import build_spec  # noqa: E402

WEIGHTS = REPO / "weights"


def gpu_box(bw=1008.0, tflops=330.0, n=1, vram=24.0, vendor="nvidia", name="RTX 4090") -> HardwareProfile:
    return HardwareProfile(
        name="box",
        cpu=CPUInfo(model="x86", cores=16, threads=32, isa=["avx2", "fma", "avx512f"], mem_bandwidth_gbs=83.0),
        memory=MemoryInfo(64.0),
        gpus=[GPUInfo(vendor, name, vram, bandwidth_gbs=bw, fp16_tflops=tflops) for _ in range(n)],
    )


def cpu_box(bw=50.0, cores=8) -> HardwareProfile:
    return HardwareProfile(name="cpu", cpu=CPUInfo(model="x86", cores=cores, threads=cores, isa=["avx2", "fma"], mem_bandwidth_gbs=bw),
                           memory=MemoryInfo(64.0))


def mac(bw=400.0, tflops=13.6) -> HardwareProfile:
    return HardwareProfile(name="mac", cpu=CPUInfo(model="Apple M2 Max", cores=12, threads=12, arch="arm64", isa=["neon", "dotprod"]),
                           memory=MemoryInfo(96.0), gpus=[GPUInfo("apple", "Apple M2 Max", None, bandwidth_gbs=bw, fp16_tflops=tflops)],
                           unified_memory=True)


@pytest.fixture(scope="module")
def llama8b():
    return build_spec("llama-3-8b", "Q4_K_M")


# ---------------------------------------------------------------- quant facts


def test_quant_family_and_bits_come_from_gguf_sizes():
    assert quant_family("Q4_K_M") == "kquant" and quant_fact("Q4_K_M").default_type == "Q4_K"
    assert quant_family("q4_0") == "legacy" and quant_family("IQ3_XXS") == "iq"
    assert quant_family("F16") == quant_family("BF16") == "float"
    assert quant_family("MLX-4bit") == "mlx" and quant_family("GPTQ-4bit") == "other"
    assert quant_fact("Q4_0").bits == pytest.approx(4.5)  # 18 bytes per 32 weights
    assert quant_fact("Q8_0").bits == pytest.approx(8.5)
    assert quant_fact("Q6_K").bits == pytest.approx(6.5625)
    assert quant_fact_or_none("no-such-quant") is None and quant_family("no-such-quant") == "other"


# ---------------------------------------------------------------- roofline physics


def test_memory_bound_decode_scales_with_bandwidth():
    spec = build_spec("llama-3-70b", "Q4_K_M")  # big model: per-layer overheads are negligible
    kw = dict(apply_correction=False, placement={"gpu_layers": 80, "total_layers": 80})
    slow = predict(spec, gpu_box(bw=1000.0, vram=80), **kw)
    fast = predict(spec, gpu_box(bw=2000.0, vram=80), **kw)
    assert slow.bound == "memory"
    assert fast.decode_tok_s / slow.decode_tok_s == pytest.approx(2.0, rel=0.05)
    assert "memory-bound" in slow.reasons[0]


def test_moe_reads_only_active_experts():
    moe = build_spec("qwen3-30b-a3b", "Q4_K_M")
    mf = model_figures(moe)
    experts = moe.group_bytes["ffn_experts"]
    dense_part = moe.weight_bytes - experts - moe.group_bytes["token_embd"]
    assert mf.weight_bytes == pytest.approx(dense_part + experts * 8 / 128, rel=1e-6)
    assert mf.weight_bytes < 0.2 * moe.weight_bytes
    # same total size as a dense model, several times faster to decode
    dense = build_spec("qwen2.5-72b", "Q3_K_S")
    hw = gpu_box(bw=2000, vram=80)
    assert predict(moe, hw, apply_correction=False).decode_tok_s > 4 * predict(dense, hw, apply_correction=False).decode_tok_s


def test_partial_offload_slower_than_full_gpu_and_cpu_slower_than_gpu(llama8b):
    hw = gpu_box()
    full = predict(llama8b, hw, placement={"gpu_layers": 32, "total_layers": 32}, apply_correction=False)
    half = predict(llama8b, hw, placement={"gpu_layers": 16, "total_layers": 32}, apply_correction=False)
    none = predict(llama8b, hw, backend="cpu", apply_correction=False)
    assert full.decode_tok_s > 3 * half.decode_tok_s
    assert half.decode_tok_s > none.decode_tok_s
    assert full.prefill_tok_s > half.prefill_tok_s > none.prefill_tok_s
    assert any("partial offload" in r for r in half.reasons)


def test_layer_split_over_gpus_does_not_speed_up_decode(llama8b):
    one = predict(llama8b, gpu_box(n=1), apply_correction=False)
    four = predict(llama8b, gpu_box(n=4), apply_correction=False)
    assert four.decode_tok_s < one.decode_tok_s
    assert any("4 GPUs" in r for r in four.reasons)


def test_kv_cache_read_slows_decode_at_long_context(llama8b):
    short = predict(llama8b, gpu_box(), prompt_tokens=64, apply_correction=False)
    long = predict(llama8b, gpu_box(), prompt_tokens=30000, context=32768, apply_correction=False)
    assert long.decode_tok_s < short.decode_tok_s
    assert long.prefill_tok_s < short.prefill_tok_s


def test_missing_figures_are_estimated_and_said(llama8b):
    hw = gpu_box()
    hw.gpus[0].bandwidth_gbs = None
    hw.gpus[0].fp16_tflops = None
    p = predict(llama8b, hw)
    assert any("bandwidth of RTX 4090 unknown" in r for r in p.reasons)
    assert any("TFLOPS of RTX 4090 unknown" in r for r in p.reasons)
    cpu = cpu_box()
    cpu.cpu.mem_bandwidth_gbs = None
    p = predict(llama8b, cpu)
    assert any("bandwidth of this CPU estimated" in r for r in p.reasons)
    assert math.isfinite(p.decode_tok_s) and p.decode_tok_s > 0


@pytest.mark.parametrize("backend", sorted(BACKENDS))
@pytest.mark.parametrize("quant", ["Q4_K_M", "Q4_0", "F16", "Q8_0"])
def test_predictions_positive_finite_for_all_backends(backend, quant):
    spec = build_spec("llama-3.2-3b", quant)
    hw = mac() if BACKENDS[backend].device == "metal" else gpu_box()
    p = predict(spec, hw, backend=backend)
    for v in (p.prefill_tok_s, p.decode_tok_s, *p.decode_range, *p.prefill_range, p.roofline_decode, p.roofline_prefill):
        assert math.isfinite(v) and v > 0
    assert p.decode_range[0] <= p.decode_tok_s <= p.decode_range[1]
    assert p.prefill_range[0] <= p.prefill_tok_s <= p.prefill_range[1]


def test_gpu_backend_without_gpu_runs_on_cpu(llama8b):
    p = predict(llama8b, cpu_box(), backend="cuda", apply_correction=False)
    q = predict(llama8b, cpu_box(), backend="cpu", apply_correction=False)
    assert p.decode_tok_s == pytest.approx(q.decode_tok_s)
    assert any("no GPU" in r for r in p.reasons)


# ---------------------------------------------------------------- learned correction


def test_shipped_onnx_loads_and_matches_training_reference():
    corr = load_correction(WEIGHTS)
    assert corr.ok, corr.reason
    ref = json.loads((WEIGHTS / "throughput_reference.json").read_text())
    X = np.asarray(ref["X"], np.float32)
    out = corr.apply(X)
    for head in ("decode", "prefill"):
        expect = np.clip(np.asarray(ref[head]), -2.0, 2.0)
        np.testing.assert_allclose(out[head], expect, atol=1e-4)
        lo, hi = corr.band(head)
        assert lo < 0 < hi


def test_default_weights_dir_is_the_checkout():
    assert weights_dirs()[0] == WEIGHTS


def test_correction_is_applied_and_reported(llama8b):
    p = predict(llama8b, gpu_box())
    assert p.correction_applied
    assert p.decode_tok_s != pytest.approx(p.roofline_decode, rel=1e-9)
    assert any(r.startswith("learned correction") for r in p.reasons)


def test_missing_onnx_falls_back_to_roofline(tmp_path, llama8b):
    p = predict(llama8b, gpu_box(), weights_dir=tmp_path)
    assert not p.correction_applied
    assert p.decode_tok_s == pytest.approx(p.roofline_decode)
    assert any("not found" in r and "roofline only" in r for r in p.reasons)


def test_corrupt_onnx_falls_back_to_roofline(tmp_path, llama8b):
    for head in ("decode", "prefill"):
        (tmp_path / f"throughput_{head}.onnx").write_bytes(b"\x08\x07garbage, not a protobuf" * 10)
    p = predict(llama8b, gpu_box(), weights_dir=tmp_path)
    assert not p.correction_applied
    assert p.prefill_tok_s == pytest.approx(p.roofline_prefill)
    assert any("unusable" in r for r in p.reasons)


# ---------------------------------------------------------------- batch API


def test_predict_batch_matches_single_predictions():
    specs = [build_spec(m, q) for m in ("llama-3-8b", "llama-3.2-3b", "qwen3-30b-a3b") for q in ("Q4_K_M", "F16")]
    hw = gpu_box(vram=80)
    hf = hardware_figures(hw, BACKENDS["llama.cpp-cuda"], None)
    inputs = {**model_arrays([model_figures(s) for s in specs]), **hardware_arrays(hf), "prompt_tokens": 512, "decode_pos": 576.0}
    out = predict_batch(inputs)
    assert out["decode_tok_s"].shape == (len(specs),)
    for i, s in enumerate(specs):
        p = predict(s, hw)
        assert out["decode_tok_s"][i] == pytest.approx(p.decode_tok_s, rel=1e-5)
        assert out["prefill_tok_s"][i] == pytest.approx(p.prefill_tok_s, rel=1e-5)
        assert out["decode_lo"][i] == pytest.approx(p.decode_range[0], rel=1e-5)


def test_predict_batch_rejects_incomplete_inputs():
    with pytest.raises(KeyError, match="missing"):
        predict_batch({"weight_bytes": np.ones(3)})


def test_bad_token_counts_are_an_llmfit_error(llama8b):
    from llmfit_core.errors import LlmfitError

    with pytest.raises(LlmfitError):
        predict(llama8b, gpu_box(), prompt_tokens=0)


def test_spec_without_group_bytes_uses_active_ratio():
    spec = ModelSpec(ref="x", arch="llama", params=8_000_000_000, active_params=8_000_000_000, n_layers=32, hidden_size=4096,
                     n_heads=32, n_kv_heads=8, head_dim=128, vocab_size=128256, max_context=8192, quant="Q8_0")
    mf = model_figures(spec)  # no weight_bytes: params x bits per weight of Q8_0, minus the embedding lookup
    assert mf.weight_bytes == pytest.approx((8e9 - 128256 * 4096) * 8.5 / 8, rel=1e-6)


def test_accepts_the_placement_dataclass(llama8b):
    from llmfit_core.placement import Placement

    hw = gpu_box(n=2, vram=12.0)
    plc = Placement(gpu_layers=33, total_layers=33, gpu_bytes=5 << 30, cpu_bytes=0, per_gpu_bytes=[3 << 30, 2 << 30])
    p = predict(llama8b, hw, "llama.cpp-cuda", plc, 4096, apply_correction=False)
    assert p.decode_tok_s > 0 and any("2 GPUs" in r for r in p.reasons)
    part = Placement(gpu_layers=10, total_layers=33, gpu_bytes=2 << 30, cpu_bytes=3 << 30, per_gpu_bytes=[2 << 30, 0])
    q = predict(llama8b, hw, "llama.cpp-cuda", part, 4096, apply_correction=False)
    assert q.decode_tok_s < p.decode_tok_s / 2
    assert not any("GPUs" in r for r in q.reasons)  # the second GPU holds nothing


def test_arm_without_dotprod_is_slower_on_quantized_models():
    def pi(isa):
        return HardwareProfile(name="pi", cpu=CPUInfo(model="Cortex", cores=4, threads=4, arch="arm64", isa=isa, mem_bandwidth_gbs=17.0),
                               memory=MemoryInfo(8.0))

    q4 = build_spec("llama-3.2-3b", "Q4_K_M")
    old, new = pi(["neon"]), pi(["neon", "dotprod"])
    assert predict(q4, old, apply_correction=False).prefill_tok_s < 0.5 * predict(q4, new, apply_correction=False).prefill_tok_s
    f16 = build_spec("llama-3.2-3b", "F16")  # float kernels do not use int8 dot products
    assert predict(f16, old, apply_correction=False).decode_tok_s == pytest.approx(predict(f16, new, apply_correction=False).decode_tok_s)


def test_threads_fill_performance_cores_first(llama8b):
    hybrid = HardwareProfile(name="13900K", cpu=CPUInfo(model="i9", cores=24, threads=32, isa=["avx2", "fma"], mem_bandwidth_gbs=100.0,
                                                        p_cores=8, e_cores=16), memory=MemoryInfo(64.0))
    pp = {t: predict(llama8b, hybrid, threads=t, apply_correction=False).prefill_tok_s for t in (4, 8, 16, 24)}
    assert pp[8] == pytest.approx(2 * pp[4], rel=1e-6)  # 4 -> 8 threads: all on P-cores
    assert pp[8] < pp[16] < pp[24]
    # 16 E-cores with half-width FMA units at a lower clock: 0.3 of a P-core's FLOPs each = 4.8 more P-cores
    assert pp[24] == pytest.approx((8 + 0.3 * 16) / 8 * pp[8], rel=1e-6)


def test_bad_profile_figures_are_treated_as_unknown(llama8b):
    hw = HardwareProfile.from_dict({"cpu": {"cores": "many", "mem_bandwidth_gbs": -5, "isa": ["avx2"]},
                                    "gpus": [{"vendor": "nvidia", "name": "Odd GPU", "vram_gb": 24, "bandwidth_gbs": "fast",
                                              "fp16_tflops": float("nan")}]})
    p = predict(llama8b, hw)
    assert math.isfinite(p.decode_tok_s) and p.decode_tok_s > 0
    assert any("bandwidth of Odd GPU unknown" in r for r in p.reasons)
    c = predict(llama8b, hw, backend="cpu")
    assert any("bandwidth of this CPU estimated" in r for r in c.reasons)


def test_model_without_size_is_a_clear_error():
    from llmfit_core.errors import LlmfitError

    spec = ModelSpec(ref="empty", arch="llama", params=0, active_params=0, n_layers=0, hidden_size=0, n_heads=0, n_kv_heads=0,
                     head_dim=0, vocab_size=0, max_context=0)
    with pytest.raises(LlmfitError, match="cannot predict"):
        predict(spec, gpu_box())


def test_predict_batch_default_decode_position_follows_prompt_arrays():
    specs = [build_spec("llama-3-8b", "Q4_K_M")] * 2
    hf = hardware_figures(gpu_box(), BACKENDS["llama.cpp-cuda"], None)
    inputs = {**model_arrays([model_figures(s) for s in specs]), **hardware_arrays(hf), "prompt_tokens": np.array([64, 30000])}
    out = predict_batch(inputs, apply_correction=False)
    assert out["roofline_decode"][1] < out["roofline_decode"][0]


def test_backend_without_training_rows_gets_roofline_and_wide_band(tmp_path, llama8b):
    import onnx

    # every backend has public rows since the llama-bench threads table: drop sycl from a copy's metadata
    for head in ("decode", "prefill"):
        m = onnx.load(str(WEIGHTS / f"throughput_{head}.onnx"))
        for prop in m.metadata_props:
            if prop.key == "backends":
                prop.value = json.dumps([b for b in json.loads(prop.value) if b != 4])
        onnx.save(m, str(tmp_path / f"throughput_{head}.onnx"))
    hw = gpu_box(vendor="intel", name="Arc A770", bw=560.0, tflops=137.6, vram=16.0)
    seen = load_correction(tmp_path).heads["decode"].backends
    assert seen is not None and 4 not in seen
    sycl = predict(llama8b, hw, backend="sycl", weights_dir=tmp_path)
    assert not sycl.correction_applied
    assert sycl.decode_tok_s == pytest.approx(sycl.roofline_decode)
    assert any("no public benchmark rows for the sycl backend" in r for r in sycl.reasons)
    cuda = predict(llama8b, gpu_box(), backend="cuda", weights_dir=tmp_path)
    width = lambda p: p.decode_range[1] / p.decode_range[0]  # noqa: E731
    assert cuda.correction_applied and width(sycl) > width(cuda)


def _epyc(bw=55.0, vendor="AuthenticAMD", model="AMD EPYC") -> HardwareProfile:
    cpu = CPUInfo(model=model, cores=2, threads=2, isa=["avx2", "fma", "avx512", "avx512_vnni"], mem_bandwidth_gbs=bw, vendor=vendor)
    return HardwareProfile(name="vm", cpu=cpu, memory=MemoryInfo(23.5))


def test_amd_avx512_is_256_bit_wide():
    """Zen 4 runs AVX-512 as two 256-bit halves: the same FP32 peak per cycle as AVX2, half of Intel's AVX-512."""
    from llmfit_core.throughput.roofline import cpu_figures

    _, amd, _, amd_isa, _ = cpu_figures(_epyc())
    _, intel, _, intel_isa, _ = cpu_figures(_epyc(vendor="GenuineIntel", model="Intel Xeon"))
    assert intel == pytest.approx(2 * amd) and amd_isa == 1 and intel_isa == 2


def test_two_core_cpu_decode_quantized_compute_bound_f16_memory_bound():
    """On 2 cores dequantization, not bandwidth, limits Q8_0/Q4_K_M decode; F16 streams at the bandwidth.
    Order measured with llama.cpp here (benchmarks/results/throughput_local.md): Q4_K_M > Q8_0 > F16."""
    hw = _epyc()
    preds = {q: predict(build_spec("llama-2-7b", q), hw, "llama.cpp-cpu", threads=2, apply_correction=False)
             for q in ("F16", "Q8_0", "Q4_K_M")}
    assert preds["F16"].bound == "memory"
    assert preds["Q8_0"].bound == "compute" and preds["Q4_K_M"].bound == "compute"
    assert preds["Q4_K_M"].decode_tok_s > preds["Q8_0"].decode_tok_s > preds["F16"].decode_tok_s
    # compute-bound: more bandwidth barely helps the quantized model (loads and arithmetic overlap only in part,
    # CPU_OVERLAP_P), it does help F16
    fast = _epyc(bw=110.0)
    assert predict(build_spec("llama-2-7b", "Q8_0"), fast, "llama.cpp-cpu", threads=2, apply_correction=False).decode_tok_s == \
        pytest.approx(preds["Q8_0"].decode_tok_s, rel=0.02)
    slow = _epyc(bw=30.0)
    assert predict(build_spec("llama-2-7b", "F16"), slow, "llama.cpp-cpu", threads=2, apply_correction=False).decode_tok_s < \
        0.6 * preds["F16"].decode_tok_s


def test_cpu_decode_pays_a_barrier_chain_per_thread():
    """ggml_barrier is one atomic hand-over per thread, ~30 times per layer: a small model on a 192-core CPU decodes
    several times slower than its bytes say, and 192 threads are slower than 32 for it."""
    from llmfit_core.throughput.roofline import CPU_BARRIER_S_PER_THREAD

    big = HardwareProfile(name="arm server", cpu=CPUInfo(model="AmpereOne", cores=192, threads=192, arch="arm64",
                                                         isa=["neon", "dotprod", "i8mm"], mem_bandwidth_gbs=332.8),
                          memory=MemoryInfo(512.0))
    spec = build_spec("llama-3.2-3b", "Q4_K_M")
    p192 = predict(spec, big, "llama.cpp-cpu", threads=192, apply_correction=False)
    p32 = predict(spec, big, "llama.cpp-cpu", threads=32, apply_correction=False)
    assert p192.decode_tok_s < p32.decode_tok_s
    barrier_s = spec.n_layers * 192 * CPU_BARRIER_S_PER_THREAD
    assert 1.0 / p192.decode_tok_s > barrier_s > 2 * spec.weight_bytes / 332.8e9


def test_cpu_overlap_is_between_the_larger_time_and_the_sum():
    from llmfit_core.throughput.roofline import cpu_overlap

    t = cpu_overlap(np.array([1.0, 1.0, 0.0, 0.0]), np.array([1.0, 0.1, 2.0, 0.0]))
    assert 1.0 < t[0] < 2.0 and t[1] == pytest.approx(1.0, rel=1e-3) and t[2] == pytest.approx(2.0) and t[3] == 0.0


def test_metal_kquant_decode_is_alu_bound_on_gpus_with_little_alu_per_byte():
    """Metal unpacks K-quant weights in float (no int8 dot): with half the ALU for the same bandwidth, Q4_K_M decode
    slows down while F16 (memory-bound) does not."""
    kq, f16 = build_spec("llama-3-8b", "Q4_K_M"), build_spec("llama-3-8b", "F16")
    rich, poor = mac(bw=400.0, tflops=28.0), mac(bw=400.0, tflops=7.0)
    dec = lambda spec, hw: predict(spec, hw, "llama.cpp-metal", apply_correction=False).decode_tok_s  # noqa: E731
    assert dec(kq, poor) < 0.8 * dec(kq, rich)
    assert dec(f16, poor) == pytest.approx(dec(f16, rich), rel=1e-6)


def test_prefill_does_not_multiply_the_output_head_for_every_prompt_token():
    """Only the last prompt token's logits are computed: a big-vocabulary model's prefill is faster than
    counting every parameter, and the head parameters are the vocabulary x hidden matrices."""
    spec = build_spec("llama-2-7b", "F16")
    mf = model_figures(spec)
    vh = spec.vocab_size * spec.hidden_size
    assert mf.head_params == pytest.approx(vh if spec.tied_embeddings else 2 * vh)
    hf = hardware_figures(_epyc(), "llama.cpp-cpu", n_layers=mf.n_layers, threads=2)
    base = {**model_arrays([mf]), **hardware_arrays(hf), "prompt_tokens": 512, "decode_pos": 576.0}
    with_head = predict_batch(base, apply_correction=False)
    without = predict_batch({**base, "head_params": 0.0}, apply_correction=False)
    assert with_head["roofline_prefill"][0] > without["roofline_prefill"][0]
    assert with_head["roofline_decode"][0] == pytest.approx(without["roofline_decode"][0])  # decode reads the head


def test_roofline_matches_this_machines_llama_cpp_runs():
    """The stored llama.cpp runs of this project's machine (18 models x quants, data/benchdata/local_*.jsonl)
    against the roofline with the measured read bandwidth: no correction involved."""
    from llmfit_core.bench.records import spec_from_facts

    recs = [json.loads(x) for x in (REPO / "data/benchdata/local_amd_epyc_2c_llamacpp0336.jsonl").read_text().splitlines() if x]
    ratios = {"tg": [], "pp": []}
    for r in recs:
        h = r["hardware"]
        hw = _epyc(bw=h["mem_bandwidth_gbs"])
        p = predict(spec_from_facts(r["model"]), hw, "llama.cpp-cpu", threads=r["settings"]["threads"], apply_correction=False)
        ratios["tg"].append(r["results"]["tg"]["tok_s"] / p.decode_tok_s)
        ratios["pp"].append(r["results"]["pp"]["tok_s"] / p.prefill_tok_s)
    tg, pp = np.array(ratios["tg"]), np.array(ratios["pp"])
    assert len(tg) == 18
    assert 0.85 < np.median(tg) < 1.2 and tg.min() > 0.7 and tg.max() < 1.35
    assert 0.85 < np.median(pp) < 1.35 and pp.min() > 0.65 and pp.max() < 1.6


def test_correction_shrink_metadata_scales_the_log_correction(tmp_path):
    """A backend with few training devices gets its log correction multiplied by the factor in the ONNX metadata."""
    from sklearn.ensemble import GradientBoostingRegressor

    from llmfit_core.throughput.features import FEATURES
    from llmfit_core.throughput.roofline import BACKEND_CODE
    from training.train_throughput import export_onnx

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, len(FEATURES))).astype(np.float32)
    col = FEATURES.index("backend")
    X[:, col] = np.where(np.arange(200) % 2, BACKEND_CODE["cpu"], BACKEND_CODE["cuda"])
    y = X[:, 0] * 0.3 + 0.5
    m = GradientBoostingRegressor(n_estimators=20, random_state=0).fit(X, y)
    for head in ("decode", "prefill"):
        export_onnx(m, tmp_path / f"throughput_{head}.onnx", head, (-0.1, 0.1), 200,
                    [BACKEND_CODE["cpu"], BACKEND_CODE["cuda"]], {BACKEND_CODE["cpu"]: 0.25, BACKEND_CODE["cuda"]: 1.0})
    corr = load_correction(tmp_path)
    assert corr.ok, corr.reason
    out = corr.apply(X)["decode"]
    raw = np.clip(m.predict(X), -2, 2)
    cpu = X[:, col] == BACKEND_CODE["cpu"]
    np.testing.assert_allclose(out[cpu], 0.25 * raw[cpu], atol=1e-5)
    np.testing.assert_allclose(out[~cpu], raw[~cpu], atol=1e-5)


def test_memory_class_of_the_weights_memory_comes_from_the_device_table():
    """HBM datacenter cards, GDDR consumer cards, unified Apple memory and CPU placement get distinct classes;
    an unknown GPU falls back to GDDR (unified on a unified-memory machine), and the feature column carries it."""
    from llmfit_core.throughput.features import FEATURES, build_features
    from llmfit_core.throughput.predict import _ROOF_KEYS
    from llmfit_core.throughput.roofline import MEM_CLASS, roofline_arrays

    def cls(hw, backend="llama.cpp-cuda"):
        return hardware_figures(hw, backend).mem_class

    assert cls(gpu_box(bw=2000, tflops=756, vram=80, name="H100 PCIe")) == MEM_CLASS["hbm"]
    assert cls(gpu_box(name="NVIDIA GeForce RTX 4090")) == MEM_CLASS["gddr"]
    assert cls(gpu_box(name="Mystery Accelerator 9000")) == MEM_CLASS["gddr"]
    assert cls(mac(), "llama.cpp-metal") == MEM_CLASS["unified"]
    assert cls(gpu_box(name="H100 PCIe"), "llama.cpp-cpu") == MEM_CLASS["ddr"]
    hf = hardware_figures(gpu_box(bw=2000, tflops=756, vram=80, name="H100 PCIe"), "llama.cpp-cuda")
    inputs = {**model_arrays([model_figures(build_spec("llama-3-8b", "Q4_K_M"))]), **hardware_arrays(hf),
              "prompt_tokens": 512, "decode_pos": 576.0}
    X = build_features(inputs, roofline_arrays(**{k: inputs[k] for k in _ROOF_KEYS}))
    assert X[0, FEATURES.index("mem_class")] == MEM_CLASS["hbm"]


def test_hopper_prefill_counts_the_mma_sync_half_of_its_quoted_tensor_peak(llama8b):
    """llama.cpp's CUDA kernels do not issue Hopper's wgmma: an H100 (cc 9.0) computes a prompt at half its
    quoted FP16 tensor peak, so its prefill roofline is half that of the same card with an Ampere/Ada cc."""
    from llmfit_core.throughput.roofline import tensor_peak_fraction

    def h100(cc):
        hw = gpu_box(bw=2000, tflops=756, vram=80, name="H100 PCIe")
        hw.gpus[0].compute_capability = cc
        return hw

    assert tensor_peak_fraction(h100("9.0").gpus[0]) == 0.5
    for cc in ("8.9", None, "garbage", "inf"):
        assert tensor_peak_fraction(h100(cc).gpus[0]) == 1.0
    assert tensor_peak_fraction(gpu_box(vendor="amd", name="MI300X").gpus[0]) == 1.0
    hop = predict(llama8b, h100("9.0"), "llama.cpp-cuda", apply_correction=False)
    ada = predict(llama8b, h100("8.9"), "llama.cpp-cuda", apply_correction=False)
    assert hop.prefill_tok_s < 0.75 * ada.prefill_tok_s
    assert hop.decode_tok_s == pytest.approx(ada.decode_tok_s, rel=0.05)  # decode streams memory: barely affected


def test_gpu_generation_feature_is_the_compute_capability_or_apple_m_generation():
    """gpu_gen: NVIDIA compute capability, Apple 20 + M generation, 0 for other vendors / unknown / CPU placement;
    it reaches the feature matrix through hardware_figures -> hardware_arrays -> build_features."""
    from llmfit_core.throughput.features import FEATURES, build_features
    from llmfit_core.throughput.predict import _ROOF_KEYS
    from llmfit_core.throughput.roofline import APPLE_GEN_BASE, gpu_generation, roofline_arrays

    ada = gpu_box()
    ada.gpus[0].compute_capability = "8.9"
    assert gpu_generation(ada.gpus[0]) == pytest.approx(8.9)
    for cc in (None, "garbage", "inf", "-1"):
        ada.gpus[0].compute_capability = cc
        assert gpu_generation(ada.gpus[0]) == 0.0
    assert gpu_generation(GPUInfo("apple", "Apple M3 Max", None)) == APPLE_GEN_BASE + 3
    assert gpu_generation(GPUInfo("apple", "Apple GPU", None)) == APPLE_GEN_BASE
    assert gpu_generation(GPUInfo("amd", "RX 7900 XTX", 24.0)) == 0.0

    def feature(hw, backend):
        inputs = {**model_arrays([model_figures(build_spec("llama-3-8b", "Q4_K_M"))]),
                  **hardware_arrays(hardware_figures(hw, backend)), "prompt_tokens": 512, "decode_pos": 576.0}
        X = build_features(inputs, roofline_arrays(**{k: inputs[k] for k in _ROOF_KEYS}))
        return float(X[0, FEATURES.index("gpu_gen")])

    ada.gpus[0].compute_capability = "8.6"
    assert feature(ada, "llama.cpp-cuda") == pytest.approx(8.6)
    assert feature(ada, "llama.cpp-cpu") == 0.0  # no GPU used: no GPU generation
