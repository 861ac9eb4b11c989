"""Roofline physics for LLM inference speed: decode is bytes-per-token over bandwidth, prefill is
FLOPs-per-token over compute (capped by the bandwidth bound of one micro-batch).

The core (`roofline_arrays`) is vectorised with numpy so one call scores one pair or 20,000.
Efficiency priors below are fractions of documented peak figures (hardware table bandwidth_gbs,
fp16_tflops; CPU FLOPs from cores x frequency x SIMD width). They are deliberately round numbers:
the learned correction (correction.py) fits what physics leaves out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from llmfit_core.backends import get_backend
from llmfit_core.errors import LlmfitError
from llmfit_core.hardware.devices import lookup_device
from llmfit_core.hardware.power import board_power_fraction, compute_fraction, describe_board_power
from llmfit_core.hardware.power import describe as describe_power_limit
from llmfit_core.memory import expert_layer_bytes, mla_rope_dims
from llmfit_core.quant import quant_fact_or_none, tensor_nbytes
from llmfit_core.throughput.quantfamily import FAMILY_CODE, quant_family
from llmfit_core.units import fmt_bytes

# Backends by device (llmfit_core.backends.Backend.device, "mlx" for runtime mlx).
# Reason given when the CPU memory bandwidth is a guess (api.fit drops it when the hardware note says it).
CPU_BW_ESTIMATED = "bandwidth of this CPU estimated"
BACKEND_KINDS = ("cuda", "metal", "vulkan", "rocm", "sycl", "cpu", "mlx")
BACKEND_CODE = {name: i for i, name in enumerate(BACKEND_KINDS)}

# Fraction of peak memory bandwidth a decode step streams at (weights are read once per token).
DECODE_BW_EFF = np.array([0.80, 0.80, 0.70, 0.70, 0.60, 0.75, 0.80])
# Fixed per-layer, per-token cost (kernel launches, thread barriers), seconds.
LAYER_OVERHEAD_S = np.array([4e-6, 8e-6, 10e-6, 8e-6, 12e-6, 20e-6, 10e-6])
# Fixed per-token cost (graph build, sampling, host sync), seconds.
TOKEN_OVERHEAD_S = np.array([0.3e-3, 0.4e-3, 0.5e-3, 0.4e-3, 0.6e-3, 0.1e-3, 0.5e-3])
# Host-bound decode (a slow host CPU driving a fast GPU, e.g. an eGPU on a Raspberry Pi): llama.cpp's host thread
# builds every token's graph and hands each node to the GPU driver while the GPU runs the earlier ones (ggml-vulkan
# records command buffers node by node and submits every <= 100 nodes, ggml_vk_graph_compute; ggml-cuda replays a
# captured CUDA graph; ggml-metal encodes command buffers on several threads). A GPU faster than its host waits for
# it: the GPU part of a token takes max(GPU time, host time). Host time per layer, on a reference host core
# (HOST_REF_CORE_GFLOPS), by backend (BACKEND_KINDS); it scales with the host's per-core FP32 GFLOPS (a proxy for its
# single-thread speed: a Cortex-A76 at 2.4 GHz is 0.4 of a desktop x86 core). On desktop hosts it stays hidden behind
# the GPU time. Vulkan here is NVIDIA's driver (eGPUs on a Pi CM5 decode at the roofline: the host is not the limit);
# the Mesa drivers (RADV for AMD, ANV / Xe for Intel) take VULKAN_MESA_HOST_LAYER_S, fitted by training/fit_kernels.py
# on the AMD / Intel eGPUs on Raspberry Pi hosts (4 devices). The others are launch costs of documented order
# (a kernel launch or a command encoding ~2-5 us, ~15 graph nodes per layer; CUDA / MLX replay graphs), not fitted.
HOST_REF_CORE_GFLOPS = 96.0  # a desktop x86 core: 3 GHz x 32 FP32 FLOP/cycle (AVX2 FMA)
HOST_LAYER_S = np.array([10e-6, 20e-6, 25e-6, 40e-6, 40e-6, 0.0, 20e-6])
VULKAN_MESA_HOST_LAYER_S = 165e-6
# CPU thread barriers: ggml_graph_compute_thread (ggml-cpu/ggml-cpu.c) ends every graph node with ggml_barrier, and
# mul_mat adds one after quantising the activations: ~30 barriers per transformer layer in decode. ggml_barrier is a
# chain of seq-cst atomic_fetch_add on one shared cache line (n_barrier), one per thread, then a spin on a second
# line: each barrier costs about n_threads cache-line hand-overs between cores (~0.2 us each under contention). Per
# layer and thread: 6 us, the grid minimum of the summed APE over the CPU decode rows of the devices whose thread
# count is known or varies (AmpereOne 192 threads, i9-13900K 4..32, Cix P1 12, M2 Max CPU 2..8, Threadripper 3970X 32,
# the local EPYC 2): the fit without AmpereOne alone also prefers >= 6 us. Was 1 us (a guess): 192-thread decode of a
# 3B model ran 3x slower than predicted.
CPU_BARRIER_S_PER_THREAD = 6.0e-6
# Prefill also streams activations through memory between the ~20 non-matmul ops of each layer (norms,
# RoPE, softmax, SiLU, adds; F32): about 160 bytes per token per (layer x hidden) element.
ACT_BYTES_PER_LAYER_HIDDEN = 160.0
# Fraction of peak FP16 (GPU) / FP32 (CPU) FLOPs a prefill micro-batch reaches, by backend.
PREFILL_COMPUTE_EFF = np.array([0.55, 0.75, 0.30, 0.35, 0.25, 0.50, 0.60])
# Dequantizing matrix-vector kernels stream below the F16 rate on GPUs (K-quant/IQ unpacking), by family.
GPU_DECODE_FAMILY_EFF = np.array([1.00, 0.90, 0.80, 0.70, 0.90, 0.95, 0.80])
# Dequantization: relative prefill speed per quant family on GPU (float .. other), see FAMILIES.
PREFILL_FAMILY_EFF = np.array([1.00, 0.90, 0.85, 0.70, 0.80, 0.90, 0.70])
# BF16 weights: llama.cpp has fast BF16 prompt paths only where the hardware / backend has BF16 matrix instructions
# (ggml-cuda/common.cuh bf16_mma_hardware_available: NVIDIA Ampere+, AMD CDNA and RDNA3+ under HIP; Metal on M2+ via
# bfloat simdgroup matrices); Vulkan converts BF16 through the F32 path unless the device has VK_KHR_shader_bfloat16
# coopmat (ggml-vulkan coopmat_bf16_support). Decode is a mat-vec, bandwidth-bound: CUDA/HIP (ggml-cuda/mmvf.cu) and
# Vulkan (mul_mat_vec_bf16_f32 / mul_mat_vec_id_bf16 shaders) read BF16 like F16; the SYCL rows predate its BF16
# dmmv kernel. Factor on the F16 speed, by backend (BACKEND_KINDS).
BF16_PREFILL_EFF = np.array([1.0, 0.9, 0.35, 1.0, 0.3, 1.0, 1.0])
BF16_DECODE_EFF = np.array([1.0, 1.0, 1.0, 1.0, 0.5, 1.0, 1.0])

# GPU kernel classes: what llama.cpp's kernels of a backend can issue on a GPU generation (fraction of the QUOTED
# FP16 figure of the device table reached by prompt matmuls; fraction of the bandwidth reached by decode mat-vecs).
# From the kernel selection in ggml (llama-cpp-python 0.3.36 vendor/llama.cpp):
# - CUDA: MMQ with int8 mma on Turing+ (ggml-cuda/common.cuh turing_mma_available), dp4a MMQ on Pascal (no tensor
#   cores; the device table quotes FP32 there).
# - ROCm/HIP: MMQ with WMMA on RDNA3/RDNA4 (amd_wmma_available), MFMA on CDNA (amd_mfma_available), v_dot4 int8
#   MMQ on RDNA1/2 and Vega (gfx906; quoted = packed FP16 vector rate), no int8 dot on gfx8xx (Polaris).
#   AMD quotes RDNA3 peaks with dual issue (WMMA / VOPD), which llama.cpp's tiles reach only in part.
# - Vulkan: NV_cooperative_matrix2 / KHR_coopmat on NVIDIA; KHR_coopmat only on AMD RDNA3/RDNA4 and Intel Xe2
#   (ggml_vk_khr_cooperative_matrix_support: "older hardware (ex. Arc A770) has performance regressions"), so
#   RDNA2 / GCN / Polaris and Intel Xe-HPG run the scalar / integer-dot shaders.
# - SYCL: oneDNN / oneMKL GEMMs on XMX, dequantising per call; Metal: simdgroup matrices (M1+).
# Starting values were these documented limits (cuda 0.55/0.80, metal 0.75/0.80, rocm WMMA 0.30/0.75, int8-dot 0.45,
# vulkan NVIDIA 0.45/0.75, KHR coopmat 0.25/0.70, mlx 0.80); `python -m training.fit_kernels` refitted the entries
# whose rows come from >= 3 devices, by class (never per device), on the public rows + the threads table; the others
# keep their starting value. Roofline MAPE 30.3% -> 27.6% in-sample, 30.1% leaving each device out of the fit; refitted
# in round 8 after the BF16 / float-expert physics below (26.3% -> 26.0% in-sample on its 1180 rows of 71 devices).
# Round 9 (Vulkan): the KHR coopmat prompt fraction has primary rows of one device only (Strix Halo), so it is not
# fitted but set from the ROCm WMMA class (0.35, fitted on 3 devices) times the Vulkan / ROCm prompt speed measured on
# the same GPU (median 0.93 over 19 model x quant pairs of the Strix Halo logs; llama.cpp's Vulkan scoreboard puts
# RDNA3/4 cards at the same fraction); Vulkan's MOE_HALF_BATCH refitted with it. The decode fractions refitted after the
# host-bound term (HOST_LAYER_S: KHR coopmat 0.68 -> 0.72) were not taken: left-out decode got worse with them.
KERNEL_CLASSES = (
    # name, prefill fraction of quoted FP16, decode fraction of bandwidth
    ("backend default", 0.0, 0.0),  # 0: PREFILL_COMPUTE_EFF / DECODE_BW_EFF of the backend
    ("cuda tensor-core MMQ", 0.47, 0.76),
    ("cuda dp4a MMQ (pre-Turing)", 1.1, 0.75),  # int8 dp4a: 4 MACs per FP32 FMA slot; the table quotes FP32
    ("metal simdgroup", 0.72, 0.75),
    ("rocm WMMA (RDNA3/4)", 0.35, 0.64),
    ("rocm MFMA (CDNA)", 0.35, 0.65),
    ("rocm int8-dot (RDNA1/2, Vega)", 0.63, 0.70),
    ("rocm no int8 dot (GCN4 and older)", 0.35, 0.60),
    ("vulkan NVIDIA coopmat", 0.28, 0.70),
    ("vulkan KHR coopmat (RDNA3/4)", 0.33, 0.68),
    ("vulkan AMD scalar (RDNA2, GCN)", 0.35, 0.65),
    ("vulkan Intel scalar (Xe-HPG)", 0.08, 0.45),
    ("vulkan Intel coopmat (Xe2)", 0.05, 0.55),
    ("sycl XMX", 0.20, 0.60),
    ("mlx", 0.60, 0.77),
)
KERNEL_CLASS_CODE = {name: i for i, (name, _, _) in enumerate(KERNEL_CLASSES)}
# Vulkan kernel classes of AMD and Intel GPUs: their Linux drivers are Mesa's (RADV, ANV / Xe), see HOST_LAYER_S
MESA_KERNEL_CLASSES = [i for i, (name, _, _) in enumerate(KERNEL_CLASSES)
                       if name.startswith(("vulkan KHR", "vulkan AMD", "vulkan Intel"))]
CLASS_PREFILL_EFF = np.array([c[1] for c in KERNEL_CLASSES])
CLASS_DECODE_EFF = np.array([c[2] for c in KERNEL_CLASSES])
# AMD RDNA3/4 decode (ROCm / HIP and Vulkan): dense mat-vecs stream near the memory's sustainable rate, and every layer
# pays a fixed GPU-side gap for its ~15-20 dependent kernels (norms, RoPE, KV copies, attention, mat-vecs, GLU, adds)
# run one after another: HIP launches each as its own AQL packet behind a barrier (ggml-cuda's CUDA-graph replay is
# not built for HIP by default: GGML_HIP_GRAPHS), ggml-vulkan records one dispatch per node with a pipeline barrier
# between dependent ones, and each hand-over drains the queue and writes back / invalidates caches (a few us).
# One bandwidth fraction (CLASS_DECODE_EFF ~0.65) with the backends' generic LAYER_OVERHEAD_S (8-10 us) had been fitted
# where the gaps dominate (small models) and priced large dense models 1.3-1.5x too slow on every AMD device with rows
# (Radeon 8060S ROCm + Vulkan, R9700, RX 7900 XTX): they stream 61 GB at 0.85 of 256 GB/s (gemma-4-31B BF16, Strix
# Halo's unified LPDDR5X) and 26-54 GB at 0.87-0.90 of 640 GB/s (R9700's GDDR6): the memory class does not set it,
# the model size does. Fraction 0.85: Strix Halo's ~212 GB/s of 256 measured by rocm_bandwidth_test (device table
# note) and those large-model rates (refresh, bank and read/write turnarounds cap DRAM streams at ~85-90% of the pin
# rate; Apple's unified LPDDR reaches 0.78-0.86 on 13-139 GB models in the Metal rows). Pinned, not fitted:
# fitted together with the gap it went above 1 and every left-out device got worse. The gap: the time per token left
# beyond the bytes at that rate on three devices' dense rows (R9700 llama-2-7b Q4_0 ~65 us, RX 7900 XTX
# Llama-3.1-8B Q4_K_M ~75 us, Radeon 8060S gemma-4-31B BF16 / Q8_0 slope and intercept ~60 us per layer); 70 us
# minimises the roofline's decode error over them (40-85 us scanned). Routed experts keep CLASS_DECODE_EFF: a token's
# k experts are small matrices at scattered addresses read by one mul_mat_vec_id launch (MoE rows of the same devices
# decode at that fitted fraction plus MOE_LAYER_OVERHEAD_S). Decode only: prompt batches keep CLASS_DECODE_EFF.
# KERNEL_CLASSES name: (fraction of the bandwidth, seconds per layer); other classes keep CLASS_DECODE_EFF and their
# backend's LAYER_OVERHEAD_S.
AMD_DECODE_STREAM = {
    "rocm WMMA (RDNA3/4)": (0.85, 70e-6),
    "vulkan KHR coopmat (RDNA3/4)": (0.85, 70e-6),
}
CLASS_STREAM_EFF = np.array([AMD_DECODE_STREAM.get(c[0], (0.0, 0.0))[0] for c in KERNEL_CLASSES])
CLASS_LAYER_S = np.array([AMD_DECODE_STREAM.get(c[0], (0.0, 0.0))[1] for c in KERNEL_CLASSES])

# Dequantizing CPU matrix-vector products (decode): fraction of the FP32 FMA peak they reach, by ISA row
# (isa_code 0 none, 1 avx2, 2 avx512, 3 neon, 4 neon+dotprod) and family column (FAMILIES order).
# From the structure of ggml's vec_dot kernels (ggml-cpu/arch/*/quants.c, llama.cpp b6xxx):
# - x86 quantized kernels are 256-bit AVX2 code even on AVX-512 machines. q8_0/q4_0 (legacy) handle one
#   32-weight block per iteration with a single FMA accumulator: the FMA latency chain (4 cycles) caps
#   them at ~8 weights/cycle/core in theory; with the activation row quantisation, fp16 scale conversions
#   and the per-op thread barriers llama.cpp decode reaches about half of that, ~4 weights/cycle
#   (= 8 FLOP/cycle: 0.25 of a 32-FLOP/cycle AVX2 or Zen-4 AVX-512 core).
# - q4_K/q5_K/q6_K (kquant) process 256-weight super-blocks with integer accumulators (maddubs + madd,
#   one FP FMA per super-block): ~5 weights/cycle in llama.cpp decode (0.33 of 32 FLOP/cycle).
# - IQ types add table lookups per 8 weights (about half the K-quant rate); MXFP4 a lookup per nibble.
# - F16/BF16 convert 16 halves per cycle per FMA port and run at FMA speed (0.5: only one source operand
#   is converted, the FMA port also does the conversion); they are memory-bound in practice.
# - NEON kernels are 128-bit with sdot (dotprod): per cycle the same weights as a 256-bit core at half the
#   FMA peak, so their fraction of the (smaller) NEON peak is higher; without sdot see CPU_NO_DOT_FACTOR.
# - On AVX2 llama.cpp repacks Q4_K weights into 8-row interleaved blocks (ggml-cpu/repack.cpp,
#   ggml_repack_get_optimal_repack_type -> q4_K_8x8_q8_K; ggml_gemv_q4_K_8x8_q8_K multiplies 8 rows per activation
#   load): x86 K-quant decode 0.40 (was 0.33), the grid minimum of the summed APE over the compute-bound x86 rows of
#   5 devices (Intel N100, N150, Core i3-14100, Ryzen AI Max+ 395 CPU, the local EPYC).
# A 512-bit FMA core (Intel AVX-512 server, Zen 5) has a 64-FLOP/cycle peak the 256-bit kernels cannot use:
# the fraction halves there. AMD Zen 4 AVX-512 is double-pumped 256-bit: cpu_figures reports it as avx2.
CPU_DECODE_FAMILY_EFF = np.array([
    # float legacy kquant  iq    fp4   mlx   other
    [0.50, 0.25, 0.33, 0.16, 0.20, 0.25, 0.16],  # none (SSE: peak is already small)
    [0.50, 0.25, 0.40, 0.16, 0.20, 0.25, 0.16],  # avx2 (32 FLOP/cycle)
    [0.25, 0.125, 0.20, 0.08, 0.10, 0.125, 0.08],  # avx512 with 512-bit FMA units (64 FLOP/cycle peak)
    [0.50, 0.50, 0.50, 0.25, 0.30, 0.40, 0.25],  # neon
    [0.50, 0.50, 0.50, 0.25, 0.30, 0.40, 0.25],  # neon + dotprod/i8mm
])
# Without int8 dot-product instructions (ARM without dotprod, x86 without AVX2) quantized dot products
# take several extra instructions per block: quantized CPU kernels run at about a third of the rate.
CPU_NO_DOT_FACTOR = 0.35
# GPU matrix-vector (decode) uses plain SIMT units, roughly a quarter of the tensor FP16 figure.
GPU_DECODE_COMPUTE_FRACTION = 0.25
# Metal has no int8 dot product: its K-quant mat-vec (ggml-metal kernels/mul_mv.metal kernel_mul_mv_q4_K_f32_impl and
# the other _K kernels) unpacks every weight with 16-bit masks into float and multiplies in float, with 6-bit scales
# unpacked per block and many registers per thread (few threads in flight). On Apple GPUs with little ALU per byte of
# bandwidth it is compute-bound: Q4_K_M decode at 0.58 (M1 Ultra 48-core, 20 FP32 FLOP/byte), 0.68 (M1 Max, 26), 0.84
# (M2 Ultra 76-core, 34), 1.04 (M3 Max 40-core, 36), 1.13 (M4 10-core, 36) of the bandwidth roofline. Its FLOP-time
# runs at this fraction of the quoted peak, the grid minimum of the mean |log ratio| over the Metal decode rows of 7
# Apple GPUs with K-quant rows (mean |log error| of the roofline 0.176 -> 0.148 over all 117 Metal decode rows).
METAL_KQUANT_DECODE_FRACTION = 0.07
MULTI_GPU_HOP_S = 40e-6  # per token, per extra GPU in a layer split (sync + activation copy)
PARTIAL_OFFLOAD_SYNC_S = 60e-6  # per token, CPU<->GPU hand-over in a partial offload
PCIE_GBS = 25.0  # host->GPU copy rate used when llama.cpp streams CPU-resident weights for prefill
# MoE expert offload (llama.cpp --n-cpu-moe): per token and per layer whose experts run on the CPU, the GPU hands the
# layer's hidden state and router choices to the CPU and takes the experts' output back (two small PCIe copies, a
# stream synchronisation and the CPU thread pool's wake-up). An assumption of the same order as
# PARTIAL_OFFLOAD_SYNC_S (one hand-over of a layer split), not measured (no GPU here).
MOE_LAYER_HANDOVER_S = 30e-6
# Routed experts in prompt processing: each expert multiplies only the tokens routed to it (ubatch x k / E of them;
# 32 for Qwen3-30B-A3B's 128 experts, 10 for Qwen3-Next's 512): small GEMM tiles run far below the dense rate
# (ggml mul_mat_id: one tile pass per expert). Efficiency = t / (t + MOE_HALF_BATCH) at t tokens per expert, by backend.
# ROCm takes Vulkan's round-8 fitted value, 54 (MMQ's expert tiles on HIP are the same kind of tile pass; ROCm's own
# MoE prompt rows come from two devices, too few to fit it: its starting value 32 left them 1.4-1.8x too fast on both).
# Vulkan's refitted in round 9 (38 rows of 3 devices) with its KHR coopmat prompt fraction below.
MOE_HALF_BATCH = np.array([16.0, 16.0, 84.0, 54.0, 48.0, 16.0, 16.0])
# Decode of a MoE layer launches router, top-k, argsort, three mul_mat_id and the weighted sum: a per-layer fixed
# cost on top of the dense layer's (seconds, by backend); with ~3B active parameters it dominates
# (the 40-70 tok/s on very different GPUs). CUDA, Vulkan, ROCm and Vulkan's MOE_HALF_BATCH: fitted by
# training/fit_kernels.py (8-38 rows of 3-6 devices each); the others are the starting values.
MOE_LAYER_OVERHEAD_S = np.array([10e-6, 20e-6, 37e-6, 29e-6, 40e-6, 15e-6, 15e-6])
# Float (F16/BF16) experts in prompt batches on CUDA / HIP: MMQ covers quantized experts only and the fused float kernel
# (mmf) only small batches, so ggml_cuda_mul_mat_id (ggml-cuda/ggml-cuda.cu) copies the router's choices to the host
# (two cudaStreamSynchronize), then runs one cuBLAS / hipBLAS GEMM per expert: per MoE layer and micro-batch, for
# each of its 3 expert matmuls, n_experts GEMM launches and 2 host round trips. Launch / sync costs: documented orders
# of magnitude (a BLAS GEMM call ~10 us, a stream synchronisation ~20 us), not fitted (float MoE prompt rows come from
# two devices). Vulkan and Metal run mul_mat_id as one dispatch for every type.
MOE_FLOAT_GEMM_LAUNCH_S = 10e-6
MOE_ID_HOST_SYNC_S = 20e-6
MOE_FLOAT_PER_EXPERT_BACKENDS = ("cuda", "rocm")
MMF_MAX_ID_BATCH = 128  # ggml_cuda_should_use_mmf: mul_mat_id with > 128 tokens (large experts) leaves the fused path
# Routed experts a backend has no decode (mat-vec) kernel for, by backend and weight type: llama.cpp multiplies them
# with its prompt-batch tile kernels at one token per expert. A tile pass does the work of a whole tile, so the
# expert matmuls of a decoded token cost what the tile model of prompt processing above says for t = 1 token per
# expert: their FLOPs x (1 + MOE_HALF_BATCH) at the backend's prompt rate of that weight type (BF16_PREFILL_EFF),
# when that exceeds reading their bytes. Facts (backend kind, weight type, source), read from llama.cpp's source:
# - vulkan, BF16: ggml-vulkan.cpp ggml_vk_use_mul_mat_vec_id takes the mat-vec path (mul_mat_vec_id_*) only for
#   F32 / F16 / quantized src0; BF16 experts go through ggml_vk_mul_mat_id_q_f16 (matmul_id_bf16 tiles). In the
#   vendored source of llama-cpp-python 0.3.36 and in builds b9187 / b9193 of the Strix Halo rows (BF16 MoE decode
#   there 0.34-0.83 of the mat-vec roofline on three models, dense BF16 not slower). CUDA / HIP (mmvf.cu), Metal and
#   the CPU have BF16 mat-vec-id kernels.
MOE_DECODE_TILE_PATHS = (("vulkan", "bf16", "ggml-vulkan.cpp ggml_vk_use_mul_mat_vec_id: no BF16 mat-vec-id"),)
# Recurrent layers (gated delta-net, Mamba-2 scans, short convs): cost in FLOP-equivalents per state element and token
# at the SIMT rate (GPU_DECODE_COMPUTE_FRACTION of the quoted peak), and a per-layer launch cost in decode. A prompt's
# scan runs token after token: ggml-cuda/gated_delta_net.cu and ssm-scan.cu (HIP too), Vulkan's gated_delta_net.comp /
# ssm_scan.comp give each warp a column of the state and loop over the micro-batch's tokens, ~8 FLOPs per state element
# and token behind global loads and warp reductions: a small fraction of the SIMT rate, latency-bound. 320 (~8 FLOPs at
# 2.5% of it): least-squares over the hybrid prompt rows of today's kernels (Qwen3.5 27B / 35B-A3B / 122B-A10B,
# Nemotron-3-Nano; Radeon 8060S ROCm + Vulkan, R9700 ROCm; the Qwen3-Next rows of the first builds left out, see
# training/threads_data.DOUBT_RULES): hybrid prompt MAPE of the roofline 46% -> 25% per device; was 40, a guess.
RECURRENT_FLOPS_PER_STATE = 320.0
RECURRENT_LAYER_OVERHEAD_S = np.array([8e-6, 12e-6, 20e-6, 15e-6, 25e-6, 15e-6, 12e-6])
# ggml's scheduler offloads a host-resident weight's op to the GPU when its batch is at least this
# (ggml-cuda.cu ggml_backend_cuda_device_offload_op: GGML_OP_OFFLOAD_MIN_BATCH, default 32)
OP_OFFLOAD_MIN_BATCH = 32
UBATCH = 512  # llama.cpp default n_ubatch: weights are read once per micro-batch in prefill
NBATCH = 2048  # llama.cpp default n_batch: micro-batches of one batch pipeline across GPUs of a layer split
# Without flash attention llama.cpp materialises the full K.Q block of each micro-batch in F32 (masked
# part included) and runs softmax over it: attention costs several times its causal matmul FLOPs.
ATTN_PREFILL_COST = np.array([8.0, 2.0, 6.0, 6.0, 6.0, 3.0, 2.0])  # by backend (CUDA's non-FA path is the costliest)
# With flash attention (llama-bench -fa 1, llama.cpp's "auto" default since 2025) the K.Q block stays in on-chip
# memory and softmax is fused: attention runs near its matmul FLOPs, a little above them (the FA kernels'
# tiles are less efficient than the weight GEMMs: fattn-mma / fattn-tile on CUDA/HIP, flash_attn_cm2 / cm1 /
# scalar shaders on Vulkan, kernel_flash_attn_ext on Metal, the tiled CPU path ggml_compute_forward_flash_attn_ext).
# Both costs are against the weight GEMMs' matrix rate of the GPU without the quant family's or the BF16 path's
# factor: attention reads the F16 KV cache whatever the weights are. ROCm 4.0 (was 2.5): HIP runs the SIMT tile kernel
# (fattn-tile) on GCN / RDNA1-2, on RDNA3-4 for models without GQA and in the builds before its WMMA path; least
# squares per device over the three devices with long-context ROCm rows (Instinct MI50 pp16384, RX 7900 XTX
# pp2048@d4096, Radeon AI PRO R9700 pp2048@d16384): the devices' mean MAPE 27.5% -> 24.8%.
ATTN_FA_COST = np.array([1.5, 1.5, 2.5, 4.0, 3.0, 1.5, 1.5])  # by backend
# MLA under flash attention (absorbed, see _arch_figures): every head of a layer attends to the same single latent
# K row, so the kernels tile all heads x tokens of a micro-batch against one K/V stream (CUDA fattn-mma 576/512 with
# the GQA grouping, Vulkan's flash_attn shaders with gqa_ratio = n_head): near the weight GEMMs' rate. 1.2 from
# GLM-4.7-Flash prompt rows at depth 0..32k on two devices (RTX 5090 Vulkan: 0.23 of the quoted peak per attention
# FLOP against 0.28 for its GEMMs; Radeon 8060S Vulkan: 0.19 against 0.21), for every backend.
MLA_FA_COST = 1.2
MLA_V_FROM_K_BACKENDS = ("cuda", "rocm")  # ggml-cuda/fattn-mma-f16.cuh V_is_K_view: V read from the K tile

# CPU prefill (batched matmul) efficiency of the FP32 FMA peak, by isa_code. On x86 llama.cpp runs prompt
# matmuls through llamafile's tinyBLAS (F16/BF16/Q8_0/Q4_0) or int8 dot-product kernels over Q8_K
# activations (K-quants): register-blocked GEMMs that keep the FMA ports ~80% busy; quantized types are
# not slower there (int8 dot products do 2-4x the multiply-adds of FP32 FMA per cycle, which pays for the
# unpacking), so no per-family factor on CPU. ARM/NEON: the generic 0.5 (few published rows to say more).
# Without int8 dot instructions quantized kernels still pay CPU_NO_DOT_FACTOR.
CPU_PREFILL_EFF = np.array([0.5, 0.8, 0.8, 0.5, 0.5])

# CPU peak FP32 FLOPs per cycle per core (2 FMA units x lanes x 2), by ISA. AMD's AVX-512 (Zen 4) runs
# 512-bit instructions as two 256-bit halves: 32 FLOP/cycle like AVX2 (Zen 5 desktop parts have full
# 512-bit units but are not distinguishable from the flags; the conservative figure is used).
_FLOPS_PER_CYCLE = {"avx512": 64, "avx512_amd": 32, "avx2": 32, "neon_apple": 32, "neon": 16, "none": 8}
_DEFAULT_GHZ = {"x86_64": 3.0, "arm64": 2.4, "apple": 3.2}
# What one core can stream from DRAM (many outstanding loads): ~25-30 GB/s on current x86 cores
# (measured here: 27 GB/s per core on a Zen-4 EPYC VM), ~12 on Cortex-A7x, ~60+ on Apple P-cores.
_PER_CORE_GBS = {"x86_64": 28.0, "arm64": 12.0, "apple": 60.0}


@dataclass
class ModelFigures:
    """Per-token physics of a model as stored."""

    weight_bytes: float  # weight bytes read per generated token (MoE: shared + active experts)
    kv_bytes_per_pos: float  # K+V bytes read per cached position, all layers
    active_params: float
    attn_dim_layers: float  # n_layers x n_heads x head_dim: attention FLOPs = 4 x this x ctx
    n_layers: int
    quant_family: str
    bits_per_weight: float
    notes: list[str] = field(default_factory=list)
    head_params: float = 0.0  # token embedding + output head parameters counted in active_params
    swa_frac: float = 0.0  # share of the KV bytes / attention FLOPs in sliding-window layers
    swa_window: float = 0.0  # their window (positions attended), 0 = none
    n_moe_layers: float = 0.0  # layers with routed experts
    moe_flop_frac: float = 0.0  # share of the per-token matmul FLOPs in routed experts
    moe_expert_bytes: float = 0.0  # all routed-expert bytes
    expert_used_ratio: float = 0.0  # experts used per token / experts (k / E)
    rec_state_elems: float = 0.0  # recurrent scan state elements per token (all recurrent layers)
    n_rec_layers: float = 0.0  # recurrent layers
    bf16: float = 0.0  # 1 when the weights are BF16
    mla_k_share: float = 0.0  # MLA: the K row's share of the K + V bytes per position (V is a view of K); 0 = not MLA
    n_experts: float = 0.0  # routed experts per MoE layer (0 = dense)


@dataclass
class HardwareFigures:
    """Effective hardware figures for one backend + placement."""

    backend_kind: str
    gpu_bw_gbs: float  # combined over the GPUs of a layer split (time-weighted)
    gpu_tflops: float
    cpu_bw_gbs: float  # reachable by the threads used
    cpu_gflops: float  # FP32 peak of the threads used
    gpu_frac: float  # fraction of layers (and bytes) on the GPU(s)
    n_gpus: int
    threads: int
    unified: bool
    isa_code: int  # 0 none, 1 avx2, 2 avx512, 3 neon, 4 neon+dotprod/i8mm
    vendor_code: int  # 0 cpu, 1 nvidia, 2 amd, 3 intel, 4 apple
    reasons: list[str] = field(default_factory=list)
    mem_class: int = 0  # memory technology of the weights' main memory: MEM_CLASS
    gpu_gen: float = 0.0  # GPU architecture generation (gpu_generation) of the first GPU used; 0 = CPU / unknown
    # share of gpu_tflops left under power limits (hardware.power: a limit set below the board's default, a board quoted
    # above what its own limit sustains); the roofline uses gpu_tflops x this, the learned correction's features see
    # the quoted figures (training/table.py does the same)
    gpu_power_keep: float = 1.0
    kernel_class: int = 0  # KERNEL_CLASSES code of the first GPU used with this backend (0 = backend default)
    gpu_present: bool = False  # a GPU of this backend is there (large prompt batches go to it even at -ngl 0)
    host_core_gflops: float = HOST_REF_CORE_GFLOPS  # FP32 GFLOPS of one host core (its speed driving the GPU)


# Memory technology the weights stream from (decode efficiency differs by class: HBM stacks reach a lower
# fraction of their nominal bandwidth in llama.cpp's small-batch kernels than GDDR; unified LPDDR is shared
# with the CPU). CPU-only placement counts as DDR.
MEM_CLASS = {"ddr": 0, "gddr": 1, "hbm": 2, "unified": 3}


VENDOR_CODE = {"cpu": 0, "nvidia": 1, "amd": 2, "intel": 3, "apple": 4}


# Hopper (compute capability 9.x) quotes its tensor-core peak for the wgmma instructions; llama.cpp's CUDA
# kernels (MMQ / mma.sync tiles) use the Ampere-style path, which reaches about half of it (FlashAttention-3
# paper, Shah et al. 2024: the mma.sync-based FlashAttention-2 runs at ~35% of H100's peak vs 50-70% of
# A100's). Other architectures' quoted peaks are reachable with mma.sync.
HOPPER_MMA_SYNC_FRACTION = 0.5


def tensor_peak_fraction(gpu) -> float:
    """Fraction of a GPU's quoted FP16 tensor peak that llama.cpp's kernels can issue (0.5 on Hopper, else 1)."""
    hopper = getattr(gpu, "vendor", None) == "nvidia" and int(gpu_generation(gpu)) == 9  # compute capability 9.x
    return HOPPER_MMA_SYNC_FRACTION if hopper else 1.0


APPLE_GEN_BASE = 20.0  # Apple GPUs: 20 + M generation, apart from NVIDIA compute capabilities (6.x .. 12.x)


def gpu_generation(gpu) -> float:
    """Architecture generation of a GPU, a prefill-efficiency feature (tensor-core kind / GPU family):
    NVIDIA = compute capability (8.6, 8.9, 9.0, 12.0 ...), Apple = 20 + M generation (M2 -> 22); else 0 (unknown)."""
    vendor = getattr(gpu, "vendor", None)
    if vendor == "nvidia":
        try:
            cc = float(str(getattr(gpu, "compute_capability", None) or "").strip())
        except (TypeError, ValueError, OverflowError):
            return 0.0
        return cc if 0 < cc < APPLE_GEN_BASE else 0.0
    if vendor == "apple":
        m = re.search(r"\bM(\d)\b", str(getattr(gpu, "name", None) or ""))
        return APPLE_GEN_BASE + float(m.group(1)) if m else APPLE_GEN_BASE
    return 0.0


def gpu_memory_class(gpu, unified: bool = False) -> int:
    """MEM_CLASS code of a GPU's memory, from the device table's memory column (HBM / GDDR / LPDDR);
    a GPU not in the table counts as unified when the machine has unified memory, else GDDR."""

    try:
        dev = lookup_device(str(gpu.name or ""), gpu_cores=getattr(gpu, "gpu_cores", None))
    except Exception:  # a hostile name must not break a prediction: fall back to the default class
        dev = None
    mem = (dev.memory or "").upper() if dev else ""
    if "HBM" in mem:
        return MEM_CLASS["hbm"]
    if "LPDDR" in mem or (dev.unified if dev else unified):
        return MEM_CLASS["unified"]
    return MEM_CLASS["gddr"]


def _pos(x) -> float | None:
    """A positive finite number, else None (bad or missing profile figures are treated as unknown)."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if v > 0 and np.isfinite(v) else None


