"""`llmfit plan MODEL --cluster FILE`: each engine's split, memory per device, speed and launch lines; the engines
ranked by decode speed; `--target-tps`: the fewest machines of the cluster that reach a decode speed."""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field

from llmfit_core.api import parse_count
from llmfit_core.catalog import find_entry
from llmfit_core.cluster import engines as eng
from llmfit_core.cluster.commands import Command, launch_commands
from llmfit_core.cluster.constants import ClusterConstants, load_constants
from llmfit_core.cluster.device_memory import MemoryPlan, plan_memory
from llmfit_core.cluster.spec import ClusterSpec, load_cluster
from llmfit_core.cluster.speed import SpeedEstimate, estimate
from llmfit_core.errors import LlmfitError, UnknownQuantizationError, UnsupportedSettingError
from llmfit_core.model_spec import ModelSpec
from llmfit_core.quant import quant_fact
from llmfit_core.resolve import apply_requested_quant, resolve_model
from llmfit_core.settings_check import RUNS_ELSEWHERE
from llmfit_core.units import fmt_bytes
from llmfit_core.verdict import is_tight

DEFAULT_CONTEXT = 4096
MAX_SUBSETS = 400  # --target-tps: subsets of machines tried (by count of each kind), smallest first


@dataclass
class EnginePlan:
    engine: str
    cluster: ClusterSpec
    split: eng.Split | None = None
    memory: MemoryPlan | None = None
    speed: SpeedEstimate | None = None
    commands: list[Command] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    verdict: str = "unavailable"  # runs | tight | no-fit | unavailable
    quant: str | None = None  # the quantization this engine was priced with

    @property
    def fits(self) -> bool:
        return self.verdict in ("runs", "tight")

    @property
    def decode_tok_s(self) -> float | None:
        return self.speed.decode_tok_s if self.speed else None

    def to_dict(self) -> dict:
        sp, mem = self.speed, self.memory
        return {
            "engine": self.engine,
            "split": self.split.to_dict(self.cluster) if self.split else None,
            "devices": [{"node": d.node, "device": d.device, "memory": d.memory.to_dict(), "fits": d.fits}
                        for d in (mem.devices if mem else [])],
            "fits": self.fits,
            "verdict": self.verdict,
            "decode_tok_s": round(sp.decode_tok_s, 2) if sp else None,
            "decode_tok_s_range": [round(x, 2) for x in sp.decode_range] if sp else None,
            "prefill_tok_s": round(sp.prefill_tok_s, 1) if sp else None,
            "prefill_tok_s_range": [round(x, 1) for x in sp.prefill_range] if sp else None,
            "kv_capacity_tokens": mem.kv_capacity_tokens if mem else None,
            "max_concurrency": round(mem.max_concurrency, 2) if mem and mem.max_concurrency is not None else None,
            "commands": [c.to_dict() for c in self.commands],
            "reasons": list(self.reasons),
        }


@dataclass
class ClusterPlan:
    model: str
    quant: str | None
    context: int
    concurrency: int
    cluster: ClusterSpec
    best: EnginePlan
    alternatives: list[EnginePlan]

    def to_dict(self) -> dict:
        d = self.best.to_dict()
        d["alternatives"] = [a.to_dict() for a in self.alternatives]
        return d


def _verdict(mem: MemoryPlan) -> str:
    if not mem.fits:
        return "no-fit"
    tight = any(is_tight(d.memory.capacity_bytes - d.memory.total_bytes, d.memory.capacity_bytes)
                for d in mem.devices if d.memory.kv_pool_bytes is None)
    if mem.max_concurrency is not None and mem.max_concurrency < 1.5:
        tight = True
    return "tight" if tight else "runs"


