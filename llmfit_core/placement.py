"""Placement: which layers llama.cpp puts on which GPU, what stays in RAM, and the verdict.

llama.cpp (llama-model.cpp, load_tensors) counts n_layer + 1 offloadable layers: the repeating blocks
plus the output layer. With n_gpu_layers = g the output layer and the last g-1 blocks go to the GPUs
(`i_gpu_start = n_layer + 1 - g`); the token embeddings always stay in host memory. Several GPUs
share the offloaded layers in proportion to their free memory (the default tensor_split). Each
layer's KV cache lives with the layer (offload_kqv). Apple Silicon: one pool of unified memory, of
which Metal lets the GPU wire about recommendedMaxWorkingSetSize (~0.75 x RAM from 36 GiB up, ~0.67
below).

MoE expert offload (llama.cpp -ngl 999 --n-cpu-moe N / --cpu-moe, common/arg.cpp): tensor overrides keep the
routed-expert tensors of the first N layers in host memory while every layer is offloaded (place_expert_offload).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from llmfit_core.backends import Backend, get_backend
from llmfit_core.errors import LlmfitError
from llmfit_core.memory import (
    RUNTIME_OVERHEAD,
    MemoryEstimate,
    expert_layer_bytes,
    repack_reason,
)
from llmfit_core.model_spec import ModelSpec
from llmfit_core.units import GIB, MIB, fmt_bytes, fmt_ctx
from llmfit_core.verdict import Verdict, is_tight, margin_for

# layer vs expert offload (api.fit_spec, recommend): decode predictions closer than this share are a tie, and the
# placement with fewer bytes in RAM wins
MOE_TIE = 0.01


@dataclass
class Placement:
    """Where a model's memory goes and whether it fits."""

    gpu_layers: int
    total_layers: int  # n_layers + 1 (the output layer), as llama.cpp counts
    gpu_bytes: int
    cpu_bytes: int  # host RAM (weights kept on CPU, their KV, host buffers, process)
    per_gpu_bytes: list[int] = field(default_factory=list)
    per_gpu: list[dict] = field(default_factory=list)  # name, bytes, capacity_bytes, layers
    fits: bool = False
    verdict: Verdict = Verdict.NO_FIT
    headroom_bytes: int = 0  # smallest spare memory over the pools used (negative when it does not fit)
    margin_bytes: int = 0
    ram_capacity_bytes: int = 0
    reasons: list[str] = field(default_factory=list)
    # MoE expert offload (llama.cpp -ngl 999 --n-cpu-moe N): the routed-expert tensors of the first N layers
    # stay in RAM, everything else (incl. their KV) on the GPU; 0 = plain layer placement
    n_cpu_moe: int = 0
    cpu_expert_bytes: int = 0  # expert weights kept in RAM by n_cpu_moe
    expert_copy_bytes: int = 0  # GPU compute-buffer room for one RAM layer's experts copied in for prefill

    def to_dict(self) -> dict:
        return asdict(self)


def metal_working_set(total_ram_bytes: int) -> int:
    """macOS' default recommendedMaxWorkingSetSize: ~0.75 x RAM from 36 GiB up, ~0.67 below."""
    return int(total_ram_bytes * (0.75 if total_ram_bytes >= 36 * GIB else 2 / 3))


def _backend(backend) -> Backend:
    if isinstance(backend, Backend):
        return backend
    return get_backend(str(backend or "cpu"))


def _layer_device(n_layer: int, gpu_layers: int, splits: list[float]) -> list[int]:
    """Device index (-1 = CPU) of each of the n_layer + 1 layers, as llama.cpp assigns them."""
    i_gpu_start = max(n_layer + 1 - gpu_layers, 0)
    act = min(gpu_layers, n_layer + 1)
    if len(splits) == 1 or act == 0:  # one GPU (the search of place() asks this many times)
        return [-1] * i_gpu_start + [0 if act else -1] * (n_layer + 1 - i_gpu_start)
    out = []
    for il in range(n_layer + 1):
        if il < i_gpu_start or act == 0:
            out.append(-1)
            continue
        frac = (il - i_gpu_start) / act
        dev = next((i for i, s in enumerate(splits) if frac < s), len(splits) - 1)  # std::upper_bound
        out.append(dev)
    return out