def _gfx(gpu) -> str:
    """The gfx target of an AMD GPU (profile arch, else the device table), lower case, "" when unknown."""
    arch = str(getattr(gpu, "arch", None) or "").lower()
    if not arch.startswith("gfx"):
        try:
            dev = lookup_device(str(gpu.name or ""))
        except Exception:  # a hostile name must not break a prediction
            dev = None
        arch = str(getattr(dev, "arch", None) or "").lower() if dev else ""
    return arch if arch.startswith("gfx") else ""


def _intel_xe2(gpu) -> bool:
    text = f"{getattr(gpu, 'arch', '') or ''} {getattr(gpu, 'name', '') or ''}".lower()
    if "xe2" in text or "xe3" in text or re.search(r"\bb\d{2,3}\b|battlemage|lunar lake|arc 1[34]0v", text):
        return True
    if "xe" in text or re.search(r"\ba\d{3}\b|alchemist", text):
        return False

    try:
        dev = lookup_device(str(gpu.name or ""))
    except Exception:
        dev = None
    return bool(dev and dev.arch and "xe2" in dev.arch.lower())


def kernel_class(kind: str, gpu) -> int:
    """KERNEL_CLASSES code of `gpu` under backend kind `kind` (0 when the pair is not in the table)."""
    vendor = getattr(gpu, "vendor", None)
    name = None
    if kind == "cuda" and vendor == "nvidia":
        cc = gpu_generation(gpu)
        name = "cuda dp4a MMQ (pre-Turing)" if 0 < cc < 7.0 else "cuda tensor-core MMQ"
    elif kind == "metal" and vendor == "apple":
        name = "metal simdgroup"
    elif kind == "mlx":
        name = "mlx"
    elif kind == "sycl" and vendor == "intel":
        name = "sycl XMX"
    elif kind in ("rocm", "vulkan") and vendor == "amd":
        gfx = _gfx(gpu)
        m = re.match(r"gfx(\d+)", gfx)
        num = m.group(1) if m else ""
        rdna34 = num.startswith(("11", "12"))
        cdna = gfx in ("gfx908", "gfx90a", "gfx940", "gfx941", "gfx942", "gfx950")
        old = num.startswith("8") or (num.startswith("7") and len(num) == 3)
        if kind == "rocm":
            name = ("rocm WMMA (RDNA3/4)" if rdna34 else "rocm MFMA (CDNA)" if cdna else
                    "rocm no int8 dot (GCN4 and older)" if old else "rocm int8-dot (RDNA1/2, Vega)" if num else None)
        else:
            name = "vulkan KHR coopmat (RDNA3/4)" if rdna34 else "vulkan AMD scalar (RDNA2, GCN)" if num else None
    elif kind == "vulkan" and vendor == "nvidia":
        name = "vulkan NVIDIA coopmat"
    elif kind == "vulkan" and vendor == "intel":
        name = "vulkan Intel coopmat (Xe2)" if _intel_xe2(gpu) else "vulkan Intel scalar (Xe-HPG)"
    return KERNEL_CLASS_CODE.get(name, 0) if name else 0


