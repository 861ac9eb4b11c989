"""ModelSpec: the architecture facts and stored-weight facts of one model file or repo."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

# RoPE scaling types that stretch the positions past the pretraining length (HF config rope_scaling.rope_type,
# GGUF {arch}.rope.scaling.type): the documented extension is factor x the original context
EXTENDING_ROPE_TYPES = ("yarn", "linear", "dynamic", "longrope", "llama3", "su")
MAX_ROPE_FACTOR = 256.0  # published extensions are x4 (Qwen) to x40 (DeepSeek); a larger factor is not believed


@dataclass
class RopeScaling:
    """The RoPE scaling a model's own config (or GGUF header) declares."""

    type: str  # yarn | linear | dynamic | longrope | llama3 | ...
    factor: float
    original_context: int = 0  # the context it scales from (0: not given; the model's max_context)

    def extended_context(self, trained: int) -> int | None:
        """factor x the original context, for a type that extends the context; None otherwise."""
        if self.type not in EXTENDING_ROPE_TYPES or not 1 < self.factor <= MAX_ROPE_FACTOR:
            return None
        base = self.original_context or trained
        return int(self.factor * base) if base else None

    def describe(self, trained: int) -> str:
        """'YaRN x4 over 32,768 = 131,072 tokens'."""
        name = {"yarn": "YaRN", "llama3": "Llama 3", "longrope": "LongRoPE"}.get(self.type, self.type)
        base = self.original_context or trained
        return f"{name} x{self.factor:g} over {base:,} = {self.extended_context(trained) or 0:,} tokens"