def _split_fractions(capacities: list[int]) -> list[float]:
    total = sum(max(c, 0) for c in capacities) or 1
    acc, out = 0.0, []
    for c in capacities:
        acc += max(c, 0) / total
        out.append(acc)
    out[-1] = 1.0
    return out


def _assign(spec: ModelSpec, mem: MemoryEstimate, gpu_layers: int, n_gpus: int, splits: list[float],
            n_cpu_moe: int = 0, experts: list[int] | None = None):
    """Bytes per GPU and on the CPU for a given gpu_layers (and n_cpu_moe: the expert tensors of the first
    n_cpu_moe layers in host memory, `experts` = expert_layer_bytes)."""
    n = spec.n_layers
    devs = _layer_device(n, gpu_layers, splits)
    per_gpu = [0] * n_gpus
    per_gpu_layers = [0] * n_gpus
    cpu = mem.input_bytes + mem.output_bytes
    stages = mem.compute_stages or {}
    body_compute = max(stages.get("ffn", 0), stages.get("attn", 0)) + stages.get("inputs", 0) or mem.compute_bytes
    for il in range(n):
        w = mem.layer_bytes[il] if il < len(mem.layer_bytes) else 0
        kv = mem.kv_layer_bytes[il] if il < len(mem.kv_layer_bytes) else 0
        if devs[il] < 0:
            cpu += w + kv
        else:
            e = experts[il] if (experts and il < n_cpu_moe and il < len(experts)) else 0
            cpu += e
            per_gpu[devs[il]] += w - e + kv
            per_gpu_layers[devs[il]] += 1
    out_w = mem.output_layer_bytes + (mem.input_bytes if spec.tied_embeddings else 0)  # tied: token_embd duplicated
    if devs[n] < 0:
        cpu += mem.output_layer_bytes
    else:
        per_gpu[devs[n]] += out_w
        per_gpu_layers[devs[n]] += 1
    # compute buffers: every GPU in use gets the body stages; the one with the output layer the full peak.
    # With any GPU, llama.cpp also offloads big CPU-layer matmuls to the first GPU (op_offload).
    if gpu_layers > 0 or n_gpus:
        for d in range(n_gpus):
            if per_gpu_layers[d] or d == 0:
                per_gpu[d] += mem.compute_bytes if (devs[n] == d or (devs[n] < 0 and d == 0)) else body_compute
    cpu += body_compute if devs[0] < 0 else stages.get("inputs", 0) + spec.hidden_size * mem.n_ubatch * 4
    if n_cpu_moe > 0 and experts and n_gpus:
        # prefill (batch >= 32): the scheduler offloads a host-resident layer's expert matmuls to the first GPU
        # that accepts them (ggml-backend.cpp, ggml_backend_sched_backend_id_from_cur "1.off") and copies the
        # weights into that split's inputs, allocated in the GPU compute buffer (ggml_backend_sched_split_graph,
        # "4.cpy"). With tensor overrides llama.cpp never uses pipeline parallelism (llama-context.cpp:
        # !model.has_tensor_overrides()), so one copy: the GPU holds one layer's experts at a time.
        per_gpu[0] += max(experts[:n_cpu_moe], default=0)
    return per_gpu, cpu, per_gpu_layers