def backend_kind(backend) -> str:
    """Map a Backend (or a name) to one of BACKEND_KINDS."""
    if backend is None:
        return "cpu"
    if isinstance(backend, str):
        backend = get_backend(backend)
    if backend.runtime == "mlx":
        return "mlx"
    return backend.device if backend.device in BACKEND_CODE else "vulkan"


STATE_RW_BYTES = 2.0 * 4.0  # a decoded token reads and writes each f32 recurrent state element once
ASSUMED_STATE_PER_HIDDEN = 256.0  # a state of unknown size: about hidden x 256 elements per recurrent layer


def scan_state_elems(n_rec, state, hidden):
    """Recurrent scan state elements per token the roofline prices: the known `state` (all layers), else
    ASSUMED_STATE_PER_HIDDEN x hidden per recurrent layer (numbers or numpy arrays)."""
    return np.where(np.asarray(state) > 0, state, np.asarray(n_rec) * np.asarray(hidden) * ASSUMED_STATE_PER_HIDDEN)


# Per-layer embeddings (Gemma 3n, Gemma 4 E2B / E4B): a table of n_layer x n_embd_per_layer values per vocabulary
# entry, of which a token reads its own row (src/models/gemma3n.cpp, gemma4.cpp: ggml_get_rows(per_layer_tok_embd,
# tokens)); llama.cpp files it with the token embedding (tensor_layout.tensor_group), which is read whole per token only
# as a tied output head.
PER_LAYER_EMBEDDING_TENSORS = ("per_layer_token_embd.",)


