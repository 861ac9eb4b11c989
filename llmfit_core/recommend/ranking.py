"""Ranking: the models × quantizations meeting the constraints, best first, and per model the chosen quantization.

For each model the chosen quantization is the best-scoring one among those meeting every constraint (the highest
quality unless a bigger one would offload to the CPU or decode much slower); the next better quantization is named
with the constraint it broke, or the figures that made it score lower. Ties (same points to 0.1) go to more
available models, then to the id (deterministic). `sort=` reorders by speed, quality (size + generation − quant
loss), memory or context instead. The top REFINE_MAX rows are re-scored one by one with the full pipeline
(`api.fit_spec`), so what is shown is exactly what `llmfit fit --json` would say.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from llmfit_core.api import fit_spec
from llmfit_core.backends import Backend
from llmfit_core.catalog import load_catalog
from llmfit_core.constraints import Constraints, describe_field
from llmfit_core.errors import ConstraintError, ResolveError
from llmfit_core.recommend.arrays import CatalogArrays, catalog_arrays, model_arrays
from llmfit_core.recommend.budgets import resolve_hw
from llmfit_core.recommend.candidates import model_masks, native_pairs, quant_ladder
from llmfit_core.recommend.evaluation import Evaluation, evaluate
from llmfit_core.recommend.points import FIRST_PARTY_POINTS, INSTRUCT_POINTS, specialist_points, speed_points
from llmfit_core.recommend.result import Recommendation, RecommendResult
from llmfit_core.report import FitReport, MemoryBreakdown
from llmfit_core.scoring import fit_score
from llmfit_core.settings_check import check_quant_on_backend, check_request
from llmfit_core.units import fmt_gib, fmt_gib_over

# Without a speed constraint, prefer models that generate at least reading speed; dropped (with a note)
# when nothing on this machine reaches it.
DEFAULT_MIN_TPS = 5.0
QUANT_SLACK = 3.0  # rank points a higher-quality quantization may trail the model's best-ranked one and still be chosen
REFINE_MAX = 25  # items re-scored with the full pipeline; further ones keep the vectorised figures
SORTS = ("rank", "speed", "quality", "memory", "context")


def _check_sort(sort: str) -> None:
    if sort not in SORTS:
        raise ConstraintError(f"unknown sort {sort!r} (valid: {', '.join(SORTS)})")


def recommend(constraints: Constraints | None = None, hardware=None, top: int = 10, catalog=None,
              refine: bool = True, distinct: bool = True, community: bool = False, modified: bool = False,
              sort: str = "rank", backend: str | Backend | None = None) -> RecommendResult:
    """Best models × quantizations for `hardware` under `constraints` (points.py: the rank points).

    `distinct`: fine-tunes with the same architecture and size as a model already listed (same figures)
    are counted in its `similar` list instead of taking a row each. By default only first-party models, the
    listed well-known tunes and private entries are considered; `community` adds other unmodified uploads,
    `modified` also uncensored / abliterated / merged / pruned ones. `sort`: rank, speed, quality, memory, context.
    `backend`: price every pair with this backend (a built-in one or one a runner adapter declares; one the hardware
    cannot run, or that cannot run the quantizations asked for, is an error), else the one `fit` would choose.

    Raises ConstraintError naming the constraint that excluded everything.
    """
    c = constraints or Constraints()
    if top < 1 or top > 1000:
        raise ConstraintError(f"--top must be between 1 and 1000, got {top}")
    _check_sort(sort)
    hw = resolve_hw(hardware)
    be = check_request(hw, backend) if backend else None
    cat = catalog or load_catalog()
    t0 = time.perf_counter()
    full = model_arrays(cat)
    mmask = model_masks(full, c)
    if c.formats == [] and not c.quants:
        # quantized re-uploads (MLX/NVFP4/bnb... repos) are not what one downloads as GGUF
        mmask["_not_packed"] = ~full.packed
    if not modified:
        mmask["_publisher"] = ~full.modified if community else full.first_party > 0
    sel = np.ones(len(full), bool)
    for m in mmask.values():
        sel &= m
    res = RecommendResult(hardware_name=hw.name, backend="", context=c.context, constraints=c,
                          models_considered=int(sel.sum()))
    if not sel.any():
        raise ConstraintError(_explain_empty({k: v[:, None] for k, v in mmask.items()}, {}, None, c))
    idx = np.nonzero(sel)[0]
    arr = full.take(idx)
    ladder = _checked_ladder(quant_ladder(c, arr, be and be.runtime), be)
    ev = evaluate(arr, hw, c, ladder, backend=be)
    res.backend = ev.backend.name
    ok = ev.passing(c)
    res.pairs_considered, res.pairs_passing = int(ev.total.size), int(ok.sum())
    if not ok.any():  # explain over the whole catalog: a model-level constraint may be the culprit
        ev_all = evaluate(full, hw, c, ladder, correct_models=0, backend=be)
        raise ConstraintError(_explain_empty({k: v[:, None] for k, v in mmask.items()}, ev_all.pair_masks(c), ev_all, c))
    rc = c
    if not c.min_tps:
        fast = ok & (ev.decode >= DEFAULT_MIN_TPS)
        if fast.any():
            ok = fast
            rc = replace(c, min_tps=DEFAULT_MIN_TPS)
            res.notes.append(f"no speed constraint given: showing models that generate at least {DEFAULT_MIN_TPS:g} tok/s "
                             "(add e.g. 'min 1 tok/s' to see slower, larger ones)")
        else:
            res.notes.append(f"nothing reaches {DEFAULT_MIN_TPS:g} tok/s here: showing the best that fits, however slow")
        res.pairs_passing = int(ok.sum())
    # per model: the highest-quality quantization whose rank is within QUANT_SLACK of the model's best (a bigger one
    # that offloads or crawls loses; one that is merely a little slower than a smaller one does not)
    rounded = np.round(np.where(ok, ev.rank, -np.inf), 1)
    near_best = ok & (rounded >= rounded.max(axis=1, keepdims=True) - QUANT_SLACK)
    best_j = np.argmax(np.where(near_best, ev.quality, -np.inf), axis=1)
    rows = np.nonzero(ok.any(axis=1))[0]
    order = _order(ev, arr, rows, best_j[rows], sort)
    res.rank_ms = (time.perf_counter() - t0) * 1000
    dropped: list[str] = []
    shown: dict[tuple, Recommendation] = {}
    tried = 0
    for i in order:
        if len(res.items) >= top or tried >= max(top * 3, top + 5):
            break
        e = arr.entry(i)
        key = (e.arch, e.n_layers, e.hidden_size, round(e.params / 1e8), ladder[int(best_j[i])])
        if distinct and key in shown:
            shown[key].similar.append(e.id)
            continue
        tried += 1
        # the model's passing quantizations, best first: when the full estimate of one breaks a constraint the
        # vectorised one met (the default speed floor included), the next one is tried
        js = [int(best_j[i])] + [j for j in sorted(np.nonzero(ok[i])[0], key=lambda j: (-rounded[i, j], j))
                                 if j != best_j[i]][:2]
        rec = None
        for j in js:
            rec = _recommendation(ev, rc, ladder, e, int(i), int(j), arr)
            if refine and len(res.items) < REFINE_MAX:
                if _apply_report(rec, _full_report(e, ladder[j], hw, rec.context, be)):
                    why = _broken_by_report(rec.report, rc)
                    if why:
                        dropped.append(f"{e.id} {ladder[j]}: {why}")
                        rec = None
                        continue
            break
        if rec is None:
            continue
        if rec.report is None:
            parts = (int(ev.weights[i, ladder.index(rec.quant)]), int(ev.kv[i, 0]), int(ev.overhead))
            rec.report = _vector_report(rec, hw, ev.backend.name, parts)
            rec.vector_hw = (hw, ev.backend.name)
        shown[key] = rec
        res.items.append(rec)
    if dropped:
        res.notes.append(f"{len(dropped)} candidate(s) dropped after the full per-model estimate, e.g. {dropped[0]}")
    if not res.items:
        cons = ", ".join(t for _, t in c.describe()) or "fits this hardware"
        raise ConstraintError(f"no model meets '{cons}' once estimated in full: the best candidates fall short, e.g. "
                              + "; ".join(dropped[:2]))
    return res


def _order(ev: Evaluation, arr: CatalogArrays, rows: np.ndarray, js: np.ndarray, sort: str) -> np.ndarray:
    """Candidates `rows` (at their chosen quants `js`) in display order: the sort's figure, then rank points,
    availability, id (deterministic)."""
    rank = -np.round(ev.rank[rows, js], 1)
    figure = {"rank": np.zeros(rows.size), "speed": -np.round(ev.decode[rows, js], 1),
              "quality": -np.round(ev.quality[rows, js], 1), "memory": np.round(ev.total[rows, js] / 2**20),
              "context": -arr.max_ctx[rows]}[sort]
    return rows[np.lexsort((arr.id_order[rows], -arr.avail[rows], rank, figure))]


def _recommendation(ev: Evaluation, c: Constraints, ladder, e, i: int, j: int, arr: CatalogArrays) -> Recommendation:
    """The vectorised figures of model i at quant j, with the rank's terms and why the next better quant lost."""
    better = [k for k in range(len(ladder)) if ev.allowed[i, k] and ev.quality[i, k] > ev.quality[i, j] + 0.05]
    nb = min(better, key=lambda k: ev.quality[i, k]) if better else None
    rej = ev.why_rejected(c, i, nb, ladder[nb]) if nb is not None else None
    terms = {
        "size": float(arr.size_pts[i]), "generation": float(arr.gen_pts[i]), "quant_loss": -float(ev.quant_loss[i, j]),
        "speed": float(speed_points(ev.decode[i, j])), "fit": float(ev.fit_pts[i, j]), "context": float(arr.ctx_pts[i]),
        "first_party": FIRST_PARTY_POINTS * float(arr.first_party[i]),
        "instruct": INSTRUCT_POINTS * float(arr.instruct[i]),
        "availability": float(arr.avail[i]), "specialist": float(specialist_points(arr.name_uses[i], c.uses)),
    }
    return Recommendation(entry=e, quant=ladder[j], rank_score=float(ev.rank[i, j]), quality=float(ev.quality[i, j]),
                          total_bytes=int(ev.total[i, j]), gpu_bytes=int(ev.gpu_bytes[i, j]),
                          cpu_bytes=int(ev.cpu_bytes[i, j]), verdict=str(ev.verdict[i, j]), fits=bool(ev.fits[i, j]),
                          decode_tok_s=float(ev.decode[i, j]), prefill_tok_s=float(ev.prefill[i, j]),
                          context=int(ev.ctx[i, 0]), rejected_better=rej, n_cpu_moe=int(ev.n_cpu_moe[i, j]),
                          rank_terms=terms)


