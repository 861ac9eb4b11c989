"""Public throughput API: roofline x learned correction, one pair (`predict`) or many (`predict_batch`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from llmfit_core.backends import default_backend
from llmfit_core.errors import LlmfitError
from llmfit_core.throughput.correction import FALLBACK_BAND, UNSEEN_CLASS_WIDEN, load_correction
from llmfit_core.throughput.features import EXTRA_DEFAULTS, build_features
from llmfit_core.throughput.quantfamily import FAMILY_CODE
from llmfit_core.throughput.roofline import (
    BACKEND_CODE,
    DECODE_BW_EFF,
    GPU_DECODE_FAMILY_EFF,
    NBATCH,
    UBATCH,
    HardwareFigures,
    ModelFigures,
    expert_offload_inputs,
    hardware_figures,
    model_figures,
    roofline_arrays,
)
from llmfit_core.units import fmt_bytes


@dataclass
class ThroughputPrediction:
    """Predicted speed of one model on one machine/backend/placement (tokens per second)."""

    prefill_tok_s: float
    decode_tok_s: float
    decode_range: tuple[float, float]
    prefill_range: tuple[float, float]
    roofline_decode: float
    roofline_prefill: float
    correction_applied: bool
    reasons: list[str] = field(default_factory=list)
    bound: str = "memory"  # what limits decode: memory | compute

    def to_dict(self) -> dict:
        return {
            "prefill_tok_s": self.prefill_tok_s,
            "decode_tok_s": self.decode_tok_s,
            "decode_tok_s_range": list(self.decode_range),
            "prefill_tok_s_range": list(self.prefill_range),
            "roofline_decode": self.roofline_decode,
            "roofline_prefill": self.roofline_prefill,
            "correction_applied": self.correction_applied,
            "bound": self.bound,
            "reasons": list(self.reasons),
        }


# optional per-model roofline inputs carried by ModelFigures (zeros = a dense full-attention transformer)
ARCH_KEYS = ("swa_frac", "swa_window", "n_moe_layers", "moe_flop_frac", "moe_expert_bytes", "expert_used_ratio",
             "rec_state_elems", "n_rec_layers", "bf16", "mla_k_share", "n_experts")
MODEL_KEYS = ("weight_bytes", "kv_bytes_per_pos", "active_params", "attn_dim_layers", "n_layers", "qfam_code", "bits_per_weight")


def model_arrays(figures: Sequence[ModelFigures]) -> dict[str, np.ndarray]:
    """Stack ModelFigures of many model x quant pairs into the arrays predict_batch takes."""
    return {
        "weight_bytes": np.array([m.weight_bytes for m in figures], float),
        "kv_bytes_per_pos": np.array([m.kv_bytes_per_pos for m in figures], float),
        "active_params": np.array([m.active_params for m in figures], float),
        "attn_dim_layers": np.array([m.attn_dim_layers for m in figures], float),
        "n_layers": np.array([m.n_layers for m in figures], float),
        "qfam_code": np.array([FAMILY_CODE[m.quant_family] for m in figures], int),
        "bits_per_weight": np.array([m.bits_per_weight for m in figures], float),
        "head_params": np.array([m.head_params for m in figures], float),
        **{k: np.array([getattr(m, k) for m in figures], float) for k in ARCH_KEYS},
    }


def hardware_arrays(hf: HardwareFigures) -> dict:
    """Scalar inputs of one HardwareFigures, in predict_batch's vocabulary."""
    return {
        "backend_code": BACKEND_CODE[hf.backend_kind],
        "gpu_frac": hf.gpu_frac,
        "n_gpus": hf.n_gpus,
        "gpu_bw_gbs": hf.gpu_bw_gbs,
        "gpu_tflops": hf.gpu_tflops,
        "cpu_bw_gbs": hf.cpu_bw_gbs,
        "cpu_gflops": hf.cpu_gflops,
        "unified": hf.unified,
        "vendor_code": hf.vendor_code,
        "isa_code": hf.isa_code,
        "threads": hf.threads,
        "mem_class": hf.mem_class,
        "gpu_gen": hf.gpu_gen,
        "gpu_power_keep": hf.gpu_power_keep,
        "kernel_class": hf.kernel_class,
        "gpu_present": hf.gpu_present,
        "host_core_gflops": hf.host_core_gflops,
    }