def place(spec: ModelSpec, mem: MemoryEstimate, hardware, backend=None, gpu_layers: int | None = None,
          n_cpu_moe: int | None = None) -> Placement:
    """Split `mem` between the GPUs and RAM of `hardware` the way llama.cpp would, and give a verdict.

    `gpu_layers` None = as many layers as fit (like llama.cpp's --fit / Ollama); otherwise that many.
    `n_cpu_moe` not None: MoE expert offload instead (see place_expert_offload).
    """
    if n_cpu_moe is not None:
        return place_expert_offload(spec, mem, hardware, backend, n_cpu_moe=n_cpu_moe)
    be = _backend(backend or mem.backend)
    total_layers = spec.n_layers + 1
    ram_total = hardware.memory.total_bytes
    ram_avail = hardware.memory.available_bytes
    if ram_avail <= 0 and ram_total <= 0:
        raise LlmfitError("the hardware profile has no memory size (memory.total_gb)")
    if gpu_layers is not None and gpu_layers < 0:
        raise LlmfitError(f"gpu_layers must be 0 or more (got {gpu_layers})")
    reasons: list[str] = []
    process = RUNTIME_OVERHEAD["cpu"]

    unified = hardware.unified_memory or any(g.vendor == "apple" for g in hardware.gpus)
    if not be.gpu or not hardware.gpus:
        return _place_cpu(spec, mem, ram_avail, ram_total, total_layers, be, hardware)
    if unified:
        return _place_unified(spec, mem, hardware, be, total_layers, ram_avail, ram_total, gpu_layers)

    gpus = hardware.gpus
    overhead = RUNTIME_OVERHEAD.get(be.device, 300 * MIB)
    caps = []
    for g in gpus:
        vram = int((g.vram_free_gb if g.vram_free_gb is not None else (g.vram_gb or 0.0)) * GIB)
        caps.append(max(vram - overhead, 0))
    splits = _split_fractions(caps)

    def fits_all(gl: int, use_margin: bool) -> bool:
        per, cpu, _ = _assign(spec, mem, gl, len(gpus), splits)
        ok = all(p <= c - (margin_for(c + overhead) if use_margin else 0) for p, c in zip(per, caps))
        return ok

    if gpu_layers is None:
        if fits_all(total_layers, False):
            gl = total_layers
        else:
            gl = _most_layers(lambda cand: fits_all(cand, True), total_layers, monotone=len(gpus) == 1)
    else:
        gl = min(gpu_layers, total_layers)
    per, cpu, per_layers = _assign(spec, mem, gl, len(gpus), splits)
    cpu += process
    gpu_head = [c - p for p, c in zip(per, caps)]
    ram_head = ram_avail - cpu
    ram_margin = margin_for(ram_total or ram_avail)
    # --gpu-layers 0 asks for a CPU run: not a split, so its verdict is the CPU run's own (runs / tight / no-fit)
    fits, verdict, where = _verdict(gpu_head, caps, per, overhead, ram_head, ram_total or ram_avail,
                                    unsplit=gl == total_layers or gpu_layers == 0)

    # reported per-GPU bytes include the runtime's context on every GPU in use (CUDA context, cuBLAS)
    per = [p + overhead if p else 0 for p in per]
    per_gpu = [{"name": g.name, "bytes": int(p), "capacity_bytes": int(c + overhead), "layers": int(n)}
               for g, p, c, n in zip(gpus, per, caps, per_layers)]
    reasons += _memory_reasons(mem)
    names = " + ".join(f"{g.name} ({fmt_bytes(g.vram_bytes)})" for g in gpus)
    if gl == total_layers:
        reasons.append(f"all {total_layers} layers fit on the {names}" if len(gpus) == 1 else
                       f"all {total_layers} layers split across {names}: " +
                       ", ".join(f"{d['layers']} on {d['name']}" for d in per_gpu))
    elif gl > 0:
        reasons.append(f"offloads {gl} of {total_layers} layers to the {names}; the rest run from RAM (slower)")
    elif gpu_layers == 0:
        reasons.append(f"CPU only by request (--gpu-layers 0): all {total_layers} layers run from RAM, none on the {names}")
    else:
        reasons.append(f"no layer fits in the {names} after the {be.device.upper()} runtime's {fmt_bytes(overhead)}; "
                       "the model runs from RAM")
    short = -min(min(gpu_head, default=0), ram_head) if gpu_layers is not None else -ram_head
    reasons += _shortfall_reasons(verdict, where, cpu, ram_avail, ram_head, short, f"at {gl} GPU layers")
    headroom = min(min(gpu_head) if any(per) else ram_head, ram_head)
    return Placement(
        gpu_layers=gl, total_layers=total_layers, gpu_bytes=int(sum(per)), cpu_bytes=int(cpu),
        per_gpu_bytes=[int(p) for p in per], per_gpu=per_gpu, fits=fits, verdict=verdict,
        headroom_bytes=int(headroom), margin_bytes=int(ram_margin), ram_capacity_bytes=int(ram_avail), reasons=reasons,
    )


