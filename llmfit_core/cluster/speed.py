"""Single-stream speed of a split, per engine, from per-device rooflines and the links between them.

Each device's time for the whole model comes from the single-node predictor (throughput.predict: roofline x the
learned correction for llama.cpp and MLX; the bare roofline for vLLM/SGLang, scaled by the fitted
`vllm_decode_eff`), then, per token:
* layer split (llama.cpp RPC): the devices run one after another, each its share of the layers; every RPC device
  costs its round trips (set input, compute, get output: 3 x the link latency), the activation bytes
  (n_embd x 4, both ways) and the fitted per-hop fixed cost; the logits travel back when the last device is
  remote. Prompt micro-batches pipeline across devices (async RPC, llama.cpp PR 18626): per n_batch, the sum of
  the stages + (micro-batches - 1) x the slowest stage, but never less than the main host's own serial work of
  moving every device's micro-batch activations (at the fitted `rpc_stream_bps`, capped by the link).
* tensor parallel (vLLM/SGLang TP, exo tensor): each rank 1/TP of every layer, the slowest rank sets the pace;
  two all-reduces per layer (ring: 2(N-1) latency steps and 2(N-1)/N x n_embd x 2 bytes) on the link.
* pipeline parallel (vLLM/SGLang PP, exo pipeline): stages one after another for one sequence (the bubbles: no
  overlap with a single stream), one activation transfer per boundary (exo's ring also returns the token).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

from llmfit_core.cluster import engines as eng
from llmfit_core.cluster.constants import ClusterConstants, Sample, load_constants
from llmfit_core.cluster.links import Link
from llmfit_core.cluster.spec import ClusterSpec, Device
from llmfit_core.memory import _weights_split
from llmfit_core.model_spec import ModelSpec
from llmfit_core.throughput import predict
from llmfit_core.throughput.roofline import MULTI_GPU_HOP_S
from llmfit_core.units import fmt_bytes

RPC_ROUND_TRIPS = 3  # ggml-rpc.cpp per device per graph: SET_TENSOR (input), GRAPH_COMPUTE/RECOMPUTE, GET_TENSOR (output)
NCCL_CALL_S = 10e-6  # one NCCL / custom all-reduce launch with a tiny message (order of NCCL's small-message latency)
VLLM_TOKEN_S = 1.0e-3  # vLLM/SGLang per-step scheduling + sampling with CUDA graphs (assumption, single stream)
PREFILL_BAND = (-0.7, 0.5)  # no single-stream prefill rows for several engines: a wide band
N_BATCH, N_UBATCH = 2048, 512  # llama.cpp defaults
EXO_PREFILL_CHUNK = 2048  # mlx-lm prefill_step_size


@dataclass
class DeviceSpeed:
    decode_s: float  # seconds per token for the whole model on this device alone
    prefill_s: float  # seconds per prompt token, whole model
    roofline_decode_s: float


@dataclass
class SpeedEstimate:
    decode_tok_s: float
    decode_range: tuple[float, float]
    prefill_tok_s: float
    prefill_range: tuple[float, float]
    sample: Sample  # the parts of the decode time, for fitting and for the reasons
    reasons: list[str] = field(default_factory=list)


def device_hardware(cluster: ClusterSpec, device: Device):
    """The device's machine profile with only that GPU (or none for a CPU device)."""
    prof = copy.deepcopy(cluster.machines[device.machine].profile)
    prof.gpus = [g for i, g in enumerate(prof.gpus) if i == device.index] if device.kind != "cpu" else []
    return prof


def device_speed(spec: ModelSpec, cluster: ClusterSpec, device: Device, backend: str, prompt_tokens: int,
                 gen_tokens: int, context: int, correction: bool = True) -> DeviceSpeed:
    hw = device_hardware(cluster, device)
    tp = predict(spec, hw, backend, None, context, prompt_tokens=prompt_tokens, gen_tokens=gen_tokens,
                 apply_correction=correction)
    return DeviceSpeed(1.0 / max(tp.decode_tok_s, 1e-9), 1.0 / max(tp.prefill_tok_s, 1e-9), 1.0 / max(tp.roofline_decode, 1e-9))


