"""CatalogEntry: one model of the catalog, and how it becomes a ModelSpec."""

from __future__ import annotations

import re
from dataclasses import MISSING, asdict, dataclass, field, fields

# Architecture fields every usable entry carries (the estimator needs them).
ARCH_FIELDS = ("n_layers", "hidden_size", "n_heads", "n_kv_heads", "head_dim", "vocab_size", "max_context")
USES = ("chat", "coding", "reasoning", "vision", "embedding", "tool-use")
FORMATS = ("gguf", "safetensors", "mlx", "awq", "gptq")
# What the big GGUF publishers (bartowski, unsloth, mradermacher, ggml-org) usually offer; the source
# list does not say which files each repo has, so a repo without a file listing is assumed to have these.
ASSUMED_GGUF_QUANTS = ("Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0")

_FAMILY = re.compile(
    r"(llama|qwen|gemma|mistral|mixtral|ministral|devstral|codestral|magistral|phi|deepseek|granite|falcon|smollm|olmo|"
    r"glm|yi|internlm|minicpm|starcoder|codellama|nemotron|exaone|gpt-oss|command-r|hermes|lfm|kimi|minimax|"
    r"aya|seed|ernie|hunyuan|baichuan|stablelm|tinyllama|bloom|gpt2|pythia|opt|t5|bert|e5|bge|gte|nomic|jina|"
    r"mpt|zephyr|openchat|vicuna|orca|dolphin|solar|internvl|llava|pixtral|moondream|apertus|cohere)"
    r"[-_ ]?(\d+(?:\.\d+)?)?(?![\d.]*[bmkx]\b)",
    re.I,
)

def uses_from_name(short_name: str, tags=(), capabilities=()) -> list[str]:
    """Use tags from the model itself: its own name (never the uploader's), its pipeline tags / capabilities."""
    name = short_name.rsplit("/", 1)[-1].lower()
    tags, caps = set(tags or ()), set(capabilities or ())
    out = []
    if re.search(r"instruct|chat|(?:^|[-_])it(?:[-_.]|$)|assistant|hermes|dolphin|zephyr|openchat|vicuna", name):
        out.append("chat")
    if re.search(r"cod(?:er|e|ing)|starcoder|devstral|codestral|codegen|codellama", name):
        out.append("coding")
    if re.search(r"(?:^|[-_])r1(?:[-_.]|$)|reason|think|qwq|(?:^|[-_])o1(?:[-_]|$)|magistral", name):
        out.append("reasoning")
    if "vision" in caps or "image-text-to-text" in tags or re.search(r"(?:^|[-_])vl(?:[-_.]|$)|vision|llava|pixtral|internvl", name):
        out.append("vision")
    if "embedding" in caps or tags & {"sentence-similarity", "feature-extraction"} or re.search(
            r"embed|(?:^|[-_])(?:bge|gte|e5)(?:[-_]|$)", name):
        out.append("embedding")
    if "tool_use" in caps:
        out.append("tool-use")
    return out


def family_of(name: str, arch: str) -> str:
    """Model family from the repo name (e.g. "llama-3.1", "qwen-2.5"), else from the architecture."""
    base = name.rsplit("/", 1)[-1]
    m = _FAMILY.search(base) or _FAMILY.search(arch)
    if not m:
        return arch.lower() or "unknown"
    fam = m.group(1).lower()
    return f"{fam}-{m.group(2)}" if m.group(2) else fam




