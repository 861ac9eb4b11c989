"""The engines that split one model over several GPUs or machines: what each needs, and how it splits a model.

Facts from the engines' docs and source (summarised in data/benchdata/multinode/ENGINES.md):
* llama.cpp RPC (`ggml-rpc-server` per worker, `--rpc` on the main host; tools/rpc/README.md, src/llama.cpp
  llama_model_load_from_file_impl): every RPC device is put in FRONT of the local GPUs ("to minimize network
  transfers"), whole layers per device in proportion to each device's free memory, the output layer on the last
  device (the main host's own GPU when it has one); the token embedding stays in the main host's RAM. Runs on
  any backend: CUDA, ROCm, Metal, Vulkan, CPU.
* vLLM / SGLang (CUDA or ROCm GPUs): tensor parallel (TP) inside a node, pipeline parallel (PP) across nodes
  (vLLM docs/serving/parallelism_scaling.md); TP must divide the attention heads; vLLM's even layer partition
  gives the remainder to the stages before the last (vllm/distributed/utils.py get_pp_indices).
* exo (MLX on Apple Silicon; src/exo/master/placement.py, placement_utils.py): pipeline sharding gives each
  node contiguous layers in proportion to its available RAM (at least one each); tensor sharding gives every
  node all layers as world_size ranks and needs the KV head count divisible by the node count, over
  Thunderbolt 5 RDMA.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from llmfit_core.cluster.links import LINKS, ClusterSpecError
from llmfit_core.cluster.spec import ClusterSpec, Device
from llmfit_core.memory import RUNTIME_OVERHEAD
from llmfit_core.model_spec import ModelSpec
from llmfit_core.placement import _layer_device, _split_fractions


class EngineChoiceError(ClusterSpecError):
    """An engine, a parallel layout or a mode that this cluster or model cannot use."""


@dataclass(frozen=True)
class Engine:
    name: str  # as --engine takes it
    label: str
    needs: str  # what the cluster must have, said when it has not
    source: str


ENGINES: dict[str, Engine] = {e.name: e for e in (
    Engine("llama.cpp-rpc", "llama.cpp RPC", "any devices (CUDA, ROCm, Metal, Vulkan or CPU)",
           "llama.cpp tools/rpc/README.md, ggml/src/ggml-rpc/ggml-rpc.cpp, src/llama.cpp"),
    Engine("vllm", "vLLM", "NVIDIA (CUDA) or AMD (ROCm) GPUs on every machine",
           "vLLM docs/serving/parallelism_scaling.md, vllm/config/cache.py, vllm/distributed/utils.py"),
    Engine("sglang", "SGLang", "NVIDIA (CUDA) or AMD (ROCm) GPUs on every machine", "SGLang python/sglang/srt/server_args.py"),
    Engine("exo", "exo", "Apple Silicon Macs (MLX) on every machine", "exo src/exo/master/placement.py, placement_utils.py"),
)}
EXO_MODES = ("pipeline", "tensor")

# vLLM memory (vllm/config/cache.py, gpu_worker.determine_available_memory): KV = utilization x GPU memory -
# (weights + peak activation + non-torch memory + CUDA graphs), paid on every rank.
VLLM_GPU_MEMORY_UTILIZATION = 0.90
# vllm/engine/arg_utils.py defaults for `vllm serve` (OpenAI server): GPUs with >= 70 GiB: 8192 batched tokens and
# 1024 sequences, smaller GPUs 2048 / 256; the profile run peaks with that many tokens in flight.
VLLM_BIG_GPU_GIB = 70
VLLM_BATCHED_TOKENS = {True: 8192, False: 2048}
VLLM_MAX_SEQS = {True: 1024, False: 256}
# Outside torch's allocator on every rank: CUDA context + cuBLAS workspaces (llama.cpp's figure, memory.py) and,
# with more than one rank, NCCL's buffers (~0.5 GiB with default NCCL_BUFFSIZE over a few channels). Assumptions:
# vLLM logs them as "non-torch memory" (0.1-1 GiB seen in its start-up lines); not measured here (no GPU).
VLLM_NON_TORCH_BYTES = RUNTIME_OVERHEAD["cuda"]
NCCL_BUFFER_BYTES = 512 << 20
# CUDA graphs for the default capture sizes (up to 512 sequences): vLLM logs "Graph capturing finished ... took
# 0.3-1.5 GiB"; an assumption in the middle of that span.
VLLM_CUDA_GRAPH_BYTES = 768 << 20
# The KV cache is allocated in blocks (pages) of tokens; a request takes whole blocks. vLLM: block_size 16 on CUDA
# (vllm/config/cache.py), 64 for MLA models (the FlashMLA kernels need 64-token pages, vllm/attention/backends/mla);
# SGLang: --page-size 1 (server_args.py default).
VLLM_BLOCK_TOKENS = {False: 16, True: 64}  # keyed by MLA
SGLANG_PAGE_TOKENS = 1
# SGLang --mem-fraction-static defaults by TP size (server_args.py, older releases): weights + KV pool; the rest
# of the GPU is left for activations and CUDA graphs.
SGLANG_MEM_FRACTION = ((16, 0.79), (8, 0.81), (4, 0.85), (2, 0.87), (1, 0.88))


def sglang_mem_fraction(tp: int) -> float:
    return next(f for n, f in SGLANG_MEM_FRACTION if tp >= n)


@dataclass
class Stage:
    """Consecutive layers held by a group of devices (one device, or a tensor-parallel group)."""

    devices: list[Device]
    layers: int  # repeating layers of this stage
    first_layer: int
    has_embedding: bool = False  # token embedding (first stage) — llama.cpp keeps it in the head's RAM instead
    has_output: bool = False  # output norm + head (last stage)
    tensor_split: float | None = None  # llama.cpp: this device's share of the layers

    @property
    def tp(self) -> int:
        return len(self.devices)


@dataclass
class Split:
    """How an engine lays the model over the cluster: TP x PP, the stages, the mode."""

    engine: str
    mode: str  # layer (llama.cpp RPC) | tp | pp | tp+pp (vLLM/SGLang) | pipeline | tensor (exo) | single
    tp: int
    pp: int
    stages: list[Stage]
    notes: list[str] = field(default_factory=list)

    @property
    def devices(self) -> list[Device]:
        return [d for s in self.stages for d in s.devices]

    def to_dict(self, cluster: ClusterSpec) -> dict:
        return {"mode": self.mode, "tp": self.tp, "pp": self.pp,
                "layers_per_device": [{"node": cluster.machines[d.machine].name, "device": d.label, "layers": s.layers,
                                       "first_layer": s.first_layer, "output_layer": s.has_output}
                                      for s in self.stages for d in s.devices]}


def engine_names() -> list[str]:
    return list(ENGINES)


def get_engine(name: str) -> Engine:
    key = (name or "").strip().lower()
    aliases = {"llama.cpp": "llama.cpp-rpc", "rpc": "llama.cpp-rpc", "llamacpp-rpc": "llama.cpp-rpc", "llama-rpc": "llama.cpp-rpc"}
    key = aliases.get(key, key)
    if key in ENGINES:
        return ENGINES[key]
    close = difflib.get_close_matches(key, list(ENGINES), n=1, cutoff=0.3)
    raise EngineChoiceError(f"unknown engine {name!r}" + (f" (nearest: {close[0]})" if close else "")
                            + f"; choose one of {', '.join(ENGINES)}")


def unavailable(engine: str, cluster: ClusterSpec) -> str | None:
    """None when `engine` can run on this cluster's hardware, else why not (one line)."""
    e = ENGINES[engine]
    if engine in ("vllm", "sglang"):
        bad = [m for m in cluster.machines if not m.gpus or any(d.kind not in ("cuda", "rocm") for d in m.gpus)]
        if bad:
            m = bad[0]
            what = "no GPU" if not m.gpus else f"{m.gpus[0].name} ({m.gpus[0].kind.upper()})"
            return f"{e.label} needs {e.needs}; {m.name} ({m.hardware_name}) has {what}"
        if len({d.kind for d in cluster.devices}) > 1:
            return f"{e.label} cannot mix NVIDIA and AMD GPUs in one deployment"
    if engine == "exo":
        bad = [m for m in cluster.machines if not m.apple]
        if bad:
            return f"exo needs {e.needs}; {bad[0].name} ({bad[0].hardware_name}) is not an Apple Silicon Mac"
        if cluster.link.name in ("NVLink", "PCIe", "InfiniBand", "200GbE-RoCE") and len(cluster.machines) > 1:
            return f"exo links Macs over Ethernet or Thunderbolt; {cluster.link.name} is not a link between Macs"
    return None