def _apply_report(rec: Recommendation, report: FitReport | None) -> bool:
    """Take the full pipeline's figures into `rec`; False when there is no report."""
    if report is None:
        return False
    rec.report = report
    rec.total_bytes, rec.verdict, rec.fits = report.memory.total_bytes, report.verdict, report.fits
    rec.gpu_bytes, rec.cpu_bytes = report.memory.gpu_bytes, report.memory.cpu_bytes
    rec.decode_tok_s, rec.prefill_tok_s = report.decode_tok_s, report.prefill_tok_s
    return True


def _broken_by_report(r: FitReport, c: Constraints) -> str | None:
    if c.fits and not r.fits:
        return f"does not fit ({fmt_gib(r.memory.total_bytes)})"
    if c.max_memory_bytes and r.memory.total_bytes > c.max_memory_bytes:
        return f"needs {fmt_gib_over(r.memory.total_bytes, c.max_memory_bytes)}"
    if c.max_vram_bytes and r.memory.gpu_bytes > c.max_vram_bytes:
        return f"needs {fmt_gib_over(r.memory.gpu_bytes, c.max_vram_bytes)} of VRAM"
    if c.min_tps and r.decode_tok_s < c.min_tps:
        return f"{r.decode_tok_s:.1f} tok/s < {c.min_tps:g}"
    if c.min_prefill_tps and r.prefill_tok_s < c.min_prefill_tps:
        return f"prefill {r.prefill_tok_s:.0f} tok/s < {c.min_prefill_tps:g}"
    return None