def _most_layers(fits, n: int, monotone: bool) -> int:
    """The largest count in [0, n] for which `fits` holds (0 when none). With one GPU its bytes only grow with the
    layers it holds (a layer's weights and KV, then the output layer's compute peak), so a bisection finds it;
    several GPUs re-split the layers at each count, so they are scanned from the top."""
    if not monotone:
        return next((c for c in range(n, -1, -1) if fits(c)), 0)
    if fits(n):
        return n
    if not fits(0):
        return 0
    lo, hi = 0, n  # fits(lo), not fits(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


def _fewest_layers(fits, n: int, monotone: bool) -> int:
    """The smallest count in [1, n] for which `fits` holds (n when none). With one GPU, each layer whose experts move
    to RAM frees at least what the prefill copy of the largest of them adds, so a bisection finds it."""
    if not monotone:
        return next((c for c in range(1, n + 1) if fits(c)), n)
    if fits(1) or not fits(n):
        return 1 if fits(1) else n
    lo, hi = 1, n  # not fits(lo), fits(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if fits(mid) else (mid, hi)
    return hi


def expert_offload_unavailable(spec: ModelSpec, hardware, backend=None) -> str | None:
    """None when llama.cpp's MoE expert offload (--cpu-moe / --n-cpu-moe) applies here, else why not."""
    be = _backend(backend)
    if not spec.is_moe or not any(expert_layer_bytes(spec)):
        return f"{spec.ref} is not a mixture-of-experts model: --cpu-moe / --n-cpu-moe do not apply"
    if be.runtime != "llama.cpp":
        return f"--cpu-moe / --n-cpu-moe are llama.cpp options (backend {be.name})"
    if not be.gpu or not hardware.gpus:
        return f"--cpu-moe / --n-cpu-moe keep experts in RAM beside a GPU; {be.name} on {hardware.name} uses none"
    if hardware.unified_memory or any(g.vendor == "apple" for g in hardware.gpus):
        return "--cpu-moe / --n-cpu-moe do not apply to unified memory: the GPU already works from RAM"
    return None


def moe_flag(n_cpu_moe: int, n_layers: int) -> str:
    """The llama.cpp arguments of an expert-offload placement (common/arg.cpp: -ngl, -ncmoe / -cmoe)."""
    return "-ngl 999 --cpu-moe" if n_cpu_moe >= n_layers else f"-ngl 999 --n-cpu-moe {n_cpu_moe}"


