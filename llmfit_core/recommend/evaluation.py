"""The vectorised estimate: memory, placement, speed and rank points of every model × quantization at once.

Memory is `memory.estimate_totals` over per-model arrays; placement a layer split (or, for MoE models that do not
fit in VRAM, llama.cpp's expert offload --n-cpu-moe N when its decode is faster, as `fit` picks); speed
`throughput.predict_batch`. The figures are [models, quants] arrays in an `Evaluation`; the top rows are re-scored
one by one with the full pipeline (ranking.py), so what is shown is exactly what `llmfit fit --json` says.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from llmfit_core.backends import Backend
from llmfit_core.constraints import Constraints
from llmfit_core.memory import RUNTIME_OVERHEAD, estimate_totals
from llmfit_core.placement import MOE_TIE
from llmfit_core.quant_quality import quality_penalty
from llmfit_core.recommend.arrays import CatalogArrays
from llmfit_core.recommend.bpw import group_bpw
from llmfit_core.recommend.budgets import MemoryBudgets, budgets
from llmfit_core.recommend.candidates import native_pairs
from llmfit_core.recommend.points import (
    FIRST_PARTY_POINTS,
    INSTRUCT_POINTS,
    fit_points,
    specialist_points,
    speed_points,
)
from llmfit_core.throughput.predict import hardware_arrays, predict_batch
from llmfit_core.throughput.quantfamily import FAMILY_CODE, quant_family
from llmfit_core.throughput.roofline import STATE_RW_BYTES, hardware_figures, scan_state_elems
from llmfit_core.units import fmt_gib, fmt_gib_over
from llmfit_core.verdict import Verdict, is_tight

DEFAULT_CONTEXT = 4096
CORRECT_MODELS = 300  # models whose speeds get the learned correction (the best by the roofline-only rank)
SWA_UBATCH = 512  # sliding-window layers cache min(context, window + ubatch) cells (memory.swa_cells)


@dataclass
class Evaluation:
    """Figures of every model × quantization, arrays shaped [models, quants] ([models, 1] where per model)."""

    total: np.ndarray  # bytes (memory.estimate_totals)
    weights: np.ndarray
    kv: np.ndarray  # f16 K+V bytes at the context
    overhead: float
    gpu_bytes: np.ndarray
    cpu_bytes: np.ndarray
    fits: np.ndarray
    verdict: np.ndarray  # "runs" / "tight" / "offload" / "no-fit"
    n_cpu_moe: np.ndarray  # MoE expert offload: llama.cpp --n-cpu-moe N (0: none)
    decode: np.ndarray  # tok/s
    prefill: np.ndarray
    quality: np.ndarray  # size + generation − quant loss
    rank: np.ndarray  # rank points (points.py)
    quant_loss: np.ndarray
    fit_pts: np.ndarray
    allowed: np.ndarray  # the model may be priced as this quantization (candidates.native_pairs)
    ctx: np.ndarray  # the context each model is estimated at
    budgets: MemoryBudgets

    @property
    def backend(self) -> Backend:
        return self.budgets.backend

    def pair_masks(self, c: Constraints) -> dict[str, np.ndarray]:
        """Per-pair constraint masks (constraint name -> bool [models, quants]; "_" names are not the user's)."""
        masks = {"_native": self.allowed}
        if c.fits:
            masks["fits"] = self.fits
        if c.max_memory_bytes:
            masks["max_memory_bytes"] = self.total <= c.max_memory_bytes
        if c.max_vram_bytes:
            masks["max_vram_bytes"] = self.gpu_bytes <= c.max_vram_bytes
        if c.min_tps:
            masks["min_tps"] = self.decode >= c.min_tps
        if c.min_prefill_tps:
            masks["min_prefill_tps"] = self.prefill >= c.min_prefill_tps
        return masks

    def passing(self, c: Constraints) -> np.ndarray:
        """Pairs meeting every constraint."""
        ok = np.ones(self.total.shape, bool)
        for m in self.pair_masks(c).values():
            ok &= m
        return ok

    def why_rejected(self, c: Constraints, i: int, j: int, quant: str) -> str:
        """First constraint quant j of model i breaks, in words ("Q6_K needs 9.1 GB > 8.0 GB")."""
        t = self.total[i, j]
        if c.max_memory_bytes and t > c.max_memory_bytes:
            return f"{quant} needs {fmt_gib_over(t, c.max_memory_bytes)}"
        if c.fits and not self.fits[i, j]:
            vram, ram = self.budgets.vram, self.budgets.ram
            avail = vram + ram if vram and ram != vram else ram
            return f"{quant} needs {fmt_gib(t)}, does not fit ({fmt_gib(avail)} usable)"
        if c.max_vram_bytes and self.gpu_bytes[i, j] > c.max_vram_bytes:
            return f"{quant} needs {fmt_gib_over(self.gpu_bytes[i, j], c.max_vram_bytes)} of VRAM"
        if c.min_tps and self.decode[i, j] < c.min_tps:
            return f"{quant} decodes at {self.decode[i, j]:.1f} tok/s < {c.min_tps:g}"
        if c.min_prefill_tps and self.prefill[i, j] < c.min_prefill_tps:
            return f"{quant} prefills at {self.prefill[i, j]:.0f} tok/s < {c.min_prefill_tps:g}"
        return f"{quant} scores lower: {self.verdict[i, j]}, {self.decode[i, j]:.1f} tok/s, {fmt_gib(t)}"


def _select_rows(inputs: dict, sel, n: int) -> dict:
    """predict_batch inputs for the rows `sel` (mask or indices) of n: per-row arrays indexed, scalars kept."""
    return {k: (v[sel] if isinstance(v, np.ndarray) and v.shape == (n,) else v) for k, v in inputs.items()}


def _speed(inputs: dict, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """decode/prefill tok/s: learned correction for `rows` (candidates), plain roofline for the rest."""
    n = rows.size
    dec, pre = np.empty(n), np.empty(n)
    for want, corr in ((rows, True), (~rows, False)):
        if not want.any():
            continue
        sub = inputs if want.all() else _select_rows(inputs, want, n)
        out = predict_batch(sub, apply_correction=corr)
        dec[want] = np.asarray(out["decode_tok_s"]).reshape(-1)
        pre[want] = np.asarray(out["prefill_tok_s"]).reshape(-1)
    return dec, pre


def _col(x) -> np.ndarray:
    """A per-model array as a [models, 1] column."""
    return np.asarray(x, dtype=np.float64)[:, None]


@dataclass
class _WeightBytes:
    """Bytes of each tensor group of every model × quant ([models, quants])."""

    embedding: np.ndarray
    output: np.ndarray
    layers: np.ndarray  # attention + dense FFN + shared experts
    experts: np.ndarray  # routed experts

    @property
    def total(self) -> np.ndarray:
        return self.embedding + self.output + self.layers + self.experts


def _weight_bytes(arr: CatalogArrays, ladder: tuple[str, ...]) -> _WeightBytes:
    odd = _col(arr.hidden % 256 != 0)  # llama.cpp falls back to legacy types for such rows
    tables = {flag: [group_bpw(q, flag) for q in ladder] for flag in (False, True)}

    def rate(key, default):
        plain, fallback = ([g.get(key, g.get(default, 16.0)) for g in tables[flag]] for flag in (False, True))
        return np.where(odd, np.array(fallback)[None, :], np.array(plain)[None, :])

    tied = _col(arr.out) == 0  # a tied embedding is stored like the output head
    emb_b = _col(arr.emb) * np.where(tied, rate("token_embd_tied", "output"), rate("token_embd", "ffn")) / 8
    out_b = _col(arr.out) * rate("output", "ffn") / 8
    # attention and dense FFN share one effective rate (weighted by the reference model's mix)
    dense_rate = (rate("attn", "ffn") * 0.2 + rate("ffn", "attn") * 0.8)
    layer_b = _col(arr.dense_layer) * dense_rate / 8
    exp_b = _col(arr.experts) * rate("ffn_experts", "ffn") / 8
    return _WeightBytes(emb_b, out_b, layer_b, exp_b)


@dataclass
class _Placement:
    gpu_frac: np.ndarray
    gpu_bytes: np.ndarray
    cpu_bytes: np.ndarray
    fits: np.ndarray
    verdict: np.ndarray
    n_cpu_moe: np.ndarray


def _layer_split(total: np.ndarray, layers: np.ndarray, b: MemoryBudgets) -> _Placement:
    """All on the GPU if it fits, else layers split GPU/CPU, else CPU only (budget: RAM)."""
    vram, ram = float(b.vram), float(b.ram)
    if b.unified or vram <= 0:
        gpu_frac = np.full(total.shape, 1.0 if vram > 0 else 0.0)
        gpu_bytes = total * gpu_frac
        budget = vram if vram > 0 else ram
        fits = total <= budget
        verdict = np.where(fits, np.where(is_tight(budget - total, budget), Verdict.TIGHT, Verdict.RUNS), Verdict.NO_FIT)
    else:
        gpu_frac = np.clip(vram / np.maximum(total, 1.0), 0.0, 1.0)
        gpu_frac = np.where(gpu_frac >= 1.0, 1.0, np.floor(gpu_frac * layers) / layers)
        gpu_bytes = np.minimum(total, total * gpu_frac)
        fits = (gpu_frac >= 1.0) | (total - gpu_bytes <= ram)
        verdict = np.where(gpu_frac >= 1.0, np.where(is_tight(vram - total, vram), Verdict.TIGHT, Verdict.RUNS),
                           np.where(fits, Verdict.OFFLOAD, Verdict.NO_FIT))
    return _Placement(gpu_frac, gpu_bytes, total - gpu_bytes, fits, verdict, np.zeros(total.shape))


def _expert_offload(arr: CatalogArrays, w: _WeightBytes, total: np.ndarray, per_tok: np.ndarray, inputs: dict,
                    p: _Placement, b: MemoryBudgets) -> None:
    """MoE expert offload (llama.cpp -ngl 999 --n-cpu-moe N, placement.place_expert_offload): the experts of the
    first N layers in RAM, the GPU keeps the rest plus one layer's experts (the op-offload copy). Kept where its
    roofline decode beats the layer split (or only it fits), like fit's pick. Updates `p` and `inputs` in place."""
    vram, ram = float(b.vram), float(b.ram)
    shape = total.shape
    L = _col(arr.layers)
    x_layer = w.experts / np.maximum(L, 1.0)  # routed experts per layer, an even split
    n_x = np.clip(np.ceil((total + x_layer - vram) / np.maximum(x_layer, 1.0)), 1.0, L)
    x_ram = n_x * x_layer
    can = (w.experts > 0) & (p.gpu_frac < 1.0) & (total - x_ram + x_layer <= vram)
    if not can.any():
        return
    idx = np.nonzero(can.ravel())[0]
    sub = _select_rows(inputs, idx, total.size)
    ratio = np.broadcast_to(_col(arr.expert_frac), shape).ravel()[idx]
    xin = {**sub, "gpu_frac": np.ones(idx.size), "expert_cpu_bytes": x_ram.ravel()[idx],
           "expert_cpu_frac": np.minimum(x_ram.ravel()[idx] * ratio / np.maximum(per_tok.ravel()[idx], 1.0), 1.0),
           "expert_cpu_layers": n_x.ravel()[idx], "expert_used_ratio": ratio}
    dec_x = _speed(xin, np.zeros(idx.size, bool))[0]
    dec_l = _speed(sub, np.zeros(idx.size, bool))[0]
    fits_x = (x_ram <= ram).ravel()[idx]
    fits_l = p.fits.ravel()[idx]
    tie = np.abs(dec_x - dec_l) <= MOE_TIE * np.maximum(dec_x, dec_l)
    pick = np.where(fits_x != fits_l, fits_x, np.where(tie, x_ram.ravel()[idx] < p.cpu_bytes.ravel()[idx], dec_x > dec_l))
    if not pick.any():
        return
    sel = idx[pick]
    for k in ("expert_cpu_bytes", "expert_cpu_frac", "expert_cpu_layers"):
        full = np.zeros(total.size)
        full[sel] = xin[k][pick]
        inputs[k] = full
    inputs["gpu_frac"] = inputs["gpu_frac"].copy()
    inputs["gpu_frac"][sel] = 1.0

    def flat(a):
        return np.array(a, dtype=a.dtype).ravel()

    gb, cb, ft, vd, nm = flat(p.gpu_bytes), flat(p.cpu_bytes), flat(p.fits), flat(p.verdict), p.n_cpu_moe.ravel()
    gb[sel] = (total - x_ram + x_layer).ravel()[sel]
    cb[sel] = x_ram.ravel()[sel]
    ft[sel] = fits_x[pick]
    vd[sel] = np.where(fits_x[pick], Verdict.OFFLOAD, Verdict.NO_FIT)
    nm[sel] = n_x.ravel()[sel]
    p.gpu_bytes, p.cpu_bytes, p.fits, p.verdict = gb.reshape(shape), cb.reshape(shape), ft.reshape(shape), vd.reshape(shape)
    p.n_cpu_moe = nm.reshape(shape)


def evaluate(arr: CatalogArrays, hw, c: Constraints, ladder: tuple[str, ...],
             correct_models: int = CORRECT_MODELS, backend: Backend | None = None) -> Evaluation:
    """Memory, placement, speed and rank points for every model × quant of `ladder` on profile `hw` (with `backend`,
    else the one `fit` would choose)."""
    b = budgets(hw, mlx=all(q.startswith("MLX") for q in ladder), backend=backend)
    be = b.backend
    n = len(arr)
    ctx = np.minimum(_col(arr.max_ctx), DEFAULT_CONTEXT) if not c.context else np.full((n, 1), float(c.context))
    w = _weight_bytes(arr, ladder)
    weights = w.total
    overhead = RUNTIME_OVERHEAD.get(be.device if be.runtime != "mlx" else "mlx", 100 << 20)
    # sliding-window layers cache min(context, window + ubatch) cells (memory.swa_cells); the rest the context
    f = _col(arr.kv_swa_frac)
    swa_cells = np.minimum(ctx, np.ceil((_col(arr.window) + SWA_UBATCH) / 256) * 256)
    kv_layers = _col(arr.layers * arr.kv_layer_frac) * ((1 - f) + f * swa_cells / np.maximum(ctx, 1))
    total = estimate_totals(weights, kv_layers, _col(arr.cache_heads), _col(arr.head_dim), _col(arr.hidden),
                            _col(arr.vocab), _col(arr.ffn), _col(arr.heads), ctx, overhead=overhead)
    shape = total.shape
    p = _layer_split(total, _col(arr.layers), b)
    # speed
    hfig = hardware_figures(hw, be, None, n_layers=32)
    per_tok = (np.where(_col(arr.out) > 0, 0.0, w.embedding) + w.output + w.layers + w.experts * _col(arr.expert_frac))
    fam_codes = np.array([FAMILY_CODE[quant_family(q)] for q in ladder])[None, :]

    def per_model(x):
        return np.broadcast_to(_col(x), shape).ravel()

    inputs = dict(hardware_arrays(hfig))
    # the architecture inputs throughput.model_figures gives fit for the same config: MLA attends in its latent (K =
    # kv_lora + RoPE dims, V = kv_lora, one row per KV layer), hybrids attend in their KV layers only and scan the rest
    mla = arr.mla_k > 0
    attn_layers = arr.layers * arr.kv_layer_frac  # layers with a KV cache
    rec_state = scan_state_elems(arr.rec_layers, arr.rec_state, arr.hidden)
    per_tok = per_tok + _col(STATE_RW_BYTES * arr.rec_state)  # a known recurrent state is read and written per token
    inputs.update({
        "weight_bytes": np.broadcast_to(per_tok, shape).ravel(),
        "kv_bytes_per_pos": per_model(np.where(mla, attn_layers * (arr.mla_k + arr.mla_v) * 2,
                                               attn_layers * arr.cache_heads * arr.head_dim * 2 * 2)),
        "active_params": per_model(arr.active),
        # embedding + output head (counted once when tied): prefill does not run the head per prompt token
        "head_params": per_model(np.minimum(arr.emb + arr.out, 0.5 * arr.active)),
        "attn_dim_layers": per_model(attn_layers * arr.heads * np.where(mla, arr.mla_k, arr.head_dim)),
        "mla_k_share": per_model(np.where(mla, arr.mla_k / np.maximum(arr.mla_k + arr.mla_v, 1.0), 0.0)),
        "swa_frac": per_model(arr.kv_swa_frac),
        "swa_window": per_model(np.where(arr.kv_swa_frac > 0, arr.window, 0.0)),
        "n_rec_layers": per_model(arr.rec_layers),
        "rec_state_elems": per_model(np.where(arr.rec_layers > 0, rec_state, 0.0)),
        "bf16": np.broadcast_to(np.array([q.upper() == "BF16" for q in ladder], float)[None, :], shape).ravel(),
        "n_layers": per_model(arr.layers),
        "qfam_code": np.broadcast_to(fam_codes, shape).ravel(),
        "bits_per_weight": (weights * 8 / np.maximum(_col(arr.params), 1)).ravel(),
        "gpu_frac": p.gpu_frac.ravel() if hfig.backend_kind != "cpu" else np.zeros(total.size),
    })
    # MoE physics as throughput.model_figures prices it for fit: routed-expert bytes (a micro-batch touches all of
    # them; a layer split streams the CPU layers' ones), k / E, MoE layers and their share of the FLOPs
    moe = w.experts > 0
    inputs["moe_expert_bytes"] = np.where(moe, w.experts, 0.0).ravel()
    inputs["expert_used_ratio"] = np.broadcast_to(np.where(moe, _col(arr.expert_frac), 0.0), shape).ravel()
    # nemotron_h: one kind per layer (mamba, attention or MoE), as model_figures counts its MoE layers
    nemo = np.array([a.startswith("nemotron_h") for a in arr.arch_names], bool)
    moe_layers = np.where(nemo, np.maximum(arr.layers - arr.rec_layers - attn_layers, 1.0), arr.layers)
    inputs["n_moe_layers"] = np.broadcast_to(np.where(moe, _col(moe_layers), 0.0), shape).ravel()
    inputs["n_experts"] = np.broadcast_to(np.where(moe, _col(arr.n_experts), 0.0), shape).ravel()
    routed = 3.0 * arr.hidden * arr.expert_ffn * arr.experts_used * moe_layers
    moe_flops = np.where(routed > 0, np.minimum(routed / np.maximum(arr.active, 1.0), 0.95), 0.5)
    inputs["moe_flop_frac"] = np.broadcast_to(np.where(moe, _col(moe_flops), 0.0), shape).ravel()
    if not b.unified and b.vram > 0 and be.runtime == "llama.cpp" and hfig.backend_kind != "cpu":
        _expert_offload(arr, w, total, per_tok, inputs, p, b)
    allowed, native = native_pairs(arr, ladder)
    cand = (p.fits if c.fits else np.ones(shape, bool)) & allowed
    if c.max_memory_bytes:
        cand = cand & (total <= c.max_memory_bytes)
    if c.max_vram_bytes:
        cand = cand & (p.gpu_bytes <= c.max_vram_bytes)
    # a model's own released quantization loses nothing against the release
    penalty = np.where(native, 0.0, np.array([quality_penalty(q) for q in ladder])[None, :])
    quality = _col(arr.quality) - penalty
    head_pts = fit_points(p.verdict)
    specialist = specialist_points(arr.name_uses, c.uses)
    base_rank = (quality + head_pts + _col(arr.avail) + INSTRUCT_POINTS * _col(arr.instruct) + _col(arr.ctx_pts)
                 + FIRST_PARTY_POINTS * _col(arr.first_party) + _col(specialist))
    # 1) roofline speeds for every pair; 2) the learned correction for the pairs of the `correct_models`
    # best candidates by that provisional rank (it moves speeds by tens of percent: a model far below
    # cannot climb into the top N, and the full pipeline re-scores the top N anyway).
    dec, pre = _speed(inputs, np.zeros(total.size, bool))
    decode, prefill = dec.reshape(shape), pre.reshape(shape)
    if correct_models:
        prov = np.where(cand, base_rank + speed_points(decode), -np.inf).max(axis=1)
        k = min(correct_models, int(np.isfinite(prov).sum()))
        if k:
            top_models = np.argpartition(-prov, k - 1)[:k]
            rows = np.zeros(shape, bool)
            rows[top_models] = True
            rows &= cand
            dec, pre = _speed(inputs, rows.ravel())
            decode, prefill = dec.reshape(shape), pre.reshape(shape)
    kv = 2.0 * kv_layers * np.ceil(ctx / 256) * 256 * _col(arr.cache_heads) * _col(arr.head_dim) * 2  # f16 K+V
    return Evaluation(
        total=total, weights=weights, kv=np.broadcast_to(kv, shape), overhead=float(overhead), gpu_bytes=p.gpu_bytes,
        cpu_bytes=p.cpu_bytes, fits=p.fits, verdict=p.verdict, n_cpu_moe=p.n_cpu_moe, decode=decode, prefill=prefill,
        quality=quality, rank=base_rank + speed_points(decode), quant_loss=np.broadcast_to(penalty, shape),
        fit_pts=head_pts, allowed=allowed, ctx=np.broadcast_to(ctx, shape), budgets=b)