def plan_engine(engine: str, spec: ModelSpec, cluster: ClusterSpec, context: int = DEFAULT_CONTEXT,
                concurrency: int = 1, tp: int | None = None, pp: int | None = None, exo_mode: str | None = None,
                constants: ClusterConstants | None = None, prompt_tokens: int = 512, gen_tokens: int = 128,
                strict: bool = True) -> EnginePlan:
    """One engine on the cluster. `strict`: an engine that cannot run here raises (else: verdict "unavailable")."""
    why = eng.unavailable(engine, cluster)
    if why:
        if strict:
            eng.require_available(engine, cluster)
        return EnginePlan(engine, cluster, reasons=[why])
    split = eng.make_split(engine, spec, cluster, tp, pp, exo_mode)
    mem = plan_memory(engine, spec, cluster, split, context, concurrency)
    speed = estimate(engine, spec, cluster, split, context, prompt_tokens, gen_tokens, constants or load_constants())
    verdict = _verdict(mem)
    reasons = []
    short = [d for d in mem.devices if not d.fits]
    if short:
        d = short[0]
        if d.memory.kv_pool_bytes is not None:
            reasons.append(f"does not fit: on {d.node} {d.device} the KV pool is {fmt_bytes(d.memory.kv_pool_bytes)}, "
                           f"{fmt_bytes(d.memory.kv_cache_bytes)} needed for {concurrency} x {context} tokens")
        else:
            reasons.append(f"does not fit: {d.node} {d.device} needs {fmt_bytes(d.memory.total_bytes)}, "
                           f"{fmt_bytes(d.memory.capacity_bytes)} available")
    reasons += split.notes + mem.reasons + speed.reasons
    k = constants or load_constants()
    if engine in ("sglang",) and not k.rows.get("sglang"):
        reasons.append("no single-stream SGLang rows in the public data: speed is vLLM's physics, wide band")
    if not k.prefill_rows.get(engine):
        reasons.append(f"no prompt-speed rows for {eng.ENGINES[engine].label} in the public data: prefill is physics "
                       "with a wide range")
    cmds = launch_commands(engine, spec.ref, spec.quant, cluster, split, context, concurrency)
    return EnginePlan(engine, cluster, split, mem, speed, cmds, reasons, verdict, spec.quant)


# What each engine loads when --quant is not given: llama.cpp a GGUF (the resolver's default quantization), vLLM /
# SGLang the Hub checkpoint as published (BF16 unless its name or the catalog says FP8 / NVFP4 / MXFP4 / AWQ / GPTQ;
# gpt-oss ships MXFP4), exo an MLX conversion (mlx-community 4-bit, exo's usual model cards).
SERVED_QUANTS = ("FP8", "NVFP4", "MXFP4", "AWQ", "GPTQ")
# Checkpoints published already quantized, by repo name (lower case): what vLLM/SGLang load without --quant.
# Sources: each repo's config.json quantization_config (openai/gpt-oss-*: mxfp4; deepseek-ai/DeepSeek-V3, -R1,
# -V3.1, -V3.2-Exp and moonshotai/Kimi-K2-Instruct / -Base: fp8 e4m3, 128 x 128 blocks). R1's distills are BF16.
NATIVE_QUANT = ((re.compile(r"gpt-oss"), "MXFP4"),
                (re.compile(r"^deepseek-(?:v3|r1)(?!.*distill)"), "FP8"),
                (re.compile(r"^kimi-k2-(?:instruct|base)"), "FP8"))


def engine_default_quant(engine: str, ref: str) -> tuple[str | None, str | None]:
    """(quantization to price, the reason line) for `engine` when the user gave no --quant."""
    if engine == "llama.cpp-rpc":
        return None, None
    name = ref.rsplit("/", 1)[-1]
    if engine == "exo":
        m = re.search(r"(\d)[-_]?bit", name, re.I)
        q = f"MLX-{m.group(1)}bit" if m and "mlx" in ref.lower() else "MLX-4bit"
        return q, f"exo runs MLX weights: priced as {q} (an mlx-community conversion; --quant to change)"
    q = next((t for t in SERVED_QUANTS if re.search(rf"(^|[-_.]){t}($|[-_.])", name, re.I)), None)
    q = q or next((v for pattern, v in NATIVE_QUANT if pattern.search(name.lower())), None)
    if q is None:
        try:
            entry = find_entry(ref)
        except LlmfitError:
            entry = None
        native = (entry.quant or "") if entry else ""
        q = native if native.upper().startswith(("BF16", "F16", "FP16") + SERVED_QUANTS) else "BF16"
    label = eng.ENGINES[engine].label
    return q, f"{label} serves the checkpoint as published: priced as {q} weights (--quant to change)"


def _resolve(model, quant):
    if isinstance(model, ModelSpec):
        if quant:
            return apply_requested_quant(model, quant)
        return model

    return resolve_model(model, quant=quant)


class _Specs:
    """The ModelSpec each engine prices (resolved once per quantization)."""

    def __init__(self, model, quant: str | None):
        self.model, self.quant, self.cache = model, quant, {}
        self.base = _resolve(model, quant)

    def for_engine(self, engine: str) -> tuple[ModelSpec, str | None]:
        if self.quant or isinstance(self.model, ModelSpec):
            return self.base, None
        q, note = engine_default_quant(engine, self.base.ref)
        if q is None:
            return self.base, None
        if q not in self.cache:
            try:
                self.cache[q] = _resolve(self.model, q)
            except LlmfitError:
                self.cache[q] = None
        spec = self.cache[q]
        return (spec, note) if spec is not None else (self.base, None)