def _link(cluster: ClusterSpec, machines: set[int]) -> Link:
    return cluster.machines[next(iter(machines))].gpu_link if len(machines) == 1 else cluster.link


def allreduce_s(link: Link, n: int, nbytes: float) -> float:
    """Ring all-reduce of `nbytes` over `n` ranks: 2(n-1) steps of latency and 2(n-1)/n of the bytes."""
    if n <= 1:
        return 0.0
    return 2 * (n - 1) * link.latency_us * 1e-6 + 2 * (n - 1) / n * nbytes / link.bytes_per_s


def _share(spec: ModelSpec, stage: eng.Stage) -> float:
    """The stage's share of the bytes read per token: its layers, plus the output head on the last stage."""
    layers, _, out = _weights_split(spec)
    total = sum(layers) + out
    if total <= 0:
        return stage.layers / max(spec.n_layers, 1)
    return (sum(layers[stage.first_layer:stage.first_layer + stage.layers]) + (out if stage.has_output else 0)) / total


def _head_share(spec: ModelSpec) -> float:
    """The output head's share of the bytes read per token."""
    layers, _, out = _weights_split(spec)
    return out / (sum(layers) + out) if sum(layers) + out > 0 else 0.0


def _range(value: float, band: tuple[float, float]) -> tuple[float, float]:
    return (value * math.exp(band[0]), value * math.exp(band[1]))


def rpc_speed(spec, cluster, split, speeds: list[DeviceSpeed], k: ClusterConstants, prompt_tokens: int,
              pipelined_prefill: bool = True, n_ubatch: int = N_UBATCH, n_batch: int = N_BATCH) -> tuple[Sample, float, list[str]]:
    n_embd = spec.hidden_size
    compute = link_s = fixed = 0.0
    units = 0
    ub_compute, ub_host = [], []
    rate = min(cluster.link.bytes_per_s, k.rpc_stream_bps)
    for s, d, sp in zip(split.stages, split.devices, speeds):
        share = _share(spec, s)
        compute += share * sp.decode_s
        remote = d.machine != 0
        if remote:
            link_s += cluster.link.transfer_s(2 * n_embd * 4, RPC_ROUND_TRIPS)
            units += 1
        elif len(split.devices) > 1:
            fixed += MULTI_GPU_HOP_S
        ub_compute.append(share * sp.prefill_s * n_ubatch)
        # the main host moves every RPC device's micro-batch activations in and out itself, one device after another
        ub_host.append(RPC_ROUND_TRIPS * cluster.link.latency_us * 1e-6 + 2 * n_ubatch * n_embd * 4 / rate + k.rpc_hop_s
                       if remote else 0.0)
    if split.devices[-1].machine != 0:
        link_s += cluster.link.transfer_s(spec.vocab_size * 4, 0)  # logits of the sampled position, back to the host
    sample = Sample("llama.cpp-rpc", 0.0, compute, link_s, units, "rpc_hop_s", fixed)
    total, left = 0.0, prompt_tokens
    while left > 0:  # per n_batch: micro-batches pipeline over the devices (async RPC) or go one device at a time
        tokens = min(left, n_batch)
        n_ub = math.ceil(tokens / n_ubatch)
        scale = tokens / (n_ub * n_ubatch)
        stage = [(c + h) * scale for c, h in zip(ub_compute, ub_host)]
        if pipelined_prefill:
            total += max(n_ub * sum(ub_host) * scale, sum(stage) + (n_ub - 1) * max(stage))
        else:
            total += n_ub * sum(stage)
        left -= tokens
    reasons = []
    if units:
        reasons.append(f"{units} RPC device{'s' if units > 1 else ''} in the chain: per token each costs "
                       f"{RPC_ROUND_TRIPS} round trips on {cluster.link.name} "
                       f"({RPC_ROUND_TRIPS * cluster.link.latency_us:.0f} us) + ~{k.rpc_hop_s * 1e3:.1f} ms fixed "
                       "(fitted); decode is never faster than one device holding it all")
        reasons.append(f"prefill: the main host moves each RPC device's activations ({fmt_bytes(2 * n_ubatch * n_embd * 4)} "
                       f"per {n_ubatch}-token micro-batch) itself at ~{rate / 1e6:.0f} MB/s; with many devices that, not "
                       "their compute, sets the prompt speed")
    return sample, prompt_tokens / max(total, 1e-12), reasons


