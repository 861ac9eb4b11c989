"""The pipeline: model reference + hardware → FitReport (memory, placement, speed, verdict, score)."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import replace

from llmfit_core import memory, placement, runner_view, settings_check, throughput
from llmfit_core.backends import Backend, default_backend, format_note, get_backend
from llmfit_core.context_fit import context_fit
from llmfit_core.errors import LlmfitError
from llmfit_core.hardware.registry import resolve_hardware
from llmfit_core.model_spec import ModelSpec
from llmfit_core.placement import moe_flag
from llmfit_core.report import FitReport, MemoryBreakdown, MemoryDetail
from llmfit_core.resolve import apply_requested_quant, resolve_model
from llmfit_core.scoring import fit_score
from llmfit_core.settings import RunSettings
from llmfit_core.throughput.calibration import apply_calibration, machine_calibration
from llmfit_core.throughput.roofline import CPU_BW_ESTIMATED
from llmfit_core.units import fmt_gib, parse_tokens

DEFAULT_CONTEXT = 4096


def parse_count(value) -> int | None:
    """Parse token counts such as 4096, "16k", "32K", "1m" (k = 1024, as people mean for contexts); None stays None."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value <= 0:
            raise LlmfitError(f"token count must be positive, got {value!r}")
        return int(value)

    return parse_tokens(str(value))


def fit(ref: str | ModelSpec, hardware=None, quant: str | None = None, context=None, *,
        settings: RunSettings | None = None, file: str | None = None, offline: bool | None = None, stored: bool = False,
        allow_context_extension: bool = False, **options) -> FitReport:
    """Predict memory, placement, speed, verdict and score for a model reference on a hardware profile.

    `hardware`: None (this machine), a device/profile name, a profile JSON path, or a HardwareProfile.
    `settings`: what the runner is asked (RunSettings: context, KV cache types, GPU layers, expert offload, ...).
    `context` and any other RunSettings field may be given as keywords instead (`fit(ref, hw, context="8k",
    cache_type="q8_0")`); given with `settings`, they override its fields.
    `quant`, `file`, `offline`, `stored` pick the model: a bare reference to unquantized weights means what the
    backend's users download (Q4_K_M GGUF, the publisher's own GGUF quant, MLX 4-bit: defaults.py); `stored=True`
    prices the repo's files as they are (download checks). `allow_context_extension`: price a context above the
    model's trained length (RoPE scaling) instead of refusing.
    Returns a FitReport whose `to_dict()` is the `fit --json` contract. Impossible settings (settings_check)
    raise LlmfitError before the model is read.
    """

    if context is not None:
        options["context"] = context
    settings = RunSettings.build(settings, **options)
    hardware = resolve_hardware(hardware)
    ctk, ctv = settings.cache_type_k, settings.cache_type_v
    planned = settings_check.check_request(hardware, settings.backend, quant, settings.cache_type, ctk, ctv,
                                           settings.flash_attn)
    if settings.backend:
        settings = replace(settings, backend=planned)
    if isinstance(ref, ModelSpec):
        spec = ref
        if quant:
            spec = apply_requested_quant(spec, quant)
    else:
        spec = resolve_model(ref, quant=quant, file=file, offline=offline, runtime=None if stored else planned.runtime)
    extension_note = settings_check.check_context(parse_count(settings.context), spec, allow_context_extension)
    report = fit_spec(spec, hardware=hardware, settings=settings)
    if extension_note:
        report.reasons.insert(0, extension_note)
    return report


def choose_backend(spec: ModelSpec, hw, backend: str | Backend | None) -> Backend:
    """The backend asked for, else what this hardware and model format imply (MLX models on Apple → mlx)."""
    if isinstance(backend, Backend):
        return backend
    if backend:
        return get_backend(backend, hw)
    if spec.format == "mlx" and any(g.vendor == "apple" for g in hw.gpus):
        return get_backend("mlx")
    return default_backend(hw)