def per_layer_embedding(spec) -> tuple[float, float]:
    """(bytes, parameters) of the model's per-layer embedding tables, from its tensor list (0, 0 without one)."""
    nbytes = params = 0.0
    for name, shape, gtype in getattr(spec, "tensors", None) or ():
        if name.startswith(PER_LAYER_EMBEDDING_TENSORS):
            nbytes += tensor_nbytes(gtype, shape)
            params += float(np.prod([float(d) for d in shape]))
    return nbytes, params


def mla_dims(spec) -> tuple[int, int] | None:
    """(K, V) widths per head that llama.cpp attends with for an MLA model, None for other attention.

    llama.cpp attends in the compressed latent for every batch size, prompt batches included (src/models/deepseek2.cpp
    absorbs wk_b into Q and applies wv_b after attention: MQA over one cached row per token and layer, K = kv_lora_rank
    + the RoPE dims, V = the first kv_lora_rank of the same row; llama-kv-cache.cpp has_v = !is_mla). From the
    latent's size, not the spec's head_dim: a GGUF states the absorbed widths (key_length 576), a config.json (and the
    catalog) the per-head ones of the uncompressed attention (GLM-4.7-Flash: 20 heads of 102), which are not what
    runs."""
    rank = int(getattr(spec, "kv_lora_rank", 0) or 0)
    if rank <= 0:
        return None
    return rank + mla_rope_dims(spec), rank