def _checked_ladder(ladder: tuple[str, ...], backend: Backend | None) -> tuple[str, ...]:
    """`ladder`, or one error line when the asked-for backend's runtime cannot run one of its quantizations."""
    if backend is not None:
        for quant in ladder:
            check_quant_on_backend(quant, backend)
    return ladder


def _full_report(entry, quant, hw, context, backend: Backend | None = None) -> FitReport | None:
    """FitReport from the full per-model pipeline, or None when a stage is not available (an optional library)."""
    try:
        return fit_spec(entry.to_spec(quant), hardware=hw, context=context, backend=backend)
    except ImportError:
        return None


def _vector_report(rec: Recommendation, hw, backend: str, parts: tuple[int, int, int]) -> FitReport:
    """FitReport from the vectorised figures (items beyond REFINE_MAX, or when a pipeline stage is missing)."""
    e = rec.entry
    return FitReport(
        model_ref=e.id, arch=e.arch, params=e.params, active_params=e.active_params or e.params, quant=rec.quant,
        file_bytes=e.gguf_size(rec.quant), hardware_name=hw.name, backend=backend, context=rec.context,
        memory=MemoryBreakdown(weights_bytes=parts[0], kv_cache_bytes=parts[1], overhead_bytes=parts[2],
                               compute_bytes=max(0, rec.total_bytes - sum(parts)), gpu_bytes=rec.gpu_bytes,
                               cpu_bytes=rec.cpu_bytes),
        gpu_layers=e.n_layers if (rec.gpu_bytes >= rec.total_bytes and rec.gpu_bytes) or rec.n_cpu_moe else 0,
        total_layers=e.n_layers, n_cpu_moe=rec.n_cpu_moe,
        fits=rec.fits, verdict=rec.verdict, score=fit_score(rec.verdict, rec.decode_tok_s),
        prefill_tok_s=rec.prefill_tok_s, decode_tok_s=rec.decode_tok_s,
        decode_tok_s_range=(rec.decode_tok_s * 0.7, rec.decode_tok_s * 1.3),
        reasons=[f"vectorised catalog estimate (the full per-model estimate covers the first {REFINE_MAX} results)"],
    )


