"""GGUF header -> ModelSpec: what a parsed header (readers.gguf_header) means, and the entry points that read one.

Architecture facts come from the `<arch>.*` keys as llama.cpp's load_hparams reads them, exact weight bytes from the
tensor infos; sliding-window and recurrent layers follow llama.cpp's per-architecture rules (src/models/*.cpp).
A split GGUF (`x-00001-of-00003.gguf`) is read shard by shard and summed.
"""

from __future__ import annotations

import os
import re

from llmfit_core.errors import LlmfitError, ModelReadError
from llmfit_core.model_spec import ModelSpec, RopeScaling
from llmfit_core.quant import MixContext, file_type_name, llamacpp_tensor_types, quantizable
from llmfit_core.readers.gguf_header import KEEP_ARRAY, GGUFHeader, read_gguf_header
from llmfit_core.readers.source import DEFAULT_MAX_BYTES, ByteSource, HTTPRangeSource, LocalSource
from llmfit_core.recurrent import GGUF_FULL_ATTENTION_INTERVAL, state_sizes
from llmfit_core.tensor_layout import TENSOR_GROUPS, tensor_group, tensor_layer

KEEP_STRING = 256  # ModelSpec.metadata keeps strings up to this length (and numeric arrays up to KEEP_ARRAY items)
_SPLIT_RE = re.compile(r"^(?P<prefix>.*)-(?P<idx>\d{5})-of-(?P<n>\d{5})\.gguf$")
_UD_RE = re.compile(r"(?:^|[-_.])UD-([A-Za-z0-9_]+?)(?:-\d{5}-of-\d{5})?\.gguf$", re.IGNORECASE)


# --------------------------------------------------------------------------------------------------
# header -> ModelSpec

# architectures with sliding-window layers: (default pattern period, dense_first) as in llama.cpp's
# load_swa_pattern calls (src/models/*.cpp); a sliding_window_pattern key in the file overrides it.
_SWA_PATTERN = {
    "gemma2": (2, False), "gemma3": (6, False), "gemma3n": (5, False), "gemma-embedding": (6, False),
    "cohere2": (4, False), "llama4": (4, False), "gpt-oss": (2, False), "exaone4": (4, False),
    "exaone-moe": (4, False), "olmo2": (4, False), "afmoe": (4, False), "smallthinker": (4, True),
    "plamo3": (8, False), "modern-bert": (3, True),
}


# Layers that keep a KV cache of their own (llama_hparams::n_layer_kv_from_start, set in load_arch_hparams,
# src/models/*.cpp); the layers after them read an earlier layer's cache (llama-model.cpp create_memory: `reuse`):
# gemma3n.cpp the first 20 whatever the header says; gemma4.cpp all but attention.shared_kv_layers.
_KV_FROM_START_FIXED = {"gemma3n": 20}
_KV_SHARED_KEY = {"gemma4"}


def kv_shared_layers(arch: str, meta: dict, n_layers: int) -> int:
    """How many trailing layers read an earlier layer's KV cache instead of keeping their own (0 for most)."""
    if arch in _KV_FROM_START_FIXED:
        return max(n_layers - _KV_FROM_START_FIXED[arch], 0)
    if arch in _KV_SHARED_KEY:
        return min(max(_int(meta.get(f"{arch}.attention.shared_kv_layers")), 0), max(n_layers, 0))
    return 0


def _swa_layers(n_pattern: int, dense_first: bool, n_layers: int) -> list[bool]:
    if dense_first:
        return [n_pattern == 0 or (i % n_pattern != 0) for i in range(n_layers)]
    return [n_pattern == 0 or (i % n_pattern < n_pattern - 1) for i in range(n_layers)]


def _int(v, default=0):
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return default


def _per_layer(v) -> list[int] | None:
    if isinstance(v, list) and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
        return [int(x) for x in v]
    return None


def _scalar_or_max(v, default=0) -> int:
    lst = _per_layer(v)
    if lst:
        return max(lst)
    return _int(v, default)


# Recurrent (SSM / delta-net / short conv / RWKV) layers, as each architecture's load_arch_hparams marks them
# (llama.cpp src/models/*.cpp) and llama-model.cpp create_memory filters them:
_PURE_RECURRENT = {"mamba", "mamba2", "rwkv6", "rwkv6qwen2", "rwkv7", "arwkv7"}  # llm_arch_is_recurrent: every layer
_KV0_RECURRENT = {"jamba", "granitehybrid", "lfm2", "lfm2moe", "plamo2", "kimi-linear", "kimi-k3", "glm5-next",
                  "bailingmoe3"}  # recurrent iff head_count_kv(il) == 0
