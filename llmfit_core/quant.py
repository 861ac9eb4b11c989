"""Quantization facts: names, ggml type sizes, llama.cpp's per-tensor quant mixes, and the what-if.

Sizes come from `gguf.constants.GGML_QUANT_SIZES` (block size, bytes per block). Which ggml type each
tensor gets for a llama.cpp file type (Q4_K_M, ...) follows `llama_tensor_get_type` in llama.cpp's
src/llama-quant.cpp (llama-cpp-python 0.3.36 vendor tree), without an importance matrix and without
the 70B-only attn_v bump. MLX / GPTQ / AWQ / bitsandbytes / FP8 are modelled as bits per weight for
linear weights (plus their per-group scales), 16-bit for what they leave unquantized.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from dataclasses import dataclass

from llmfit_core.errors import ModelReadError, UnknownQuantizationError
from llmfit_core.gguf_constants import GGML_QUANT_SIZES, GGMLQuantizationType, LlamaFileType
from llmfit_core.model_spec import ModelSpec
from llmfit_core.tensor_layout import group_and_layer_bytes, n_params, tensor_layer, tensors_from_spec

T = GGMLQuantizationType

# --------------------------------------------------------------------------------------------------
# ggml types


def ggml_type(name_or_id: str | int | GGMLQuantizationType) -> GGMLQuantizationType:
    """A ggml type from its name ("Q4_K") or id; UnknownQuantizationError otherwise."""
    if isinstance(name_or_id, GGMLQuantizationType):
        return name_or_id
    try:
        if isinstance(name_or_id, int):
            t = GGMLQuantizationType(name_or_id)
        else:
            t = GGMLQuantizationType[str(name_or_id).upper()]
    except (ValueError, KeyError):
        raise UnknownQuantizationError(f"unknown ggml tensor type {name_or_id!r}") from None
    if t not in GGML_QUANT_SIZES:
        raise UnknownQuantizationError(f"no size facts for ggml tensor type {t.name}")
    return t


def tensor_nbytes(gtype: str | int | GGMLQuantizationType, shape) -> int:
    """Exact bytes of a tensor of ggml type `gtype` and ggml shape (ne0 first), as llama.cpp stores it.

    Raises ModelReadError when ne0 is not a multiple of the type's block size (an invalid tensor).
    """
    t = ggml_type(gtype)
    block, size = GGML_QUANT_SIZES[t]
    dims = [int(d) for d in shape] or [1]
    ne0 = dims[0]
    if ne0 % block:
        raise ModelReadError(f"tensor row of {ne0} elements is not a multiple of the {t.name} block size {block}")
    rows = 1
    for d in dims[1:]:
        rows *= d
    return rows * (ne0 // block) * size


def bits_per_weight(gtype: str | int | GGMLQuantizationType) -> float:
    """Bits per weight of a ggml type (block bytes * 8 / block elements)."""
    block, size = GGML_QUANT_SIZES[ggml_type(gtype)]
    return 8.0 * size / block


# --------------------------------------------------------------------------------------------------
# llama.cpp file types


def _ftype_label(ft: LlamaFileType) -> str:
    if ft == LlamaFileType.ALL_F32:
        return "F32"
    return ft.name.removeprefix("MOSTLY_")


# llama.cpp file type name -> (LlamaFileType, default ggml type): llama_ftype_get_default_type
_DEFAULT_TYPE = {
    "F32": T.F32, "F16": T.F16, "BF16": T.BF16, "Q8_0": T.Q8_0, "Q4_0": T.Q4_0, "Q4_1": T.Q4_1,
    "Q5_0": T.Q5_0, "Q5_1": T.Q5_1, "Q2_K": T.Q2_K, "Q2_K_S": T.Q2_K, "Q3_K_S": T.Q3_K, "Q3_K_M": T.Q3_K,
    "Q3_K_L": T.Q3_K, "Q4_K_S": T.Q4_K, "Q4_K_M": T.Q4_K, "Q5_K_S": T.Q5_K, "Q5_K_M": T.Q5_K, "Q6_K": T.Q6_K,
    "IQ2_XXS": T.IQ2_XXS, "IQ2_XS": T.IQ2_XS, "IQ2_S": T.IQ2_XS, "IQ2_M": T.IQ2_S, "IQ3_XS": T.IQ3_S,
    "IQ3_XXS": T.IQ3_XXS, "IQ3_S": T.IQ3_S, "IQ3_M": T.IQ3_S, "IQ1_S": T.IQ1_S, "IQ1_M": T.IQ1_M,
    "IQ4_NL": T.IQ4_NL, "IQ4_XS": T.IQ4_XS, "TQ1_0": T.TQ1_0, "TQ2_0": T.TQ2_0, "MXFP4_MOE": T.MXFP4,
    "Q1_0": T.Q1_0, "NVFP4": T.NVFP4,
}

#: canonical llama.cpp file type names -> LlamaFileType (from the gguf package)
FILE_TYPES: dict[str, LlamaFileType] = {
    _ftype_label(ft): ft for ft in LlamaFileType if ft != LlamaFileType.GUESSED and _ftype_label(ft) in _DEFAULT_TYPE
}


def file_type_name(value: int) -> str | None:
    """`general.file_type` value -> name such as "Q4_K_M" (None if unknown)."""
    try:
        ft = LlamaFileType(int(value))
    except (ValueError, TypeError):
        return None
    label = _ftype_label(ft)
    return label if label in FILE_TYPES else None


@dataclass(frozen=True)
class QuantFact:
    """One quantization scheme: its canonical name, family and its nominal bits per weight."""

    name: str
    family: str  # gguf | mlx | gptq | awq | bnb | fp8 | float
    default_type: str | None  # ggml type of most weights (gguf only)
    bits: float  # nominal bits per weight of the main linear weights incl. scales
    group_size: int | None = None


def quant_fact(name: str) -> QuantFact:
    """Facts for a quantization name (any spelling accepted by normalize_quant)."""
    q = normalize_quant(name)
    if q.startswith("UD-"):
        t = _DEFAULT_TYPE[base_file_type(q)]
        return QuantFact(q, "gguf", t.name, bits_per_weight(t))
    if q in _DEFAULT_TYPE:
        t = _DEFAULT_TYPE[q]
        return QuantFact(q, "float" if q in ("F32", "F16", "BF16") else "gguf", t.name, bits_per_weight(t))
    fam, bits, gs = _parse_other(q)
    return QuantFact(q, fam, None, _other_bits(fam, bits, gs), gs)


def quant_fact_or_none(name) -> QuantFact | None:
    """quant_fact for any input, None when it is not a known quantization (unknown, empty, None, hostile)."""
    try:
        return quant_fact(name)
    except UnknownQuantizationError:
        return None


# --------------------------------------------------------------------------------------------------
# names

_ALIASES = {
    "FP32": "F32", "FLOAT32": "F32", "FLOAT": "F32",
    "FP16": "F16", "FLOAT16": "F16", "HALF": "F16",
    "BFLOAT16": "BF16",
    "MXFP4": "MXFP4_MOE",
    "Q8": "Q8_0", "INT8": "Q8_0", "8BIT": "Q8_0",
    "Q6": "Q6_K", "6BIT": "Q6_K", "INT6": "Q6_K",
    "Q5": "Q5_K_M", "5BIT": "Q5_K_M", "INT5": "Q5_K_M", "Q5_K": "Q5_K_M",
    "Q4": "Q4_K_M", "4BIT": "Q4_K_M", "INT4": "Q4_K_M", "Q4_K": "Q4_K_M",
    "Q3": "Q3_K_M", "3BIT": "Q3_K_M", "INT3": "Q3_K_M", "Q3_K": "Q3_K_M",
    "Q2": "Q2_K", "2BIT": "Q2_K", "INT2": "Q2_K",
    "FP8": "FP8", "F8": "FP8", "F8_E4M3": "FP8", "FP8_E4M3": "FP8",
    # llama.cpp's former ARM repacks of Q4_0 (file types 33-35, since removed): Q4_0's bytes
    "Q4_0_4_4": "Q4_0", "Q4_0_4_8": "Q4_0", "Q4_0_8_8": "Q4_0",
}
_COMPACT = {n.replace("_", ""): n for n in _DEFAULT_TYPE}
_OTHER_RE = re.compile(r"^(MLX|GPTQ|AWQ|BNB)[-_]?(\d\d?)[-_]?BITS?(?:[-_]?G(\d+))?$")


def normalize_quant(name: str) -> str:
    """Canonical quantization name: "q4_k_m"/"Q4KM"/"MOSTLY_Q4_K_M" -> "Q4_K_M", "fp16" -> "F16", "MLX 4bit" -> "MLX-4bit".

    The one name normaliser of the package (readers, resolve, catalog, fit and the throughput model).
    Generic "4bit"/"int4" mean llama.cpp's usual 4-bit file (Q4_K_M), "8bit"/"int8" Q8_0; "MLX-16bit" is
    MLX's unquantized (bf16/fp16) storage. Raises UnknownQuantizationError for anything else.
    """
    if not isinstance(name, str) or not name.strip() or len(name) > 40:
        shown = repr(name)[:40] + ("..." if len(repr(name)) > 40 else "")
        raise UnknownQuantizationError(f"unknown quantization {shown}")
    raw = name.strip()
    s = raw.upper().replace("-", "_").replace(" ", "_").replace(".", "_")
    s = s.removeprefix("GGUF_").removeprefix("MOSTLY_")  # LlamaFileType names: MOSTLY_Q4_K_M
    if s.startswith("UD_"):  # Unsloth dynamic label, e.g. UD-Q4_K_XL (mix based on Q4_K_M)
        rest = s[3:]
        base = normalize_quant(rest)
        if base not in _DEFAULT_TYPE:
            raise UnknownQuantizationError(f"unknown quantization {raw!r}")
        if rest.replace("_", "").endswith("XL"):
            return "UD-" + (base[:-2] if base.endswith("_M") else base) + "_XL"
        return "UD-" + base
    if s in _DEFAULT_TYPE:
        return s
    if s in _ALIASES:
        return _ALIASES[s]
    compact = s.replace("_", "")
    if compact in _COMPACT:
        return _COMPACT[compact]
    if compact in _ALIASES:
        return _ALIASES[compact]
    if compact.endswith("XL"):  # Unsloth "Q4_K_XL" style: the M (or plain) mix
        for cand in (compact[:-2] + "M", compact[:-2]):
            if cand in _COMPACT:
                return _COMPACT[cand]
    m = _OTHER_RE.match(s.replace("_", "") if "BIT" in s else s)
    if m is None:
        m = _OTHER_RE.match(s)
    if m:
        fam, bits, group = m.group(1), int(m.group(2)), m.group(3)
        if group is not None and int(group) == 0:
            raise UnknownQuantizationError(f"unknown quantization {raw!r} (group size 0)")
        label = {"MLX": "MLX", "GPTQ": "GPTQ", "AWQ": "AWQ", "BNB": "BNB"}[fam]
        if fam == "MLX" and (bits not in (2, 3, 4, 5, 6, 8, 16) or bits == 16 and group):
            raise UnknownQuantizationError(f"unknown quantization {raw!r} (MLX supports 2,3,4,5,6,8 bits, or 16 unquantized)")
        if fam in ("GPTQ", "AWQ") and bits not in (2, 3, 4, 8):
            raise UnknownQuantizationError(f"unknown quantization {raw!r}")
        if fam == "BNB" and bits not in (4, 8):
            raise UnknownQuantizationError(f"unknown quantization {raw!r} (bitsandbytes is 4 or 8 bit)")
        return f"{label}-{bits}bit" + (f"-g{int(group)}" if group else "")
    # Qwen's "GPTQ-Int4" / "AWQ-Int4", and Intel AutoRound's "AutoRound-4bit" / "-W4A16" exports, which pack
    # GPTQ's way (int4 in int32 words, fp16 scale + packed zero per 128-weight group): the GPTQ size
    m = re.match(r"^(GPTQ|AWQ)_?INT(\d)$|^AUTO_?ROUND_?(?:(\d)_?BITS?|W(\d)A16)$", s)
    if m:
        fam = m.group(1) or "GPTQ"
        bits = int(next(g for g in m.groups()[1:] if g))
        if bits not in (2, 3, 4, 8):
            raise UnknownQuantizationError(f"unknown quantization {raw!r}")
        return f"{fam}-{bits}bit"
    if s in ("NF4", "BNB_NF4", "BNB4", "BITSANDBYTES_4BIT"):
        return "BNB-4bit"
    if s in ("BNB8", "BNB_INT8", "BITSANDBYTES_8BIT", "LLM_INT8"):
        return "BNB-8bit"
    close = difflib.get_close_matches(s, [*_DEFAULT_TYPE, "FP8", "MXFP4"], n=3, cutoff=0.6)
    hint = f"closest: {', '.join(close)}; " if close else ""
    raise UnknownQuantizationError(
        f"unknown quantization {raw!r} ({hint}e.g. Q4_K_M, Q8_0, F16, IQ4_XS, MXFP4, MLX-4bit, GPTQ-4bit)"
    )


def base_file_type(quant: str) -> str:
    """The llama.cpp file type whose mix a quant label follows ("UD-Q4_K_XL" -> "Q4_K_M")."""
    q = normalize_quant(quant)
    if q.startswith("UD-"):
        q = q[3:]
        q = normalize_quant(q)
    return q


def _parse_other(q: str) -> tuple[str, int, int | None]:
    if q == "FP8":
        return "fp8", 8, None
    m = re.match(r"^(MLX|GPTQ|AWQ|BNB)-(\d\d?)bit(?:-g(\d+))?$", q)
    if not m:
        raise UnknownQuantizationError(f"unknown quantization {q!r}")
    fam = m.group(1).lower()
    if fam == "mlx" and m.group(2) == "16":
        return fam, 16, None  # not quantized: no groups, no scales
    default_group = {"mlx": 64, "gptq": 128, "awq": 128, "bnb": 64}[fam]
    return fam, int(m.group(2)), int(m.group(3)) if m.group(3) else default_group


def _other_bits(fam: str, bits: int, group: int | None) -> float:
    """Stored bits per quantized weight incl. per-group metadata."""
    if fam == "fp8":
        return 8.0
    if fam == "mlx":  # affine: fp16 scale + fp16 bias per group (none when not quantized)
        return bits + 32.0 / group if group else float(bits)
    if fam in ("gptq", "awq"):  # fp16 scale + packed `bits` zero point per group
        return bits + (16.0 + bits) / group
    if fam == "bnb":
        if bits == 8:  # LLM.int8: int8 weights + one fp32 scale per row (negligible)
            return 8.0
        return 4.0 + 8.0 / group + 32.0 / (group * 256)  # nf4 with double-quantized absmax
    raise UnknownQuantizationError(f"unknown quantization family {fam!r}")


# --------------------------------------------------------------------------------------------------
# tensor names -> groups / categories

def _category(name: str) -> str:
    if name == "output.weight":
        return "OUTPUT"
    if name in ("token_embd.weight", "per_layer_token_embd.weight"):
        return "TOKEN_EMBD"
    for key, cat in (("attn_qkv.weight", "QKV"), ("attn_kv_b.weight", "KV_B"), ("attn_v.weight", "V"),
                     ("attn_k.weight", "K"), ("attn_q.weight", "Q"), ("attn_output.weight", "ATTN_OUT"),
                     ("ffn_up", "FFN_UP"), ("ffn_gate", "FFN_GATE"), ("ffn_down", "FFN_DOWN")):
        if key in name:
            return cat
    return "OTHER"


_NOT_QUANTIZED = ("_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel",
                  "per_layer_model_proj", "ssm_conv1d", "shortconv.conv.weight", "position_embd", "token_types",
                  "time_mix_first", "time_mix_w0", "time_mix_w1", "time_mix_w2", "time_mix_v0", "time_mix_v1",
                  "time_mix_v2", "time_mix_a0", "time_mix_a1", "time_mix_a2", "time_mix_g1", "time_mix_g2",
                  "time_mix_decay_w1", "time_mix_decay_w2", "time_mix_lerp_fused", "attn_rel_b.weight")


def quantizable(name: str, n_dims: int) -> bool:
    """llama.cpp's tensor_allows_quantization (generic part): 2-D/3-D weights except norms, routers, ..."""
    if n_dims < 2 or not name.endswith("weight"):
        return False
    return not any(k in name for k in _NOT_QUANTIZED)