def _explain_empty(model_masks: dict, pair_masks: dict, ev: Evaluation | None, c: Constraints) -> str:
    """Which constraint excluded everything (ConstraintError text). Masks are [models, 1] or [models, quants]."""
    allm = {**model_masks, **pair_masks}
    shape = np.broadcast_shapes(*(m.shape for m in allm.values()))
    allm = {k: np.broadcast_to(v, shape) for k, v in allm.items()}
    names = [k for k in allm if not k.startswith("_")]
    base = np.ones(shape, bool)
    for k in allm:
        if k.startswith("_"):
            base &= allm[k]

    def label(k):
        return "fits this hardware" if k == "fits" else describe_field(k, getattr(c, k))

    def hint(k):
        if ev is None:
            return ""
        fit = base & ev.fits
        if k == "min_tps" and fit.any():
            return f" (fastest model that fits: {ev.decode[fit].max():.1f} tok/s)"
        if k == "min_prefill_tps" and fit.any():
            return f" (fastest prefill that fits: {ev.prefill[fit].max():.0f} tok/s)"
        if k in ("max_memory_bytes", "fits") and base.any():
            return f" (smallest candidate needs {fmt_gib(ev.total[base].min())})"
        if k == "max_vram_bytes" and base.any():
            return f" (smallest GPU share needed: {fmt_gib(ev.gpu_bytes[base].min())})"
        return ""

    for k in names:  # a constraint that alone leaves nothing
        if not (base & allm[k]).any():
            return f"no model meets the constraints: '{label(k)}' alone excludes every model{hint(k)}"
    culprits = []
    for k in names:
        rest = base.copy()
        for o in names:
            if o != k:
                rest &= allm[o]
        if rest.any():
            culprits.append(f"'{label(k)}' (without it: {int(rest.any(axis=1).sum())} models)")
    if culprits:
        return "no model meets all constraints together; excluded by " + " or ".join(culprits)
    return "no model meets all constraints together (" + ", ".join(label(k) for k in names) + ")"


def recommend_quants(ref: str, constraints: Constraints | None = None, hardware=None, catalog=None,
                     sort: str = "rank", backend: str | Backend | None = None) -> RecommendResult:
    """Which quantization of THIS model: every quantization of the ladder for one catalog model, the passing ones
    best first (by `sort`), then the ones breaking a constraint with the constraint they break."""
    c = constraints or Constraints()
    _check_sort(sort)
    cat = catalog or load_catalog()
    e = cat.find(ref.strip()) if isinstance(ref, str) and ref.strip() else None
    if e is None:
        raise ResolveError(f"{ref!r} is not in the catalog (try `llmfit search {str(ref).split('/')[-1]}`)")
    hw = resolve_hw(hardware)
    be = check_request(hw, backend) if backend else None
    arr = catalog_arrays([e])
    full_ladder = _checked_ladder(quant_ladder(c, arr, be and be.runtime), be)
    ladder = tuple(q for q, a in zip(full_ladder, native_pairs(arr, full_ladder)[0][0]) if a)
    ev = evaluate(arr, hw, c, ladder, backend=be)
    ok = ev.passing(c)
    res = RecommendResult(hardware_name=hw.name, backend=ev.backend.name, context=c.context, constraints=c,
                          models_considered=1, pairs_considered=len(ladder), pairs_passing=int(ok.sum()))
    recs = []
    for j in range(len(ladder)):
        rec = _recommendation(ev, c, ladder, e, 0, j, arr)
        rec.rejected_better = None
        if _apply_report(rec, _full_report(e, ladder[j], hw, rec.context, be)):
            broken = _broken_by_report(rec.report, c)
        else:
            parts = (int(ev.weights[0, j]), int(ev.kv[0, j]), int(ev.overhead))
            rec.report = _vector_report(rec, hw, ev.backend.name, parts)
            rec.vector_hw = (hw, ev.backend.name)
            broken = None if ok[0, j] else ev.why_rejected(c, 0, j, ladder[j])
        rec.rejected_better = f"breaks: {broken}" if broken else None
        recs.append(rec)
    figure = {"rank": lambda r: -r.rank_score, "speed": lambda r: -r.decode_tok_s, "quality": lambda r: -r.quality,
              "memory": lambda r: r.total_bytes, "context": lambda r: -r.rank_score}[sort]
    res.items = sorted(recs, key=lambda r: (r.rejected_better is not None, round(figure(r), 1), ladder.index(r.quant)))
    res.pairs_passing = sum(1 for r in recs if r.rejected_better is None)
    if not res.pairs_passing:
        res.notes.append(f"no quantization of {e.id} meets every constraint here")
    return res