def fit_spec(spec: ModelSpec, hardware=None, settings: RunSettings | None = None, **options) -> FitReport:
    """Score a ModelSpec you already have (see `fit`): `settings` what the runner is asked (RunSettings), or its
    fields as keywords (`fit_spec(spec, hw, context=8192, cpu_moe=False)`; over `settings` when both are given).

    Memory: what is free now on this machine (RAM the OS calls available, VRAM the runner or driver reports
    free); `total_memory` plans for an idle machine instead (`fit --total`). Companions (llmfit_core.companions):
    `mmproj` a vision projector GGUF path, "auto" (the one llama.cpp picks beside the model) or a Companion already
    read, `draft` a draft
    model reference (or ModelSpec) for speculative decoding; their memory is taken before the model is placed.

    MoE expert offload (llama.cpp -ngl 999 --n-cpu-moe N): `cpu_moe` None = for a MoE model that does not fit in
    VRAM, the faster predicted decode of layer offload and expert offload; True = expert offload (the fewest
    layers' experts in RAM that fit); False = layer offload only. `n_cpu_moe` = exactly that N (n_layers is
    llama.cpp's --cpu-moe). `depth`: tokens already in the context (llama-bench -d; "32k" ok) before the prompt:
    prefill attends over them, decode reads their KV; the context reserved grows to hold them. `swa_full`,
    `n_batch`, `n_ubatch`: llama.cpp's --swa-full / -b / -ub (llama-cpp-python's Llama() uses other defaults:
    settings.RUNNER_DEFAULTS). The report's `settings` are these with every default resolved."""

    if settings is not None and not isinstance(settings, RunSettings):
        raise TypeError(f"fit_spec's third argument is a RunSettings, got {settings!r} (the context is context=...)")
    asked = RunSettings.build(settings, **options)
    hw = resolve_hardware(hardware)
    if asked.total_memory:
        hw = runner_view.for_idle_machine(hw)
    be = choose_backend(spec, hw, asked.backend)
    hw, build_reasons = runner_view.for_runner(hw, be.runtime)  # the installed build's CPU kernels, not the CPU's
    runtime = dict(spec.metadata.get("runtime_defaults") or {})  # e.g. Ollama's num_ctx / parallel / kv type
    run = _resolve(asked, spec, runtime)
    ctx = run.context
    ctk, ctv = run.cache_types()

    comps = _companions(spec, be, ctx, ctk, ctv, run.flash_attn, run.mmproj, run.draft)
    machine = hw
    if comps:
        from llmfit_core import companions  # lazy: start-up: only --mmproj / --draft read companions

        hw = companions.reserve(hw, comps, gpu_backend=be.gpu)
    mem = memory.estimate_memory(spec, be, ctx, **run.memory_kwargs(), cpu_isa=hw.cpu.isa, cpu_arch=hw.cpu.arch)
    speed = {"prompt_tokens": run.prompt_tokens, "gen_tokens": run.gen_tokens, "depth": run.depth,
             "flash_attn": bool(getattr(mem, "flash_attn", True)), "n_ubatch": run.n_ubatch,
             "n_batch": run.n_batch}
    plc, tp, moe_reasons = _place_and_predict(spec, mem, hw, be, ctx, speed, run)
    if run.calibrated:  # this machine's factors (llmfit calibrate), read once per version of the file
        tp = apply_calibration(tp, machine_calibration(hw), hw, spec, backend=be)

    ctx_settings = _context_settings(run, be, hw, plc)
    ctx_fit = context_fit(spec, hw, be, ctx_settings)
    breakdown = _breakdown(mem, plc, comps)
    verdict = plc.verdict
    reasons = list(plc.reasons) + list(getattr(tp, "reasons", []) or [])

    if any("CPU memory bandwidth" in n for n in hw.notes):  # the hardware note says it, with the measure hint
        reasons = [r for r in reasons if not r.startswith(CPU_BW_ESTIMATED)]
    reasons += [n for n in spec.notes if n not in reasons]
    reasons += [n for n in getattr(mem, "notes", []) or [] if n not in reasons]  # caveats of the memory figure
    reasons += [n for n in hw.notes if n not in reasons]
    reasons += moe_reasons + build_reasons
    if spec.load_error and be.runtime == "llama.cpp":  # the first thing to know about this file
        reasons = [spec.load_error] + [r for r in reasons if r != spec.load_error]
    if run.flash_attn is None and be.runtime == "llama.cpp" and not runtime:  # (Ollama sets its own defaults)
        py_note = memory.python_defaults_note(spec, mem, n_seq=run.n_seq, cpu_isa=hw.cpu.isa, cpu_arch=hw.cpu.arch)
        if py_note:
            reasons.append(py_note)
    reasons += [r for r in ctx_fit.reasons if r not in reasons]
    if comps:
        reasons += companions.describe(comps, machine.gpus[0].name if machine.gpus else None)
    in_use = runner_view.memory_in_use_reason(machine)
    if in_use:
        reasons.append(in_use)
    fmt_note = format_note(spec, be)  # GPTQ / AWQ / MLX weights on llama.cpp, GGUF on mlx: said first
    if fmt_note:
        reasons.insert(0, fmt_note)
    if be.runtime == "llama.cpp" and be.gpu and plc.fits:
        if plc.n_cpu_moe:
            reasons.append(f"llama.cpp settings: {moe_flag(plc.n_cpu_moe, spec.n_layers)} -c {ctx} "
                           "(llama-server / llama-cli flags)")
        else:
            reasons.append(f"llama.cpp settings: n_gpu_layers={plc.gpu_layers} (-ngl), n_ctx={ctx} (-c)")
    decode = float(tp.decode_tok_s)
    return FitReport(
        model_ref=spec.ref,
        arch=spec.arch,
        params=spec.params,
        active_params=spec.active_params or spec.params,
        quant=spec.quant,
        file_bytes=spec.file_bytes,
        hardware_name=hw.name,
        backend=be.name,
        context=ctx,
        memory=breakdown,
        gpu_layers=plc.gpu_layers,
        total_layers=plc.total_layers,
        n_cpu_moe=int(plc.n_cpu_moe),
        fits=bool(plc.fits),
        verdict=verdict,
        score=fit_score(verdict, decode),
        prefill_tok_s=float(tp.prefill_tok_s),
        decode_tok_s=decode,
        decode_tok_s_range=tuple(tp.decode_range),
        prefill_tok_s_range=tuple(tp.prefill_range) if getattr(tp, "prefill_range", None) else None,
        reasons=reasons,
        prompt_tokens=run.prompt_tokens,
        gen_tokens=run.gen_tokens,
        max_context=ctx_fit.max_context,
        depth=run.depth,
        spec=spec,
        hardware=machine,
        settings=run,
        max_context_settings=ctx_settings,
        memory_estimate=mem,
        placement=plc,
        throughput=tp,
    )


