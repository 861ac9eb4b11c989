"""Memory per device of a split, with the same parts as `fit` (weights, KV cache, compute, engine reserve).

* llama.cpp RPC: the single-node estimator (memory.estimate_memory) and llama.cpp's multi-device assignment
  (placement._assign: every device its layers' weights + KV and a compute buffer, the one with the output layer
  the full peak) over llama.cpp's device order; the runtime context on every device; the main host's RAM keeps
  the token embedding, the logits buffer and host buffers.
* vLLM: gpu_memory_utilization (0.90) x GPU memory = weights / (TP x PP share) + peak activation + non-torch
  memory + CUDA graphs + KV cache; the fixed part is paid on every rank (vllm/config/cache.py, gpu_worker).
* SGLang: mem_fraction_static x GPU memory = weights + KV pool; the rest is left for activations and graphs.
* vLLM/SGLang KV per token: its layers x 2 x (KV heads / TP) x head_dim x 2 bytes; for MLA models (DeepSeek, Kimi)
  one latent of kv_lora_rank + qk_rope_head_dim per token and layer, whole on every TP rank; capacity in whole
  blocks (vLLM 16 tokens, 64 with FlashMLA; SGLang pages of 1).
* exo: MLX (memory._estimate_mlx) per node for its layers (pipeline) or 1/N of the layers (tensor), against the
  node's GPU wired limit (Metal's recommendedMaxWorkingSetSize); exo's own placement checks weights only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from llmfit_core.cluster import engines as eng
from llmfit_core.cluster.spec import ClusterSpec
from llmfit_core.memory import RUNTIME_OVERHEAD, estimate_memory, kv_cache_layers, mla_rope_dims
from llmfit_core.model_spec import ModelSpec
from llmfit_core.placement import _assign
from llmfit_core.units import fmt_bytes, fmt_ctx


@dataclass
class DeviceMemory:
    weights_bytes: int = 0
    kv_cache_bytes: int = 0  # for the requested context x concurrency
    compute_bytes: int = 0  # compute buffers / peak activations (+ CUDA graphs for vLLM)
    engine_reserve_bytes: int = 0  # runtime context, NCCL buffers, what the engine keeps outside its pool
    capacity_bytes: int = 0  # what this device may use (VRAM, wired limit, utilization x VRAM ...)
    kv_pool_bytes: int | None = None  # vLLM/SGLang: the KV pool the engine allocates from what is left

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.kv_cache_bytes + self.compute_bytes + self.engine_reserve_bytes

    def to_dict(self) -> dict:
        d = {"weights_bytes": int(self.weights_bytes), "kv_cache_bytes": int(self.kv_cache_bytes),
             "compute_bytes": int(self.compute_bytes), "engine_reserve_bytes": int(self.engine_reserve_bytes),
             "total_bytes": int(self.total_bytes), "capacity_bytes": int(self.capacity_bytes)}
        if self.kv_pool_bytes is not None:
            d["kv_pool_bytes"] = int(self.kv_pool_bytes)
        return d


@dataclass
class DevicePlan:
    node: str
    device: str
    layers: int
    memory: DeviceMemory
    fits: bool

    def to_dict(self) -> dict:
        return {"node": self.node, "device": self.device, "layers": self.layers, "memory": self.memory.to_dict(),
                "fits": self.fits}


@dataclass
class MemoryPlan:
    devices: list[DevicePlan]
    fits: bool
    kv_capacity_tokens: int | None = None  # vLLM/SGLang
    max_concurrency: float | None = None  # vLLM/SGLang: KV capacity / context
    reasons: list[str] = field(default_factory=list)


def backend_name(kind: str) -> str:
    return f"llama.cpp-{kind}"


def _fits(m: DeviceMemory) -> bool:
    return m.total_bytes <= m.capacity_bytes


def _stage_weights(mem, stage: eng.Stage, spec: ModelSpec, keep_embedding: bool) -> int:
    w = sum(mem.layer_bytes[stage.first_layer:stage.first_layer + stage.layers])
    if stage.has_embedding and keep_embedding:
        w += mem.input_bytes
    if stage.has_output:
        w += mem.output_layer_bytes + (mem.input_bytes if spec.tied_embeddings else 0)
    return int(w)


def rpc_memory(spec: ModelSpec, cluster: ClusterSpec, split: eng.Split, context: int, concurrency: int) -> MemoryPlan:
    devices = split.devices
    kind = next((d.kind for d in devices if d.kind != "cpu"), "cpu")
    mem = estimate_memory(spec, backend_name(kind), context, n_seq=concurrency)
    acc, splits = 0.0, []
    for s in split.stages:
        acc += s.tensor_split or 0.0
        splits.append(acc)
    splits[-1] = 1.0
    per_dev, host, _ = _assign(spec, mem, spec.n_layers + 1, len(devices), splits)
    plans = []
    for s, d, total in zip(split.stages, devices, per_dev):
        w = _stage_weights(mem, s, spec, keep_embedding=False)
        kv = int(sum(mem.kv_layer_bytes[s.first_layer:s.first_layer + s.layers]))
        m = DeviceMemory(w, kv, max(int(total) - w - kv, 0), RUNTIME_OVERHEAD.get(d.kind, 100 << 20), d.capacity_bytes)
        plans.append(DevicePlan(cluster.machines[d.machine].name, d.label, s.layers, m, _fits(m)))
    head = cluster.machines[0]
    head_gpu = sum(p.memory.total_bytes for p, d in zip(plans, devices) if d.machine == 0 and d.unified)
    host_mem = DeviceMemory(mem.input_bytes, 0, max(int(host) - mem.input_bytes, 0), RUNTIME_OVERHEAD["cpu"],
                            max(head.ram_bytes - head_gpu, 0))
    if split.mode != "single" or devices[0].kind != "cpu":
        plans.append(DevicePlan(head.name, "host RAM", 0, host_mem, _fits(host_mem)))
    reasons = [f"KV cache at {fmt_ctx(context)} context: {fmt_bytes(mem.kv_cache_bytes)} over {len(devices)} devices, "
               "each with its layers; every device also holds its own compute buffer and runtime context; the main "
               f"host's RAM keeps the token embedding, the logits and host buffers ({fmt_bytes(host_mem.total_bytes)})"]
    return MemoryPlan(plans, all(p.fits for p in plans), reasons=reasons)


def _kv_per_layer_token(spec: ModelSpec, context: int) -> list[float]:
    """KV bytes per cached token of each layer at `context` (f16 cache; sliding-window layers averaged over it)."""
    layers, cells, _ = kv_cache_layers(spec, context, "f16", "f16")
    return [b / cells for b in layers]


def _activation_bytes(spec: ModelSpec, tp: int, tokens: int, seqs: int, last_stage: bool) -> int:
    """vLLM's profile-run peak: `tokens` in flight through one layer (bf16: residual + norms + QKV + MLP up/act)
    plus, on the last stage, the sampler's float32 logits (+ probabilities) of `seqs` sequences."""
    if spec.is_moe and spec.expert_ffn_size:
        ff = spec.n_experts_used * spec.expert_ffn_size + spec.n_shared_experts * (spec.shared_expert_ffn_size or spec.expert_ffn_size)
    else:
        ff = spec.ffn_size or 4 * spec.hidden_size
    qkv = (spec.n_heads + 2 * max(spec.n_kv_heads, 1)) * spec.head_dim
    act = tokens * 2 * (4 * spec.hidden_size + (qkv + 3 * ff) / max(tp, 1))
    logits = seqs * spec.vocab_size * 4 * 2 if last_stage else 0
    return int(act + logits)