def model_figures(spec, kv_bytes_per_elem: float = 2.0) -> ModelFigures:
    """Bytes and FLOPs per token of a ModelSpec (exact group bytes when the reader had them)."""
    notes: list[str] = []
    fam = quant_family(spec.quant)
    bpw = spec.bits_per_weight
    if not bpw:
        fact = quant_fact_or_none(spec.quant)
        bpw = fact.bits if fact else 16.0
        if fact is None:
            notes.append(f"bits per weight of {spec.quant!r} unknown: assumed 16")
    total = float(spec.weight_bytes) if spec.weight_bytes else spec.params * bpw / 8.0
    if not _pos(total) or not _pos(spec.params or spec.weight_bytes):
        raise LlmfitError(f"{spec.ref}: no parameter count or weight size, cannot predict its speed")
    gb = spec.group_bytes or {}
    ple_bytes, ple_params = per_layer_embedding(spec)
    if gb:
        # the token embedding is a row lookup, not a full read (unless tied: then it is the output head); so is a
        # per-layer embedding table, tied or not
        embd = ple_bytes if spec.tied_embeddings else float(gb.get("token_embd", 0))
        per_token = total - embd
        experts = float(gb.get("ffn_experts", 0))
        if spec.is_moe and experts and spec.n_experts_used:
            per_token -= experts * (1.0 - spec.n_experts_used / spec.n_experts)
    else:
        embd = 0.0 if spec.tied_embeddings else spec.vocab_size * spec.hidden_size * bpw / 8.0
        per_token = (total - embd) * (spec.active_params / spec.params if spec.params else 1.0)
        if spec.is_moe:
            notes.append("per-token MoE bytes from the active-parameter ratio")
    per_token = max(per_token, total * 0.01)
    # recurrent layers read and write their f32 conv + SSM state once per decoded token (0 for other models)
    state = STATE_RW_BYTES * float(getattr(spec, "recurrent_state_elems", 0) or 0)
    if state:
        per_token += state
        notes.append(f"recurrent state read + written per token: {fmt_bytes(state)}")
    kv_heads = spec.layer_kv_heads
    mla = mla_dims(spec)
    # Gemma 4: sliding and global layers differ in head dim; every attention layer reads K/V rows of its own width
    # (shared-KV layers read an earlier layer's cache: no cache of their own, but the same reads)
    dims = spec.layer_head_dims()
    per_layer_dims = len(set(dims)) > 1 and not mla
    # K + V elements per position of each layer, where layers differ in width (None elsewhere)
    widths = None
    if per_layer_dims:
        heads = kv_heads if kv_heads and len(kv_heads) == len(dims) else [spec.n_kv_heads] * len(dims)
        widths = [h * (dk + dv) for h, (dk, dv) in zip(heads, dims)]
    if mla:  # one latent row per KV layer, read as K and (its first kv_lora dims) as V
        kv_per_pos = spec.kv_layers * (mla[0] + mla[1]) * kv_bytes_per_elem
    elif widths is not None:
        kv_per_pos = sum(widths) * kv_bytes_per_elem
    elif kv_heads:
        kv_per_pos = sum(kv_heads) * (spec.head_dim + spec.v_head_dim) * kv_bytes_per_elem
        if 0 not in kv_heads:  # hybrids: the zeros already mark the layers without a KV cache
            kv_per_pos *= spec.kv_layers / max(len(kv_heads), 1)
    else:
        kv_per_pos = spec.kv_layers * spec.n_kv_heads * (spec.head_dim + spec.v_head_dim) * kv_bytes_per_elem
    vh = float((spec.vocab_size or 0) * (spec.hidden_size or 0))
    head = vh if spec.tied_embeddings else 2.0 * vh  # counted once when tied
    swa = [bool(x) for x in (spec.swa_layers or [])]
    swa_frac = swa_window = 0.0
    if spec.sliding_window and swa and any(swa):
        # KV layers only (hybrids: recurrent layers have no attention); SWA layers attend to the window only
        kv_flags = [not r for r in spec.recurrent_layers] if spec.recurrent_layers and len(spec.recurrent_layers) == len(swa) else [True] * len(swa)
        n_kv = sum(kv_flags) or 1
        swa_frac = sum(1 for w, k in zip(swa, kv_flags) if w and k) / n_kv
        if widths is not None and len(swa) == len(widths):  # the share of the KV bytes, as documented
            swa_frac = sum(x for x, w in zip(widths, swa) if w) / max(sum(widths), 1)
        swa_window = float(spec.sliding_window)
    return ModelFigures(
        head_params=min(head, 0.5 * float(spec.active_params or spec.params or 0)),
        weight_bytes=per_token,
        kv_bytes_per_pos=float(kv_per_pos),
        active_params=max(float(spec.active_params or spec.params) - ple_params, 1.0),
        attn_dim_layers=float(spec.n_heads * sum(d[0] for d in dims) if per_layer_dims
                              else spec.kv_layers * spec.n_heads * (mla[0] if mla else spec.head_dim)),
        n_layers=int(spec.n_layers),
        quant_family=fam,
        bits_per_weight=float(bpw),
        notes=notes,
        swa_frac=swa_frac,
        swa_window=swa_window,
        **_arch_figures(spec),
    )


def _arch_figures(spec) -> dict:
    """MoE / recurrent / BF16 inputs of the roofline from the ModelSpec's facts (zeros for dense transformers)."""
    out = {}
    gb = spec.group_bytes or {}
    if spec.is_moe and spec.n_experts_used:
        ratio = min(spec.n_experts_used / spec.n_experts, 1.0)
        n_moe = max(int(spec.n_layers) - int(spec.n_dense_layers or 0), 1)
        if str(spec.arch).startswith("nemotron_h"):
            n_moe = max(int(spec.n_layers) - int(spec.n_recurrent_layers) - int(spec.kv_layers), 1)  # one kind per layer
        routed = 3.0 * float(spec.hidden_size) * float(spec.expert_ffn_size or 0) * spec.n_experts_used * n_moe
        active = float(spec.active_params or spec.params or 1.0)
        out.update(n_moe_layers=float(n_moe), expert_used_ratio=ratio, n_experts=float(spec.n_experts),
                   moe_flop_frac=min(routed / active, 0.95) if routed else 0.5,
                   moe_expert_bytes=float(gb.get("ffn_experts", 0)))
    n_rec = int(getattr(spec, "n_recurrent_layers", 0) or 0)
    if n_rec > 0:
        out.update(n_rec_layers=float(n_rec),
                   rec_state_elems=float(scan_state_elems(n_rec, float(spec.recurrent_state_elems), float(spec.hidden_size))))
    if str(spec.quant or "").upper() == "BF16":
        out["bf16"] = 1.0
    mla = mla_dims(spec)
    if mla:
        out["mla_k_share"] = mla[0] / float(mla[0] + mla[1])
    return out


def _isa(cpu) -> tuple[str, int]:
    isa = {s.lower() for s in (cpu.isa or [])}
    arch = (cpu.arch or "").lower()
    apple = "apple" in (cpu.model or "").lower() or (getattr(cpu, "vendor", None) or "").lower() == "apple"
    if arch in ("arm64", "aarch64") or "neon" in isa or apple:
        kind = "neon_apple" if apple else "neon"
        return kind, 4 if ({"dotprod", "i8mm"} & isa or apple) else 3
    if any(s.startswith("avx512") for s in isa):
        return "avx512", 2
    if "avx2" in isa:
        return "avx2", 1
    return "none", 0


def cpu_figures(hardware, threads: int | None = None) -> tuple[float, float, int, int, list[str]]:
    """(reachable bandwidth GB/s, FP32 peak GFLOPS, threads used, ISA code, reasons) for the CPU."""
    cpu = hardware.cpu
    reasons: list[str] = []
    kind, isa_code = _isa(cpu)
    apple = kind == "neon_apple"
    arch_key = "apple" if apple else ("arm64" if kind.startswith("neon") else "x86_64")
    cores = max(int(_pos(cpu.cores) or 1), 1)
    used = min(int(threads), int(_pos(cpu.threads) or threads)) if threads else cores
    used = max(used, 1)
    # threads fill performance cores first; an efficiency core counts half; hyper-threads add little
    p, e = int(_pos(cpu.p_cores) or 0), int(_pos(cpu.e_cores) or 0)
    if cpu.p_cores is not None and cpu.e_cores is not None and p + e > 0:
        on_p = min(used, p)
        on_e = min(max(used - p, 0), e)
        cores_used = on_p + 0.5 * on_e + 0.1 * max(used - p - e, 0)
        full = p + 0.5 * e
    else:
        cores_used = min(used, cores) + 0.1 * max(used - cores, 0)
        full = float(cores)
    scale = min(cores_used / full, 1.0) if full else 1.0
    # FLOPs: an efficiency core (Gracemont, Cortex-A5x/A7x in big.LITTLE) has half-width FMA units at a
    # lower clock: ~0.3 of a performance core's FP throughput (bandwidth above still counts it at 0.5)
    flop_cores = (on_p + 0.3 * on_e + 0.1 * max(used - p - e, 0)) if (cpu.p_cores is not None and cpu.e_cores is not None
                                                                      and p + e > 0) else cores_used
    width = kind
    if kind == "avx512" and "amd" in (cpu.vendor or cpu.model or "").lower():
        width, isa_code = "avx512_amd", 1  # 256-bit execution units: the AVX2 throughput class
    if _pos(cpu.fp32_gflops):
        gflops = float(cpu.fp32_gflops) * scale
    else:
        gflops = flop_cores * _DEFAULT_GHZ[arch_key] * _FLOPS_PER_CYCLE[width]
        reasons.append(f"CPU FLOPs estimated: {flop_cores:.3g} cores x {_DEFAULT_GHZ[arch_key]} GHz x {_FLOPS_PER_CYCLE[width]} FLOP/cycle")
    bw = _pos(cpu.mem_bandwidth_gbs)
    if not bw:
        if hardware.unified_memory and hardware.gpus and _pos(hardware.gpus[0].bandwidth_gbs):
            bw = 0.6 * _pos(hardware.gpus[0].bandwidth_gbs)
        else:
            bw = 51.2  # dual-channel DDR4-3200
        reasons.append(f"{CPU_BW_ESTIMATED} ({bw:.0f} GB/s)")
    elif "cpu.mem_bandwidth_gbs" in (hardware.estimated or []):
        reasons.append(f"{CPU_BW_ESTIMATED} ({bw:.0f} GB/s)")
    bw = min(float(bw), cores_used * _PER_CORE_GBS[arch_key])
    return bw, gflops, used, isa_code, reasons