# The weight families (quant.QuantFact.family) each engine loads: llama.cpp RPC ggml types (GGUF; float as F16/BF16
# GGUF), exo mlx-lm's MLX weights, vLLM / SGLang safetensors checkpoints (float, FP8, GPTQ, AWQ, bitsandbytes, and
# MXFP4 as gpt-oss publishes it), not MLX's packing.
ENGINE_WEIGHTS = {
    "llama.cpp-rpc": ("gguf", "float"),
    "exo": ("mlx", "float"),
    "vllm": ("float", "fp8", "gptq", "awq", "bnb", "gguf"),
    "sglang": ("float", "fp8", "gptq", "awq", "bnb", "gguf"),
}


def quant_problem(engine: str, quant: str | None) -> str | None:
    """Why `engine` cannot load weights quantized as `quant` (None when it can, or when the name is not ours to judge)."""
    if not quant:
        return None
    try:
        fam = quant_fact(quant).family
    except UnknownQuantizationError:
        return None
    if fam in ENGINE_WEIGHTS.get(engine, (fam,)):
        return None
    return (f"{eng.ENGINES[engine].label} does not load {quant} weights: they run in "
            f"{RUNS_ELSEWHERE.get(fam, 'another runtime')}")


def _check_numbers(context, concurrency) -> tuple[int, int]:
    ctx = parse_count(context) or DEFAULT_CONTEXT
    if ctx > 16 * 1024 * 1024:
        raise LlmfitError(f"context of {ctx} tokens is beyond any model we know")
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1 or concurrency > 100000:
        raise LlmfitError(f"--concurrency must be a whole number from 1 to 100000, got {concurrency!r}")
    return ctx, concurrency


def _rank(plans: list[EnginePlan]) -> tuple[EnginePlan, list[EnginePlan]]:
    """Engines that fit, fastest decode first; then those that do not fit; then those that cannot run here."""
    order = {"runs": 0, "tight": 0, "no-fit": 1, "unavailable": 2}
    # equal decode (vLLM and SGLang share the physics): the larger KV capacity (more concurrent requests) first
    ranked = sorted(plans, key=lambda p: (order[p.verdict], -round(p.decode_tok_s or 0.0, 1),
                                          -(p.memory.kv_capacity_tokens or 0) if p.memory else 0))
    best, rest = ranked[0], ranked[1:]
    for p in rest:
        if p.verdict == "unavailable":
            p.reasons[:1] = [f"lost: cannot run here: {p.reasons[0] if p.reasons else 'unavailable'}"]
        elif not p.fits:
            p.reasons.insert(0, "lost: does not fit this cluster" + (f" ({best.engine} does)" if best.fits else ""))
        elif (round(p.decode_tok_s, 1) == round(best.decode_tok_s, 1) and best.memory and p.memory
              and best.memory.kv_capacity_tokens is not None and p.memory.kv_capacity_tokens is not None):
            p.reasons.insert(0, f"lost: the same decode speed as {best.engine}, but a smaller KV capacity "
                                f"({p.memory.kv_capacity_tokens or 0:,} vs {best.memory.kv_capacity_tokens or 0:,} tokens)")
        else:
            p.reasons.insert(0, f"lost: slower decode, {p.decode_tok_s:.1f} tok/s vs {best.decode_tok_s:.1f} with {best.engine}")
    n_fit = sum(p.fits for p in plans)
    if best.fits and len(plans) > 1:
        best.reasons.insert(0, "the only engine that fits" if n_fit == 1 else
                            f"fastest single-stream decode of the {n_fit} engines that fit")
    elif not best.fits:
        best.reasons.insert(0, "no engine fits this model on this cluster: the closest is shown")
    return best, rest


def plan_cluster(model, cluster, engine: str | None = None, context=None, quant: str | None = None,
                 concurrency: int = 1, tp: int | None = None, pp: int | None = None, exo_mode: str | None = None,
                 constants: ClusterConstants | None = None) -> ClusterPlan:
    """Plan `model` on `cluster` (a ClusterSpec, a cluster file or a dict) with one engine or every engine ranked."""
    cl = cluster if isinstance(cluster, ClusterSpec) else load_cluster(cluster)
    ctx, conc = _check_numbers(context, concurrency)
    if engine is not None:
        engine = eng.get_engine(engine).name
        eng.require_available(engine, cl)
    if (tp is not None or pp is not None) and engine not in ("vllm", "sglang"):
        raise LlmfitError("--tp / --pp set vLLM's or SGLang's layout: add --engine vllm or --engine sglang")
    if exo_mode is not None and engine != "exo":
        raise LlmfitError("--exo-mode is exo's sharding: add --engine exo")
    specs = _Specs(model, quant)
    names = [engine] if engine else eng.engine_names()
    plans = [_plan_with(specs, n, cl, ctx, conc, tp, pp, exo_mode, constants, strict=engine is not None) for n in names]
    best, rest = _rank(plans)
    return ClusterPlan(specs.base.ref, best.quant or specs.base.quant, ctx, conc, cl, best, rest)