def tp_pp_speed(engine, spec, cluster, split, speeds: list[DeviceSpeed], k: ClusterConstants,
                prompt_tokens: int) -> tuple[Sample, float, list[str]]:
    """vLLM/SGLang: roofline per rank (1/TP of the stage), all-reduces per layer, PP boundaries, sequential stages."""
    n_embd = spec.hidden_size
    compute = link_s = 0.0
    prefill = 0.0
    i = 0
    reasons = []
    for si, s in enumerate(split.stages):
        sp = speeds[i:i + s.tp]
        i += s.tp
        share = _share(spec, s)
        compute += max(x.roofline_decode_s for x in sp) * share / s.tp
        prefill += max(x.prefill_s for x in sp) * share / s.tp * prompt_tokens
        link = _link(cluster, {d.machine for d in s.devices})
        ar = allreduce_s(link, s.tp, n_embd * 2) + (NCCL_CALL_S if s.tp > 1 else 0.0)
        link_s += 2 * s.layers * ar
        prefill += 2 * s.layers * allreduce_s(link, s.tp, n_embd * 2 * prompt_tokens)
        if si + 1 < len(split.stages):
            nxt = split.stages[si + 1].devices[0]
            hop = cluster.link if nxt.machine != s.devices[0].machine else cluster.machines[nxt.machine].gpu_link
            link_s += hop.transfer_s(n_embd * 2)
            prefill += hop.transfer_s(n_embd * 2 * prompt_tokens)
    if split.tp > 1:
        reasons.append(f"tensor parallel {split.tp}: two all-reduces per layer per token "
                       f"({2 * spec.n_layers // max(split.pp, 1)} per stage)")
    if split.pp > 1:
        reasons.append(f"pipeline parallel {split.pp}: one sequence goes through the stages one after another "
                       "(no single-stream gain; it pays off with many concurrent requests)")
    sample = Sample(engine, 0.0, compute, link_s, 0.0, "vllm_decode_eff", VLLM_TOKEN_S)
    return sample, prompt_tokens / max(prefill, 1e-12), reasons


def exo_speed(spec, cluster, split, speeds: list[DeviceSpeed], k: ClusterConstants,
              prompt_tokens: int) -> tuple[Sample, float, list[str]]:
    n_embd = spec.hidden_size
    n = len(split.devices)
    link = cluster.link
    chunks = math.ceil(prompt_tokens / EXO_PREFILL_CHUNK)
    if split.mode == "tensor":
        # mlx-lm's Model.shard() splits every layer's projections and experts over the ranks but not the output head:
        # each rank still reads all of it per token
        head = _head_share(spec)
        compute = max(s.decode_s for s in speeds) * ((1 - head) / n + head)
        per_ar = allreduce_s(link, n, n_embd * 2)
        link_s = 2 * spec.n_layers * per_ar
        units = 2 * spec.n_layers
        prefill = (max(s.prefill_s for s in speeds) / n * prompt_tokens
                   + 2 * spec.n_layers * (allreduce_s(link, n, n_embd * 2 * prompt_tokens) + chunks * k.exo_allreduce_s))
        reasons = [f"tensor sharding over {n} Macs: each reads 1/{n} of the layers per token (and all of the output head); "
                   f"{units} all-reduces per token on {link.name} (~{k.exo_allreduce_s * 1e6:.0f} us each, fitted)"]
        return Sample("exo", 0.0, compute, link_s, units, "exo_allreduce_s"), prompt_tokens / prefill, reasons
    compute = sum(_share(spec, s) * sp.decode_s for s, sp in zip(split.stages, speeds))
    hops = n if n > 1 else 0
    link_s = hops * link.transfer_s(n_embd * 2) if hops else 0.0
    prefill = sum(_share(spec, s) * sp.prefill_s for s, sp in zip(split.stages, speeds)) * prompt_tokens
    prefill += hops * chunks * (link.transfer_s(EXO_PREFILL_CHUNK * n_embd * 2) + k.exo_hop_s)
    reasons = []
    if hops:
        reasons.append(f"pipeline over {n} Macs in a ring: each token crosses {hops} boundaries on {link.name} "
                       f"(~{k.exo_hop_s * 1e3:.1f} ms fixed each, fitted): slower than one Mac holding it all")
    return Sample("exo", 0.0, compute, link_s, hops, "exo_hop_s"), prompt_tokens / prefill, reasons