def _placement_numbers(placement, n_layers: int, has_gpu: bool) -> tuple[float, list | None]:
    if placement is None:
        return (1.0 if has_gpu else 0.0), None
    get = placement.get if isinstance(placement, dict) else (lambda k, d=None: getattr(placement, k, d))
    gl = get("gpu_layers")
    tl = get("total_layers") or n_layers
    per_gpu = get("per_gpu_bytes") or get("per_gpu")
    frac = 1.0 if gl is None else min(max(float(gl) / max(tl, 1), 0.0), 1.0)
    if isinstance(per_gpu, dict):
        per_gpu = list(per_gpu.values())
    if per_gpu is not None:
        per_gpu = [float(getattr(p, "bytes", p) if not isinstance(p, dict) else p.get("bytes", 0)) for p in per_gpu]
    return (frac if has_gpu else 0.0), per_gpu


def hardware_figures(hardware, backend, placement=None, n_layers: int = 32, threads: int | None = None) -> HardwareFigures:
    """Effective figures of `hardware` for `backend` with `placement` (None = all layers on the GPU)."""
    kind = backend_kind(backend)
    reasons: list[str] = []
    cpu_bw, cpu_gflops, used, isa_code, cpu_reasons = cpu_figures(hardware, threads)
    gpus = list(hardware.gpus) if kind != "cpu" else []
    frac, per_gpu = _placement_numbers(placement, n_layers, bool(gpus))
    gpu_bw = gpu_tflops = 0.0
    n_gpus = 0
    vendor = "cpu"
    mem_class = MEM_CLASS["ddr"]
    gen = 0.0
    power_keep = 1.0
    kclass = 0
    if gpus:
        if frac > 0 and per_gpu and any(per_gpu):
            used_gpus = [(g, b) for g, b in zip(gpus, per_gpu) if b > 0] or [(gpus[0], 1.0)]
        else:  # -ngl 0: ggml offloads large-batch ops to the main GPU
            used_gpus = [(g, g.vram_bytes or 1.0) for g in gpus] if frac > 0 else [(gpus[0], 1.0)]
        kclass = kernel_class(kind, used_gpus[0][0])
        if frac > 0:  # -ngl 0: the GPU only takes large prompt batches; the device features stay the CPU's
            n_gpus = len(used_gpus)
            vendor = used_gpus[0][0].vendor
            mem_class = gpu_memory_class(used_gpus[0][0], bool(hardware.unified_memory))
            gen = gpu_generation(used_gpus[0][0])
        total = sum(b for _, b in used_gpus)
        t_bw = t_fl = t_fl_kept = 0.0  # layer split: time-weighted (harmonic) combination, work is sequential
        estimated = set(hardware.estimated or [])
        for g, b in used_gpus:
            i = next((k for k, x in enumerate(gpus) if x is g), 0)
            bw, tf = _pos(g.bandwidth_gbs), _pos(g.fp16_tflops)
            if not bw:
                bw = {"apple": 200.0, "nvidia": 450.0, "amd": 450.0}.get(g.vendor, 250.0)
                reasons.append(f"bandwidth of {g.name} unknown: assumed {bw:.0f} GB/s")
            elif f"gpus[{i}].bandwidth_gbs" in estimated:
                reasons.append(f"bandwidth of {g.name} estimated ({bw:.0f} GB/s)")
            if not tf:
                tf = bw * (0.03 if g.vendor == "apple" else 0.12)
                reasons.append(f"FP16 TFLOPS of {g.name} unknown: estimated {tf:.1f} from its bandwidth")
            elif f"gpus[{i}].fp16_tflops" in estimated:
                reasons.append(f"FP16 TFLOPS of {g.name} estimated ({tf:.1f})")
            tf *= tensor_peak_fraction(g)  # the quoted peak is not reachable with llama.cpp's instructions
            # a power limit below the board's default lowers the sustained clock, and so does a board quoted above
            # what its own power limit sustains (hardware.power.board_power_fraction; NVIDIA boards of the table)
            keep = compute_fraction(g)
            if keep < 1.0:
                reasons.append(describe_power_limit(g))
            board = board_power_fraction(g.name, g.fp16_tflops, g.compute_capability) if g.vendor == "nvidia" else 1.0
            if board < 1.0:
                keep *= board
                reasons.append(describe_board_power(g.name, g.fp16_tflops, g.compute_capability))
            t_bw += (b / total) / bw
            t_fl += (b / total) / tf
            t_fl_kept += (b / total) / (tf * keep)
        gpu_bw, gpu_tflops = 1.0 / t_bw, 1.0 / t_fl
        power_keep = t_fl / t_fl_kept
    elif kind != "cpu":
        reasons.append("no GPU available for this backend: running on the CPU")
        kind = "cpu"
        frac = 0.0
    if frac < 1.0:
        reasons.extend(cpu_reasons)
    return HardwareFigures(
        backend_kind=kind,
        gpu_bw_gbs=gpu_bw,
        gpu_tflops=gpu_tflops,
        cpu_bw_gbs=cpu_bw,
        cpu_gflops=cpu_gflops,
        gpu_frac=frac,
        n_gpus=n_gpus,
        threads=used,
        unified=bool(hardware.unified_memory),
        isa_code=isa_code,
        vendor_code=VENDOR_CODE.get(vendor, 0),
        reasons=reasons,
        mem_class=mem_class,
        gpu_gen=gen,
        gpu_power_keep=power_keep,
        kernel_class=kclass,
        gpu_present=bool(gpus),
        host_core_gflops=cpu_gflops / max(min(used, int(_pos(hardware.cpu.cores) or used)), 1),
    )


# A CPU decode mat-vec streams its weights and dequantizes / multiplies them on the same cores: the loads of the next
# block overlap the arithmetic of this one only in part (the hardware prefetchers and the cores' miss buffers run
# ahead of a few blocks), so where the memory and compute times are close the pass takes more than the larger of them.
# Time = the p-norm of the two (p -> infinity: perfect overlap, max; p = 1: none, the sum). p = 3: grid minimum of the
# APE over the CPU decode rows of 12 devices (x86 and ARM; after the barrier cost above): CPU decode MAPE 20.3% ->
# 17.7%.
CPU_OVERLAP_P = 3.0


def cpu_overlap(mem_s, cmp_s):
    """Time of a CPU matmul pass that streams for `mem_s` seconds and computes for `cmp_s` (see CPU_OVERLAP_P)."""
    p = CPU_OVERLAP_P
    m = np.maximum(np.maximum(mem_s, cmp_s), 1e-30)
    return m * ((mem_s / m) ** p + (cmp_s / m) ** p) ** (1.0 / p)


def host_layer_s(bk, kc, core_flops) -> np.ndarray:
    """Host seconds per layer and token to build and submit the decode graph (see HOST_LAYER_S): by backend code `bk`,
    Mesa drivers for AMD / Intel GPUs under Vulkan (kernel class `kc`), scaled by the host's per-core FLOP/s."""
    mesa = np.isin(kc, MESA_KERNEL_CLASSES)
    per_layer = np.where(mesa, VULKAN_MESA_HOST_LAYER_S, HOST_LAYER_S[bk])
    return per_layer * HOST_REF_CORE_GFLOPS * 1e9 / np.maximum(core_flops, 1e6)


def moe_decode_tile_s(bk, is_bf16, moe_flop_frac, active_expert_bytes, active_params, qf, gfl, gbw, dec_eff, pre_eff):
    """Extra GPU seconds per decoded token where the backend multiplies routed experts of this weight type with its
    prompt tile kernels (MOE_DECODE_TILE_PATHS): one token per expert at the tile model's efficiency 1 / (1 + H),
    minus the mat-vec read of their bytes already priced (0 elsewhere)."""
    tiled = np.zeros(np.broadcast(bk, is_bf16).shape, bool)
    for kind, wtype, _source in MOE_DECODE_TILE_PATHS:
        if wtype == "bf16":
            tiled = tiled | ((bk == BACKEND_CODE[kind]) & is_bf16)
    mf = np.clip(moe_flop_frac, 0.0, 1.0)
    tile = 2.0 * active_params * mf * (1.0 + MOE_HALF_BATCH[bk]) / (gfl * pre_eff * PREFILL_FAMILY_EFF[qf])
    read = active_expert_bytes / (GPU_DECODE_FAMILY_EFF[qf] * gbw * dec_eff)
    return np.where(tiled & (mf > 0), np.maximum(tile - read, 0.0), 0.0)