def _plan_with(specs: "_Specs", engine: str, cluster: ClusterSpec, ctx: int, conc: int, tp=None, pp=None,
               exo_mode=None, constants=None, strict: bool = True) -> EnginePlan:
    spec, note = specs.for_engine(engine)
    problem = quant_problem(engine, specs.quant)
    if problem:
        if strict:
            raise UnsupportedSettingError(problem)
        return EnginePlan(engine, cluster, reasons=[problem])
    p = plan_engine(engine, spec, cluster, ctx, conc, tp, pp, exo_mode, constants, strict=strict)
    if note and p.verdict != "unavailable":
        p.reasons.insert(0, note)
    return p


# ------------------------------------------------------------------------------------------------ target speed


@dataclass
class ClusterTarget:
    model: str
    target_tps: float
    subset: ClusterSpec | None  # the smallest part of the cluster that reaches the target
    plan: EnginePlan | None
    tried: int
    best_seen: EnginePlan | None  # the fastest plan that fits when none reaches the target
    lacks: list[str]

    def to_dict(self) -> dict:
        return {"model": self.model, "target_tok_s": self.target_tps,
                "machines": [m.name for m in self.subset.machines] if self.subset else None,
                "nodes": self.subset.describe() if self.subset else None,
                "plan": self.plan.to_dict() if self.plan else None,
                "subsets_tried": self.tried,
                "best_without_target": self.best_seen.to_dict() if self.best_seen and not self.plan else None,
                "lacks": list(self.lacks)}


def _subsets(cluster: ClusterSpec) -> list[list[int]]:
    """Machine index lists: per hardware kind a count from 0 to all, fewest machines (then least memory) first."""
    groups: dict[str, list[int]] = {}
    for m in cluster.machines:
        groups.setdefault(m.hardware_name, []).append(m.index)
    kinds = list(groups)
    combos = [c for c in itertools.product(*[range(len(groups[k]) + 1) for k in kinds]) if sum(c)]
    mem = {k: sum(d.capacity_bytes for d in cluster.machines[groups[k][0]].devices) for k in kinds}
    combos.sort(key=lambda c: (sum(c), sum(n * mem[k] for n, k in zip(c, kinds))))
    return [[i for n, k in zip(c, kinds) for i in groups[k][:n]] for c in combos[:MAX_SUBSETS]]


def plan_cluster_target(model, cluster, target_tps: float, engine: str | None = None, context=None,
                        quant: str | None = None, concurrency: int = 1,
                        constants: ClusterConstants | None = None) -> ClusterTarget:
    """The fewest machines of `cluster` on which an engine (or `engine`) fits `model` and decodes at >= target."""
    if isinstance(target_tps, bool) or not isinstance(target_tps, (int, float)) or not math.isfinite(target_tps) or target_tps <= 0:
        raise LlmfitError(f"--target-tps must be a positive number, got {target_tps!r}")
    cl = cluster if isinstance(cluster, ClusterSpec) else load_cluster(cluster)
    ctx, conc = _check_numbers(context, concurrency)
    names = [eng.get_engine(engine).name] if engine else eng.engine_names()
    specs = _Specs(model, quant)
    spec = specs.base
    best_seen: EnginePlan | None = None
    tried = 0
    for idx in _subsets(cl):
        sub = cl.subset(idx)
        tried += 1
        plans = []
        for n in names:
            try:
                plans.append(_plan_with(specs, n, sub, ctx, conc, constants=constants, strict=False))
            except eng.EngineChoiceError:
                continue
        fitting = [p for p in plans if p.fits]
        for p in fitting:
            if best_seen is None or p.decode_tok_s > best_seen.decode_tok_s:
                best_seen = p
        hit = sorted((p for p in fitting if p.decode_tok_s >= target_tps), key=lambda p: -p.decode_tok_s)
        if hit:
            return ClusterTarget(spec.ref, float(target_tps), sub, hit[0], tried, None,
                                 [f"{sub.describe()} with {hit[0].engine}: {hit[0].decode_tok_s:.1f} tok/s >= {target_tps:g}"])
    lacks = []
    if best_seen is None:
        lacks.append(f"{spec.ref} fits no subset of this cluster with "
                     f"{'any engine' if not engine else engine} at {ctx} tokens x {conc}")
    else:
        lacks.append(f"the fastest plan that fits, {best_seen.engine} on {best_seen.cluster.describe()}, decodes "
                     f"{best_seen.decode_tok_s:.1f} tok/s < {target_tps:g}")
        lacks.append("more machines do not help a single stream with layer/pipeline splits (each hop adds latency); "
                     "tensor parallel over a fast link, or faster memory per device, does")
    return ClusterTarget(spec.ref, float(target_tps), None, None, tried, best_seen, lacks)