def place_expert_offload(spec: ModelSpec, mem: MemoryEstimate, hardware, backend=None,
                         n_cpu_moe: int | None = None) -> Placement:
    """llama.cpp's MoE expert offload: every layer on the GPU(s) (-ngl 999) except the routed-expert tensors of
    the first N layers, which stay in host memory (--n-cpu-moe N; N = n_layers is --cpu-moe). Their KV cache,
    attention, router and shared-expert weights stay on the GPU. `n_cpu_moe` None = the smallest N that fits
    the VRAM with the safety margin (0 when everything fits). Raises LlmfitError when it does not apply.
    """
    be = _backend(backend or mem.backend)
    n = int(spec.n_layers)
    if n_cpu_moe is not None and (isinstance(n_cpu_moe, bool) or not isinstance(n_cpu_moe, int)
                                  or not 0 <= n_cpu_moe <= n):
        raise LlmfitError(f"--n-cpu-moe must be between 0 and {n} (the layers of {spec.ref}; {n} = --cpu-moe), "
                          f"got {n_cpu_moe!r}")
    why = expert_offload_unavailable(spec, hardware, be)
    if why:
        raise LlmfitError(why)
    ram_total = hardware.memory.total_bytes
    ram_avail = hardware.memory.available_bytes
    if ram_avail <= 0 and ram_total <= 0:
        raise LlmfitError("the hardware profile has no memory size (memory.total_gb)")
    experts = expert_layer_bytes(spec)
    total_layers = n + 1
    gpus = hardware.gpus
    overhead = RUNTIME_OVERHEAD.get(be.device, 300 * MIB)
    caps = [max(int((g.vram_free_gb if g.vram_free_gb is not None else (g.vram_gb or 0.0)) * GIB) - overhead, 0)
            for g in gpus]
    splits = _split_fractions(caps)

    def fits_all(k: int, use_margin: bool) -> bool:
        per, _, _ = _assign(spec, mem, total_layers, len(gpus), splits, k, experts)
        return all(p <= c - (margin_for(c + overhead) if use_margin else 0) for p, c in zip(per, caps))

    if n_cpu_moe is None:
        if fits_all(0, False):
            k = 0
        else:
            k = _fewest_layers(lambda c: fits_all(c, True), n, monotone=len(gpus) == 1)
    else:
        k = n_cpu_moe
    per, cpu, per_layers = _assign(spec, mem, total_layers, len(gpus), splits, k, experts)
    cpu += RUNTIME_OVERHEAD["cpu"]
    gpu_head = [c - p for p, c in zip(per, caps)]
    ram_head = ram_avail - cpu
    ram_margin = margin_for(ram_total or ram_avail)
    fits, verdict, where = _verdict(gpu_head, caps, per, overhead, ram_head, ram_total or ram_avail, unsplit=k == 0)
    per = [p + overhead if p else 0 for p in per]
    per_gpu = [{"name": g.name, "bytes": int(p), "capacity_bytes": int(c + overhead), "layers": int(nl)}
               for g, p, c, nl in zip(gpus, per, caps, per_layers)]
    names = " + ".join(f"{g.name} ({fmt_bytes(g.vram_bytes)})" for g in gpus)
    in_ram = int(sum(experts[:k]))
    reasons = _memory_reasons(mem)
    if k == 0:
        reasons.append(f"all {total_layers} layers, experts included, fit on the {names}: no expert offload needed")
    else:
        what = "all expert weights" if k >= n else f"the expert weights of the first {k} of {n} layers"
        reasons.append(f"MoE expert offload: {what} ({fmt_bytes(in_ram)}) stay in RAM; attention, shared weights and "
                       f"the KV cache of all {n} layers on the {names} (llama.cpp {moe_flag(k, n)})")
    short = -min(min(gpu_head, default=0), ram_head)
    reasons += _shortfall_reasons(verdict, where, cpu, ram_avail, ram_head, short, f"with --n-cpu-moe {k}")
    headroom = min(min(gpu_head) if any(per) else ram_head, ram_head)
    return Placement(
        gpu_layers=total_layers, total_layers=total_layers, gpu_bytes=int(sum(per)), cpu_bytes=int(cpu),
        per_gpu_bytes=[int(p) for p in per], per_gpu=per_gpu, fits=fits, verdict=verdict,
        headroom_bytes=int(headroom), margin_bytes=int(ram_margin), ram_capacity_bytes=int(ram_avail),
        reasons=reasons, n_cpu_moe=int(k), cpu_expert_bytes=in_ram, expert_copy_bytes=int(max(experts[:k], default=0)),
    )


def _verdict(gpu_head, caps, per, overhead, ram_head, ram_capacity, unsplit: bool) -> tuple[bool, Verdict, str]:
    """(fits, verdict, the memory a "tight" verdict is short of) from the spare bytes of each GPU in use and of RAM:
    "runs" / "tight" when the model is not split (every layer on the GPUs, or every layer in RAM as asked),
    "offload" / "tight" with part in RAM, else "no-fit"."""
    fits = all(h >= 0 for h in gpu_head) and ram_head >= 0
    if not fits:
        return False, Verdict.NO_FIT, ""
    if unsplit and any(is_tight(h, c + overhead) for h, c, p in zip(gpu_head, caps, per) if p):
        return True, Verdict.TIGHT, "VRAM"
    if is_tight(ram_head, ram_capacity):
        return True, Verdict.TIGHT, "RAM"
    return True, (Verdict.RUNS if unsplit else Verdict.OFFLOAD), ""