@dataclass
class ModelSpec:
    """What the estimators need to know about a model.

    Exact figures come from GGUF tensor infos or safetensors headers; otherwise they are derived
    from config.json and a bits-per-weight table, and `source`/`notes` say so.
    """

    ref: str
    arch: str
    params: int  # total parameters
    active_params: int  # parameters used per token (MoE: shared + active experts)
    n_layers: int
    hidden_size: int
    n_heads: int
    n_kv_heads: int
    head_dim: int  # K head dim (of the full-attention layers when sliding-window layers have their own)
    vocab_size: int
    max_context: int
    head_dim_v: int | None = None  # V head dim when it differs from K (MLA, some gemma)
    ffn_size: int = 0
    sliding_window: int | None = None
    # per-layer flags: True where the layer uses sliding-window attention (len == n_layers), or None
    swa_layers: list[bool] | None = None
    # K / V head dims of the sliding-window layers when they differ from the full-attention layers' (Gemma 4:
    # GGUF {arch}.attention.key_length_swa / value_length_swa, llama_hparams::n_embd_head_k(il)), else None
    head_dim_swa: int | None = None
    head_dim_v_swa: int | None = None
    # per-layer KV heads when they differ between layers (e.g. OpenELM, Gemma 4), else None
    layer_kv_heads: list[int] | None = None
    # number of layers with attention over a KV cache (hybrid SSM/attention models have fewer), None = all
    n_kv_layers: int | None = None
    # the last N layers attend to an earlier layer's KV cache and keep none of their own (gemma3n, Gemma 4:
    # {arch}.attention.shared_kv_layers, llama.cpp n_layer_kv_from_start = n_layer - N and has_kv(il))
    n_kv_shared_layers: int = 0
    n_experts: int = 0
    n_experts_used: int = 0
    expert_ffn_size: int = 0
    tied_embeddings: bool = False
    # optional extras (readers): shared experts, leading dense layers of MoE models, MLA latent rank
    n_shared_experts: int = 0
    shared_expert_ffn_size: int = 0
    n_dense_layers: int = 0
    kv_lora_rank: int = 0
    # recurrent state (SSM, gated delta-net, short conv, RWKV), as llama.cpp sizes it: per recurrent layer
    # and sequence a conv/token-shift state of `recurrent_r` and an SSM/WKV state of `recurrent_s` f32
    # elements (llama_hparams::n_embd_r() / n_embd_s()), independent of the context length.
    # n_recurrent_layers > 0 with both sizes 0 means "recurrent, size unknown".
    n_recurrent_layers: int = 0
    recurrent_r: int = 0
    recurrent_s: int = 0
    recurrent_layers: list[bool] | None = None  # per-layer flags (len == n_layers) when known

    # weights as stored
    format: str = "unknown"  # gguf | safetensors | mlx | config
    quant: str | None = None  # Q4_K_M, F16, BF16, MLX-4bit, GPTQ-4bit, ...
    file_bytes: int | None = None  # size of the file(s) on disk / on the Hub
    weight_bytes: int = 0  # bytes of all weight tensors as stored
    group_bytes: dict[str, int] = field(default_factory=dict)  # tensor_layout.TENSOR_GROUPS -> bytes
    layer_bytes: list[int] = field(default_factory=list)  # bytes of each repeating block
    tensor_types: dict[str, int] = field(default_factory=dict)  # ggml/st dtype name -> tensor count
    files: list[str] = field(default_factory=list)

    source: str = "unknown"  # gguf-header | safetensors-header | config+quant | catalog | ollama
    exact: bool = False  # weight bytes exact (from tensor infos)
    notes: list[str] = field(default_factory=list)  # what was guessed
    load_error: str = ""  # why llama.cpp will refuse to load this file (its loader asserts), empty when none is known
    metadata: dict = field(default_factory=dict)  # reader-specific extras (small values only)
    rope_scaling: RopeScaling | None = None  # as declared by the model (config.json / GGUF rope.scaling.*)
    # llama.cpp-style tensor list (name, ggml shape ne0-first, type name) in file order, or None;
    # lets quant.apply_quant redo llama.cpp's per-tensor mix
    tensors: list[tuple[str, tuple[int, ...], str]] | None = None

    @property
    def kv_layers(self) -> int:
        return self.n_kv_layers if self.n_kv_layers is not None else self.n_layers

    @property
    def recurrent_state_elems(self) -> int:
        """f32 elements of recurrent state per sequence (all recurrent layers), 0 when none or unknown."""
        return max(int(self.n_recurrent_layers), 0) * (max(int(self.recurrent_r), 0) + max(int(self.recurrent_s), 0))

    @property
    def extended_context(self) -> int | None:
        """The context the model's own RoPE scaling reaches (factor x original), when above max_context."""
        ext = self.rope_scaling.extended_context(self.max_context) if self.rope_scaling else None
        return ext if ext and ext > (self.max_context or 0) else None

    @property
    def v_head_dim(self) -> int:
        return self.head_dim_v if self.head_dim_v is not None else self.head_dim

    def layer_head_dims(self) -> list[tuple[int, int]]:
        """(K, V) head dim of each layer: the sliding-window layers' own where the model has them (llama.cpp
        n_embd_head_k(il) / n_embd_head_v(il): is_swa(il) ? *_swa : *_full)."""
        full = (int(self.head_dim), int(self.v_head_dim))
        swa_flags = self.swa_layers if self.swa_layers and len(self.swa_layers) == self.n_layers else None
        if swa_flags is None or (self.head_dim_swa is None and self.head_dim_v_swa is None):
            return [full] * self.n_layers
        # each defaults to the full-attention layers' value (llama-model.cpp load_hparams)
        swa = (int(self.head_dim_swa if self.head_dim_swa is not None else full[0]),
               int(self.head_dim_v_swa if self.head_dim_v_swa is not None else full[1]))
        return [swa if f else full for f in swa_flags]

    def has_own_kv(self, layer: int) -> bool:
        """Whether layer `layer` keeps a KV cache of its own rather than reading an earlier layer's
        (llama_hparams::has_kv: il < n_layer_kv_from_start)."""
        return layer < self.n_layers - max(int(self.n_kv_shared_layers or 0), 0)

    @property
    def is_moe(self) -> bool:
        return self.n_experts > 1

    @property
    def bits_per_weight(self) -> float:
        return 8.0 * self.weight_bytes / self.params if self.params else 0.0

    def to_dict(self) -> dict:
        return asdict(self)