def _resolve(asked: RunSettings, spec: ModelSpec, runtime: dict) -> RunSettings:
    """`asked` with every default made concrete: the context (the runner's, else min(trained, 4096), grown to hold
    `depth` + this turn), token counts as ints, KV cache types, sequences and flash attention from the model's
    runtime defaults (Ollama's), else llama.cpp's."""
    prompt_tokens = parse_count(asked.prompt_tokens) or 512
    gen_tokens = parse_count(asked.gen_tokens) or 128
    ctx = (parse_count(asked.context) or parse_count(runtime.get("context"))
           or min(spec.max_context or DEFAULT_CONTEXT, DEFAULT_CONTEXT))
    depth = _depth(asked.depth, spec, asked.context, ctx, prompt_tokens, gen_tokens)
    if depth and not parse_count(asked.context):  # the context must hold what is already there plus this turn
        ctx = max(ctx, depth + prompt_tokens + gen_tokens)
    kv_default = runtime.get("cache_type") or "f16"
    flash_attn = asked.flash_attn
    if flash_attn is None and runtime.get("flash_attn") is not None:
        flash_attn = bool(runtime.get("flash_attn"))
    return replace(asked, context=ctx, prompt_tokens=prompt_tokens, gen_tokens=gen_tokens, depth=depth,
                   cache_type=None, cache_type_k=asked.cache_type_k or asked.cache_type or kv_default,
                   cache_type_v=asked.cache_type_v or asked.cache_type or kv_default,
                   n_seq=asked.n_seq or int(runtime.get("n_seq") or 1), flash_attn=flash_attn)