def roofline_arrays(
    *,
    weight_bytes,
    kv_bytes_per_pos,
    active_params,
    attn_dim_layers,
    n_layers,
    qfam_code,
    backend_code,
    gpu_frac,
    n_gpus,
    gpu_bw_gbs,
    gpu_tflops,
    cpu_bw_gbs,
    cpu_gflops,
    unified,
    prompt_tokens,
    decode_pos,
    threads=1,
    isa_code=2,
    head_params=0.0,
    expert_cpu_frac=0.0,
    expert_cpu_bytes=0.0,
    expert_cpu_layers=0.0,
    expert_used_ratio=0.0,
    moe_expert_bytes=0.0,
    depth=0.0,
    flash_attn=1.0,
    swa_frac=0.0,
    swa_window=0.0,
    kernel_class=0,
    gpu_present=None,
    n_moe_layers=0.0,
    moe_flop_frac=0.0,
    rec_state_elems=0.0,
    n_rec_layers=0.0,
    bf16=0.0,
    mla_k_share=0.0,
    n_experts=0.0,
    host_core_gflops=None,
    n_ubatch=UBATCH,
    n_batch=NBATCH,
) -> dict[str, np.ndarray]:
    """Vectorised roofline. All arguments broadcast; returns tok/s and the time terms (seconds/token).

    MoE expert offload (llama.cpp -ngl 999 --n-cpu-moe N, with gpu_frac 1): `expert_cpu_frac` is the share of the
    per-token bytes `weight_bytes` (and of the active parameters) that are active experts kept in RAM,
    `expert_cpu_bytes` all expert bytes in RAM, `expert_cpu_layers` the N layers they belong to,
    `expert_used_ratio` n_expert_used / n_expert. The defaults (0) are plain layer placement, unchanged.
    `moe_expert_bytes`: all routed-expert bytes of a MoE model (with `expert_used_ratio`): a layer split streams
    the CPU layers' experts that a prompt micro-batch routes to, not only one token's active ones (0: as before).
    `depth`: tokens already in the context (llama-bench -d) before the prompt; decode callers put it in
    `decode_pos`. `flash_attn` (1/0, default 1 = llama.cpp's "auto"): attention through llama.cpp's flash-attention
    kernels, or the materialised K.Q + softmax path (costlier prefill, more bytes per decoded token at depth). `swa_frac` / `swa_window`: the share of attention in sliding-window
    layers, which attend to at most `swa_window` positions.
    Architecture and kernel inputs (defaults: none, as before): `kernel_class` (KERNEL_CLASSES code: efficiency of
    the backend's kernels on this GPU generation), `gpu_present` (a GPU of the backend exists: prompt batches of
    CPU-resident layers are streamed to it, even at -ngl 0; default: gpu_frac > 0), `n_moe_layers` and
    `moe_flop_frac` (layers with routed experts and their share of the per-token FLOPs; with `expert_used_ratio`
    = k / E and `moe_expert_bytes`: small per-expert prompt batches and the experts a micro-batch touches),
    `rec_state_elems` / `n_rec_layers` (recurrent scan state per token and recurrent layer count), `bf16` (1 for
    BF16 weights: the backend's BF16 path), `host_core_gflops` (one host core's FP32 GFLOPS: a slow host bounds decode,
    HOST_LAYER_S; default: cpu_gflops / threads). `n_ubatch` / `n_batch` (llama.cpp -ub / -b, default 512 / 2048): the
    micro-batch a prompt is cut into (weights are read once per micro-batch, experts see its tokens) and the batch
    whose micro-batches a layer split pipelines (-ub 2048 or -b 512: one micro-batch per batch, nothing to overlap).
    """
    a = np.asarray
    W, kvp, P = a(weight_bytes, float), a(kv_bytes_per_pos, float), a(active_params, float)
    L = a(n_layers, float)
    qf, bk = a(qfam_code, int), a(backend_code, int)
    mla_k = np.clip(a(mla_k_share, float), 0.0, 1.0)
    is_mla = mla_k > 0
    # MLA: CUDA / HIP's MMA flash-attention kernel reuses the K tile as V (V_is_K_view); the others read V again
    kvp = np.where(is_mla & np.isin(bk, [BACKEND_CODE[b] for b in MLA_V_FROM_K_BACKENDS]), kvp * mla_k, kvp)
    f = np.clip(a(gpu_frac, float), 0.0, 1.0)
    ng = a(n_gpus, float)
    gbw = np.maximum(a(gpu_bw_gbs, float), 1e-3) * 1e9
    gfl = np.maximum(a(gpu_tflops, float), 1e-3) * 1e12
    cbw = np.maximum(a(cpu_bw_gbs, float), 1e-3) * 1e9
    cfl = np.maximum(a(cpu_gflops, float), 1e-3) * 1e9
    uni = a(unified, bool)
    pp = np.maximum(a(prompt_tokens, float), 1.0)
    pos = np.maximum(a(decode_pos, float), 0.0)
    cpu_code = BACKEND_CODE["cpu"]
    on_gpu = f > 0
    xf = np.clip(a(expert_cpu_frac, float), 0.0, 1.0)
    x_all = np.maximum(a(expert_cpu_bytes, float), 0.0)
    x_layers = np.maximum(a(expert_cpu_layers, float), 0.0)
    x_used = np.clip(a(expert_used_ratio, float), 0.0, 1.0)

    sf = np.clip(a(swa_frac, float), 0.0, 1.0)
    win = np.maximum(a(swa_window, float), 0.0)

    def attended(ctx):  # positions attended on average over the KV layers (sliding-window layers see <= win)
        return (1.0 - sf) * ctx + sf * np.where(win > 0, np.minimum(ctx, win), ctx)

    # ---- decode: bytes per token / effective bandwidth, compute as a second ceiling ----
    pos_att = attended(pos)
    # without flash attention the K.Q scores of every head are written and read back in F32 (softmax, then V):
    # ~12 bytes per head and position per KV layer (head_dim ~128 assumed for the head count)
    kq_bytes = np.where(a(flash_attn, float) > 0, 0.0, 12.0 * a(attn_dim_layers, float) / 128.0)
    bytes_tok = W + (kvp + kq_bytes) * pos_att
    flops_tok = 2.0 * P + 4.0 * a(attn_dim_layers, float) * pos_att
    # expert offload: the active experts of the N CPU layers are read and multiplied by the CPU (batch 1 is
    # below the op-offload batch), the rest of every layer (attention, router, shared experts, KV) by the GPU
    x_bytes, x_flops = xf * W, xf * 2.0 * P
    kc = np.clip(a(kernel_class, int), 0, len(KERNEL_CLASSES) - 1)
    dec_eff = np.where(kc > 0, CLASS_DECODE_EFF[kc], DECODE_BW_EFF[bk])
    pre_eff = np.where(kc > 0, CLASS_PREFILL_EFF[kc], PREFILL_COMPUTE_EFF[bk])
    attn_eff = pre_eff  # the attention kernels' F16 matrix rate: no BF16 or dequantizing penalty (see gpu_flop_s)
    is_bf16 = a(bf16, float) > 0
    dec_eff = dec_eff * np.where(is_bf16, BF16_DECODE_EFF[bk], 1.0)
    pre_eff = pre_eff * np.where(is_bf16, BF16_PREFILL_EFF[bk], 1.0)
    n_moe, n_rec = np.maximum(a(n_moe_layers, float), 0.0), np.maximum(a(n_rec_layers, float), 0.0)
    rec_state = np.maximum(a(rec_state_elems, float), 0.0)
    # per-layer fixed costs of MoE and recurrent layers (launches, routing, scans), per token
    arch_layer_s = n_moe * MOE_LAYER_OVERHEAD_S[bk] + n_rec * RECURRENT_LAYER_OVERHEAD_S[bk]
    arch_layer_cpu_s = n_moe * MOE_LAYER_OVERHEAD_S[cpu_code] + n_rec * RECURRENT_LAYER_OVERHEAD_S[cpu_code]
    kv_tok = bytes_tok - W  # the F16 KV cache (and K.Q scores) the attention kernels stream: no dequantizing
    # dense weights and KV at the class's streaming fraction (AMD_DECODE_STREAM; else dec_eff), routed experts on the GPU
    # (a token's active ones, less those in RAM) at dec_eff
    stream_eff = np.where(CLASS_STREAM_EFF[kc] > 0, CLASS_STREAM_EFF[kc] * np.where(is_bf16, BF16_DECODE_EFF[bk], 1.0), dec_eff)
    x_exp = np.clip(np.maximum(a(moe_expert_bytes, float), 0.0) * x_used - x_bytes, 0.0, W - x_bytes)
    g_mem = f * (((W - x_bytes - x_exp) / GPU_DECODE_FAMILY_EFF[qf] + kv_tok) / (gbw * stream_eff)
                 + x_exp / GPU_DECODE_FAMILY_EFF[qf] / (gbw * dec_eff))
    dec_alu = np.where((bk == BACKEND_CODE["metal"]) & (qf == FAMILY_CODE["kquant"]), METAL_KQUANT_DECODE_FRACTION,
                       GPU_DECODE_COMPUTE_FRACTION)
    g_cmp = f * (flops_tok - x_flops) * PREFILL_FAMILY_EFF[qf] ** -1 / (gfl * dec_alu)
    layer_s = np.where(CLASS_LAYER_S[kc] > 0, CLASS_LAYER_S[kc], LAYER_OVERHEAD_S[bk])
    t_gpu = (np.maximum(g_mem, g_cmp) + f * (L * layer_s + arch_layer_s)
             + np.maximum(ng - 1, 0) * MULTI_GPU_HOP_S)
    core = cfl / np.maximum(a(threads, float), 1.0) if host_core_gflops is None else a(host_core_gflops, float) * 1e9
    t_host = f * L * host_layer_s(bk, kc, core)
    t_gpu = np.maximum(t_gpu, t_host) + f * moe_decode_tile_s(
        bk, is_bf16, a(moe_flop_frac, float), a(moe_expert_bytes, float) * x_used, P, qf, gfl, gbw, dec_eff, pre_eff)
    c_mem = ((1 - f) * bytes_tok + x_bytes) / (cbw * DECODE_BW_EFF[cpu_code])
    no_dot = np.isin(a(isa_code, int), (0, 3)) & (qf != 0)
    cpu_q = np.where(no_dot, CPU_NO_DOT_FACTOR, 1.0)
    isa_c = np.clip(a(isa_code, int), 0, CPU_DECODE_FAMILY_EFF.shape[0] - 1)
    c_cmp = ((1 - f) * flops_tok + x_flops) / (cfl * CPU_DECODE_FAMILY_EFF[isa_c, qf] * cpu_q)
    barrier = LAYER_OVERHEAD_S[cpu_code] + CPU_BARRIER_S_PER_THREAD * np.maximum(a(threads, float), 1.0)
    t_cpu = cpu_overlap(c_mem, c_cmp) + ((1 - f) * L + x_layers) * barrier + (1 - f) * arch_layer_cpu_s
    t_sync = np.where((f > 0) & (f < 1), PARTIAL_OFFLOAD_SYNC_S, 0.0) + x_layers * MOE_LAYER_HANDOVER_S
    t_dec = np.where(on_gpu, t_gpu, 0.0) + t_cpu + t_sync + np.where(on_gpu, TOKEN_OVERHEAD_S[bk], TOKEN_OVERHEAD_S[cpu_code])

    # ---- prefill: FLOPs per token / effective compute, capped by one micro-batch's weight read ----
    ub = np.maximum(a(n_ubatch, float), 1.0)
    batch = np.minimum(pp, ub)
    # llama-bench / a prompt computes logits for the LAST token only: the output head (and the token
    # embedding, a lookup) are not multiplied for every prompt token
    Pm = np.maximum(P - a(head_params, float), 0.5 * P)
    # attention of each prompt token over the `depth` earlier positions and on average half the prompt
    d0 = np.maximum(a(depth, float), 0.0)
    ctx_att = attended(d0 + pp / 2.0)
    fa_on = a(flash_attn, float) > 0
    attn_cost = np.where(fa_on, np.where(is_mla, MLA_FA_COST, ATTN_FA_COST[bk]), ATTN_PREFILL_COST[bk])
    pflops = 2.0 * Pm + attn_cost * 4.0 * a(attn_dim_layers, float) * ctx_att
    # layer split: the micro-batches of one n_batch pipeline through the GPUs (llama.cpp pipeline parallelism)
    n_ub = np.ceil(np.minimum(pp, np.maximum(a(n_batch, float), ub)) / ub)
    g = np.maximum(ng, 1.0)
    pipeline = n_ub * g / (n_ub + g - 1.0)
    # routed experts: a micro-batch gives each expert batch x k / E tokens; small tiles run below the dense rate
    mf_frac = np.clip(a(moe_flop_frac, float), 0.0, 1.0)
    tpe = batch * x_used
    moe_slow = np.where(mf_frac > 0, mf_frac * (tpe + MOE_HALF_BATCH[bk]) / np.maximum(tpe, 1e-9), 0.0)
    dense_share = (1.0 - mf_frac) + moe_slow  # FLOP-time multiplier of the 2 x Pm term (1 for dense models)
    # recurrent scans: FLOP-equivalents per state element and token at the SIMT rate
    rec_flops = RECURRENT_FLOPS_PER_STATE * rec_state
    attn_flops = pflops - 2.0 * Pm
    eff_flops = 2.0 * Pm * dense_share + attn_flops
    # GPU FLOP-time of a prompt token: weight matmuls at the quant family's (and BF16 path's) rate; attention runs in
    # the F16 attention kernels at the GPU's matrix rate (ATTN_*_COST: their cost against the weight GEMMs), whatever
    # the weights' type; scans at the SIMT rate
    w_eff = pre_eff * PREFILL_FAMILY_EFF[qf]
    gpu_flop_s = (2.0 * Pm * dense_share / (gfl * w_eff) + attn_flops / (gfl * attn_eff)
                  + rec_flops / (gfl * GPU_DECODE_COMPUTE_FRACTION))
    pg_cmp = f * gpu_flop_s / pipeline
    # one micro-batch reads the weights once (of a MoE model: every expert any of its tokens routed to) and the
    # KV cache of the context once (per KV head group)
    used_b = 1.0 - (1.0 - x_used) ** batch
    moe_more = np.maximum(a(moe_expert_bytes, float), 0.0) * np.maximum(used_b - x_used, 0.0)
    pg_mem = f * (W + moe_more + kvp * ctx_att) / (batch * gbw * dec_eff)
    pg_act = f * ACT_BYTES_PER_LAYER_HIDDEN * a(attn_dim_layers, float) / (gbw * dec_eff * pipeline)
    # float experts on CUDA / HIP: one BLAS GEMM per expert and two host syncs per expert matmul and micro-batch
    per_expert = np.isin(bk, [BACKEND_CODE[b] for b in MOE_FLOAT_PER_EXPERT_BACKENDS]) & (qf == FAMILY_CODE["float"])
    moe_id_s = np.where(per_expert & (batch > MMF_MAX_ID_BATCH), 3.0 * n_moe * (
        np.maximum(a(n_experts, float), 0.0) * MOE_FLOAT_GEMM_LAUNCH_S + 2.0 * MOE_ID_HOST_SYNC_S), 0.0)
    pt_gpu = np.maximum(np.maximum(pg_cmp, pg_mem) + pg_act + f * (L * LAYER_OVERHEAD_S[bk] + arch_layer_s + moe_id_s) / batch,
                        t_host / batch)  # the host builds one graph per micro-batch
    pc_cmp = (1 - f) * (eff_flops + rec_flops) / (cfl * CPU_PREFILL_EFF[isa_c] * cpu_q)
    pc_mem = (1 - f) * W / (batch * cbw * DECODE_BW_EFF[cpu_code])
    pt_cpu = np.maximum(pc_cmp, pc_mem)
    # with a GPU present llama.cpp streams CPU-resident weights to it for large batches (>= 32 tokens); of a MoE
    # layer's experts it copies those any token of the micro-batch routed to (see x_copied below), which for a
    # 512-token batch is all of them, not the one-token share in W
    stream_bw = np.where(uni, gbw, PCIE_GBS * 1e9)
    pt_stream = (1 - f) * ((W + moe_more) / (batch * stream_bw) + gpu_flop_s)
    has_gpu = on_gpu if gpu_present is None else (a(gpu_present, bool) & (bk != cpu_code))
    pt_cpu = np.where(has_gpu & (batch >= OP_OFFLOAD_MIN_BATCH), np.minimum(pt_cpu, pt_stream), pt_cpu)
    # expert offload: from OP_OFFLOAD_MIN_BATCH tokens up the scheduler runs the CPU layers' expert matmuls on the
    # GPU (their FLOPs are already in pt_gpu) and copies, per micro-batch, the experts any of its tokens routed
    # to (ggml-backend.cpp ggml_backend_sched_compute_splits, "copying only the experts that are used"):
    # 1 - (1 - k/E)^batch of them, all of them for a 512-token batch. Copies and compute share the GPU stream.
    # Smaller batches run those experts on the CPU (the GPU part keeps their FLOPs: a small over-count).
    x_copied = x_all * used_b
    px_stream = x_copied / (batch * stream_bw)
    px_cpu = np.maximum(xf * 2.0 * Pm / (cfl * CPU_PREFILL_EFF[isa_c] * cpu_q),
                        x_copied / (batch * cbw * DECODE_BW_EFF[cpu_code]))
    pt_x = np.where(batch >= OP_OFFLOAD_MIN_BATCH, px_stream, px_cpu) + x_layers * MOE_LAYER_HANDOVER_S / batch
    t_pre = np.where(on_gpu, pt_gpu, 0.0) + pt_cpu + pt_x

    return {
        "decode_tok_s": 1.0 / t_dec,
        "prefill_tok_s": 1.0 / t_pre,
        "decode_gpu_s": np.where(on_gpu, t_gpu, 0.0),  # the GPU part of the time per token (partial offload)
        "decode_host_s": np.where(on_gpu, t_host, 0.0),  # the host's graph build + submission per token (see HOST_LAYER_S)
        "prefill_gpu_s": np.where(on_gpu, pt_gpu, 0.0),
        "decode_mem_s": np.where(on_gpu, g_mem, 0.0) + c_mem,
        "decode_compute_s": np.where(on_gpu, g_cmp, 0.0) + c_cmp,
        "decode_bytes": bytes_tok,
        "prefill_compute_s": np.where(on_gpu, pg_cmp, 0.0) + pc_cmp,
        "prefill_mem_s": np.where(on_gpu, pg_mem, 0.0) + pc_mem,
    }