def require_available(engine: str, cluster: ClusterSpec) -> None:
    why = unavailable(engine, cluster)
    if why:
        ok = [n for n in ENGINES if unavailable(n, cluster) is None]
        raise EngineChoiceError(f"{why} (engines this cluster can run: {', '.join(ok) or 'none'})")


# ------------------------------------------------------------------------------------------------ llama.cpp RPC

def rpc_device_order(cluster: ClusterSpec) -> list[Device]:
    """llama.cpp's device list: the RPC servers' devices first (file order), then the main host's own GPUs."""
    remote = [d for m in cluster.machines[1:] for d in m.devices]
    local = cluster.machines[0].gpus
    devices = remote + local
    return devices or cluster.machines[0].devices  # one CPU-only machine: its CPU


def split_rpc(spec: ModelSpec, cluster: ClusterSpec) -> Split:
    """Whole layers per device in proportion to free memory (llama.cpp's default --tensor-split), output layer last."""
    devices = rpc_device_order(cluster)
    caps = [max(d.capacity_bytes - RUNTIME_OVERHEAD.get(d.kind, 100 << 20), 0) for d in devices]
    splits = _split_fractions(caps)
    n = spec.n_layers
    owner = _layer_device(n, n + 1, splits)
    stages, start = [], 0
    total = sum(caps) or 1
    for i, d in enumerate(devices):
        count = sum(1 for il in range(n) if owner[il] == i)
        first = next((il for il in range(n) if owner[il] == i), start)
        stages.append(Stage([d], count, first, has_output=owner[n] == i, tensor_split=caps[i] / total))
        start = first + count
    notes = []
    if len(cluster.machines) == 1:
        mode = "single"
    else:
        mode = "layer"
        if not cluster.machines[0].gpus and len(cluster.machines) > 1:
            notes.append(f"the main host {cluster.machines[0].name} has no GPU: it only keeps the token embedding and "
                         "samples; the logits of every token come back over the link")
    return Split("llama.cpp-rpc", mode, 1, len(devices), stages, notes)