def _context_settings(run: RunSettings, be, hw, plc) -> RunSettings:
    """The settings max_context holds: this report's, and its placement kind (expert offload stays expert
    offload; a model wholly on the GPU stays there, as llama.cpp's --fit shrinks the context before offloading;
    layer offload stays layer offload)."""
    if plc.n_cpu_moe:
        return replace(run, cpu_moe=True, gpu_layers=None)
    if run.gpu_layers is None and be.gpu and hw.gpus and plc.gpu_layers >= plc.total_layers:
        return replace(run, cpu_moe=False, n_cpu_moe=None, gpu_layers=plc.total_layers)
    return replace(run, cpu_moe=False, n_cpu_moe=None)


def _depth(depth, spec: ModelSpec, context, ctx: int, prompt_tokens: int, gen_tokens: int) -> int:
    """Tokens already in the context (0 when not asked); an error when they exceed the model's trained context
    (unless `context` raises it explicitly) or an explicit context."""

    if depth is None or depth == "" or depth == 0 or depth == "0":
        return 0
    if isinstance(depth, bool):
        raise LlmfitError(f"depth must be a token count such as 8192 or 32k, got {depth!r}")
    n = parse_count(depth)
    if parse_count(context):
        if n + prompt_tokens > ctx:
            raise LlmfitError(f"depth {n} + prompt {prompt_tokens} tokens do not fit the context {ctx}: "
                              f"raise --context to at least {n + prompt_tokens}")
    elif spec.max_context and n + prompt_tokens > spec.max_context:
        raise LlmfitError(f"depth {n} + prompt {prompt_tokens} tokens exceed {spec.ref}'s trained context "
                          f"{spec.max_context}: use a smaller --depth, or raise --context explicitly (past the trained length "
                          "with --allow-context-extension)")
    return n


def _place_and_predict(spec, mem, hw, be, ctx, speed: dict, run: RunSettings):
    """Placement + speed; for MoE models also llama.cpp's expert offload (see fit_spec), with the reasons of the pick.
    `speed`: predict()'s prompt_tokens, gen_tokens, depth, flash_attn, n_ubatch and n_batch."""

    def predicted(plc):
        return plc, throughput.predict(spec, hw, be, plc, ctx, **speed)

    gpu_layers, cpu_moe, n_cpu_moe = run.gpu_layers, run.cpu_moe, run.n_cpu_moe
    if n_cpu_moe is not None and cpu_moe is False:
        raise LlmfitError("--n-cpu-moe and --no-cpu-moe contradict each other")
    if run.expert_offload:
        if gpu_layers is not None and gpu_layers < spec.n_layers + 1:
            raise LlmfitError("--cpu-moe / --n-cpu-moe put every layer on the GPU (-ngl 999): drop --gpu-layers")
        plc, tp = predicted(placement.place_expert_offload(spec, mem, hw, be, n_cpu_moe=n_cpu_moe))
        return plc, tp, []
    layer = predicted(placement.place(spec, mem, hw, be, gpu_layers=gpu_layers))
    if (cpu_moe is False or gpu_layers is not None or layer[0].gpu_layers >= layer[0].total_layers
            or placement.expert_offload_unavailable(spec, hw, be)):
        return layer[0], layer[1], []
    expert = predicted(placement.place_expert_offload(spec, mem, hw, be))
    (lp, lt), (ep, et) = layer, expert
    if ep.fits != lp.fits:
        pick_expert = ep.fits
    else:
        d_l, d_e = float(lt.decode_tok_s), float(et.decode_tok_s)
        tie = abs(d_e - d_l) <= placement.MOE_TIE * max(d_e, d_l)
        pick_expert = ep.cpu_bytes < lp.cpu_bytes if tie else d_e > d_l
    flag = placement.moe_flag(ep.n_cpu_moe, spec.n_layers)
    why = (f"MoE: expert offload ({flag}) ~{et.decode_tok_s:.1f} tok/s decode, {fmt_gib(ep.cpu_bytes)} RAM"
           f"{'' if ep.fits else ' (does not fit)'}; layer offload ({lp.gpu_layers} of {lp.total_layers} layers) "
           f"~{lt.decode_tok_s:.1f} tok/s, {fmt_gib(lp.cpu_bytes)} RAM"
           f"{'' if lp.fits else ' (does not fit)'}: {'expert' if pick_expert else 'layer'} offload picked")
    plc, tp = expert if pick_expert else layer
    return plc, tp, [why]


