"""Plans: several models on one machine (who goes to the GPU, total memory, speed of each), and the
smallest known device that reaches a target speed for one model.

Multi-model placement: every model is scored with the full pipeline twice (on the GPU backend and on
the CPU), then all GPU/CPU assignments (exhaustive up to 12 models, greedy beyond) are tried; the plan
kept is the one that fits both memories and maximises the sum of log(decode tok/s), i.e. the best
balance of speeds when the models run one at a time. Unified memory and CPU-only machines have one pool.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass, field

from llmfit_core.api import fit_spec
from llmfit_core.errors import LlmfitError
from llmfit_core.hardware.devices import all_devices, device_profile
from llmfit_core.recommend import budgets, resolve_hw
from llmfit_core.resolve import resolve_model
from llmfit_core.units import fmt_gib
from llmfit_core.verdict import Verdict

MAX_EXHAUSTIVE = 12


@dataclass
class PlanItem:
    """One model in a plan: where it runs, what it takes, how fast it is alone."""

    ref: str
    quant: str | None
    device: str  # gpu | cpu | unified
    total_bytes: int
    decode_tok_s: float
    prefill_tok_s: float
    report: object  # FitReport on the chosen device

    def to_dict(self) -> dict:
        d = self.report.to_dict()
        d.update({"device": self.device, "plan_bytes": int(self.total_bytes)})
        return d


@dataclass
class Plan:
    hardware_name: str
    items: list[PlanItem]
    total_bytes: int
    gpu_bytes: int
    cpu_bytes: int
    vram_bytes: int
    ram_bytes: int
    fits: bool
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "hardware": {"name": self.hardware_name},
            "fits": self.fits,
            "total_bytes": int(self.total_bytes),
            "gpu_bytes": int(self.gpu_bytes),
            "cpu_bytes": int(self.cpu_bytes),
            "vram_bytes": int(self.vram_bytes),
            "ram_bytes": int(self.ram_bytes),
            "models": [i.to_dict() for i in self.items],
            "notes": list(self.notes),
        }


def _spec(ref, quant):
    return resolve_model(ref, quant=quant)


def plan_models(refs: list[str], hardware=None, quant: str | None = None, context=None) -> Plan:
    """Place several models on one machine at once (see module doc)."""
    if not refs:
        raise LlmfitError("plan needs at least one model")
    if len(refs) > 64:
        raise LlmfitError(f"plan takes at most 64 models, got {len(refs)}")
    hw = resolve_hw(hardware)
    b = budgets(hw)
    be = b.backend
    specs = [_spec(r, quant) for r in refs]
    one_pool = b.unified or not be.gpu
    options = []  # per model: list of (device, report)
    for s in specs:
        if one_pool:
            r = fit_spec(s, hardware=hw, context=context, gpu_layers=None)
            options.append([("unified" if b.unified else "cpu", r)])
        else:
            gpu = fit_spec(s, hardware=hw, context=context, gpu_layers=s.n_layers + 1)
            cpu = fit_spec(s, hardware=hw, context=context, backend="llama.cpp-cpu")
            options.append([("gpu", gpu), ("cpu", cpu)])
    vram, ram = b.vram, b.ram

    def cost(assign):
        g = sum(r.memory.total_bytes for d, r in assign if d == "gpu")
        c = sum(r.memory.total_bytes for d, r in assign if d != "gpu")
        return g, c

    def ok(assign):
        g, c = cost(assign)
        return g <= vram and c <= (ram if not b.unified else vram or ram)

    def value(assign):
        return sum(math.log(max(r.decode_tok_s, 1e-3)) for _, r in assign)

    best = None
    if len(specs) <= MAX_EXHAUSTIVE:
        for combo in itertools.product(*options):
            if ok(combo) and (best is None or value(combo) > value(best)):
                best = combo
    else:  # greedy: biggest speed gain per GPU byte first
        assign = [opts[-1] for opts in options]
        gains = sorted(range(len(specs)), key=lambda i: -(math.log(max(options[i][0][1].decode_tok_s, 1e-3)) -
                                                          math.log(max(options[i][-1][1].decode_tok_s, 1e-3))) /
                       max(options[i][0][1].memory.total_bytes, 1))
        for i in gains:
            trial = list(assign)
            trial[i] = options[i][0]
            if ok(trial):
                assign = trial
        best = tuple(assign) if ok(assign) else None
    notes = []
    fits = best is not None
    if best is None:  # nothing fits together: show the fastest assignment and say by how much it is over
        best = tuple(opts[0] for opts in options)
        g, c = cost(best)
        if one_pool:
            notes.append(f"the models need {fmt_gib(g + c)} together, {fmt_gib(ram if not b.unified else vram)} usable: "
                         f"{fmt_gib(g + c - (ram if not b.unified else vram))} short; run them one at a time")
        else:
            notes.append(f"no GPU/CPU split fits: together they need {fmt_gib(g + c)}, "
                         f"{fmt_gib(vram)} VRAM + {fmt_gib(ram)} RAM usable")
    items = [PlanItem(ref=s.ref, quant=s.quant, device=d, total_bytes=r.memory.total_bytes, decode_tok_s=r.decode_tok_s,
                      prefill_tok_s=r.prefill_tok_s, report=r) for s, (d, r) in zip(specs, best, strict=True)]
    g, c = cost(best)
    if fits and not one_pool and any(i.device == "cpu" for i in items):
        notes.append("models on the CPU are slower; the GPU holds the ones that gain most")
    return Plan(hardware_name=hw.name, items=items, total_bytes=g + c, gpu_bytes=g, cpu_bytes=c, vram_bytes=vram,
                ram_bytes=ram, fits=fits, notes=notes)


# ------------------------------------------------------------------------------------------------
# target speed


@dataclass
class DeviceOption:
    device: str
    kind: str
    memory_gb: float
    bandwidth_gbs: float | None
    decode_tok_s: float
    verdict: str
    total_bytes: int

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class TargetPlan:
    ref: str
    quant: str | None
    target_tps: float
    here: object  # FitReport on this machine (or the given hardware)
    smallest: DeviceOption | None
    reaching: list[DeviceOption]
    lacks: list[str]

    def to_dict(self) -> dict:
        return {
            "model": self.ref, "quant": self.quant, "target_tok_s": self.target_tps,
            "here": self.here.to_dict(),
            "smallest_device": self.smallest.to_dict() if self.smallest else None,
            "devices_reaching_target": [d.to_dict() for d in self.reaching],
            "lacks": list(self.lacks),
        }


def plan_target(ref: str, target_tps: float, hardware=None, quant: str | None = None, context=None,
                kinds: tuple[str, ...] = ("gpu", "apple", "cpu")) -> TargetPlan:
    """The smallest device of the device table on which `ref` decodes at ≥ `target_tps` with everything
    in fast memory, and what `hardware` (default: this machine) lacks to get there."""
    if not target_tps or target_tps <= 0 or not math.isfinite(target_tps):
        raise LlmfitError(f"--target-tps must be a positive number, got {target_tps!r}")
    spec = _spec(ref, quant)
    hw = resolve_hw(hardware)
    here = fit_spec(spec, hardware=hw, context=context)
    reaching = []
    for dev in all_devices():
        if dev.kind not in kinds:
            continue
        try:
            base = device_profile(dev.name)
        except LlmfitError:
            continue
        # Apple chips come in several unified-memory sizes: each is a device of its own size
        configs = sorted(set(dev.mem_gb)) if dev.kind == "apple" and dev.mem_gb else [None]
        for mem_gb in configs:
            prof = base
            if mem_gb is not None:
                prof = dataclasses.replace(base, memory=dataclasses.replace(base.memory, total_gb=float(mem_gb)))
            r = fit_spec(spec, hardware=prof, context=context)
            if r.verdict in (Verdict.RUNS, Verdict.TIGHT) and r.decode_tok_s >= target_tps:
                mem = mem_gb or ((dev.main_mem_gb or prof.memory.total_gb) if dev.kind != "cpu" else prof.memory.total_gb)
                name = f"{dev.name} {mem_gb:g} GiB" if mem_gb is not None and len(configs) > 1 else dev.name
                reaching.append(DeviceOption(name, dev.kind, float(mem), dev.bandwidth_gbs, r.decode_tok_s, r.verdict,
                                             r.memory.total_bytes))
                break  # the smallest configuration of this device that works
    reaching.sort(key=lambda d: (d.memory_gb, d.bandwidth_gbs or 0.0, d.device))
    smallest = reaching[0] if reaching else None
    lacks = _lacks(here, hw, smallest, target_tps, spec)
    return TargetPlan(ref=spec.ref, quant=spec.quant, target_tps=float(target_tps), here=here, smallest=smallest,
                      reaching=reaching, lacks=lacks)


def _lacks(here, hw, smallest: DeviceOption | None, target: float, spec) -> list[str]:
    out = []
    need = here.memory.total_bytes
    if here.decode_tok_s >= target and here.verdict in (Verdict.RUNS, Verdict.TIGHT):
        return [f"nothing: this machine already reaches {here.decode_tok_s:.1f} tok/s ≥ {target:g}"]
    vram = sum(g.vram_bytes for g in hw.gpus) if not hw.unified_memory else 0
    if hw.gpus and not hw.unified_memory:
        if need > vram:
            out.append(f"needs {fmt_gib(need - vram)} more VRAM ({fmt_gib(need)} to hold {spec.ref} entirely on the GPU, "
                       f"{fmt_gib(vram)} here)")
    elif smallest is not None and smallest.kind == "gpu":
        out.append(f"needs a GPU with at least {fmt_gib(need)} VRAM (none here)")
    else:
        mem = hw.memory.total_bytes
        if need > mem:
            out.append(f"needs {fmt_gib(need - mem)} more memory ({fmt_gib(need)} needed, {fmt_gib(mem)} here)")
    if here.decode_tok_s < target:
        factor = target / max(here.decode_tok_s, 1e-6)
        out.append(f"needs about {factor:.1f}x the memory bandwidth for {target:g} tok/s "
                   f"(here {here.decode_tok_s:.1f} tok/s{', offloaded' if here.verdict == Verdict.OFFLOAD else ''})")
    if smallest is None:
        out.append(f"no device in the table reaches {target:g} tok/s with this model in fast memory")
    return out