# ------------------------------------------------------------------------------------------------ vLLM / SGLang

def _divisors(n: int) -> list[int]:
    return [k for k in range(1, max(n, 1) + 1) if n % k == 0]


def valid_tp(spec: ModelSpec, upto: int) -> list[int]:
    """TP sizes up to `upto` that divide the attention heads (vLLM/SGLang refuse the others)."""
    return [t for t in _divisors(spec.n_heads) if t <= upto] or [1]


def pp_partition(n_layers: int, pp: int) -> list[int]:
    """vLLM get_pp_indices: an even split, the remainder one each to the stages before the last, backwards."""
    base, rest = divmod(n_layers, pp)
    parts = [base] * pp
    for i in range(2, rest + 2):
        parts[-i] += 1
    return parts


def split_tp_pp(engine: str, spec: ModelSpec, cluster: ClusterSpec, tp: int | None = None, pp: int | None = None) -> Split:
    """TP = GPUs per node (the largest that divides the heads), PP = the rest (docs: TP inside a node, PP across)."""
    gpus = [d for m in cluster.machines for d in m.gpus]
    per_node = [len(m.gpus) for m in cluster.machines]
    total = len(gpus)
    notes: list[str] = []
    if tp is not None or pp is not None:
        for name, v in (("--tp", tp), ("--pp", pp)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise EngineChoiceError(f"{name} must be a positive integer, got {v!r}")
        if tp is not None and spec.n_heads % tp:
            ok = valid_tp(spec, total)
            near = sorted(ok, key=lambda t: (abs(t - tp), -t))[:2]
            raise EngineChoiceError(f"--tp {tp} does not divide the {spec.n_heads} attention heads of {spec.ref}; "
                                    f"nearest valid: {' or '.join(f'--tp {t}' for t in sorted(near))}")
        tp = tp or max(t for t in valid_tp(spec, total) if total // t * t == total and (pp is None or t * pp <= total))
        pp = pp or max(total // tp, 1)
        if tp * pp > total:
            raise EngineChoiceError(f"--tp {tp} x --pp {pp} = {tp * pp} GPUs, the cluster has {total}; "
                                    f"nearest valid: --tp {tp} --pp {max(total // tp, 1)}")
        if tp * pp < total:
            notes.append(f"uses {tp * pp} of the {total} GPUs (TP {tp} x PP {pp})")
    else:
        common = min(per_node)
        tp = max(t for t in valid_tp(spec, common) if all(g % t == 0 for g in per_node))
        pp = total // tp
        if tp < common:
            notes.append(f"TP {tp}: the largest size that divides the {spec.n_heads} attention heads and every node's GPUs")
    if pp > spec.n_layers:
        raise EngineChoiceError(f"PP {pp} is more stages than the {spec.n_layers} layers of {spec.ref}; "
                                f"nearest valid: --pp {spec.n_layers}")
    used = gpus[: tp * pp]
    parts = pp_partition(spec.n_layers, pp)
    stages, first = [], 0
    for s in range(pp):
        stages.append(Stage(used[s * tp:(s + 1) * tp], parts[s], first, has_embedding=s == 0, has_output=s == pp - 1))
        first += parts[s]
    mode = "single" if tp * pp == 1 else ("tp+pp" if tp > 1 and pp > 1 else ("tp" if tp > 1 else "pp"))
    if any(len({d.machine for d in s.devices}) > 1 for s in stages):
        link = cluster.link
        notes.append(f"a TP group spans machines: two all-reduces per layer cross the {link.name} link"
                     + ("" if link.rdma else " over TCP sockets (NCCL without RDMA): allowed, but slow; prefer "
                        "TP inside a node and PP across nodes"))
    if spec.n_kv_heads and tp > spec.n_kv_heads and not spec.kv_lora_rank:
        notes.append(f"TP {tp} > {spec.n_kv_heads} KV heads: each KV head is replicated on {tp // spec.n_kv_heads} ranks")
    return Split(engine, mode, tp, pp, stages, notes)


# ------------------------------------------------------------------------------------------------ exo

def exo_tensor_problem(spec: ModelSpec, cluster: ClusterSpec) -> str | None:
    """None when exo's tensor sharding applies, else why not (with the nearest valid node count)."""
    n = len(cluster.machines)
    # MLA: mlx-lm's shard() splits the attention heads and keeps the one latent KV row whole on every rank
    kv = int(spec.n_heads if spec.kv_lora_rank else (spec.n_kv_heads or spec.n_heads))
    if n < 2:
        return "tensor sharding needs at least 2 Macs"
    if kv % n:
        ok = [k for k in _divisors(kv) if k >= 2]
        below = max((k for k in ok if k <= n), default=None)
        above = min((k for k in ok if k > n), default=None)
        near = " or ".join(str(k) for k in (below, above) if k)
        return (f"exo tensor sharding needs the {kv} KV heads of {spec.ref} divisible by the node count ({n}); "
                f"nearest valid node count: {near or 'none'}")
    if cluster.link.name != "Thunderbolt5-RDMA":
        return (f"exo tensor sharding runs over Thunderbolt 5 RDMA (every Mac cabled to every other), not "
                f"{cluster.link.name}; use --exo-mode pipeline")
    return None


def split_exo(spec: ModelSpec, cluster: ClusterSpec, mode: str | None = None) -> Split:
    """Tensor sharding when it applies (RDMA over TB5, KV heads divisible), else pipeline by available RAM."""
    n = len(cluster.machines)
    if mode is not None and mode not in EXO_MODES:
        close = difflib.get_close_matches(str(mode).lower(), EXO_MODES, n=1, cutoff=0.3)
        raise EngineChoiceError(f"unknown exo mode {mode!r}" + (f" (nearest: {close[0]})" if close else "")
                                + f"; choose one of {', '.join(EXO_MODES)}")
    problem = exo_tensor_problem(spec, cluster)
    if mode == "tensor" and problem:
        raise EngineChoiceError(problem)
    devices = [m.devices[0] for m in cluster.machines]
    notes = []
    if n == 1:
        return Split("exo", "single", 1, 1, [Stage(devices, spec.n_layers, 0, True, True)], notes)
    if mode == "tensor" or (mode is None and problem is None):
        return Split("exo", "tensor", n, 1, [Stage(devices, spec.n_layers, 0, True, True)], notes)
    if mode is None and problem:
        notes.append(f"pipeline sharding: {problem}")
    ram = [m.ram_bytes for m in cluster.machines]
    total = sum(ram) or 1
    L = spec.n_layers
    if L < n:
        raise EngineChoiceError(f"exo pipeline sharding needs a layer per Mac: {spec.ref} has {L} layers for {n} Macs; "
                                f"nearest valid node count: {L}")
    counts = []
    for i in range(n - 1):  # placement_utils: proportional to available RAM, at least one layer each
        left = L - sum(counts) - (n - 1 - i)
        counts.append(min(max(1, round(L * ram[i] / total)), left))
    counts.append(L - sum(counts))
    stages, first = [], 0
    for i, d in enumerate(devices):
        stages.append(Stage([d], counts[i], first, has_embedding=i == 0, has_output=i == n - 1))
        first += counts[i]
    return Split("exo", "pipeline", 1, n, stages, notes)


def make_split(engine: str, spec: ModelSpec, cluster: ClusterSpec, tp: int | None = None, pp: int | None = None,
               exo_mode: str | None = None) -> Split:
    if engine == "llama.cpp-rpc":
        return split_rpc(spec, cluster)
    if engine in ("vllm", "sglang"):
        return split_tp_pp(engine, spec, cluster, tp, pp)
    if engine == "exo":
        return split_exo(spec, cluster, exo_mode)
    get_engine(engine)
    raise EngineChoiceError(f"no split for {engine}")


def links_between(cluster: ClusterSpec, a: Device, b: Device):
    """The link two devices talk over: the machine's GPU link inside one machine, the cluster link across."""
    return cluster.machines[a.machine].gpu_link if a.machine == b.machine else cluster.link


__all__ = ["ENGINES", "EXO_MODES", "LINKS", "Engine", "EngineChoiceError", "Split", "Stage", "make_split", "unavailable"]
