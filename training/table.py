"""Turn training Rows into the roofline inputs / features / targets the correction is trained on.

Uses exactly the inference code path (model_figures, hardware_figures, model_arrays, hardware_arrays,
roofline_arrays, build_features), so training and prediction see the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from llmfit_core.throughput.features import build_features
from llmfit_core.throughput.predict import _OPTIONAL_KEYS, _ROOF_KEYS, hardware_arrays, model_arrays
from llmfit_core.throughput.roofline import hardware_figures, model_figures, roofline_arrays


@dataclass
class Table:
    inputs: dict[str, np.ndarray]
    roof: dict[str, np.ndarray]
    X: np.ndarray
    measured: np.ndarray
    is_decode: np.ndarray  # bool
    weight: np.ndarray
    groups: np.ndarray  # device names
    sources: np.ndarray
    heuristic: np.ndarray  # plain "bandwidth / model bytes" decode tok/s (nan for prefill rows)
    quant_assumed: np.ndarray | None = None  # bool: the source does not state the row's quantization
    rows: list | None = None  # the training Rows, in order

    @property
    def roofline(self) -> np.ndarray:
        return np.where(self.is_decode, self.roof["decode_tok_s"], self.roof["prefill_tok_s"])

    @property
    def target(self) -> np.ndarray:
        """log(measured / roofline) of each row's own head."""
        return np.log(self.measured / self.roofline)


def row_model_inputs(spec, mf, hf) -> dict:
    """The optional roofline inputs a row's model and placement add (predict.optional_inputs)."""
    from llmfit_core.throughput.predict import optional_inputs

    return optional_inputs(spec, mf, hf)


def build_table(rows) -> Table:
    """Stack rows into a Table (one roofline evaluation for all rows)."""
    per_row = []
    heur = []
    for r in rows:
        mf = model_figures(r.spec)
        hf = hardware_figures(r.hardware, r.backend, r.placement, n_layers=mf.n_layers, threads=r.threads)
        d = {**{k: v[0] for k, v in model_arrays([mf]).items()}, **hardware_arrays(hf)}
        d["prompt_tokens"], d["decode_pos"], d["bench_kind"] = r.prompt_tokens, r.decode_pos, r.bench_kind
        depth = int(getattr(r, "depth", 0) or 0)
        if r.test == "tg":
            d["decode_pos"] = r.decode_pos + depth
        d["depth"], d["flash_attn"] = depth, float(bool(getattr(r, "flash_attn", False)))
        d["n_ubatch"], d["n_batch"] = float(getattr(r, "n_ubatch", 512)), float(getattr(r, "n_batch", 2048))
        d.update(row_model_inputs(r.spec, mf, hf))
        per_row.append(d)
        bw = hf.gpu_bw_gbs if hf.gpu_frac > 0 else (r.hardware.cpu.mem_bandwidth_gbs or hf.cpu_bw_gbs)
        heur.append(bw * 1e9 / r.spec.weight_bytes if r.test == "tg" else np.nan)
    keys = list(per_row[0].keys())
    inputs = {k: np.array([d[k] for d in per_row]) for k in keys}
    roof_in = {**{k: inputs[k] for k in _ROOF_KEYS}, **{k: inputs[k] for k in _OPTIONAL_KEYS if k in inputs}}
    feature_roof = roofline_arrays(**roof_in)
    # power-bound boards (hardware_figures' gpu_power_keep): physics with the compute they keep, features on the quoted
    # figures, as predict_batch does at inference
    roof = roofline_arrays(**{**roof_in, "gpu_tflops": inputs["gpu_tflops"] * inputs["gpu_power_keep"]})
    X = build_features(inputs, feature_roof)
    return Table(
        inputs=inputs,
        roof=roof,
        X=X,
        measured=np.array([r.tok_s for r in rows], float),
        is_decode=np.array([r.test == "tg" for r in rows]),
        weight=np.array([r.weight for r in rows], float),
        groups=np.array([r.device for r in rows]),
        sources=np.array([r.source for r in rows]),
        quant_assumed=np.array([bool(getattr(r, "quant_assumed", False)) for r in rows]),
        heuristic=np.array(heur, float),
        rows=list(rows),
    )