def _shortfall_reasons(verdict: Verdict, where: str, cpu: int, ram_avail: int, ram_head: int, short: int,
                       setting: str) -> list[str]:
    """The reason line of a "no-fit" (what is short, RAM first) or "tight" verdict; none otherwise."""
    if verdict is Verdict.NO_FIT:
        return [f"does not fit: {fmt_bytes(cpu)} needed in RAM, {fmt_bytes(ram_avail)} available" if ram_head < 0
                else f"does not fit: short by {fmt_bytes(short)} of VRAM {setting}"]
    if verdict is Verdict.TIGHT:
        return [f"less than the safety margin of {where} left; other programs may push it out"]
    return []


def _memory_reasons(mem: MemoryEstimate) -> list[str]:
    rs = int(getattr(mem, "recurrent_state_bytes", 0) or 0)
    out = [f"KV cache at {fmt_ctx(mem.context)} context needs {fmt_bytes(mem.kv_cache_bytes)}"
           + (f" (incl. {fmt_bytes(rs)} of recurrent state)" if rs else "")]
    if mem.repack_bytes:
        out.append(repack_reason(mem.repack_bytes, mem.repack_mapped_bytes))
    return out


def _place_cpu(spec, mem, ram_avail, ram_total, total_layers, be, hardware) -> Placement:
    need = mem.total_bytes
    head = ram_avail - need
    margin = margin_for(ram_total or ram_avail)
    fits = head >= 0
    verdict = Verdict.NO_FIT if not fits else (Verdict.TIGHT if is_tight(head, ram_total or ram_avail) else Verdict.RUNS)
    reasons = _memory_reasons(mem)
    reasons.append(f"needs {fmt_bytes(need)} of RAM, {fmt_bytes(ram_avail)} available")
    if hardware.gpus and not be.gpu:
        reasons.append(f"runs on the CPU ({be.name}); the GPU is not used")
    if not fits:
        reasons.append(f"does not fit: short by {fmt_bytes(-head)} of RAM")
    elif verdict is Verdict.TIGHT:
        reasons.append(f"less than the {fmt_bytes(margin)} safety margin left")
    return Placement(gpu_layers=0, total_layers=total_layers, gpu_bytes=0, cpu_bytes=int(need), fits=fits,
                     verdict=verdict, headroom_bytes=int(head), margin_bytes=int(margin),
                     ram_capacity_bytes=int(ram_avail), reasons=reasons)