# --------------------------------------------------------------------------------------------------
# llama.cpp quant mixes


@dataclass
class MixContext:
    """Model facts llama_tensor_get_type looks at."""

    n_layers: int
    n_gqa: int = 1  # n_head / n_head_kv
    n_experts: int = 0
    tied_embeddings: bool = False  # no output.weight in the file
    arch: str = "llama"
    n_attention_wv: int = 0
    i_attention_wv: int = 0
    i_ffn_down: int = 0
    i_ffn_gate: int = 0
    i_ffn_up: int = 0


def _use_more_bits(i: int, n: int) -> bool:
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


_LOW_IQ = ("IQ2_XXS", "IQ2_XS", "IQ1_S", "IQ2_S", "IQ2_M", "IQ1_M")


def _mix_type(ctx: MixContext, new: T, name: str, shape, ftype: str, cat: str) -> T:  # noqa: C901
    """Port of llama_tensor_get_type_impl (no imatrix)."""
    falcon = ctx.arch == "falcon"
    n_exp = ctx.n_experts
    gqa = ctx.n_gqa

    def layer_of(counter: int) -> tuple[int, int]:
        if max(1, n_exp) > 1:
            i = tensor_layer(name)
            if i is None:
                raise ModelReadError(f"cannot determine the layer of tensor {name}")
            return i, ctx.n_layers
        return counter, ctx.n_layers

    if cat == "OUTPUT" or (ctx.tied_embeddings and cat == "TOKEN_EMBD"):
        nx = int(shape[0])
        qk = GGML_QUANT_SIZES[new][0]
        if ftype == "MXFP4_MOE":
            return T.Q8_0
        if falcon or nx % qk:
            return T.Q8_0
        if ftype in ("IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ2_S", "IQ2_M", "IQ1_M"):
            return T.Q5_K
        return new if new == T.Q8_0 else T.Q6_K
    if ftype == "MXFP4_MOE":
        return T.MXFP4 if len(shape) > 2 and int(shape[2]) > 1 else T.Q8_0
    if cat == "TOKEN_EMBD":
        if ftype in ("IQ2_XXS", "IQ2_XS", "IQ1_S", "IQ1_M"):
            return T.Q2_K
        if ftype in ("IQ2_S", "IQ2_M", "IQ3_XXS"):
            return T.IQ3_S
        if ftype in ("TQ1_0", "TQ2_0"):
            return T.Q4_K
        return new
    if ftype in _LOW_IQ:
        if cat in ("V", "QKV", "KV_B"):
            if gqa >= 4 or n_exp >= 4:
                new = T.Q4_K
            else:
                new = T.IQ3_S if ftype in ("IQ2_S", "IQ2_M") else T.Q2_K
            ctx.i_attention_wv += 1
        elif n_exp == 8 and cat == "K":
            new = T.Q4_K
        elif cat == "FFN_DOWN":
            if ctx.i_ffn_down < ctx.n_layers // 8:
                new = T.IQ3_S if ftype in ("IQ2_S", "IQ2_M") else T.Q2_K
            ctx.i_ffn_down += 1
        elif cat == "ATTN_OUT":
            if n_exp == 8:
                new = T.Q5_K
            elif ftype in ("IQ1_S", "IQ1_M"):
                new = T.IQ2_XXS
            elif ftype in ("IQ2_S", "IQ2_M"):
                new = T.IQ3_S
        return new
    if cat in ("V", "QKV", "KV_B"):
        if ftype == "Q2_K":
            new = T.Q4_K if gqa >= 4 else T.Q3_K
        elif ftype == "Q2_K_S" and gqa >= 4:
            new = T.Q4_K
        elif ftype == "IQ3_XXS":
            new = T.Q4_K if gqa >= 4 else T.IQ3_S
        elif ftype in ("IQ3_XS", "IQ3_S") and gqa >= 4:
            new = T.Q4_K
        elif ftype == "IQ3_M":
            new = T.Q4_K
        elif ftype == "Q3_K_M":
            new = T.Q5_K if ctx.i_attention_wv < 2 else T.Q4_K
        elif ftype == "Q3_K_L":
            new = T.Q5_K
        elif ftype in ("IQ4_NL", "IQ4_XS") and gqa >= 4:
            new = T.Q5_K
        elif ftype in ("Q4_K_M", "Q5_K_M") and _use_more_bits(ctx.i_attention_wv, ctx.n_attention_wv):
            new = T.Q6_K
        elif ftype == "Q4_K_S" and ctx.i_attention_wv < 4:
            new = T.Q5_K
        if n_exp == 8:
            new = T.Q8_0
        ctx.i_attention_wv += 1
        return new
    if cat == "K":
        if n_exp == 8:
            return T.Q8_0
        if ftype == "IQ3_XS":
            return T.IQ3_XXS
        if ftype == "IQ3_XXS":
            return T.IQ2_S
        return new
    if cat == "Q":
        if ftype == "IQ3_XS":
            return T.IQ3_XXS
        if ftype == "IQ3_XXS":
            return T.IQ2_S
        return new
    if cat == "FFN_DOWN":
        i, n = layer_of(ctx.i_ffn_down)
        if ftype == "Q2_K":
            new = T.Q3_K
        elif ftype == "Q2_K_S":
            if i < n // 8:
                new = T.Q4_K
        elif ftype == "IQ3_XXS":
            new = T.Q4_K if i < n // 8 else T.Q3_K
        elif ftype == "Q3_K_M":
            new = T.Q5_K if i < n // 16 else (T.Q4_K if (not falcon or _use_more_bits(i, n)) else T.Q3_K)
        elif ftype == "IQ3_M" and (i < n // 8 or (n_exp == 8 and _use_more_bits(i, n))):
            new = T.Q4_K
        elif ftype == "Q3_K_L":
            new = T.Q4_K if falcon else T.Q5_K
        elif ftype == "Q4_K_M":
            if falcon:
                new = T.Q6_K if i < n // 16 else (T.Q5_K if _use_more_bits(i, n) else T.Q4_K)
            elif _use_more_bits(i, n):
                new = T.Q6_K
        elif i < n // 8 and ftype in ("IQ4_NL", "IQ4_XS"):
            new = T.Q5_K
        elif ftype == "Q5_K_M" and _use_more_bits(i, n):
            new = T.Q6_K
        elif ftype == "Q4_K_S" and not falcon and i < n // 8:
            new = T.Q5_K
        ctx.i_ffn_down += 1
        return new
    if cat == "ATTN_OUT":
        if not falcon:
            if n_exp == 8:
                if ftype in ("Q2_K", "IQ3_XS", "IQ3_XXS", "Q3_K_S", "Q3_K_M", "IQ4_NL", "Q4_K_S", "Q4_K_M",
                             "IQ3_S", "IQ3_M", "IQ4_XS"):
                    new = T.Q5_K
            else:
                new = {"Q2_K": T.Q3_K, "IQ3_XXS": T.IQ3_S, "Q3_K_M": T.Q4_K, "Q3_K_L": T.Q5_K,
                       "IQ3_M": T.Q4_K}.get(ftype, new)
        elif ftype == "Q3_K_L":
            new = T.Q4_K
        return new
    if cat == "QKV":  # unreachable (handled with V above, as in llama.cpp)
        return new
    if cat in ("FFN_GATE", "FFN_UP"):
        attr = "i_ffn_gate" if cat == "FFN_GATE" else "i_ffn_up"
        i, n = layer_of(getattr(ctx, attr))
        if ftype == "IQ3_XS" and n // 8 <= i < 7 * n // 8:
            new = T.IQ3_XXS
        setattr(ctx, attr, getattr(ctx, attr) + 1)
        return new
    return new


def _fallback(new: T, ne0: int) -> T:
    """tensor_type_fallback: rows that do not fit the block size get a compatible type."""
    block = GGML_QUANT_SIZES[new][0]
    if ne0 % block == 0:
        return new
    ret = {T.IQ1_S: T.IQ4_NL, T.IQ1_M: T.IQ4_NL, T.IQ2_XXS: T.IQ4_NL, T.IQ2_XS: T.IQ4_NL, T.IQ2_S: T.IQ4_NL,
           T.IQ3_XXS: T.IQ4_NL, T.IQ3_S: T.IQ4_NL, T.IQ4_XS: T.IQ4_NL, T.Q2_K: T.Q4_0, T.Q3_K: T.Q4_0,
           T.TQ1_0: T.Q4_0, T.TQ2_0: T.Q4_0, T.Q4_K: T.Q5_0, T.Q5_K: T.Q5_1, T.Q6_K: T.Q8_0}.get(new, new)
    if ne0 % GGML_QUANT_SIZES[ret][0]:
        ret = T.F16
    return ret


def llamacpp_tensor_types(tensors, ftype: str, ctx: MixContext) -> list[T]:
    """ggml type llama.cpp's quantizer gives each tensor for file type `ftype`.

    `tensors` is a sequence of (name, ggml shape, current ggml type name) in file order.
    """
    ftype = base_file_type(ftype)
    if ftype not in _DEFAULT_TYPE:
        raise UnknownQuantizationError(f"{ftype} is not a llama.cpp file type")
    default = _DEFAULT_TYPE[ftype]
    quantized = default not in (T.F32, T.F16, T.BF16)
    cats = [_category(name) for name, _, _ in tensors]
    ctx.n_attention_wv = sum(c in ("V", "QKV", "KV_B") for c in cats)
    ctx.tied_embeddings = not any(c == "OUTPUT" for c in cats)
    ctx.i_attention_wv = ctx.i_ffn_down = ctx.i_ffn_gate = ctx.i_ffn_up = 0
    out = []
    for (name, shape, cur), cat in zip(tensors, cats):
        if not quantizable(name, len(shape)):
            t = ggml_type(cur)
            # convert_hf_to_gguf stores 1-D tensors (norms, biases) and MoE routers as F32
            if t in (T.F16, T.BF16) and (len(shape) == 1 or "ffn_gate_inp" in name):
                t = T.F32
            out.append(t)
            continue
        new = default
        if quantized:
            new = _mix_type(ctx, new, name, shape, ftype, cat)
            new = _fallback(new, int(shape[0]))
        out.append(new)
    return out


# --------------------------------------------------------------------------------------------------
# what-if


def _mix_context(spec: ModelSpec) -> MixContext:
    gqa = spec.n_heads // spec.n_kv_heads if spec.n_kv_heads else 1
    return MixContext(n_layers=spec.n_layers, n_gqa=max(1, gqa), n_experts=spec.n_experts, arch=spec.arch)


def _prod(shape) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


def _other_tensor_bytes(fact: QuantFact, name: str, shape, cur: str) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    if not quantizable(name, len(shape)):
        return tensor_nbytes(cur, shape) if cur in ("F32", "F16", "BF16") else n * 2
    cat = _category(name)
    if fact.family in ("gptq", "awq", "bnb") and cat in ("TOKEN_EMBD", "OUTPUT"):
        return n * 2  # these libraries leave embeddings and lm_head in 16-bit
    if fact.family == "fp8" and cat in ("TOKEN_EMBD", "OUTPUT"):
        return n * 2
    return int(round(n * fact.bits / 8.0))


def apply_quant(spec: ModelSpec, quant: str) -> ModelSpec:
    """What-if: `spec` re-stored as `quant` (llama.cpp mix for GGUF types, bits+scales for MLX/GPTQ/...).

    Needs `spec.tensors` (name, ggml shape, type) — set by every reader and by spec_from_config.
    Returns a new ModelSpec with weight_bytes, group_bytes, layer_bytes, tensor_types recomputed.
    """
    q = normalize_quant(quant)
    scale = 1.0
    if not spec.tensors:
        # no tensor infos (catalog, Ollama API, ...): rebuild the layout from the architecture fields
        tensors = tensors_from_spec(spec)
        built = n_params(tensors)
        if not built:
            raise ModelReadError(f"{spec.ref}: not enough architecture facts to re-quantize")
        if spec.params and abs(spec.params / built - 1) > 0.002:
            scale = spec.params / built
        spec = dataclasses.replace(spec, tensors=tensors, notes=list(spec.notes) + [
            "tensor layout rebuilt from architecture fields" + (
                f" (scaled x{scale:.3f} to the stated parameter count)" if scale != 1.0 else "")])
    base = base_file_type(q)
    types: dict[str, int] = {}
    if base in _DEFAULT_TYPE:
        gtypes = llamacpp_tensor_types(spec.tensors, base, _mix_context(spec))
        sizes = [tensor_nbytes(t, shape) for t, (_, shape, _) in zip(gtypes, spec.tensors)]
        names = [t.name for t in gtypes]
        # the tensors as the file would store them: CPU weight repacking (memory.repack_split) follows their types
        stored = [(n, s, t) for (n, s, _), t in zip(spec.tensors, names)]
        fmt = "gguf"
        note = f"weights re-computed as llama.cpp would store them as {q} (llama-quant.cpp mix, no imatrix)"
        if q.startswith("UD-"):
            note += "; Unsloth dynamic quants upgrade some tensors, so the real file is usually a little larger"
    else:
        fact = quant_fact(base)
        sizes = [_other_tensor_bytes(fact, n, s, c) for n, s, c in spec.tensors]
        names = [q if quantizable(n, len(s)) else c for n, s, c in spec.tensors]
        stored = spec.tensors  # no ggml type for these: the layout keeps the original types
        fmt = {"mlx": "mlx", "fp8": "safetensors"}.get(fact.family, "safetensors")
        note = f"weights re-computed as {q} at {fact.bits:.3f} bits per quantized weight"
    for tname in names:
        types[tname] = types.get(tname, 0) + 1
    groups, layers = group_and_layer_bytes(((n, size) for (n, _, _), size in zip(spec.tensors, sizes, strict=True)),
                                           spec.n_layers)
    if scale != 1.0:
        groups = {g: int(b * scale) for g, b in groups.items()}
        layers = [int(b * scale) for b in layers]
    total = sum(groups.values())
    return dataclasses.replace(
        spec,
        tensors=stored,
        quant=q,
        format=fmt,
        weight_bytes=total,
        group_bytes={g: b for g, b in groups.items() if b},
        layer_bytes=layers,
        tensor_types=types,
        file_bytes=None,
        exact=False,
        source=spec.source if spec.source.endswith("+quant") else spec.source + "+quant",
        notes=list(spec.notes) + [note],
    )


# --------------------------------------------------------------------------------------------------
# summaries of the mixes (docs, catalog estimates)


def _reference_tensors(n_layers: int, hidden: int, kv_dim: int, ffn: int, vocab: int, n_experts: int):
    ts = [("token_embd.weight", (hidden, vocab), "F16")]
    for i in range(n_layers):
        b = f"blk.{i}."
        ts += [(b + "attn_norm.weight", (hidden,), "F32"), (b + "attn_q.weight", (hidden, hidden), "F16"),
               (b + "attn_k.weight", (hidden, kv_dim), "F16"), (b + "attn_v.weight", (hidden, kv_dim), "F16"),
               (b + "attn_output.weight", (hidden, hidden), "F16"), (b + "ffn_norm.weight", (hidden,), "F32")]
        if n_experts > 1:
            ts += [(b + "ffn_gate_inp.weight", (hidden, n_experts), "F32"),
                   (b + "ffn_gate_exps.weight", (hidden, ffn, n_experts), "F16"),
                   (b + "ffn_up_exps.weight", (hidden, ffn, n_experts), "F16"),
                   (b + "ffn_down_exps.weight", (ffn, hidden, n_experts), "F16")]
        else:
            ts += [(b + "ffn_gate.weight", (hidden, ffn), "F16"), (b + "ffn_up.weight", (hidden, ffn), "F16"),
                   (b + "ffn_down.weight", (ffn, hidden), "F16")]
    return ts + [("output_norm.weight", (hidden,), "F32"), ("output.weight", (hidden, vocab), "F16")]


def describe_mix(quant: str, n_layers: int = 32, n_gqa: int = 4, n_experts: int = 0) -> dict[str, dict[str, int]]:
    """Which ggml types llama.cpp gives each tensor role for `quant` on a Llama-3-8B-like model.

    Returns {role: {ggml type: tensor count}}, roles like "attn_v", "ffn_down", "output", "norm".
    """
    hidden, ffn = 4096, 14336
    ts = _reference_tensors(n_layers, hidden, hidden // n_gqa, ffn, 128256, n_experts)
    types = llamacpp_tensor_types(ts, quant, MixContext(n_layers=n_layers, n_gqa=n_gqa, n_experts=n_experts))
    out: dict[str, dict[str, int]] = {}
    for (name, _, _), t in zip(ts, types):
        role = name.split(".")[-2] if name.startswith("blk.") else name.split(".")[0]
        role = "norm" if "norm" in role else role
        out.setdefault(role, {})
        out[role][t.name] = out[role].get(t.name, 0) + 1
    return out


def typical_bits_per_weight(quant: str) -> float:
    """Average stored bits per weight of a whole Llama-3.1-8B-shaped model in `quant` (incl. output, norms)."""
    q = normalize_quant(quant)
    base = base_file_type(q)
    ts = _reference_tensors(32, 4096, 1024, 14336, 128256, 0)
    n = sum(_prod(s) for _, s, _ in ts)
    if base in _DEFAULT_TYPE:
        types = llamacpp_tensor_types(ts, base, MixContext(n_layers=32, n_gqa=4))
        return 8.0 * sum(tensor_nbytes(t, s) for t, (_, s, _) in zip(types, ts)) / n
    fact = quant_fact(q)
    return 8.0 * sum(_other_tensor_bytes(fact, nm, s, c) for nm, s, c in ts) / n
