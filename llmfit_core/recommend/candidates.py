"""What is considered under the constraints: which models (per-model masks) and which quantizations (the ladder,
and which model × quantization pairs are allowed)."""

from __future__ import annotations

import numpy as np

from llmfit_core.catalog.columns import format_bits, use_bits
from llmfit_core.constraints import Constraints
from llmfit_core.quant_quality import GGUF_LADDER
from llmfit_core.recommend.arrays import CatalogArrays

DEFAULT_LADDER = tuple(q for q in GGUF_LADDER if q != "F16")  # F16 only when asked: Q8_0 has the same quality
MLX_LADDER = ("MLX-3bit", "MLX-4bit", "MLX-6bit", "MLX-8bit")


def quant_ladder(c: Constraints, arr: CatalogArrays | None = None, runtime: str | None = None) -> tuple[str, ...]:
    """The quantizations to evaluate: the asked-for ones, the format's (MLX's for the mlx `runtime`), or the GGUF
    ladder plus the publishers' own GGUF quantizations of the models in `arr` (gpt-oss's MXFP4_MOE), which only those
    models are priced as."""
    if c.quants:
        return tuple(c.quants)
    if (c.formats and all(f in ("mlx",) for f in c.formats)) or (runtime == "mlx" and not c.formats):
        return MLX_LADDER
    if c.formats and all(f in ("awq", "gptq") for f in c.formats):
        fam = c.formats[0].upper()
        return (f"{fam}-4bit", f"{fam}-8bit")
    natives = sorted({q for q in (arr.native_quant if arr is not None else ()) if q and q not in DEFAULT_LADDER})
    return DEFAULT_LADDER + tuple(natives)


def native_pairs(arr: CatalogArrays, ladder: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(allowed, native) pair masks [models, quants]: a model released in its own GGUF quantization is priced only as
    that file (its K-quant uploads keep those tensors anyway), other models never as another model's own format."""
    natives = {q for q in arr.native_quant if q}
    lad = np.array(ladder, dtype=object)[None, :]
    own = np.array(arr.native_quant, dtype=object)[:, None]
    native = own == lad
    allowed = np.where(own != "", native, ~np.isin(lad, list(natives)) if natives else True)
    return np.broadcast_to(allowed, native.shape), native


def model_masks(arr: CatalogArrays, c: Constraints) -> dict[str, np.ndarray]:
    """Per-model constraint masks (constraint name -> bool array over models; "_" names are not the user's)."""
    masks: dict[str, np.ndarray] = {}
    uses = arr.uses
    if not c.uses or "embedding" not in c.uses:
        emb, chat = use_bits({"embedding"}), use_bits({"chat"})
        masks["_text"] = ~((uses == emb) | ((uses & emb != 0) & (uses & chat == 0)))
    if c.uses:
        want = use_bits(c.uses)
        masks["uses"] = (uses & want) == want
    if c.licenses:
        lic = [s.lower() for s in arr.licenses]
        masks["licenses"] = np.array([any(s == x or s.startswith(x) for x in c.licenses) for s in lic], bool)
    if c.families:
        masks["families"] = np.array([any(fam.startswith(x) or x in model_id.lower() for x in c.families)
                                      for fam, model_id in zip(arr.families, arr.ids)], bool)
    if c.formats:
        masks["formats"] = (arr.formats & format_bits(c.formats)) != 0
    if c.min_params:
        masks["min_params"] = arr.params >= c.min_params
    if c.max_params:
        masks["max_params"] = arr.params <= c.max_params
    if c.context:
        masks["context"] = arr.max_ctx >= c.context
    if not masks:
        masks["_all"] = np.ones(len(arr), bool)
    return masks