def decode_position(prompt_tokens: int, gen_tokens: int, context: int | None = None, depth: int = 0) -> float:
    """Average KV position while generating `gen_tokens` after `depth` tokens already in the context and a
    `prompt_tokens` prompt."""
    pos = float(depth) + float(prompt_tokens) + float(gen_tokens) / 2.0
    return min(pos, float(context)) if context else pos


_ROOF_KEYS = (
    "weight_bytes", "kv_bytes_per_pos", "active_params", "attn_dim_layers", "n_layers", "qfam_code", "backend_code",
    "gpu_frac", "n_gpus", "gpu_bw_gbs", "gpu_tflops", "cpu_bw_gbs", "cpu_gflops", "unified", "prompt_tokens", "decode_pos", "threads", "isa_code",
    "head_params",
)
# Optional inputs (roofline_arrays defaults when absent): MoE expert offload, llama.cpp --n-cpu-moe.
_EXPERT_KEYS = ("expert_cpu_frac", "expert_cpu_bytes", "expert_cpu_layers", "expert_used_ratio", "moe_expert_bytes")
# Optional inputs of roofline_arrays (its defaults when absent): the above and the depth / architecture inputs.
_OPTIONAL_KEYS = _EXPERT_KEYS + ("depth", "flash_attn", "kernel_class", "gpu_present", "host_core_gflops", "n_ubatch",
                                  "n_batch") + tuple(k for k in ARCH_KEYS if k not in _EXPERT_KEYS)


def optional_inputs(spec, mf: ModelFigures, hf: HardwareFigures) -> dict:
    """Optional roofline inputs of one model on one placement beyond model_arrays / hardware_arrays (none today:
    the MoE expert bytes a layer split streams for prefill now come with the model's figures)."""
    return {}


def _split_rows(inputs: Mapping[str, object], shape) -> np.ndarray:
    """Rows that run part of the work off the GPU: a layer split (0 < gpu_frac < 1, or -ngl 0 beside a GPU) or
    expert offload (the experts of some layers in RAM, --n-cpu-moe)."""
    f = np.broadcast_to(np.asarray(inputs["gpu_frac"], float), shape)
    gpu_backend = np.broadcast_to(np.asarray(inputs["backend_code"], int) != BACKEND_CODE["cpu"], shape)
    present = np.broadcast_to(np.asarray(inputs.get("gpu_present", False), bool), shape)
    x = np.broadcast_to(np.asarray(inputs.get("expert_cpu_frac", 0.0), float), shape)
    return gpu_backend & (((f < 1.0) & ((f > 0.0) | present)) | (x > 0.0))