def _breakdown(mem, plc, comps=()) -> MemoryBreakdown:
    """Map the estimator's detail onto the contract's four parts (weights, KV, compute, overhead); companions
    (projector, draft model) add to each part and to the device that holds them (detail: <kind>_bytes)."""
    g = lambda name: int(getattr(mem, name, 0) or 0)  # noqa: E731
    weights = g("weights_bytes")
    kv = g("kv_cache_bytes")
    # expert offload: the GPU compute buffer also holds one RAM layer's experts while prefill runs them there
    compute = g("compute_bytes") + g("output_bytes") + int(getattr(plc, "expert_copy_bytes", 0) or 0)
    overhead = g("overhead_bytes")  # a CPU_REPACK copy replaces its mapped original: not counted twice (memory.py)
    detail = MemoryDetail(output_bytes=g("output_bytes"), repack_bytes=g("repack_bytes"),
                          repack_mapped_bytes=g("repack_mapped_bytes"), recurrent_state_bytes=g("recurrent_state_bytes"),
                          expert_copy_bytes=int(getattr(plc, "expert_copy_bytes", 0) or 0) or None)
    # with several GPUs each one holds its own runtime context: count the extra ones as overhead,
    # so that total == weights + KV + compute + overhead == GPU + RAM
    extra = int(plc.gpu_bytes) + int(plc.cpu_bytes) - (weights + kv + compute + overhead)
    if extra > 0:
        overhead += extra
        detail.extra_gpu_context_bytes = extra
    gpu, cpu = int(plc.gpu_bytes), int(plc.cpu_bytes)
    for c in comps:
        weights, kv, compute = weights + c.weights_bytes, kv + c.kv_bytes, compute + c.compute_bytes
        gpu, cpu = (gpu + c.total_bytes, cpu) if c.on_gpu else (gpu, cpu + c.total_bytes)
        detail = replace(detail, **{f"{c.kind}_bytes": c.total_bytes})  # a kind without a field: TypeError
    # llama.cpp's buffer sum (its log): the resident buffers + the mapped originals of repacked weights
    detail.allocated_bytes = weights + kv + compute + g("repack_mapped_bytes")
    return MemoryBreakdown(
        weights_bytes=weights,
        kv_cache_bytes=kv,
        compute_bytes=compute,
        overhead_bytes=overhead,
        gpu_bytes=gpu,
        cpu_bytes=cpu,
        detail=detail,
    )


def _companions(spec, be, ctx, ctk, ctv, flash_attn, mmproj, draft) -> list:
    """The projector / draft model companions asked for (llmfit_core.companions), read from their headers."""
    if not mmproj and draft is None:
        return []
    from llmfit_core import companions  # lazy: start-up: only --mmproj / --draft read companions

    if be.runtime != "llama.cpp":
        raise LlmfitError(f"--mmproj / --draft are llama.cpp companions (backend {be.name})")
    out = []
    if isinstance(mmproj, companions.Companion):  # already read (a Hub listing reads each projector once)
        out.append(dataclasses.replace(mmproj))  # `reserve` sets on_gpu on its own copy
    elif mmproj == "auto":
        local = next((f for f in spec.files or [] if os.path.isfile(f)), None)
        found = companions.local_mmproj(local) if local else None
        comp = companions.read_mmproj(found, flash_attn is not False) if found else None
        if comp is None and not local:
            from llmfit_core.plugins import call_hook  # lazy: start-up: pluggy + adapters, for remote --mmproj auto

            comp = call_hook("llmfit_mmproj_for", spec=spec)
        if comp is None:
            raise LlmfitError(f"--mmproj auto: no vision projector (a .gguf named *mmproj*) beside {spec.ref}; "
                              "give --mmproj FILE")
        out.append(comp)
    elif mmproj:
        if not os.path.isfile(mmproj):
            raise LlmfitError(f"--mmproj {mmproj}: no such file (a projector GGUF, or 'auto')")
        out.append(companions.read_mmproj(mmproj, flash_attn is not False))  # llama-server -fa auto: on
    if draft is not None:
        dspec = draft if isinstance(draft, ModelSpec) else resolve_model(str(draft))
        out.append(companions.draft_companion(dspec, be, ctx, ctk, ctv, flash_attn))
    return out