_FF0_RECURRENT = {"nemotron_h", "nemotron_h_moe"}  # recurrent iff head_count_kv(il) == 0 and feed_forward_length(il) == 0
# attention.recurrent_layers, else full_attention_interval (default 4; minimax-01: 8); minimax-01: linear attention
# of key_length heads
_DELTANET = {"qwen3next", "qwen35", "qwen35moe", "minimax-01"}
_ALL_BOTH = {"falcon-h1"}  # every layer has both an attention KV cache and an SSM state


def _recurrent_facts(arch: str, meta: dict, n_layers: int, layer_kv: list[int] | None, n_kv: int, where: str):
    """(recurrent flags, n_embd_r, n_embd_s, note, KV-layer flags or None), or None for non-recurrent models.

    Key names are gguf-py's (constants.py Keys.SSM / ShortConv / WKV / KDA / Attention.RECURRENT_LAYERS /
    LLM.FULL_ATTENTION_INTERVAL / LLM.TOKEN_SHIFT_COUNT / LLM.NEXTN_PREDICT_LAYERS)."""
    def k(name, default=None):
        return meta.get(f"{arch}.{name}", default)

    has_keys = any(key.startswith((f"{arch}.ssm.", f"{arch}.wkv.", f"{arch}.shortconv.", f"{arch}.kda."))
                   for key in meta)
    known = _PURE_RECURRENT | _KV0_RECURRENT | _FF0_RECURRENT | _DELTANET | _ALL_BOTH
    if arch not in known:
        if has_keys:
            return None, 0, 0, f"{arch}: recurrent layers not modelled (recurrent state not counted)", None
        return None
    n_layers = max(int(n_layers), 0)
    n_main = max(n_layers - _int(k("nextn_predict_layers")), 0)  # llama.cpp n_layer(): without MTP blocks
    kv = layer_kv if layer_kv and len(layer_kv) == n_layers else None
    note = None
    kv_flags = None
    if arch in _PURE_RECURRENT:
        flags = [i < n_main for i in range(n_layers)]
    elif arch in _ALL_BOTH:
        flags = [True] * n_layers
    elif arch in _DELTANET:
        arr = k("attention.recurrent_layers")
        if isinstance(arr, list) and len(arr) == n_layers:
            flags = [bool(x) and i < n_main for i, x in enumerate(arr)]
        else:
            default = GGUF_FULL_ATTENTION_INTERVAL.get(arch, 4)  # minimax-01.cpp: 8, the delta-net loaders: 4
            interval = _int(k("full_attention_interval"), default) or default
            flags = [i < n_main and (i + 1) % interval != 0 for i in range(n_layers)]
        kv_flags = [i < n_main and not f for i, f in enumerate(flags)]
    elif kv is None:
        flags = None
        note = f"{arch}: per-layer head_count_kv missing, recurrent layers unknown (recurrent state not counted)"
    elif arch in _FF0_RECURRENT:
        ff = _per_layer(k("feed_forward_length"))
        if ff and len(ff) == n_layers:
            flags = [i < n_main and kv[i] == 0 and ff[i] == 0 for i in range(n_layers)]
            kv_flags = [i < n_main and kv[i] > 0 and ff[i] == 0 for i in range(n_layers)]
        else:
            flags = [i < n_main and kv[i] == 0 for i in range(n_layers)]
            note = f"{arch}: per-layer feed_forward_length missing: every layer without KV heads counted as recurrent"
    else:
        flags = [i < n_main and kv[i] == 0 for i in range(n_layers)]
    if not flags or not any(flags):
        return (None, 0, 0, note, kv_flags) if (note or kv_flags) else None
    heads = _per_layer(k("attention.head_count"))
    n_head = heads[0] if heads else _int(k("attention.head_count"))
    la = 0
    if arch == "minimax-01":  # llama.cpp: n_embd_head_la = n_embd_head_k_full (key_length, else n_embd / n_head)
        la = _int(k("attention.key_length")) or (_int(k("embedding_length")) // n_head if n_head else 0)
    r, s = state_sizes(
        _int(k("embedding_length")), d_conv=_int(k("ssm.conv_kernel")), d_inner=_int(k("ssm.inner_size")),
        d_state=_int(k("ssm.state_size")), n_group=_int(k("ssm.group_count")),
        l_cache=_int(k("shortconv.l_cache")), wkv_head_size=_int(k("wkv.head_size")),
        token_shift_count=_int(k("token_shift_count"), 2), kda_head_dim=_int(k("kda.head_dim")),
        n_head=n_head, la_head_dim=la, where=where)
    if not (r or s):
        note = f"{arch}: recurrent state sizes missing from the header (recurrent state not counted)"
    return flags, r, s, note, kv_flags


def recurrent_fields(arch: str, meta: dict, n_layers: int, where: str = "model") -> tuple[dict, list[str]]:
    """ModelSpec fields (recurrent layers and sizes, KV layers of hybrids) from GGUF-style metadata, and notes.

    For sources that give GGUF keys without a header to read (Ollama's /api/show model_info)."""
    kv_v = meta.get(f"{arch}.attention.head_count_kv")
    layer_kv = _per_layer(kv_v)
    n_kv = _scalar_or_max(kv_v, _scalar_or_max(meta.get(f"{arch}.attention.head_count"))) if kv_v is not None else 0
    rec = _recurrent_facts(arch, meta, n_layers, layer_kv, n_kv, where)
    if rec is None:
        return {}, []
    flags, r, s, note, kv_flags = rec
    out: dict = {}
    if flags:
        out.update(n_recurrent_layers=sum(flags), recurrent_r=r, recurrent_s=s, recurrent_layers=flags)
    if kv_flags is not None:
        layer_kv = [(layer_kv[i] if layer_kv and len(layer_kv) == n_layers else n_kv) if kv_flags[i] else 0
                    for i in range(n_layers)]
    if layer_kv and len(layer_kv) == n_layers and 0 in layer_kv:
        out.update(layer_kv_heads=layer_kv, n_kv_layers=sum(1 for x in layer_kv if x > 0))
    elif flags and all(flags) and arch in _PURE_RECURRENT:
        out.update(n_kv_layers=0)
    return out, [note] if note else []


# top-k assumed when a file has routed experts but no expert_used_count: the common choice at each expert count
# (Mixtral 8 -> 2, gpt-oss-20b 32 -> 4, Qwen3 / DeepSeek / GLM 64-256 -> 8)
_ASSUMED_TOP_K = ((16, 2), (32, 4))
_ASSUMED_TOP_K_MANY = 8


def _expert_counts(arch: str, tensors, n_experts: int, n_used: int, notes: list[str]) -> tuple[int, int, str]:
    """Expert count, experts used per token and the load error of a file with routed-expert tensors, with a note
    when the header lacks the counts. llama.cpp's load_hparams asserts n_expert_used > 0 whenever n_expert > 0
    (llama-model.cpp), and a file without expert_count cannot create its `*_exps` tensors: either way llama.cpp
    will not load it."""
    missing = []
    if n_experts <= 1:
        shapes = [t.shape for t in tensors if t.name.endswith("_exps.weight") and len(t.shape) == 3]
        if not shapes:
            return n_experts, n_used, ""
        n_experts = int(shapes[0][-1])  # ggml dims, innermost first: (n_embd, n_ff_exp, n_expert)
        missing.append(f"{arch}.expert_count")
        notes.append(f"{arch}.expert_count missing: {n_experts} experts counted from the expert tensors")
    if n_used <= 0 and n_experts > 1:
        n_used = next((k for limit, k in _ASSUMED_TOP_K if n_experts <= limit), _ASSUMED_TOP_K_MANY)
        missing.append(f"{arch}.expert_used_count")
        notes.append(f"{arch}.expert_used_count missing: speed assumes {n_used} of {n_experts} experts per token")
    if not missing:
        return n_experts, n_used, ""
    error = (f"{' and '.join(missing)} missing from an MoE file: llama.cpp will not load it "
             "(llama-model.cpp load_hparams asserts n_expert_used > 0); re-convert it with convert_hf_to_gguf.py")
    notes.insert(0, error)
    return n_experts, n_used, error


def header_to_spec(headers: list[GGUFHeader], ref: str, files: list[str]) -> ModelSpec:
    """Map one or more (split) GGUF headers to a ModelSpec."""
    meta = headers[0].metadata
    counts = headers[0].array_counts
    notes: list[str] = []
    arch = meta.get("general.architecture")
    if not isinstance(arch, str) or not arch:
        arch = "unknown"
        notes.append("general.architecture missing")

    def k(name, default=None):
        return meta.get(f"{arch}.{name}", default)

    tensors = [t for h in headers for t in h.tensors]
    n_layers = _int(k("block_count"))
    if n_layers <= 0 or n_layers > 10000:
        layer_ids = [tensor_layer(t.name) for t in tensors]
        n_layers = max((i for i in layer_ids if i is not None), default=-1) + 1
        notes.append(f"{arch}.block_count missing: {n_layers} layers counted from tensor names")

    hidden = _int(k("embedding_length"))
    n_heads_v = k("attention.head_count")
    n_heads = _scalar_or_max(n_heads_v)
    kv_v = k("attention.head_count_kv")
    layer_kv = _per_layer(kv_v)
    n_kv = _scalar_or_max(kv_v, n_heads) if kv_v is not None else n_heads
    head_dim = _int(k("attention.key_length")) or (hidden // n_heads if n_heads else 0)
    head_dim_v = _int(k("attention.value_length")) or None
    if head_dim_v == head_dim:
        head_dim_v = None
    # sliding-window layers' own head dims (Gemma 4: key_length is the global layers'), each defaulting to the
    # full-attention layers' (llama-model.cpp load_hparams)
    head_dim_swa = _int(k("attention.key_length_swa")) or None
    head_dim_v_swa = _int(k("attention.value_length_swa")) or None
    if head_dim_swa == head_dim:
        head_dim_swa = None
    if head_dim_v_swa == (head_dim_v or head_dim):
        head_dim_v_swa = None
    n_shared_kv = kv_shared_layers(arch, meta, n_layers)

    by_name = {t.name: t for t in tensors}
    vocab = _int(k("vocab_size")) or counts.get("tokenizer.ggml.tokens", 0)
    if not vocab and "token_embd.weight" in by_name:
        vocab = by_name["token_embd.weight"].shape[-1]

    # layers with a KV cache: those with attention K projections (hybrid SSM models have fewer); shared-KV layers
    # attend too, and may come without K projections (gemma4.cpp: attn_k optional where !has_kv(il))
    attn_layers = {tensor_layer(t.name) for t in tensors
                   if re.search(r"\.attn_(k|qkv|kv_a_mqa|k_b)\.weight$", t.name)} - {None}
    attn_layers |= set(range(n_layers - n_shared_kv, n_layers)) if attn_layers and n_shared_kv else set()
    n_kv_layers = None
    if layer_kv and len(layer_kv) == n_layers and any(x == 0 for x in layer_kv):
        n_kv_layers = sum(1 for x in layer_kv if x > 0)
    elif attn_layers and len(attn_layers) < n_layers:
        n_kv_layers = len(attn_layers)
    elif not attn_layers and any(key.startswith(f"{arch}.ssm.") or key.startswith(f"{arch}.wkv") for key in meta):
        n_kv_layers = 0
    rec = _recurrent_facts(arch, meta, n_layers, layer_kv, n_kv, headers[0].name or arch)
    if rec is not None:
        flags, rec_r, rec_s, rec_note, kv_flags = rec
        if rec_note:
            notes.append(rec_note)
        if kv_flags is not None:  # which layers keep a KV cache, as llama.cpp's hybrid filters say
            layer_kv = [(layer_kv[i] if layer_kv and len(layer_kv) == n_layers else n_kv) if kv_flags[i] else 0
                        for i in range(n_layers)]
            n_kv_layers = sum(1 for x in layer_kv if x > 0)
    else:
        flags, rec_r, rec_s = None, 0, 0
    if layer_kv and len(set(layer_kv)) == 1:
        layer_kv = None

    sliding = _int(k("attention.sliding_window")) or None
    swa = None
    pat = k("attention.sliding_window_pattern")
    if isinstance(pat, list) and len(pat) == n_layers:
        swa = [bool(x) for x in pat]
    elif sliding and (arch in _SWA_PATTERN or isinstance(pat, int)):
        period, dense_first = _SWA_PATTERN.get(arch, (0, False))
        if isinstance(pat, int) and not isinstance(pat, bool):
            period = pat
        swa = _swa_layers(period, dense_first, n_layers)
    elif arch == "llama4" and k("attention.sliding_window") is None:
        sliding, swa = 8192, _swa_layers(4, False, n_layers)
        notes.append("llama4 chunked attention: 3 of 4 layers use 8192-token chunks")
    if arch == "phi3" and sliding:
        sliding, swa = None, None  # llama.cpp disables Phi SWA
    if swa is not None and not any(swa):
        swa = None

    n_experts = _int(k("expert_count"))
    n_used = _scalar_or_max(k("expert_used_count"))  # llama.cpp reads a scalar or a per-layer array (get_key_or_arr)
    expert_ff = _scalar_or_max(k("expert_feed_forward_length"))

    # sizes
    groups = {g: 0 for g in TENSOR_GROUPS}
    layers = [0] * max(n_layers, 0)
    types: dict[str, int] = {}
    qbytes: dict[str, int] = {}
    params = 0
    expert_params = 0
    for t in tensors:
        nb = t.nbytes
        params += t.n_elements
        g = tensor_group(t.name)
        groups[g] += nb
        if g == "ffn_experts" and "shexp" not in t.name:
            expert_params += t.n_elements
        li = tensor_layer(t.name)
        if li is not None and 0 <= li < len(layers):
            layers[li] += nb
        types[t.type.name] = types.get(t.type.name, 0) + 1
        if quantizable(t.name, len(t.shape)):
            qbytes[t.type.name] = qbytes.get(t.type.name, 0) + nb
    load_error = ""
    if expert_params:
        n_experts, n_used, load_error = _expert_counts(arch, tensors, n_experts, n_used, notes)
    active = params
    if n_experts > 1 and expert_params:
        per_expert = expert_params // n_experts
        active = params - max(0, n_experts - max(n_used, 1)) * per_expert

    ftype = file_type_name(meta["general.file_type"]) if isinstance(meta.get("general.file_type"), int) else None
    dominant = max(qbytes, key=qbytes.get) if qbytes else None
    quant = ftype or dominant
    if ftype is None and dominant:
        notes.append(f"general.file_type missing: quant is the dominant tensor type {dominant}")
    mixed = _mix_differences(tensors, ftype, arch, n_layers, n_heads, n_kv, n_experts)
    m = _UD_RE.search(os.path.basename(files[0])) if files else None
    if m:
        quant = "UD-" + m.group(1).upper()
        notes.append("Unsloth dynamic quant (UD- in the file name)")
    if mixed:
        notes.append(f"{mixed} tensors differ from llama.cpp's standard {ftype} mix (dynamic or custom quant)")

    tied = "output.weight" not in by_name
    ffn = _scalar_or_max(k("feed_forward_length"))
    total_size = sum(h.file_size or 0 for h in headers) or None
    md = {key: v for key, v in meta.items()
          if isinstance(v, (int, float, bool)) or (isinstance(v, str) and len(v) <= KEEP_STRING)}
    for key, v in meta.items():
        if isinstance(v, list) and len(v) <= KEEP_ARRAY and all(isinstance(x, (int, float, bool)) for x in v):
            md[key] = v
    md["gguf.version"] = headers[0].version
    md["gguf.mix_differences"] = mixed
    md["gguf.data_offset"] = headers[0].data_offset
    md["gguf.header_bytes_read"] = sum(h.bytes_read for h in headers)
    md["gguf.tensor_count"] = len(tensors)
    if "tokenizer.ggml.tokens" in counts:
        md["tokenizer.ggml.tokens.count"] = counts["tokenizer.ggml.tokens"]
    if total_size:
        md["gguf.tensor_data_bytes"] = sum((h.file_size or 0) - h.data_offset for h in headers)

    return ModelSpec(
        ref=ref,
        arch=arch,
        params=params,
        active_params=active,
        n_layers=n_layers,
        hidden_size=hidden,
        n_heads=n_heads,
        n_kv_heads=n_kv,
        head_dim=head_dim,
        head_dim_v=head_dim_v,
        head_dim_swa=head_dim_swa if swa else None,
        head_dim_v_swa=head_dim_v_swa if swa else None,
        n_kv_shared_layers=n_shared_kv,
        vocab_size=vocab,
        max_context=_int(k("context_length")),
        ffn_size=ffn,
        sliding_window=sliding if swa else None,
        swa_layers=swa,
        layer_kv_heads=layer_kv,
        n_kv_layers=n_kv_layers,
        n_experts=n_experts,
        n_experts_used=n_used,
        load_error=load_error,
        expert_ffn_size=expert_ff,
        n_shared_experts=_int(k("expert_shared_count")),
        shared_expert_ffn_size=_int(k("expert_shared_feed_forward_length")),
        n_dense_layers=_int(k("leading_dense_block_count")),
        kv_lora_rank=_int(k("attention.kv_lora_rank")),
        n_recurrent_layers=sum(flags) if flags else 0,
        recurrent_r=rec_r,
        recurrent_s=rec_s,
        recurrent_layers=flags or None,
        tied_embeddings=tied,
        format="gguf",
        quant=quant,
        file_bytes=total_size,
        weight_bytes=sum(groups.values()),
        group_bytes={g: b for g, b in groups.items() if b},
        layer_bytes=layers,
        tensor_types=types,
        files=list(files),
        source="gguf-header",
        exact=True,
        notes=notes,
        metadata=md,
        rope_scaling=_rope_scaling(k),
        tensors=[(t.name, t.shape, t.type.name) for t in tensors],
    )


def _rope_scaling(k) -> RopeScaling | None:
    """The header's {arch}.rope.scaling.type / .factor / .original_context_length (convert_hf_to_gguf writes them
    from config.json's rope_scaling), None when absent or "none"."""
    kind, factor = k("rope.scaling.type"), k("rope.scaling.factor")
    if not isinstance(kind, str) or kind == "none" or not isinstance(factor, (int, float)) or isinstance(factor, bool):
        return None
    return RopeScaling(kind, float(factor), _int(k("rope.scaling.original_context_length")))


def _mix_differences(tensors, ftype, arch, n_layers, n_heads, n_kv, n_experts) -> int:
    """How many quantizable tensors have a ggml type other than llama.cpp's standard mix for `ftype`."""
    if not ftype or ftype in ("F32", "F16", "BF16") or not tensors or n_layers <= 0:
        return 0
    try:
        ctx = MixContext(n_layers=n_layers, n_gqa=max(1, n_heads // n_kv) if n_kv else 1, n_experts=n_experts,
                         arch=arch)
        want = llamacpp_tensor_types([(t.name, t.shape, "F16") for t in tensors], ftype, ctx)
    except LlmfitError:
        return 0
    return sum(1 for t, w in zip(tensors, want, strict=True) if quantizable(t.name, len(t.shape)) and t.type != w)


# --------------------------------------------------------------------------------------------------
# entry points


def split_names(name: str) -> list[str] | None:
    """All shard names of a split GGUF (`x-00001-of-00003.gguf`), or None if not split."""
    base = name.rsplit("/", 1)
    m = _SPLIT_RE.match(base[-1])
    if not m:
        return None
    n = int(m.group("n"))
    if n < 1 or n > 999:
        raise ModelReadError(f"{name}: implausible split count {n}")
    names = [f"{m.group('prefix')}-{i:05d}-of-{n:05d}.gguf" for i in range(1, n + 1)]
    return [base[0] + "/" + x for x in names] if len(base) == 2 else names


def read_gguf(source_or_path, ref: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> ModelSpec:
    """Read a GGUF header (path, URL or ByteSource) into a ModelSpec with exact weight bytes.

    A split GGUF given by any shard reads every shard's header and sums them.
    Raises ModelReadError / HeaderTooLargeError / UnknownQuantizationError / RemoteError subclasses.
    """
    if isinstance(source_or_path, ByteSource):
        src = source_or_path
        with src:
            h = read_gguf_header(src)
        name = getattr(src, "path", None) or getattr(src, "url", None) or src.name
        return header_to_spec([h], ref or name, [name])
    loc = os.fspath(source_or_path)
    remote = loc.startswith(("http://", "https://"))
    shards = split_names(loc.split("?")[0] if remote else loc) or [loc]
    if remote and len(shards) > 1 and "?" in loc:
        shards = [s + "?" + loc.split("?", 1)[1] for s in shards]
    headers = []
    budget = max_bytes
    for s in shards:
        src = HTTPRangeSource(s, max_bytes=budget) if remote else LocalSource(s, max_bytes=budget)
        with src:
            headers.append(read_gguf_header(src))
        budget -= src.bytes_read
    if len(headers) > 1:
        n_split = headers[0].metadata.get("split.count")
        if isinstance(n_split, int) and n_split != len(headers):
            raise ModelReadError(f"{shards[0]}: split.count says {n_split} shards, file names say {len(headers)}")
    return header_to_spec(headers, ref or loc, shards)


def read_gguf_url(url: str, ref: str | None = None, headers: dict | None = None,
                  max_bytes: int = DEFAULT_MAX_BYTES, timeout: float | None = None) -> ModelSpec:
    """Read a remote GGUF header with HTTP Range requests (split files: every shard)."""
    if headers is None:
        return read_gguf(url, ref=ref, max_bytes=max_bytes)
    shards = split_names(url) or [url]
    hs = []
    for s in shards:
        with HTTPRangeSource(s, headers=headers, timeout=timeout, max_bytes=max_bytes) as src:
            hs.append(read_gguf_header(src))
    return header_to_spec(hs, ref or url, shards)