def predict_batch(
    inputs: Mapping[str, object],
    apply_correction: bool = True,
    weights_dir=None,
) -> dict[str, np.ndarray]:
    """Vectorised prediction. `inputs`: model_arrays(...) | hardware_arrays(...) | {prompt_tokens, decode_pos}
    (any value may be a scalar or an array; per-pair `gpu_frac` overrides the hardware's). Returns arrays:
    decode_tok_s, prefill_tok_s, decode_lo/hi, prefill_lo/hi, roofline_decode, roofline_prefill, and
    `correction_applied` (bool scalar)."""
    inputs = dict(inputs)
    inputs.setdefault("prompt_tokens", 512)
    inputs.setdefault("decode_pos", np.asarray(inputs["prompt_tokens"], float) + 64.0)  # 128 generated tokens
    for k, v in EXTRA_DEFAULTS.items():
        inputs.setdefault(k, v)
    inputs.setdefault("head_params", 0.0)  # callers that do not know it: prefill counts every parameter
    missing = [k for k in _ROOF_KEYS if k not in inputs]
    if missing:
        raise KeyError(f"predict_batch inputs missing: {', '.join(missing)}")
    roof_in = {k: inputs[k] for k in _ROOF_KEYS}
    roof_in.update({k: inputs[k] for k in _OPTIONAL_KEYS if k in inputs})
    roof = feature_roof = roofline_arrays(**roof_in)
    keep = np.asarray(inputs.get("gpu_power_keep", 1.0), float)
    if np.any(keep < 1.0):  # power-limited GPUs: physics with the compute they keep, correction on the board as shipped
        roof = roofline_arrays(**{**roof_in, "gpu_tflops": np.asarray(roof_in["gpu_tflops"], float) * keep})
    rd, rp = roof["decode_tok_s"], roof["prefill_tok_s"]
    corr = load_correction(weights_dir) if apply_correction else None
    used = corr is not None and corr.ok
    n = np.broadcast(rd, rp).shape
    if used:
        split = _split_rows(inputs, n)
        if split.any():
            # a layer split or expert offload: the correction describes the GPU's kernels, so it is taken where the
            # model is whole on the GPU (gpu_frac 1, no experts in RAM) and applied to the GPU part of the time only;
            # the CPU part stays physics. Then moving a layer to the GPU never makes prefill or decode slower (issue
            # 12: 32 of 33 layers was faster), and layer and expert offload of one model get the same GPU factor:
            # their ranking is the physics' (no expert-offload rows were ever trained on)
            whole = {"gpu_frac": np.where(split, 1.0, np.broadcast_to(np.asarray(inputs["gpu_frac"], float), n))}
            for k in ("expert_cpu_frac", "expert_cpu_bytes", "expert_cpu_layers"):  # no experts in RAM
                if k in inputs:
                    whole[k] = np.where(split, 0.0, np.broadcast_to(np.asarray(inputs[k], float), n))
            X = build_features({**inputs, **whole}, roofline_arrays(**{**roof_in, **whole}))
        else:
            X = build_features(inputs, feature_roof)
        logs = corr.apply(X)
        ld, lp = logs["decode"], logs["prefill"]
        td, tp = corr.trained(X, "decode"), corr.trained(X, "prefill")
    else:
        ld = lp = np.zeros(n)
        td = tp = np.zeros(n, bool)
        split = np.zeros(n, bool)
    dec, pre = rd * np.exp(ld), rp * np.exp(lp)
    if split.any():
        gd, gp = roof["decode_gpu_s"], roof["prefill_gpu_s"]
        dec = np.where(split, 1.0 / (gd * np.exp(-ld) + np.maximum(1.0 / rd - gd, 0.0)), dec)
        pre = np.where(split, 1.0 / (gp * np.exp(-lp) + np.maximum(1.0 / rp - gp, 0.0)), pre)

    def band(head, trained):
        lo, hi = corr.row_bands(X, head) if used else FALLBACK_BAND[head]
        flo, fhi = FALLBACK_BAND[head]
        return np.where(trained, lo, flo), np.where(trained, hi, fhi)

    (dlo, dhi), (plo, phi) = band("decode", td), band("prefill", tp)
    return {
        "decode_tok_s": dec,
        "prefill_tok_s": pre,
        "decode_lo": dec * np.exp(dlo),
        "decode_hi": dec * np.exp(dhi),
        "prefill_lo": pre * np.exp(plo),
        "prefill_hi": pre * np.exp(phi),
        "roofline_decode": rd,
        "roofline_prefill": rp,
        "correction_applied": used,
        "corrected_decode": td,  # per row: the correction covers this backend
        "corrected_prefill": tp,
        "decode_mem_s": roof["decode_mem_s"],
        "decode_compute_s": roof["decode_compute_s"],
        "decode_bytes": roof["decode_bytes"],
        "decode_gpu_s": roof["decode_gpu_s"],
        "decode_host_s": roof["decode_host_s"],
    }


# The note the config reader (readers/hf_config.py) leaves on a model_type it prices as a llama-like decoder.
UNMODELLED_ARCH_NOTE = "not modelled exactly"