@dataclass
class CatalogEntry:
    """A catalog model: identity, architecture facts, licence, uses, available formats, field sources."""

    id: str
    family: str
    arch: str
    params: int
    active_params: int
    n_layers: int
    hidden_size: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    vocab_size: int
    max_context: int
    ffn_size: int = 0
    sliding_window: int | None = None
    n_experts: int = 0
    n_experts_used: int = 0
    expert_ffn_size: int = 0
    shared_ffn_size: int = 0
    dense_layers: int = 0  # MoE: layers with a dense FFN (ffn_size) instead of experts
    tied_embeddings: bool = False
    license: str | None = None
    released: str | None = None  # YYYY-MM-DD
    uses: list[str] = field(default_factory=list)
    format: str = "safetensors"  # what the repo itself stores
    quant: str | None = None  # native quantization of the repo (F16, MLX-4bit, AWQ-4bit, ...)
    # GGUF repos: [{"repo": id, "quants": {"Q4_K_M": bytes-or-null, ...}, "quants_source": "..."}];
    # without "quants" the repo is assumed to offer ASSUMED_GGUF_QUANTS (sizes unknown)
    gguf: list[dict] = field(default_factory=list)
    mlx: list[str] = field(default_factory=list)
    awq: list[str] = field(default_factory=list)
    gptq: list[str] = field(default_factory=list)
    mirrors: list[str] = field(default_factory=list)  # re-uploads merged into this entry
    variant_of: str | None = None  # set when this repo is a quantized copy of another entry
    # who made it (catalog.publishers): "first-party" (the model's own publisher), "community" (a fine-tune or
    # merge by someone else), "repackage" (a quantized / re-uploaded copy of someone else's model); "" = not classified
    publisher: str = ""
    modified: str | None = None  # why it is hidden by default: "abliterated", "uncensored", "merge", "pruned", ...
    well_known: str | None = None  # a community tune shown by default, with the reason (publishers.WELL_KNOWN_TUNES)
    # per-field source: "*" is the default for every field, other keys override it
    src: dict[str, str] = field(default_factory=dict)

    @property
    def is_moe(self) -> bool:
        return self.n_experts > 1

    @property
    def formats(self) -> list[str]:
        """Formats this model can be had in (the repo itself plus known variants)."""
        out = {self.format}
        if self.gguf:
            out.add("gguf")
        for f in ("mlx", "awq", "gptq"):
            if getattr(self, f):
                out.add(f)
        return sorted(out)

    @property
    def short_name(self) -> str:
        return self.id.rsplit("/", 1)[-1]

    def source_of(self, name: str) -> str:
        return self.src.get(name, self.src.get("*", "unknown"))

    def gguf_quants(self) -> dict[str, int | None]:
        """Quantizations offered as GGUF (exact sizes where a repo listing gave them, else None/assumed)."""
        out: dict[str, int | None] = {}
        for g in self.gguf:
            quants = g.get("quants")
            if quants is None:
                quants = dict.fromkeys(ASSUMED_GGUF_QUANTS)
            for q, size in quants.items():
                if out.get(q) is None:
                    out[q] = size
        return out

    def gguf_size(self, quant: str) -> int | None:
        """Exact file size of `quant` in the first GGUF repo that lists one, else None."""
        for g in self.gguf:
            size = (g.get("quants") or {}).get(quant)
            if size:
                return int(size)
        return None

    def to_dict(self) -> dict:
        d = asdict(self)
        # compact: drop empty optional values (required fields always stay)
        return {k: v for k, v in d.items() if v not in (None, [], {}, 0, False) or k in _REQUIRED}

    @classmethod
    def from_dict(cls, data: dict) -> "CatalogEntry":
        """From a dict with the field names (unknown keys ignored)."""
        names = cls.__dataclass_fields__.keys()
        return cls(**{k: v for k, v in data.items() if k in names})

    def to_spec(self, quant: str | None = None):
        """A ModelSpec for this model stored as `quant` (default: Q4_K_M for GGUF-able models)."""
        from llmfit_core.catalog.sizes import spec_for_entry  # lazy: start-up: check of a file prices no entry

        return spec_for_entry(self, quant)


_REQUIRED = frozenset(f.name for f in fields(CatalogEntry) if f.default is MISSING and f.default_factory is MISSING)
_FIELD_DEFAULTS = {f.name: f.default for f in fields(CatalogEntry) if f.default is not MISSING}
_FIELD_FACTORIES = {f.name: f.default_factory for f in fields(CatalogEntry) if f.default_factory is not MISSING}


def trusted_entry(d: dict, src_defaults: dict) -> CatalogEntry:
    """CatalogEntry(**d) with `src` completed from the file's defaults, for our own build's entries (keys are the
    fields): made from the dict directly instead of through the 30-argument __init__ (start-up time)."""
    values = {**_FIELD_DEFAULTS, **d}
    for name, factory in _FIELD_FACTORIES.items():
        if name not in d:
            values[name] = factory()
    values["src"] = {**src_defaults, **values["src"]}
    entry = object.__new__(CatalogEntry)
    entry.__dict__.update(values)
    return entry
