"""Feature vector of the learned correction: physics figures only (no device or model names).

Shared by training (training/train_throughput.py) and inference (correction.py), so both build the
exact same matrix from the same roofline inputs.
"""

from __future__ import annotations

import numpy as np

FEATURES = (
    "log_gpu_bw_gbs",
    "log_gpu_tflops",
    "log_cpu_bw_gbs",
    "log_cpu_gflops",
    "log_weight_gb",
    "bits_per_weight",
    "quant_family",
    "backend",
    "vendor",
    "log_active_params_b",
    "log_prompt_tokens",
    "log_decode_pos",
    "n_gpus",
    "gpu_frac",
    "cpu_isa",
    "log_threads",
    "unified",
    "log_roofline_decode",
    "log_roofline_prefill",
    "decode_mem_share",
    "prefill_mem_share",
    "log_gpu_bw_per_tflops",  # machine balance: bytes per FLOP of the GPU
    "bench_kind",  # 0 llama-bench (the reference; always 0 at inference), 1 llama.cpp ./main, 2 Ollama
    "mem_class",  # memory technology the weights stream from: 0 DDR (CPU), 1 GDDR, 2 HBM, 3 unified LPDDR
    "gpu_gen",  # GPU architecture generation: NVIDIA compute capability, Apple 20 + M generation, 0 CPU / unknown
    "kernel_class",  # roofline.KERNEL_CLASSES code: the backend's kernel path on this GPU generation (0 = default)
    "moe_flop_frac",  # share of the per-token matmul FLOPs in routed experts (0 = dense)
    "rec_share",  # share of the layers that are recurrent (gated delta-net / Mamba / short conv)
    "log_depth",  # tokens already in the context before the prompt (llama-bench -d)
    "flash_attn",  # 1 = llama.cpp flash-attention kernels
)

# Extra per-row inputs beyond roofline_arrays' keyword arguments, with their inference defaults.
EXTRA_DEFAULTS = {"bits_per_weight": 4.5, "vendor_code": 0, "isa_code": 1, "threads": 1, "bench_kind": 0, "gpu_gen": 0.0,
                  "kernel_class": 0, "moe_flop_frac": 0.0, "n_rec_layers": 0.0, "depth": 0.0, "flash_attn": 1.0}


def build_features(inputs: dict, roof: dict) -> np.ndarray:
    """Feature matrix (float32, rows x len(FEATURES)) from roofline inputs and roofline_arrays output."""
    n = np.broadcast(*[np.asarray(v) for v in list(inputs.values()) + list(roof.values())]).shape
    n = n[0] if n else 1

    def col(x, dtype=float):
        return np.broadcast_to(np.asarray(x, dtype=dtype), (n,)).astype(np.float64)

    def g(key):
        return inputs[key] if key in inputs else EXTRA_DEFAULTS[key]

    if "mem_class" in inputs:
        mem_class = col(inputs["mem_class"])
    else:  # callers without it: CPU placement = DDR, unified machines = unified, other GPUs = GDDR
        on_gpu = col(inputs["gpu_frac"]) > 0
        mem_class = np.where(on_gpu, np.where(col(inputs["unified"]) > 0, 3.0, 1.0), 0.0)

    lg = np.log
    dmem, dcmp = col(roof["decode_mem_s"]), col(roof["decode_compute_s"])
    pmem, pcmp = col(roof["prefill_mem_s"]), col(roof["prefill_compute_s"])
    cols = [
        lg(col(inputs["gpu_bw_gbs"]) + 1.0),
        lg(col(inputs["gpu_tflops"]) + 0.1),
        lg(col(inputs["cpu_bw_gbs"]) + 1.0),
        lg(col(inputs["cpu_gflops"]) + 1.0),
        lg(col(inputs["weight_bytes"]) / 1e9 + 1e-3),
        col(g("bits_per_weight")),
        col(inputs["qfam_code"]),
        col(inputs["backend_code"]),
        col(g("vendor_code")),
        lg(col(inputs["active_params"]) / 1e9 + 1e-3),
        lg(col(inputs["prompt_tokens"]) + 1.0),
        lg(col(inputs["decode_pos"]) + 1.0),
        col(inputs["n_gpus"]),
        col(inputs["gpu_frac"]),
        col(g("isa_code")),
        lg(col(g("threads")) + 1.0),
        col(inputs["unified"]),
        lg(col(roof["decode_tok_s"])),
        lg(col(roof["prefill_tok_s"])),
        dmem / (dmem + dcmp + 1e-12),
        pmem / (pmem + pcmp + 1e-12),
        lg((col(inputs["gpu_bw_gbs"]) + 1.0) / (col(inputs["gpu_tflops"]) + 0.1)),
        col(g("bench_kind")),
        mem_class,
        col(g("gpu_gen")),
        col(g("kernel_class")),
        col(g("moe_flop_frac")),
        col(g("n_rec_layers")) / np.maximum(col(inputs["n_layers"]), 1.0),
        lg(col(g("depth")) + 1.0),
        col(g("flash_attn")),
    ]
    return np.stack(cols, axis=1).astype(np.float32)