def unseen_inputs(spec, mf: ModelFigures) -> list[str]:
    """What about this model the physics tables and the training rows do not cover (its estimate is a guess there)."""
    out = []
    if mf.quant_family == "other":
        out.append(f"quantization {spec.quant!r} is in no kernel family of the speed tables (no public rows): "
                   "priced as a generic dequantizing kernel")
    if any(UNMODELLED_ARCH_NOTE in n for n in getattr(spec, "notes", None) or ()):
        out.append(f"architecture {spec.arch!r} has no public speed rows: priced as a llama-like decoder")
    return out


def widen_bands(out: dict, factor: float) -> dict:
    """predict_batch's output with each likely range widened by `factor` in log units around its estimate."""
    out = dict(out)
    for head in ("decode", "prefill"):
        est = np.asarray(out[f"{head}_tok_s"], float)
        out[f"{head}_lo"] = est * (np.asarray(out[f"{head}_lo"], float) / est) ** factor
        out[f"{head}_hi"] = est * (np.asarray(out[f"{head}_hi"], float) / est) ** factor
    return out


def predict(
    spec,
    hardware,
    backend=None,
    placement=None,
    context: int | None = None,
    prompt_tokens: int = 512,
    gen_tokens: int = 128,
    threads: int | None = None,
    kv_bytes_per_elem: float = 2.0,
    apply_correction: bool = True,
    weights_dir=None,
    depth: int = 0,
    flash_attn: bool = True,
    n_ubatch: int = UBATCH,
    n_batch: int = NBATCH,
) -> ThroughputPrediction:
    """Predict prefill and decode tok/s of `spec` on `hardware` with `backend` and `placement`.

    backend: a llmfit_core.backends.Backend or name (None: the hardware's default). placement: any object
    or dict with gpu_layers, total_layers (and optionally per_gpu_bytes); None = all layers on the GPU.
    n_ubatch, n_batch: llama.cpp's -ub and -b, the micro-batch prompt processing runs in and the batch a layer
    split pipelines.
    """

    if backend is None:
        backend = default_backend(hardware)
    if prompt_tokens < 1 or gen_tokens < 1 or depth < 0 or n_ubatch < 1 or n_batch < 1:
        raise LlmfitError("prompt_tokens, gen_tokens, n_ubatch and n_batch must be at least 1, depth at least 0")
    mf = model_figures(spec, kv_bytes_per_elem=kv_bytes_per_elem)
    hf = hardware_figures(hardware, backend, placement, n_layers=mf.n_layers, threads=threads)
    inputs = {**model_arrays([mf]), **hardware_arrays(hf)}
    get = placement.get if isinstance(placement, dict) else (lambda k, d=None: getattr(placement, k, d))
    n_cpu_moe = int(get("n_cpu_moe", 0) or 0) if placement is not None and hf.n_gpus else 0
    xin = expert_offload_inputs(spec, n_cpu_moe, mf) if n_cpu_moe else None
    if xin and xin["expert_cpu_frac"] > 0:
        inputs.update(xin)
    for k, v in optional_inputs(spec, mf, hf).items():
        inputs.setdefault(k, v)
    inputs["prompt_tokens"] = prompt_tokens
    inputs["decode_pos"] = decode_position(prompt_tokens, gen_tokens, context, depth)
    inputs["depth"] = float(depth)
    inputs["flash_attn"] = float(bool(flash_attn))
    inputs["n_ubatch"], inputs["n_batch"] = float(n_ubatch), float(n_batch)
    out = predict_batch(inputs, apply_correction=apply_correction, weights_dir=weights_dir)
    unseen = unseen_inputs(spec, mf)
    if unseen:  # no public rows say how far off the estimate is for these: a wider band
        out = widen_bands(out, UNSEEN_CLASS_WIDEN)

    def f(k):
        return float(np.asarray(out[k]).reshape(-1)[0])

    reasons = list(mf.notes) + list(hf.reasons) + [f"{u}: band widened x{UNSEEN_CLASS_WIDEN:g}" for u in unseen]
    mem_s, cmp_s = f("decode_mem_s"), f("decode_compute_s")
    gb = f("decode_bytes") / 1e9
    bk = BACKEND_CODE[hf.backend_kind]
    x = float(inputs.get("expert_cpu_frac", 0.0))
    if x > 0:
        where = (f"{1 - x:.0%} on GPU at {hf.gpu_bw_gbs:.0f} GB/s, the active experts of {n_cpu_moe} layers "
                 f"({x * mf.weight_bytes / 1e9:.2f} GB) on CPU at {hf.cpu_bw_gbs:.0f} GB/s")
        reasons.append(f"expert offload: per token the CPU reads {x:.0%} of the weight bytes (the active experts in "
                       f"RAM) and hands {n_cpu_moe} layers to and from the GPU; prefill streams those layers' experts "
                       f"({fmt_bytes(inputs['expert_cpu_bytes'])}) over PCIe per {n_ubatch}-token batch (a larger -ub, "
                       "e.g. 2048, amortises it over more tokens)")
    elif hf.gpu_frac >= 1.0:
        eff = DECODE_BW_EFF[bk] * GPU_DECODE_FAMILY_EFF[FAMILY_CODE[mf.quant_family]]
        where = f"{hf.gpu_bw_gbs:.0f} GB/s effective {eff:.0%}"
    elif hf.gpu_frac <= 0.0:
        where = f"{hf.cpu_bw_gbs:.0f} GB/s (CPU, {hf.threads} threads) effective {DECODE_BW_EFF[BACKEND_CODE['cpu']]:.0%}"
    else:
        where = f"{hf.gpu_frac:.0%} on GPU at {hf.gpu_bw_gbs:.0f} GB/s, the rest on CPU at {hf.cpu_bw_gbs:.0f} GB/s"
        reasons.append(f"partial offload: {hf.gpu_frac:.0%} of layers on the GPU, the CPU part dominates decode time")
    bound = "memory" if mem_s >= cmp_s else "compute"
    if bound == "memory":
        reasons.insert(0, f"decode is memory-bound: {gb:.2f} GB read per token at {where}")
    else:
        reasons.insert(0, f"decode is compute-bound (dequantizing {mf.quant_family} weights): {gb:.2f} GB per token, {where}")
    host_s = f("decode_host_s")
    if host_s > 0 and host_s >= f("decode_gpu_s"):
        reasons.append(f"decode waits for the host CPU: building and submitting each token's graph takes {host_s * 1e3:.1f} ms "
                       f"on {hardware.cpu.model or 'this CPU'} (a slow host drives the GPU)")
    if hf.n_gpus > 1:
        reasons.append(f"layer split over {hf.n_gpus} GPUs: decode runs through them one after another")
    applied = bool(out["correction_applied"]) and bool(np.asarray(out["corrected_decode"]).reshape(-1)[0])
    if out["correction_applied"] and not applied:
        reasons.append(f"no public benchmark rows for the {hf.backend_kind} backend: roofline only, wide band")
    elif applied:
        reasons.append(
            f"learned correction: decode x{f('decode_tok_s') / f('roofline_decode'):.2f}, "
            f"prefill x{f('prefill_tok_s') / f('roofline_prefill'):.2f} over the roofline"
        )
        if x > 0:
            reasons.append("expert offload is roofline physics not seen in the training data: the correction is "
                           "applied to its GPU part only, as for a layer split")
    elif apply_correction:
        reasons.append(load_correction(weights_dir).reason)
    return ThroughputPrediction(
        prefill_tok_s=f("prefill_tok_s"),
        decode_tok_s=f("decode_tok_s"),
        decode_range=(f("decode_lo"), f("decode_hi")),
        prefill_range=(f("prefill_lo"), f("prefill_hi")),
        roofline_decode=f("roofline_decode"),
        roofline_prefill=f("roofline_prefill"),
        correction_applied=applied,
        reasons=reasons,
        bound=bound,
    )
