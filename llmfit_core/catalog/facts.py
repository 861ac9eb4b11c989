"""Documented facts of the official model sizes people run most, each row with its source.

`DOCUMENTED` holds, per official size of ~30 families, what the publisher's own config.json / model card says:
layer count, widths, vocabulary, the documented context limit (the longest context the card or config supports,
YaRN/rope extension included where the card documents it), MoE layout, release date and what the model is for.
The rows are written from the publishers' published configs (the URL of each is its source); a field left
None is not documented here and is not checked.

Used by the catalog build (fill the first-party entries' missing fields, replace facts copied from other repos)
and by validation (`catalog validate`, private registries): a catalog entry whose name and shape match a row
must not claim a longer context than the row documents, nor another vocabulary or layer count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

HF = "https://huggingface.co/"


@dataclass(frozen=True)
class Documented:
    """One official model size: its published architecture facts and where they are written."""

    name: str  # the official short name (first matching repo name; also the row's identity)
    pattern: str  # regex over the lower-case short name of a repo (official repo and fine-tunes of it)
    orgs: tuple[str, ...]  # the publisher's Hub organisations (first-party)
    source: str  # model card / config.json URL
    arch: str | None = None
    n_layers: int | None = None
    hidden_size: int | None = None
    n_heads: int | None = None
    n_kv_heads: int | None = None
    head_dim: int | None = None
    ffn_size: int | None = None  # dense FFN (MoE models: the dense layers' FFN)
    vocab_size: int | None = None
    max_context: int | None = None  # documented limit
    tied: bool | None = None
    n_experts: int = 0
    n_experts_used: int = 0
    expert_ffn_size: int = 0
    shared_ffn_size: int = 0
    dense_layers: int = 0  # MoE models: layers with a dense FFN instead of experts
    params: int | None = None  # documented / recomputed total where the simple formula does not apply (hybrids)
    active_params: int | None = None
    released: str | None = None
    uses: tuple[str, ...] = ()
    _rx: re.Pattern = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "_rx", re.compile(self.pattern))

    def matches(self, short_lower: str) -> bool:
        return bool(self._rx.search(short_lower))

    @property
    def full(self) -> bool:
        """Every architecture field documented (the row can stand in for a missing config)."""
        return None not in (self.arch, self.n_layers, self.hidden_size, self.n_heads, self.n_kv_heads, self.head_dim,
                            self.vocab_size, self.max_context) and bool(self.ffn_size or self.expert_ffn_size)


def _w(core: str) -> str:
    """A size name as a whole token of a repo name: 'llama-3.1-8b' in 'Hermes-3-Llama-3.1-8B' but not in '...-80b'."""
    return rf"(?:^|[-_.]){core}(?=$|[-_]|\.(?!\d))"  # "deepseek-v3" is not "deepseek-v3.1"


def _cfg(org: str, repo: str) -> str:
    return f"{HF}{org}/{repo}/blob/main/config.json"


META, QWEN, GOOGLE, MISTRAL, MS = ("meta-llama",), ("Qwen",), ("google",), ("mistralai",), ("microsoft",)
DS, OAI, ZAI, NV = ("deepseek-ai",), ("openai",), ("zai-org", "THUDM"), ("nvidia",)
CHAT_TOOLS = ("chat", "tool-use")
GENERAL_CODE = ("chat", "coding", "tool-use")

_L31 = dict(arch="llama", vocab_size=128256, max_context=131072, tied=False, uses=CHAT_TOOLS)
_L32 = dict(arch="llama", vocab_size=128256, max_context=131072, tied=True, released="2024-09-25", uses=CHAT_TOOLS)
_Q25S = dict(arch="qwen2", vocab_size=151936, max_context=32768, tied=True, released="2024-09-19", uses=CHAT_TOOLS)
_Q25 = dict(arch="qwen2", vocab_size=152064, max_context=131072, tied=False, released="2024-09-19", uses=CHAT_TOOLS)
_Q3S = dict(arch="qwen3", vocab_size=151936, max_context=40960, tied=True, released="2025-04-29",
            uses=("chat", "reasoning", "coding", "tool-use"))
_Q3 = dict(arch="qwen3", vocab_size=151936, max_context=131072, released="2025-04-29",
           uses=("chat", "reasoning", "coding", "tool-use"))
_Q3MOE = dict(arch="qwen3_moe", vocab_size=151936, head_dim=128, tied=False, n_experts=128, n_experts_used=8)
# Qwen 3.5 and Gemma 4 (released 2026, after the rows above were written from the configs): the layer counts, widths,
# vocabulary and context of the first-party entries of the llmfit 1.1.17 model list (llmfit_core/data/
# CATALOG_SOURCES.md), which that tool read from each repo's config.json. Hybrids (Qwen 3.5's linear-attention
# layers, Gemma 4's per-layer embeddings) are not fully described by these fields, so the rows leave the FFN and
# expert widths, parameters, release date and uses open: they check a matching entry's context, vocabulary and layer
# count, and never stand in for a missing config (Documented.full is False).
LIST_1_1_17 = "as the llmfit 1.1.17 model list records it"
_Q35 = dict(arch="qwen3_5", head_dim=256, vocab_size=248320, max_context=262144)
_Q35MOE = dict(arch="qwen3_5_moe", vocab_size=248320, max_context=262144, head_dim=256, n_kv_heads=2)
_G4 = dict(arch="gemma4", vocab_size=262144, head_dim=256)
_G2 = dict(arch="gemma2", vocab_size=256000, max_context=8192, tied=True, uses=("chat",))
_G3 = dict(arch="gemma3", vocab_size=262208, max_context=131072, tied=True, released="2025-03-12",
           uses=("chat", "vision"))
_MS24 = dict(arch="mistral", n_layers=40, hidden_size=5120, n_heads=32, n_kv_heads=8, head_dim=128, ffn_size=32768,
             vocab_size=131072, tied=False)
_R1 = dict(released="2025-01-20", uses=("chat", "reasoning"))
_OSS = dict(arch="gpt_oss", hidden_size=2880, n_heads=64, n_kv_heads=8, head_dim=64, vocab_size=201088,
            max_context=131072, tied=False, n_experts_used=4, expert_ffn_size=2880, released="2025-08-05",
            uses=("chat", "reasoning", "coding", "tool-use"))
_PHI3 = dict(arch="phi3", n_layers=32, hidden_size=3072, n_heads=32, n_kv_heads=32, head_dim=96, ffn_size=8192,
             vocab_size=32064, tied=False, uses=("chat",))
_PHI3M = dict(arch="phi3", n_layers=40, hidden_size=5120, n_heads=40, n_kv_heads=10, head_dim=128, ffn_size=17920,
              vocab_size=32064, tied=False, released="2024-05-21", uses=("chat",))
_PHI4 = dict(arch="phi3", n_layers=40, hidden_size=5120, n_heads=40, n_kv_heads=10, head_dim=128, ffn_size=17920,
             vocab_size=100352, tied=False)
_SMOL2 = dict(arch="llama", vocab_size=49152, max_context=8192, tied=True, released="2024-11-01", uses=("chat",))
_GRANITE = dict(arch="granite", n_layers=40, n_kv_heads=8, n_heads=32, vocab_size=49159, max_context=131072, tied=True,
                released="2025-04-16", uses=CHAT_TOOLS)
_OLMO2 = dict(arch="olmo2", vocab_size=100352, max_context=4096, tied=False, released="2024-11-26", uses=("chat",))
_LFM2 = dict(arch="lfm2", n_layers=16, vocab_size=65536, max_context=32768, released="2025-07-10", uses=CHAT_TOOLS)
_NANO = dict(arch="nemotron_h", n_layers=52, hidden_size=2688, n_heads=32, n_kv_heads=2, head_dim=128, vocab_size=131072,
             max_context=262144, tied=False, n_experts=128, n_experts_used=6, expert_ffn_size=1856, shared_ffn_size=3712,
             released="2025-12-15", uses=("chat", "reasoning", "coding", "tool-use"))

DOCUMENTED: tuple[Documented, ...] = (
    # --- Llama 3.x / 4 (meta-llama/*/config.json; contexts from the model cards)
    Documented("Llama-3.1-8B", _w(r"(?:meta-)?llama-3\.1-8b"), META, _cfg("meta-llama", "Llama-3.1-8B-Instruct"),
               n_layers=32, hidden_size=4096, n_heads=32, n_kv_heads=8, head_dim=128, ffn_size=14336, released="2024-07-23", **_L31),
    Documented("Llama-3.1-70B", _w(r"(?:meta-)?llama-3\.1-70b"), META, _cfg("meta-llama", "Llama-3.1-70B-Instruct"),
               n_layers=80, hidden_size=8192, n_heads=64, n_kv_heads=8, head_dim=128, ffn_size=28672, released="2024-07-23", **_L31),
    Documented("Llama-3.1-405B", _w(r"(?:meta-)?llama-3\.1-405b"), META, _cfg("meta-llama", "Llama-3.1-405B-Instruct"),
               n_layers=126, hidden_size=16384, n_heads=128, n_kv_heads=8, head_dim=128, ffn_size=53248,
               released="2024-07-23", **_L31),
    Documented("Llama-3.2-1B", _w(r"llama-3\.2-1b"), META, _cfg("meta-llama", "Llama-3.2-1B-Instruct"),
               n_layers=16, hidden_size=2048, n_heads=32, n_kv_heads=8, head_dim=64, ffn_size=8192, **_L32),
    Documented("Llama-3.2-3B", _w(r"llama-3\.2-3b"), META, _cfg("meta-llama", "Llama-3.2-3B-Instruct"),
               n_layers=28, hidden_size=3072, n_heads=24, n_kv_heads=8, head_dim=128, ffn_size=8192, **_L32),
    Documented("Llama-3.3-70B", _w(r"llama-3\.3-70b"), META, _cfg("meta-llama", "Llama-3.3-70B-Instruct"),
               n_layers=80, hidden_size=8192, n_heads=64, n_kv_heads=8, head_dim=128, ffn_size=28672, released="2024-12-06", **_L31),
    Documented("Meta-Llama-3-8B", _w(r"meta-llama-3-8b"), META, _cfg("meta-llama", "Meta-Llama-3-8B-Instruct"),
               arch="llama", n_layers=32, hidden_size=4096, n_heads=32, n_kv_heads=8, head_dim=128, ffn_size=14336,
               vocab_size=128256, max_context=8192, tied=False, released="2024-04-18", uses=("chat",)),
    Documented("Meta-Llama-3-70B", _w(r"meta-llama-3-70b"), META, _cfg("meta-llama", "Meta-Llama-3-70B-Instruct"),
               arch="llama", n_layers=80, hidden_size=8192, n_heads=64, n_kv_heads=8, head_dim=128, ffn_size=28672,
               vocab_size=128256, max_context=8192, tied=False, released="2024-04-18", uses=("chat",)),
    # Llama 4: every layer MoE (Scout, interleave_moe_layer_step 1) / every other layer (Maverick, step 2: 24 dense
    # layers with intermediate_size_mlp 16384); one shared expert of intermediate_size 8192
    Documented("Llama-4-Scout-17B-16E", _w(r"llama-4-scout-17b-16e"), META, _cfg("meta-llama", "Llama-4-Scout-17B-16E-Instruct"),
               arch="llama4", n_layers=48, hidden_size=5120, n_heads=40, n_kv_heads=8, head_dim=128, ffn_size=16384,
               vocab_size=202048, max_context=10485760, tied=False, n_experts=16, n_experts_used=1, expert_ffn_size=8192,
               shared_ffn_size=8192, released="2025-04-05", uses=("chat", "vision", "tool-use")),
    Documented("Llama-4-Maverick-17B-128E", _w(r"llama-4-maverick-17b-128e"), META,
               _cfg("meta-llama", "Llama-4-Maverick-17B-128E-Instruct"),
               arch="llama4", n_layers=48, hidden_size=5120, n_heads=40, n_kv_heads=8, head_dim=128, ffn_size=16384,
               vocab_size=202048, max_context=1048576, tied=False, n_experts=128, n_experts_used=1, expert_ffn_size=8192,
               shared_ffn_size=8192, dense_layers=24, released="2025-04-05", uses=("chat", "vision", "tool-use")),
    # --- Qwen 2.5 (Qwen/Qwen2.5-*/config.json; 7B and larger: 131,072 with YaRN per the model cards)
    Documented("Qwen2.5-0.5B", _w(r"qwen2\.5-0\.5b"), QWEN, _cfg("Qwen", "Qwen2.5-0.5B-Instruct"),
               n_layers=24, hidden_size=896, n_heads=14, n_kv_heads=2, head_dim=64, ffn_size=4864, **_Q25S),
    Documented("Qwen2.5-1.5B", _w(r"qwen2\.5-1\.5b"), QWEN, _cfg("Qwen", "Qwen2.5-1.5B-Instruct"),
               n_layers=28, hidden_size=1536, n_heads=12, n_kv_heads=2, head_dim=128, ffn_size=8960, **_Q25S),
    Documented("Qwen2.5-3B", _w(r"qwen2\.5-3b"), QWEN, _cfg("Qwen", "Qwen2.5-3B-Instruct"),
               n_layers=36, hidden_size=2048, n_heads=16, n_kv_heads=2, head_dim=128, ffn_size=11008, **_Q25S),
    Documented("Qwen2.5-7B", _w(r"qwen2\.5-7b"), QWEN, _cfg("Qwen", "Qwen2.5-7B-Instruct"),
               n_layers=28, hidden_size=3584, n_heads=28, n_kv_heads=4, head_dim=128, ffn_size=18944, **_Q25),
    Documented("Qwen2.5-14B", _w(r"qwen2\.5-14b"), QWEN, _cfg("Qwen", "Qwen2.5-14B-Instruct"),
               n_layers=48, hidden_size=5120, n_heads=40, n_kv_heads=8, head_dim=128, ffn_size=13824, **_Q25),
    Documented("Qwen2.5-32B", _w(r"qwen2\.5-32b"), QWEN, _cfg("Qwen", "Qwen2.5-32B-Instruct"),
               n_layers=64, hidden_size=5120, n_heads=40, n_kv_heads=8, head_dim=128, ffn_size=27648, **_Q25),
    Documented("Qwen2.5-72B", _w(r"qwen2\.5-72b"), QWEN, _cfg("Qwen", "Qwen2.5-72B-Instruct"),
               n_layers=80, hidden_size=8192, n_heads=64, n_kv_heads=8, head_dim=128, ffn_size=29568, **_Q25),
    Documented("Qwen2.5-Coder-7B", _w(r"qwen2\.5-coder-7b"), QWEN, _cfg("Qwen", "Qwen2.5-Coder-7B-Instruct"),
               n_layers=28, hidden_size=3584, n_heads=28, n_kv_heads=4, head_dim=128, ffn_size=18944,
               **{**_Q25, "uses": GENERAL_CODE}),
    Documented("Qwen2.5-Coder-14B", _w(r"qwen2\.5-coder-14b"), QWEN, _cfg("Qwen", "Qwen2.5-Coder-14B-Instruct"),
               n_layers=48, hidden_size=5120, n_heads=40, n_kv_heads=8, head_dim=128, ffn_size=13824,
               **{**_Q25, "released": "2024-11-12", "uses": GENERAL_CODE}),
    Documented("Qwen2.5-Coder-32B", _w(r"qwen2\.5-coder-32b"), QWEN, _cfg("Qwen", "Qwen2.5-Coder-32B-Instruct"),
               n_layers=64, hidden_size=5120, n_heads=40, n_kv_heads=8, head_dim=128, ffn_size=27648,
               **{**_Q25, "released": "2024-11-12", "uses": GENERAL_CODE}),
    # --- Qwen 3 (Qwen/Qwen3-*/config.json; 4B and larger: 131,072 with YaRN per the cards; 2507 and Coder: 262,144)
    Documented("Qwen3-0.6B", _w(r"qwen3-0\.6b"), QWEN, _cfg("Qwen", "Qwen3-0.6B"),
               n_layers=28, hidden_size=1024, n_heads=16, n_kv_heads=8, head_dim=128, ffn_size=3072, **_Q3S),
    Documented("Qwen3-1.7B", _w(r"qwen3-1\.7b"), QWEN, _cfg("Qwen", "Qwen3-1.7B"),
               n_layers=28, hidden_size=2048, n_heads=16, n_kv_heads=8, head_dim=128, ffn_size=6144, **_Q3S),
    Documented("Qwen3-4B", _w(r"qwen3-4b"), QWEN, _cfg("Qwen", "Qwen3-4B"),
               n_layers=36, hidden_size=2560, n_heads=32, n_kv_heads=8, head_dim=128, ffn_size=9728, tied=True,
               **{**_Q3, "max_context": 262144}),
    Documented("Qwen3-8B", _w(r"qwen3-8b"), QWEN, _cfg("Qwen", "Qwen3-8B"),
               n_layers=36, hidden_size=4096, n_heads=32, n_kv_heads=8, head_dim=128, ffn_size=12288, tied=False, **_Q3),
    Documented("Qwen3-14B", _w(r"qwen3-14b"), QWEN, _cfg("Qwen", "Qwen3-14B"),
               n_layers=40, hidden_size=5120, n_heads=40, n_kv_heads=8, head_dim=128, ffn_size=17408, tied=False, **_Q3),
    Documented("Qwen3-32B", _w(r"qwen3-32b"), QWEN, _cfg("Qwen", "Qwen3-32B"),
               n_layers=64, hidden_size=5120, n_heads=64, n_kv_heads=8, head_dim=128, ffn_size=25600, tied=False, **_Q3),
    Documented("Qwen3-30B-A3B", _w(r"qwen3-30b-a3b"), QWEN, _cfg("Qwen", "Qwen3-30B-A3B"),
               n_layers=48, hidden_size=2048, n_heads=32, n_kv_heads=4, expert_ffn_size=768, vocab_size=151936,
               max_context=262144, released="2025-04-29", uses=("chat", "reasoning", "coding", "tool-use"),
               **{k: v for k, v in _Q3MOE.items() if k != "vocab_size"}),
    Documented("Qwen3-Coder-30B-A3B", _w(r"qwen3-coder-30b-a3b"), QWEN, _cfg("Qwen", "Qwen3-Coder-30B-A3B-Instruct"),
               n_layers=48, hidden_size=2048, n_heads=32, n_kv_heads=4, expert_ffn_size=768, max_context=262144,
               released="2025-07-31", uses=GENERAL_CODE, **_Q3MOE),
    Documented("Qwen3-235B-A22B", _w(r"qwen3-235b-a22b"), QWEN, _cfg("Qwen", "Qwen3-235B-A22B"),
               n_layers=94, hidden_size=4096, n_heads=64, n_kv_heads=4, expert_ffn_size=1536, max_context=262144,
               released="2025-04-29", uses=("chat", "reasoning", "coding", "tool-use"), **_Q3MOE),
    # --- Qwen 3.5 (Qwen/Qwen3.5-*/config.json text_config, LIST_1_1_17)
    Documented("Qwen3.5-0.8B", _w(r"qwen3\.5-0\.8b"), QWEN, f"{_cfg('Qwen', 'Qwen3.5-0.8B')} {LIST_1_1_17}",
               n_layers=24, hidden_size=1024, n_heads=8, n_kv_heads=2, **_Q35),
    Documented("Qwen3.5-2B", _w(r"qwen3\.5-2b"), QWEN, f"{_cfg('Qwen', 'Qwen3.5-2B')} {LIST_1_1_17}",
               n_layers=24, hidden_size=2048, n_heads=8, n_kv_heads=2, **_Q35),
    Documented("Qwen3.5-4B", _w(r"qwen3\.5-4b"), QWEN, f"{_cfg('Qwen', 'Qwen3.5-4B')} {LIST_1_1_17}",
               n_layers=32, hidden_size=2560, n_heads=16, n_kv_heads=4, **_Q35),
    Documented("Qwen3.5-9B", _w(r"qwen3\.5-9b"), QWEN, f"{_cfg('Qwen', 'Qwen3.5-9B')} {LIST_1_1_17}",
               n_layers=32, hidden_size=4096, n_heads=16, n_kv_heads=4, **_Q35),
    Documented("Qwen3.5-27B", _w(r"qwen3\.5-27b"), QWEN, f"{_cfg('Qwen', 'Qwen3.5-27B')} {LIST_1_1_17}",
               n_layers=64, hidden_size=5120, n_heads=24, n_kv_heads=4, **_Q35),
    Documented("Qwen3.5-35B-A3B", _w(r"qwen3\.5-35b-a3b"), QWEN, f"{_cfg('Qwen', 'Qwen3.5-35B-A3B')} {LIST_1_1_17}",
               n_layers=40, hidden_size=2048, n_heads=16, **_Q35MOE),
    Documented("Qwen3.5-122B-A10B", _w(r"qwen3\.5-122b-a10b"), QWEN, f"{_cfg('Qwen', 'Qwen3.5-122B-A10B')} {LIST_1_1_17}",
               n_layers=48, hidden_size=3072, n_heads=32, **_Q35MOE),
    Documented("Qwen3.5-397B-A17B", _w(r"qwen3\.5-397b-a17b"), QWEN, f"{_cfg('Qwen', 'Qwen3.5-397B-A17B')} {LIST_1_1_17}",
               n_layers=60, hidden_size=4096, n_heads=32, **_Q35MOE),
    # --- Gemma 4 (google/gemma-4-*/config.json text_config, LIST_1_1_17)
    Documented("gemma-4-E2B", _w(r"gemma-4-e2b"), GOOGLE, f"{_cfg('google', 'gemma-4-E2B-it')} {LIST_1_1_17}",
               n_layers=35, hidden_size=1536, n_heads=8, n_kv_heads=1, max_context=131072, **_G4),
    Documented("gemma-4-E4B", _w(r"gemma-4-e4b"), GOOGLE, f"{_cfg('google', 'gemma-4-E4B-it')} {LIST_1_1_17}",
               n_layers=42, hidden_size=2560, n_heads=8, n_kv_heads=2, max_context=131072, **_G4),
    Documented("gemma-4-12B", _w(r"gemma-4-12b"), GOOGLE, f"{_cfg('google', 'gemma-4-12B-it')} {LIST_1_1_17}",
               arch="gemma4_unified", n_layers=48, hidden_size=3840, n_heads=16, n_kv_heads=8, head_dim=256,
               vocab_size=262144, max_context=262144),
    Documented("gemma-4-26B-A4B", _w(r"gemma-4-26b-a4b"), GOOGLE, f"{_cfg('google', 'gemma-4-26B-A4B-it')} {LIST_1_1_17}",
               n_layers=30, hidden_size=2816, n_heads=16, n_kv_heads=8, max_context=262144, **_G4),
    Documented("gemma-4-31B", _w(r"gemma-4-31b"), GOOGLE, f"{_cfg('google', 'gemma-4-31B-it')} {LIST_1_1_17}",
               n_layers=60, hidden_size=5376, n_heads=32, n_kv_heads=16, max_context=262144, **_G4),
    # --- Gemma 2 / 3 (google/gemma-*/config.json; text_config of the multimodal 4B-27B)
    Documented("gemma-2-2b", _w(r"gemma-2-2b"), GOOGLE, _cfg("google", "gemma-2-2b-it"), n_layers=26, hidden_size=2304,
               n_heads=8, n_kv_heads=4, head_dim=256, ffn_size=9216, released="2024-07-31", **_G2),
    Documented("gemma-2-9b", _w(r"gemma-2-9b"), GOOGLE, _cfg("google", "gemma-2-9b-it"), n_layers=42, hidden_size=3584,
               n_heads=16, n_kv_heads=8, head_dim=256, ffn_size=14336, released="2024-06-27", **_G2),
    Documented("gemma-2-27b", _w(r"gemma-2-27b"), GOOGLE, _cfg("google", "gemma-2-27b-it"), n_layers=46, hidden_size=4608,
               n_heads=32, n_kv_heads=16, head_dim=128, ffn_size=36864, released="2024-06-27", **_G2),
    Documented("gemma-3-270m", _w(r"gemma-3-270m"), GOOGLE, _cfg("google", "gemma-3-270m-it"), arch="gemma3_text",
               n_layers=18, hidden_size=640, n_heads=4, n_kv_heads=1, head_dim=256, ffn_size=2048, vocab_size=262144,
               max_context=32768, tied=True, released="2025-08-14", uses=("chat",)),
    Documented("gemma-3-1b", _w(r"gemma-3-1b"), GOOGLE, _cfg("google", "gemma-3-1b-it"), arch="gemma3_text",
               n_layers=26, hidden_size=1152, n_heads=4, n_kv_heads=1, head_dim=256, ffn_size=6912, vocab_size=262144,
               max_context=32768, tied=True, released="2025-03-12", uses=("chat",)),
    Documented("gemma-3-4b", _w(r"gemma-3-4b"), GOOGLE, _cfg("google", "gemma-3-4b-it"), n_layers=34, hidden_size=2560,
               n_heads=8, n_kv_heads=4, head_dim=256, ffn_size=10240, **_G3),
    Documented("gemma-3-12b", _w(r"gemma-3-12b"), GOOGLE, _cfg("google", "gemma-3-12b-it"), n_layers=48, hidden_size=3840,
               n_heads=16, n_kv_heads=8, head_dim=256, ffn_size=15360, **_G3),
    Documented("gemma-3-27b", _w(r"gemma-3-27b"), GOOGLE, _cfg("google", "gemma-3-27b-it"), n_layers=62, hidden_size=5376,
               n_heads=32, n_kv_heads=16, head_dim=128, ffn_size=21504, **_G3),
    # --- Mistral / Ministral / Devstral / Mixtral (mistralai/*/config.json, contexts from the model cards)
    Documented("Mistral-7B-v0.3", _w(r"mistral-7b(?:-instruct)?-v0\.3"), MISTRAL, _cfg("mistralai", "Mistral-7B-Instruct-v0.3"),
               arch="mistral", n_layers=32, hidden_size=4096, n_heads=32, n_kv_heads=8, head_dim=128, ffn_size=14336,
               vocab_size=32768, max_context=32768, tied=False, released="2024-05-22", uses=CHAT_TOOLS),
    Documented("Mistral-Nemo-2407", _w(r"mistral-nemo-(?:base|instruct)-2407"), MISTRAL,
               _cfg("mistralai", "Mistral-Nemo-Instruct-2407"), arch="mistral", n_layers=40, hidden_size=5120, n_heads=32,
               n_kv_heads=8, head_dim=128, ffn_size=14336, vocab_size=131072, max_context=131072, tied=False,
               released="2024-07-18", uses=CHAT_TOOLS),
    Documented("Mistral-Small-24B-2501", _w(r"mistral-small-24b-(?:base|instruct)-2501"), MISTRAL,
               _cfg("mistralai", "Mistral-Small-24B-Instruct-2501"), max_context=32768, released="2025-01-30",
               uses=CHAT_TOOLS, **_MS24),
    Documented("Mistral-Small-3.1-24B-2503", _w(r"mistral-small-3\.1-24b-(?:base|instruct)-2503"), MISTRAL,
               _cfg("mistralai", "Mistral-Small-3.1-24B-Instruct-2503"), max_context=131072, released="2025-03-17",
               uses=("chat", "vision", "tool-use"), **_MS24),
    Documented("Mistral-Small-3.2-24B-2506", _w(r"mistral-small-3\.2-24b-instruct-2506"), MISTRAL,
               _cfg("mistralai", "Mistral-Small-3.2-24B-Instruct-2506"), max_context=131072, released="2025-06-20",
               uses=("chat", "vision", "tool-use"), **_MS24),
    Documented("Devstral-Small-2505", _w(r"devstral-small-2505"), MISTRAL, _cfg("mistralai", "Devstral-Small-2505"),
               max_context=131072, released="2025-05-21", uses=GENERAL_CODE, **_MS24),
    Documented("Devstral-Small-2507", _w(r"devstral-small-2507"), MISTRAL, _cfg("mistralai", "Devstral-Small-2507"),
               max_context=131072, released="2025-07-10", uses=GENERAL_CODE, **_MS24),
    Documented("Ministral-8B-2410", _w(r"ministral-8b-instruct-2410"), MISTRAL, _cfg("mistralai", "Ministral-8B-Instruct-2410"),
               arch="mistral", n_layers=36, hidden_size=4096, n_heads=32, n_kv_heads=8, head_dim=128, ffn_size=12288,
               vocab_size=131072, max_context=131072, tied=False, released="2024-10-16", uses=CHAT_TOOLS),
    Documented("Mixtral-8x7B", _w(r"mixtral-8x7b(?:-instruct)?-v0\.1"), MISTRAL, _cfg("mistralai", "Mixtral-8x7B-Instruct-v0.1"),
               arch="mixtral", n_layers=32, hidden_size=4096, n_heads=32, n_kv_heads=8, head_dim=128, vocab_size=32000,
               max_context=32768, tied=False, n_experts=8, n_experts_used=2, expert_ffn_size=14336,
               released="2023-12-11", uses=("chat",)),
    Documented("Mixtral-8x22B", _w(r"mixtral-8x22b(?:-instruct)?-v0\.1"), MISTRAL, _cfg("mistralai", "Mixtral-8x22B-Instruct-v0.1"),
               arch="mixtral", n_layers=56, hidden_size=6144, n_heads=48, n_kv_heads=8, head_dim=128, vocab_size=32768,
               max_context=65536, tied=False, n_experts=8, n_experts_used=2, expert_ffn_size=16384,
               released="2024-04-17", uses=CHAT_TOOLS),
    # --- Phi-3 / 3.5 / 4 (microsoft/*/config.json)
    Documented("Phi-3-mini-4k", _w(r"phi-3-mini-4k-instruct"), MS, _cfg("microsoft", "Phi-3-mini-4k-instruct"),
               max_context=4096, released="2024-04-23", **_PHI3),
    Documented("Phi-3-mini-128k", _w(r"phi-3-mini-128k-instruct"), MS, _cfg("microsoft", "Phi-3-mini-128k-instruct"),
               max_context=131072, released="2024-04-23", **_PHI3),
    Documented("Phi-3.5-mini", _w(r"phi-3\.5-mini-instruct"), MS, _cfg("microsoft", "Phi-3.5-mini-instruct"),
               max_context=131072, released="2024-08-20", **_PHI3),
    Documented("Phi-3-medium-4k", _w(r"phi-3-medium-4k-instruct"), MS, _cfg("microsoft", "Phi-3-medium-4k-instruct"),
               max_context=4096, **_PHI3M),
    Documented("Phi-3-medium-128k", _w(r"phi-3-medium-128k-instruct"), MS, _cfg("microsoft", "Phi-3-medium-128k-instruct"),
               max_context=131072, **_PHI3M),
    Documented("phi-4", r"^phi-4$", MS, _cfg("microsoft", "phi-4"), max_context=16384, released="2024-12-12",
               uses=("chat", "coding"), **_PHI4),
    Documented("Phi-4-reasoning", _w(r"phi-4-reasoning(?:-plus)?"), MS, _cfg("microsoft", "Phi-4-reasoning"),
               max_context=32768, released="2025-04-30", uses=("chat", "reasoning"), **_PHI4),
    Documented("Phi-4-mini", _w(r"phi-4-mini-instruct"), MS, _cfg("microsoft", "Phi-4-mini-instruct"), arch="phi3",
               n_layers=32, hidden_size=3072, n_heads=24, n_kv_heads=8, head_dim=128, ffn_size=8192, vocab_size=200064,
               max_context=131072, tied=True, released="2025-02-26", uses=CHAT_TOOLS),
    # --- DeepSeek R1 distills (deepseek-ai/DeepSeek-R1-Distill-*/config.json), V2 / V3 / R1 (context, vocab, layers)
    Documented("DeepSeek-R1-Distill-Llama-8B", _w(r"deepseek-r1-distill-llama-8b"), DS,
               _cfg("deepseek-ai", "DeepSeek-R1-Distill-Llama-8B"), arch="llama", n_layers=32, hidden_size=4096, n_heads=32,
               n_kv_heads=8, head_dim=128, ffn_size=14336, vocab_size=128256, max_context=131072, tied=False, **_R1),
    Documented("DeepSeek-R1-Distill-Llama-70B", _w(r"deepseek-r1-distill-llama-70b"), DS,
               _cfg("deepseek-ai", "DeepSeek-R1-Distill-Llama-70B"), arch="llama", n_layers=80, hidden_size=8192,
               n_heads=64, n_kv_heads=8, head_dim=128, ffn_size=28672, vocab_size=128256, max_context=131072, tied=False, **_R1),
    Documented("DeepSeek-R1-Distill-Qwen-1.5B", _w(r"deepseek-r1-distill-qwen-1\.5b"), DS,
               _cfg("deepseek-ai", "DeepSeek-R1-Distill-Qwen-1.5B"), arch="qwen2", n_layers=28, hidden_size=1536,
               n_heads=12, n_kv_heads=2, head_dim=128, ffn_size=8960, vocab_size=151936, max_context=131072, tied=False, **_R1),
    Documented("DeepSeek-R1-Distill-Qwen-7B", _w(r"deepseek-r1-distill-qwen-7b"), DS,
               _cfg("deepseek-ai", "DeepSeek-R1-Distill-Qwen-7B"), arch="qwen2", n_layers=28, hidden_size=3584,
               n_heads=28, n_kv_heads=4, head_dim=128, ffn_size=18944, vocab_size=152064, max_context=131072, tied=False, **_R1),
    Documented("DeepSeek-R1-Distill-Qwen-14B", _w(r"deepseek-r1-distill-qwen-14b"), DS,
               _cfg("deepseek-ai", "DeepSeek-R1-Distill-Qwen-14B"), arch="qwen2", n_layers=48, hidden_size=5120,
               n_heads=40, n_kv_heads=8, head_dim=128, ffn_size=13824, vocab_size=152064, max_context=131072, tied=False, **_R1),
    Documented("DeepSeek-R1-Distill-Qwen-32B", _w(r"deepseek-r1-distill-qwen-32b"), DS,
               _cfg("deepseek-ai", "DeepSeek-R1-Distill-Qwen-32B"), arch="qwen2", n_layers=64, hidden_size=5120,
               n_heads=40, n_kv_heads=8, head_dim=128, ffn_size=27648, vocab_size=152064, max_context=131072, tied=False, **_R1),
    Documented("DeepSeek-V3", _w(r"deepseek-v3(?:-0324|-base)?"), DS, _cfg("deepseek-ai", "DeepSeek-V3"),
               n_layers=61, hidden_size=7168, vocab_size=129280, max_context=163840, released="2024-12-26",
               uses=("chat", "coding", "tool-use")),
    Documented("DeepSeek-R1", _w(r"deepseek-r1(?:-0528|-zero)?"), DS, _cfg("deepseek-ai", "DeepSeek-R1"),
               n_layers=61, hidden_size=7168, vocab_size=129280, max_context=163840, released="2025-01-20",
               uses=("chat", "reasoning", "coding")),
    Documented("DeepSeek-V2-Lite", _w(r"deepseek-v2-lite(?:-chat)?"), DS, _cfg("deepseek-ai", "DeepSeek-V2-Lite-Chat"),
               n_layers=27, hidden_size=2048, vocab_size=102400, max_context=163840, released="2024-05-16", uses=("chat",)),
    # --- gpt-oss (openai/gpt-oss-*/config.json; model card: reasoning, tool use, coding)
    Documented("gpt-oss-20b", _w(r"gpt-oss-20b"), OAI, _cfg("openai", "gpt-oss-20b"), n_layers=24, n_experts=32, **_OSS),
    Documented("gpt-oss-120b", _w(r"gpt-oss-120b"), OAI, _cfg("openai", "gpt-oss-120b"), n_layers=36, n_experts=128, **_OSS),
    # --- GLM-4.5 / 4.6 (zai-org/*/config.json: layers without the MTP layer)
    Documented("GLM-4.5", _w(r"glm-4\.5"), ZAI, _cfg("zai-org", "GLM-4.5"), n_layers=92, hidden_size=5120,
               vocab_size=151552, max_context=131072, released="2025-07-28", uses=("chat", "reasoning", "coding", "tool-use")),
    Documented("GLM-4.5-Air", _w(r"glm-4\.5-air"), ZAI, _cfg("zai-org", "GLM-4.5-Air"), n_layers=46, hidden_size=4096,
               vocab_size=151552, max_context=131072, released="2025-07-28", uses=("chat", "reasoning", "coding", "tool-use")),
    Documented("GLM-4.6", _w(r"glm-4\.6"), ZAI, _cfg("zai-org", "GLM-4.6"), n_layers=92, hidden_size=5120,
               vocab_size=151552, max_context=202752, released="2025-09-30", uses=("chat", "reasoning", "coding", "tool-use")),
    # --- NVIDIA Nemotron 3 Nano (nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16/config.json: hybrid_override_pattern with
    # 23 Mamba-2, 23 MoE and 6 attention layers; parameters recomputed by validate.nemotron_h_params)
    Documented("NVIDIA-Nemotron-3-Nano-30B-A3B", _w(r"(?:nvidia-)?nemotron-3-nano-30b-a3b"), NV,
               _cfg("nvidia", "NVIDIA-Nemotron-3-Nano-30B-A3B-BF16"), **_NANO),
    # --- IBM Granite 3.3 (ibm-granite/granite-3.3-*-instruct/config.json)
    Documented("granite-3.3-8b", _w(r"granite-3\.3-8b"), ("ibm-granite",), _cfg("ibm-granite", "granite-3.3-8b-instruct"),
               hidden_size=4096, head_dim=128, ffn_size=12800, **_GRANITE),
    Documented("granite-3.3-2b", _w(r"granite-3\.3-2b"), ("ibm-granite",), _cfg("ibm-granite", "granite-3.3-2b-instruct"),
               hidden_size=2048, head_dim=64, ffn_size=8192, **_GRANITE),
    # --- AllenAI OLMo 2 (allenai/OLMo-2-1124-*/config.json)
    Documented("OLMo-2-1124-7B", _w(r"olmo-2-1124-7b"), ("allenai",), _cfg("allenai", "OLMo-2-1124-7B-Instruct"),
               n_layers=32, hidden_size=4096, n_heads=32, n_kv_heads=32, head_dim=128, ffn_size=11008, **_OLMO2),
    Documented("OLMo-2-1124-13B", _w(r"olmo-2-1124-13b"), ("allenai",), _cfg("allenai", "OLMo-2-1124-13B-Instruct"),
               n_layers=40, hidden_size=5120, n_heads=40, n_kv_heads=40, head_dim=128, ffn_size=13824, **_OLMO2),
    # --- SmolLM2 / SmolLM3 (HuggingFaceTB/*/config.json)
    Documented("SmolLM2-135M", _w(r"smollm2-135m"), ("HuggingFaceTB",), _cfg("HuggingFaceTB", "SmolLM2-135M-Instruct"),
               n_layers=30, hidden_size=576, n_heads=9, n_kv_heads=3, head_dim=64, ffn_size=1536, **_SMOL2),
    Documented("SmolLM2-360M", _w(r"smollm2-360m"), ("HuggingFaceTB",), _cfg("HuggingFaceTB", "SmolLM2-360M-Instruct"),
               n_layers=32, hidden_size=960, n_heads=15, n_kv_heads=5, head_dim=64, ffn_size=2560, **_SMOL2),
    Documented("SmolLM2-1.7B", _w(r"smollm2-1\.7b"), ("HuggingFaceTB",), _cfg("HuggingFaceTB", "SmolLM2-1.7B-Instruct"),
               n_layers=24, hidden_size=2048, n_heads=32, n_kv_heads=32, head_dim=64, ffn_size=8192, **_SMOL2),
    Documented("SmolLM3-3B", _w(r"smollm3-3b"), ("HuggingFaceTB",), _cfg("HuggingFaceTB", "SmolLM3-3B"), arch="smollm3",
               n_layers=36, hidden_size=2048, n_heads=16, n_kv_heads=4, head_dim=128, ffn_size=11008, vocab_size=128256,
               max_context=131072, tied=True, released="2025-07-08", uses=("chat", "reasoning", "tool-use")),
    # --- Liquid LFM2 (LiquidAI/LFM2-*/config.json: 16 layers, 10 short-conv + 6 attention)
    Documented("LFM2-350M", _w(r"lfm2-350m"), ("LiquidAI",), _cfg("LiquidAI", "LFM2-350M"), hidden_size=1024, **_LFM2),
    Documented("LFM2-700M", _w(r"lfm2-700m"), ("LiquidAI",), _cfg("LiquidAI", "LFM2-700M"), hidden_size=1536, **_LFM2),
    Documented("LFM2-1.2B", _w(r"lfm2-1\.2b"), ("LiquidAI",), _cfg("LiquidAI", "LFM2-1.2B"), hidden_size=2048, **_LFM2),
    # --- MiniMax M2 / Kimi K2 (MiniMaxAI/MiniMax-M2, moonshotai/Kimi-K2-Instruct config.json)
    Documented("MiniMax-M2", _w(r"minimax-m2"), ("MiniMaxAI",), _cfg("MiniMaxAI", "MiniMax-M2"), n_layers=62,
               hidden_size=3072, vocab_size=200064, max_context=196608, released="2025-10-27",
               uses=("chat", "reasoning", "coding", "tool-use")),
    Documented("Kimi-K2", _w(r"kimi-k2-(?:instruct|base)"), ("moonshotai",), _cfg("moonshotai", "Kimi-K2-Instruct"),
               n_layers=61, hidden_size=7168, vocab_size=163840, max_context=131072, released="2025-07-11",
               uses=("chat", "coding", "tool-use")),
    Documented("Kimi-K2-0905", _w(r"kimi-k2-instruct-0905"), ("moonshotai",), _cfg("moonshotai", "Kimi-K2-Instruct-0905"),
               n_layers=61, hidden_size=7168, vocab_size=163840, max_context=262144, released="2025-09-05",
               uses=("chat", "coding", "tool-use")),
)

# Fine-tunes that extend the context say so in their name ("-1M", "-128k", "262K"): the documented limit of the
# base model does not apply to them.
_NAME_CONTEXT = re.compile(r"(?:^|[-_.])(\d+(?:\.\d+)?)\s*([km])(?:[-_.]|$)", re.I)


def name_context(short: str) -> int:
    """The context a repo name states ('-1M' -> 1,048,576, '-128k' -> 131,072), 0 if none."""
    best = 0
    for num, unit in _NAME_CONTEXT.findall(short):
        n = float(num) * (1024 if unit.lower() == "k" else 1024 * 1024)
        if 2048 <= n <= 16 * 1024 * 1024:
            best = max(best, int(n))
    return best


def documented_for(e) -> Documented | None:
    """The documented official size this entry is (or is a fine-tune / copy of): name and shape must agree.

    The longest matching name wins ('qwen3-coder-30b-a3b' over 'qwen3-30b-a3b'); a row whose layer count or width
    differs from the entry's (when both are known) is not this model (a pruned or grown derivative).
    """
    short = e.id.rsplit("/", 1)[-1].lower()
    best = None
    for d in DOCUMENTED:
        if not d.matches(short):
            continue
        if e.n_layers and d.n_layers and e.n_layers != d.n_layers:
            continue
        if e.hidden_size and d.hidden_size and e.hidden_size != d.hidden_size:
            continue
        if best is None or len(d.pattern) > len(best.pattern):
            best = d
    return best


def is_publisher(e, d: Documented) -> bool:
    """`e` is published by the organisation that documents `d` (its first-party repo or a copy it made)."""
    return e.id.split("/", 1)[0] in d.orgs