def served_memory(engine: str, spec: ModelSpec, cluster: ClusterSpec, split: eng.Split, context: int,
                  concurrency: int) -> MemoryPlan:
    """vLLM / SGLang per GPU rank, KV capacity in tokens and the maximum concurrency at `context`."""
    mem = estimate_memory(spec, "llama.cpp-cuda", context)
    per_tok = _kv_per_layer_token(spec, context)
    mla = bool(spec.kv_lora_rank)
    block = eng.VLLM_BLOCK_TOKENS[mla] if engine == "vllm" else eng.SGLANG_PAGE_TOKENS
    tp = split.tp
    kv_div = 1 if mla else min(tp, max(int(spec.n_kv_heads or 1), 1))
    world = split.tp * split.pp
    plans, caps_tokens = [], []
    for s in split.stages:
        w_stage = _stage_weights(mem, s, spec, keep_embedding=True)
        tok_bytes = sum(per_tok[s.first_layer:s.first_layer + s.layers]) / kv_div
        for d in s.devices:
            big = d.capacity_bytes >= eng.VLLM_BIG_GPU_GIB * 2**30
            act = _activation_bytes(spec, tp, eng.VLLM_BATCHED_TOKENS[big], eng.VLLM_MAX_SEQS[big], s.has_output)
            weights = int(w_stage / tp)
            kv_need = int(tok_bytes * context * concurrency)
            if engine == "vllm":
                budget = int(eng.VLLM_GPU_MEMORY_UTILIZATION * d.capacity_bytes)
                reserve = eng.VLLM_NON_TORCH_BYTES + (eng.NCCL_BUFFER_BYTES if world > 1 else 0)
                compute = act + eng.VLLM_CUDA_GRAPH_BYTES
                pool = budget - weights - reserve - compute
                m = DeviceMemory(weights, kv_need, compute, reserve, budget, kv_pool_bytes=max(pool, 0))
            else:
                frac = eng.sglang_mem_fraction(tp)
                static = int(frac * d.capacity_bytes)
                outside = d.capacity_bytes - static
                pool = static - weights
                compute = min(act + eng.VLLM_CUDA_GRAPH_BYTES, outside)
                m = DeviceMemory(weights, kv_need, compute, outside - compute, d.capacity_bytes, kv_pool_bytes=max(pool, 0))
            fits = pool >= kv_need and pool > 0
            caps_tokens.append(int(max(pool, 0) // (tok_bytes * block)) * block if tok_bytes > 0 else 0)
            plans.append(DevicePlan(cluster.machines[d.machine].name, d.label, s.layers, m, fits))
    capacity = min(caps_tokens) if caps_tokens else 0
    concurrency_max = capacity / (math.ceil(context / block) * block) if context else 0.0  # whole blocks per request
    label = eng.ENGINES[engine].label
    reasons = []
    if engine == "vllm":
        reasons.append(f"{label} takes {eng.VLLM_GPU_MEMORY_UTILIZATION:.0%} of every GPU (--gpu-memory-utilization) and "
                       "pays its fixed part (activation peak, CUDA graphs, non-torch memory) on every rank; the rest is KV cache")
    else:
        reasons.append(f"{label} keeps {eng.sglang_mem_fraction(tp):.0%} of every GPU for weights + KV pool "
                       "(--mem-fraction-static at this TP size); the rest for activations and CUDA graphs")
    if mla:
        rope = mla_rope_dims(spec)
        latent = (f" (MLA: one latent of {spec.kv_lora_rank} + {rope} values per token and layer, not per head, "
                  f"replicated on every TP rank; {block}-token pages)")
    else:
        latent = f" ({block}-token pages)" if block > 1 else ""
    reasons.append(f"KV capacity {capacity:,} tokens: up to {concurrency_max:.1f} sequences of {fmt_ctx(context)} at once"
                   + latent)
    return MemoryPlan(plans, all(p.fits for p in plans) and concurrency_max >= 1, capacity, concurrency_max, reasons)


def exo_memory(spec: ModelSpec, cluster: ClusterSpec, split: eng.Split, context: int, concurrency: int) -> MemoryPlan:
    mem = estimate_memory(spec, "mlx", context, n_seq=concurrency)
    plans = []
    n = len(split.devices)
    for s in split.stages:
        for d in s.devices:
            if split.mode == "tensor":
                # mlx-lm's Model.shard(): the layers' projections, experts and KV heads split over the ranks; the token
                # embedding, the output head and an MLA latent cache (not per head) stay whole on every rank
                whole = mem.input_bytes + mem.output_layer_bytes
                w = int((mem.weights_bytes - whole) / n + whole)
                kv = int(mem.kv_cache_bytes if spec.kv_lora_rank else mem.kv_cache_bytes / n)
            else:
                w = _stage_weights(mem, s, spec, keep_embedding=True)
                kv = int(sum(mem.kv_layer_bytes[s.first_layer:s.first_layer + s.layers]))
            m = DeviceMemory(w, kv, int(mem.compute_bytes), RUNTIME_OVERHEAD["mlx"], d.capacity_bytes)
            plans.append(DevicePlan(cluster.machines[d.machine].name, d.label, s.layers, m, _fits(m)))
    reasons = []
    exo_ok = mem.weights_bytes <= sum(m.ram_bytes for m in cluster.machines)
    fits = all(p.fits for p in plans)
    if exo_ok and not fits:
        reasons.append("exo's placement would accept it (it checks the weights against the RAM only), but the KV cache "
                       "and activations do not fit every Mac's GPU wired limit: it would fail or swap")
    reasons.append("each Mac's limit is Metal's GPU wired limit (~75% of RAM from 36 GiB; raise it with "
                   "sudo sysctl iogpu.wired_limit_mb=...)")
    return MemoryPlan(plans, fits, reasons=reasons)


def plan_memory(engine: str, spec: ModelSpec, cluster: ClusterSpec, split: eng.Split, context: int,
                concurrency: int = 1) -> MemoryPlan:
    if engine == "llama.cpp-rpc":
        return rpc_memory(spec, cluster, split, context, concurrency)
    if engine in ("vllm", "sglang"):
        return served_memory(engine, spec, cluster, split, context, concurrency)
    return exo_memory(spec, cluster, split, context, concurrency)