def decode_time(sample: Sample, k: ClusterConstants) -> float:
    """Seconds per token from the parts and the constants (the model `constants.fit_constants` inverts)."""
    if sample.unit == "vllm_decode_eff":
        return sample.compute_s / k.vllm_decode_eff + sample.link_s + sample.fixed_s
    eff = k.decode_eff.get(sample.engine, 1.0)
    return (sample.compute_s / eff + k.token_s.get(sample.engine, 0.0) + sample.link_s + sample.fixed_s
            + sample.units * getattr(k, sample.unit))


def backend_for(engine: str, device: Device) -> tuple[str, bool]:
    """(throughput backend, apply the learned correction) for a device under an engine."""
    if engine == "exo":
        return "mlx", True
    if engine in ("vllm", "sglang"):
        return f"llama.cpp-{device.kind}", False
    return f"llama.cpp-{device.kind}", True


def estimate(engine: str, spec: ModelSpec, cluster: ClusterSpec, split: eng.Split, context: int,
             prompt_tokens: int = 512, gen_tokens: int = 128, constants: ClusterConstants | None = None,
             pipelined_prefill: bool = True, n_ubatch: int = N_UBATCH, n_batch: int = N_BATCH) -> SpeedEstimate:
    """Single-stream decode and prefill tok/s of `split` with their likely ranges. `pipelined_prefill` False: llama.cpp
    before async RPC (PR 18626), whose RPC devices ran prompt micro-batches one device at a time."""
    k = constants or load_constants()
    cache: dict[tuple, DeviceSpeed] = {}
    speeds = []
    for d in split.devices:
        backend, corr = backend_for(engine, d)
        key = (d.machine, d.index, backend)
        if key not in cache:
            cache[key] = device_speed(spec, cluster, d, backend, prompt_tokens, gen_tokens, context, corr)
        speeds.append(cache[key])
    if engine == "llama.cpp-rpc":
        sample, prefill, reasons = rpc_speed(spec, cluster, split, speeds, k, prompt_tokens, pipelined_prefill,
                                             n_ubatch, n_batch)
    elif engine in ("vllm", "sglang"):
        sample, prefill, reasons = tp_pp_speed(engine, spec, cluster, split, speeds, k, prompt_tokens)
    else:
        sample, prefill, reasons = exo_speed(spec, cluster, split, speeds, k, prompt_tokens)
        if k.token_s.get(engine):
            reasons.append(f"exo runs mlx-lm behind its own runner and API: ~{k.token_s[engine] * 1e3:.1f} ms per token on "
                           "top of the Macs' compute (fitted on one-Mac rows)")
    decode = 1.0 / decode_time(sample, k)
    band = k.band(engine)
    return SpeedEstimate(decode, _range(decode, band), prefill, _range(prefill, PREFILL_BAND), sample, reasons)