def _place_unified(spec, mem, hardware, be, total_layers, ram_avail, ram_total, gpu_layers) -> Placement:
    """Apple Silicon (and other unified-memory machines): one pool, a GPU working-set limit inside it."""
    g = hardware.gpus[0]
    limit = int(g.vram_bytes) if g.vram_gb else metal_working_set(ram_total or ram_avail)
    need = mem.total_bytes + (RUNTIME_OVERHEAD["cpu"] if be.runtime != "mlx" else 0)
    margin = margin_for(ram_total or ram_avail)
    reasons = _memory_reasons(mem)
    host_only = mem.input_bytes + mem.output_bytes + RUNTIME_OVERHEAD["cpu"]  # token_embd stays in host buffers
    gpu_need = need - host_only
    pool_head = ram_avail - need
    if be.runtime == "mlx":
        gl = total_layers
        fits = pool_head >= 0 and gpu_need <= limit
        soft = int(0.9 * limit)  # mlx_lm.generate.wired_limit warns when the weights exceed 0.9 x this
        if not fits:
            verdict = Verdict.NO_FIT
            reasons.append(f"needs {fmt_bytes(need)}; Metal's working-set limit is {fmt_bytes(limit)} "
                           f"of {fmt_bytes(ram_total)} unified memory"
                           + (" (raise it with sudo sysctl iogpu.wired_limit_mb=...)" if need <= ram_avail else ""))
        else:
            # mlx-lm's own slow-down warning counts as tight; the Metal limit gets the pool's margin (not its own)
            tight = mem.weights_bytes > soft or is_tight(min(pool_head, limit - gpu_need), ram_total or ram_avail)
            verdict = Verdict.TIGHT if tight else Verdict.RUNS
            reasons.append(f"needs {fmt_bytes(need)} of {fmt_bytes(limit)} Metal working set ({fmt_bytes(ram_total)} unified memory)")
            if mem.weights_bytes > soft:
                reasons.append("weights above 0.9 x the recommended working set: mlx-lm warns it can be slow")
        headroom = min(limit - gpu_need, pool_head)
        return Placement(gpu_layers=gl, total_layers=total_layers, gpu_bytes=int(gpu_need), cpu_bytes=int(host_only),
                         per_gpu_bytes=[int(gpu_need)],
                         per_gpu=[{"name": g.name, "bytes": int(gpu_need), "capacity_bytes": int(limit), "layers": gl}],
                         fits=fits, verdict=verdict, headroom_bytes=int(headroom), margin_bytes=int(margin),
                         ram_capacity_bytes=int(ram_avail), reasons=reasons)

    # llama.cpp-metal: layers beyond the working set can stay on the CPU side of the same memory
    splits = [1.0]
    gpu_cap = limit

    def gpu_part(gl):
        per, cpu, _ = _assign(spec, mem, gl, 1, splits)
        return per[0], cpu

    if gpu_layers is None:
        gl = 0
        for cand in range(total_layers, -1, -1):
            p, _ = gpu_part(cand)
            if p <= gpu_cap - (0 if cand == total_layers else margin_for(gpu_cap)):
                gl = cand
                break
    else:
        gl = min(gpu_layers, total_layers)
    p, cpu = gpu_part(gl)
    cpu += RUNTIME_OVERHEAD["cpu"]
    need = p + cpu
    pool_head = ram_avail - need
    fits = pool_head >= 0 and p <= gpu_cap
    if not fits:
        verdict = Verdict.NO_FIT
        reasons.append(f"does not fit: needs {fmt_bytes(need)}, {fmt_bytes(ram_avail)} of unified memory available")
    elif gl == total_layers:
        tight = is_tight(pool_head, ram_total or ram_avail) or is_tight(gpu_cap - p, gpu_cap)
        verdict = Verdict.TIGHT if tight else Verdict.RUNS
        reasons.append(f"all {total_layers} layers on the {g.name} GPU: {fmt_bytes(p)} of its "
                       f"{fmt_bytes(gpu_cap)} Metal working set")
    elif gl == 0 and gpu_layers == 0:  # a CPU run by request: not a split
        verdict = Verdict.TIGHT if is_tight(pool_head, ram_total or ram_avail) else Verdict.RUNS
        reasons.append(f"CPU only by request (--gpu-layers 0): all {total_layers} layers run on the CPU cores, "
                       f"none on the {g.name} GPU")
    else:
        verdict = Verdict.TIGHT if is_tight(pool_head, ram_total or ram_avail) else Verdict.OFFLOAD
        reasons.append(f"offloads {gl} of {total_layers} layers to the {g.name} GPU (Metal working set "
                       f"{fmt_bytes(gpu_cap)}); the rest run on the CPU cores")
    if fits and verdict is Verdict.TIGHT:
        reasons.append(f"less than the {fmt_bytes(margin)} safety margin left")
    return Placement(gpu_layers=gl, total_layers=total_layers, gpu_bytes=int(p), cpu_bytes=int(cpu),
                     per_gpu_bytes=[int(p)],
                     per_gpu=[{"name": g.name, "bytes": int(p), "capacity_bytes": int(gpu_cap), "layers": gl}],
                     fits=fits, verdict=verdict, headroom_bytes=int(min(pool_head, gpu_cap - p)),
                     margin_bytes=int(margin), ram_capacity_bytes=int(ram_avail), reasons=reasons)