def expert_offload_inputs(spec, n_cpu_moe: int, mf: ModelFigures | None = None) -> dict[str, float]:
    """roofline_arrays' expert-offload inputs for `spec` with the experts of its first `n_cpu_moe` layers in RAM
    (all zeros for 0 or a dense model)."""

    k = max(min(int(n_cpu_moe or 0), int(spec.n_layers)), 0)
    zero = {"expert_cpu_frac": 0.0, "expert_cpu_bytes": 0.0, "expert_cpu_layers": 0.0, "expert_used_ratio": 0.0}
    if k == 0 or not spec.is_moe:
        return zero
    experts = expert_layer_bytes(spec)
    x_all = float(sum(experts[:k]))
    ratio = min(max(spec.n_experts_used, 1) / spec.n_experts, 1.0)
    mf = mf or model_figures(spec)
    frac = min(x_all * ratio / mf.weight_bytes, 1.0) if mf.weight_bytes > 0 else 0.0
    return {"expert_cpu_frac": frac, "expert_cpu_bytes": x_all, "expert_cpu_layers": float(sum(1 for e in experts[:k] if e)),
            "expert_used_ratio": ratio}


def roofline(mf: ModelFigures, hf: HardwareFigures, prompt_tokens: int = 512, decode_pos: float = 576.0) -> dict[str, float]:
    """Scalar roofline for one model on one hardware placement (see roofline_arrays)."""
    out = roofline_arrays(**roofline_kwargs(mf, hf, prompt_tokens, decode_pos))
    return {k: float(v) for k, v in out.items()}


def roofline_kwargs(mf: ModelFigures, hf: HardwareFigures, prompt_tokens, decode_pos) -> dict:
    """The keyword arguments of roofline_arrays for one (model, hardware) pair."""
    return dict(
        weight_bytes=mf.weight_bytes,
        kv_bytes_per_pos=mf.kv_bytes_per_pos,
        active_params=mf.active_params,
        attn_dim_layers=mf.attn_dim_layers,
        n_layers=mf.n_layers,
        qfam_code=FAMILY_CODE[mf.quant_family],
        backend_code=BACKEND_CODE[hf.backend_kind],
        gpu_frac=hf.gpu_frac,
        n_gpus=hf.n_gpus,
        gpu_bw_gbs=hf.gpu_bw_gbs,
        gpu_tflops=hf.gpu_tflops * hf.gpu_power_keep,
        cpu_bw_gbs=hf.cpu_bw_gbs,
        cpu_gflops=hf.cpu_gflops,
        unified=hf.unified,
        prompt_tokens=prompt_tokens,
        decode_pos=decode_pos,
        threads=hf.threads,
        isa_code=hf.isa_code,
        head_params=mf.head_params,
        swa_frac=mf.swa_frac,
        swa_window=mf.swa_window,
    )
